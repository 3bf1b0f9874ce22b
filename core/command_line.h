// The command line of linecap's subcommands (merge, index, query), parsed
// with CLI11 and refused in one way: "linecap NAME: what is wrong", then
// where the options are, exit status 2.
#pragma once

#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace linecap {

// Whether "--NAME" (`option`) is a flag wherever `app` and its
// subcommands define it: an option that takes no value.
inline bool is_flag_only(const CLI::App& app, const std::string& option, bool& defined)
{
    for (const CLI::Option* o : app.get_options())
        if (o->check_name(option)) {
            defined = true;
            if (o->get_expected_max() != 0)
                return false;
        }
    for (const CLI::App* sub : app.get_subcommands({}))
        if (!is_flag_only(*sub, option, defined))
            return false;
    return true;
}

// app.parse(argc, argv), but "--NAME=" (nothing after the '=') gives NAME an
// empty value, as getopt does. CLI11 2.1 takes such a word as "--NAME" and
// the next word as its value: `--since= -o out.pcap` made "-o" the time and
// left the output missing. With the empty value the option's own check
// says what is wrong ("--since: empty: give a UTC time ..."), the same words
// as `--since ""` gets. A flag so spelt (`--force=`) is refused, as getopt
// refuses it, rather than leaving an empty word for a file name. Words after
// "--" (a tcpdump expression) are kept as they are. Throws what app.parse
// throws.
inline void parse_command_line(CLI::App& app, int argc, char** argv)
{
    std::vector<std::string> words;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        std::string word = argv[i];
        if (word == "--")
            options = false;
        if (options && word.size() > 3 && word.compare(0, 2, "--") == 0 && word.back() == '=' &&
            word.find('=') == word.size() - 1) {
            word.pop_back();
            bool defined = false;
            if (is_flag_only(app, word, defined) && defined)
                throw CLI::ArgumentMismatch(word + ": takes no value (" + word + "=): give " + word +
                                            " alone, or leave it out");
            words.push_back(std::move(word));
            words.emplace_back();
            continue;
        }
        words.push_back(std::move(word));
    }
    std::reverse(words.begin(), words.end());   // CLI::App::parse(vector) takes them last first
    app.parse(words);
}

// What a parse error says, in the words every entry point uses: an option
// given twice is "--since given 2 times: give it once" (as HTTP says of a
// URL parameter), where CLI11 says "--since: At Most 1 required but
// received 2".
inline std::string parse_error_text(const CLI::ParseError& e)
{
    const std::string what = e.what();
    constexpr std::string_view at_most = ": At Most 1 required but received ";
    const size_t at = what.find(at_most);
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) == nullptr || at == std::string::npos)
        return what;
    return what.substr(0, at) + " given " + what.substr(at + at_most.size()) + " times: give it once";
}

// Parses argv into `app`. Nullopt when the command goes on; else the exit
// status (0 after --help, printed; 2 after an error, said on stderr).
inline std::optional<int> parse_subcommand(CLI::App& app, int argc, char** argv, std::string_view name)
{
    try {
        parse_command_line(app, argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        std::cerr << name << ": " << parse_error_text(e) << "\nRun '" << name << " --help' for the options.\n";
        return 2;
    }
    return std::nullopt;
}

} // namespace linecap
