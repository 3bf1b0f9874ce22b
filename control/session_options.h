// The session fields as command-line options: one option per entry of the
// table in core/spec.h, for linecap's one-shot capture and for
// `linecapctl start`, so both take the same options with the same help.
//
// A command line gives a spec in pieces; lay_over() writes them as JSON over
// a spec file's (or over {}), and that one spec is then parsed once by
// parse_session_spec, the validator every entry point shares. explain()
// turns the parser's JSON path back into the option the user typed:
//
//   linecap -- -w out -s 300000
//   linecap: --snaplen: 300000 is not a whole number from 0 to 262144
//
// The option words are bound to CLI11 by reference: a session_arguments is
// neither copied nor moved once add_to() has run.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "control/bpf_parts.h"
#include "core/spec.h"

namespace linecap {

class session_arguments {
public:
    session_arguments() = default;
    session_arguments(const session_arguments&) = delete;
    session_arguments& operator=(const session_arguments&) = delete;

    // Adds the table's options to app, under the help heading group.
    void add_to(CLI::App& app, const std::string& group);

    // After parsing: the options given, by their long names ("--snaplen"),
    // in table order.
    std::vector<std::string> given() const;

    // The bpf field given otherwise (the one-shot's trailing expression);
    // origin names it in messages.
    void set_bpf(std::string expression, std::string origin);

    // The command line's last words: a tcpdump expression, ANDed as "bpf"
    // (refused beside --bpf, bpf_given); or one word ending in ".json",
    // read as the spec file when spec_file is empty (no tcpdump primitive
    // ends so). Returns an empty string, or what is wrong.
    std::string take_last_words(const std::vector<std::string>& words, bool bpf_given, std::string& spec_file);

    // The spec this command line gives: the spec file's JSON (none if
    // spec_file is empty) with the options laid over it (lay_over). Returns
    // an empty string, or what is wrong, a file's faults named as
    // "--filter-file FILE: ...".
    std::string build(const std::string& spec_file, nlohmann::json& spec);
    // The spec file build() read ("" for none).
    const std::string& spec_file() const { return _file; }

    // Writes the fields given over spec (a JSON object: a spec file's, or
    // {}): a field given replaces the file's, except "bpf", which is ANDed
    // with it; the rule options make one rule ("match"), or two per --host
    // or --port (one each way), and refuse a file that has rules of its own.
    // Returns an empty string, or what is wrong.
    std::string lay_over(nlohmann::json& spec);

    // An error of parse_session_spec about the spec lay_over() made, with a
    // field this command line gave named by its option:
    // "limits.packets: 0 is not ..." -> "--count: 0 is not ...". Other
    // errors are the spec file's fields: "--filter-file FILE: snaplen: ..."
    // after build() with a file, else unchanged.
    std::string explain(std::string_view error) const;

    // Where the spec's "bpf" came from (explain_bpf_error).
    struct bpf_parts bpf_parts() const;

    // A fault check_session_filter (filters/classifier.h) found in the spec
    // build() made, named as this command line gave it: a "bpf: ..." by
    // explain_bpf_error (check_bpf: libpcap's words for one part, or ""),
    // the rest by explain() ("payload.patterns[0]: ..." -> "--payload ...").
    std::string explain_filter_error(std::string_view error,
                                     const std::function<std::string(const std::string&)>& check_bpf) const;

private:
    struct option_words {
        const session_field* field = nullptr;
        CLI::Option* option = nullptr;
        std::string word;                  // text, number, megabytes
        std::vector<std::string> words;    // list, texts
        bool set = false;                  // flag
        std::string origin;                // how messages name it: "--snaplen"
    };
    std::vector<option_words> _options;
    std::string _bpf, _bpf_origin;
    std::string _file;   // build()'s spec file
    // What lay_over() ANDed: the spec file's bpf, and the command line's
    // (the expression's words, or --bpf).
    std::string _file_bpf, _command_bpf;
    // JSON paths lay_over() wrote, with the option that wrote each.
    std::vector<std::pair<std::string, std::string>> _origins;
};

// Reads the spec file `path` (-F, --filter-file, --start) into `text`: ""
// or why it cannot ("cannot read it: No such file or directory", "is a
// folder: ..."), to follow the option and the path.
std::string read_spec_file(const std::string& path, std::string& text);

} // namespace linecap
