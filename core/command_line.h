// The command line of linecap's subcommands (merge, index, query), parsed
// with CLI11 and refused in one way: "linecap NAME: what is wrong", then
// where the options are, exit status 2.
#pragma once

#include <algorithm>
#include <cctype>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "core/did_you_mean.h"
#include "core/shell_word.h"

namespace linecap {

// The option `name` ("-o", "--since") as the (sub)command `at` or the
// nearest of its parents defines it, or null.
inline const CLI::Option* defined_option(const CLI::App* at, const std::string& name)
{
    for (; at != nullptr; at = at->get_parent())
        for (const CLI::Option* o : at->get_options())
            if (!o->get_positional() && o->check_name(name))
                return o;
    return nullptr;
}

// The subcommand of `at` named `word`, or null.
inline const CLI::App* subcommand_named(const CLI::App* at, const std::string& word)
{
    for (const CLI::App* sub : at->get_subcommands({}))
        if (sub->check_name(word))
            return sub;
    return nullptr;
}

// argv's words read one at a time, before "--", as parse_command_line
// and subcommand_at read them: the (sub)command the words so far have
// named (whose options the next word may name), and whether the next word
// is the value of the option before it (never a command: --socket ls).
struct command_walk {
    const CLI::App* at;
    bool value_next = false;

    // The option `word` names ("--since", "--since=X"), as `at` or its
    // parents define it, or null.
    const CLI::Option* option_named(const std::string& word) const
    {
        if (word.size() < 2 || word[0] != '-')
            return nullptr;
        return defined_option(at, word.substr(0, word.find('=')));
    }
    // Moves past `word`. Whether it named a subcommand of `at` (now `at`).
    bool take(const std::string& word)
    {
        const CLI::App* sub = value_next ? nullptr : subcommand_named(at, word);
        if (sub != nullptr)
            at = sub;
        const CLI::Option* o = word.find('=') == std::string::npos ? option_named(word) : nullptr;
        value_next = o != nullptr && o->get_expected_min() > 0;
        return sub != nullptr;
    }
};

// The (sub)command argv's words name (`app` if none), as parse_command_line
// walks them: whose options a refusal speaks of, and where it points to,
// also when it came before CLI11 parsed any subcommand.
inline const CLI::App* subcommand_at(const CLI::App& app, int argc, char** argv)
{
    command_walk walk{&app};
    for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; i++)
        walk.take(argv[i]);
    return walk.at;
}

// An option's value as its help names it: CLI11 appends its checks'
// words to the type name ("S:FLOAT in [0.1 - 3600]"); a name of our own
// may hold a ':' (ADDR:PORT).
inline std::string shown_type(const CLI::Option* o)
{
    std::string type = o->get_type_name();
    if (const size_t colon = type.rfind(':'); colon != std::string::npos && type.find(" in [", colon) != std::string::npos)
        type.resize(colon);
    return type;
}

// "linecapctl fleet rm": the names from the root to `at`.
inline std::string subcommand_path(const CLI::App* at)
{
    std::string path = at->get_name();
    for (const CLI::App* up = at->get_parent(); up != nullptr; up = up->get_parent())
        path = up->get_name() + " " + path;
    return path;
}

// app.parse(argc, argv), with four mistakes refused in words of their own
// (CLI11 2.1 says nothing of the first two, takes the third for something
// else, and the fourth for another mistake):
// - "--NAME=" (nothing after the '=') gives NAME an empty value, as getopt
//   does. CLI11 takes such a word as "--NAME" and the next word as its
//   value: `--since= -o out.pcap` made "-o" the time and left the output
//   missing. With the empty value the option's own check says what is
//   wrong ("--since: empty: give a UTC time ..."), the same words as
//   `--since ""` gets.
// - A flag given a value (`--force=`, `--force=yes`, `--force=no`) is
//   refused, as getopt refuses it: CLI11 took "yes" and "no" for true and
//   false, and "" for a file name.
// - An option that takes a value followed by another option (`--since -o
//   out.pcap`: the value forgotten) is refused naming both; CLI11 made
//   "-o" the time, and the output was then said to be missing. A value
//   that starts with '-' but names no option (`--since -15m`, `-o -`) is
//   a value.
// - A word where a command must be named that names none (`linecapctl
//   flet`) is refused as that word (CLI11::ExtrasError, which
//   parse_error_text says with the commands there are); CLI11 said only "A
//   subcommand is required".
// Words after "--" (a tcpdump expression) are kept as they are. Throws
// what app.parse throws.
inline void parse_command_line(CLI::App& app, int argc, char** argv)
{
    std::vector<std::string> words;
    bool options = true;
    command_walk walk{&app};
    const CLI::App*& at = walk.at;   // the subcommand the words so far have named: whose options these are
    std::optional<std::string> not_a_command;   // a word where a command must be named
    for (int i = 1; i < argc; i++) {
        std::string word = argv[i];
        if (word == "--")
            options = false;
        if (options) {
            const bool a_value = walk.value_next;
            if (!walk.take(word) && !a_value && (word.empty() || word[0] != '-') &&
                at->get_require_subcommand_min() > 0 && !not_a_command)
                not_a_command = word;
        }
        const size_t equals = word.find('=');
        if (options && word.compare(0, 2, "--") == 0 && equals != std::string::npos && equals > 2) {
            const std::string name = word.substr(0, equals);
            if (const CLI::Option* o = defined_option(at, name); o != nullptr && o->get_expected_max() == 0)
                throw CLI::ArgumentMismatch(name + ": takes no value (" + word + "): give " + name +
                                            " alone, or leave it out");
            if (equals == word.size() - 1) {
                words.push_back(name);
                words.emplace_back();
                continue;
            }
        }
        // The last word an option that takes a value: named as typed (-w,
        // not CLI11's --out).
        if (options && equals == std::string::npos && i + 1 == argc)
            if (const CLI::Option* o = walk.option_named(word); o != nullptr && o->get_expected_min() > 0)
                throw CLI::ArgumentMismatch(word + ": no value given: give " + word + " " + shown_type(o));
        if (options && equals == std::string::npos && i + 1 < argc)
            if (const CLI::Option* o = walk.option_named(word); o != nullptr && o->get_expected_min() > 0)
                if (const std::string next = argv[i + 1]; next != "--" && walk.option_named(next) != nullptr)
                    throw CLI::ArgumentMismatch(word + ": no value given (the next word, " + next +
                                                ", is an option): give " + word + " " + shown_type(o) +
                                                " (a value that starts with '-' as " + word + "=VALUE)");
        words.push_back(std::move(word));
    }
    std::reverse(words.begin(), words.end());   // CLI::App::parse(vector) takes them last first
    // A command misspelt is said as that word (parse_error_text), once
    // CLI11 has answered --help and --version, which it does first.
    try {
        app.parse(words);
    } catch (const CLI::RequiredError&) {
        if (not_a_command)
            throw CLI::ExtrasError(std::vector<std::string>{*not_a_command});
        throw;
    } catch (const CLI::ExtrasError&) {
        if (not_a_command)
            throw CLI::ExtrasError(std::vector<std::string>{*not_a_command});
        throw;
    }
}

// A number as CLI::Range prints it (std::to_string: "0.100000"), without
// its trailing zeros ("0.1").
inline std::string plain_number(std::string n)
{
    if (n.find('.') != std::string::npos) {
        n.erase(n.find_last_not_of('0') + 1);
        if (n.ends_with('.'))
            n.pop_back();
    }
    return n;
}

// What a parse error says, in the words every entry point uses (linecap's
// options and subcommands, linecapctl), where CLI11 2.1's own would name
// its internals ("id is required", "1 required S:FLOAT in [0.1 - 3600]
// missing") or say nothing of what to type. `at` is the (sub)command whose
// words were being read (subcommand_at), for the names of its options and
// subcommands; null: the message as CLI11 gives it but for the first case.
// - an option given twice: "--since given 2 times: give it once" (as HTTP
//   says of a URL parameter), one with a short name by both ("-o/--out",
//   whichever was typed);
// - an option without its value: "--out: no value given: give --out FILE";
// - a word not expected: "--forse: no such option (did you mean --force?)",
//   "frob: no such command of linecapctl (the commands: ...)", or "extra:
//   not expected: linecapctl ls takes no more words";
// - a subcommand or a word required and left out: what to give;
// - a number out of its range: "--watch: 0 is not a number from 0.1 to
//   3600".
inline std::string parse_error_text(const CLI::ParseError& e, const CLI::App* at = nullptr)
{
    const std::string what = e.what();
    const auto after = [&what](std::string_view text) {
        const size_t i = what.find(text);
        return i == std::string::npos ? std::string::npos : i + text.size();
    };
    if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
        constexpr std::string_view at_most = ": At Most 1 required but received ";
        if (const size_t i = what.find(at_most); i != std::string::npos) {
            std::string name = what.substr(0, i);
            if (const CLI::Option* o = at != nullptr ? defined_option(at, name) : nullptr;
                o != nullptr && !o->get_snames().empty())
                name = "-" + o->get_snames().front() + "/" + name;
            return name + " given " + what.substr(i + at_most.size()) + " times: give it once";
        }
        // "NAME: 1 required TYPE missing"
        if (const size_t i = what.find(": 1 required "); i != std::string::npos && what.ends_with(" missing")) {
            const std::string name = what.substr(0, i);
            std::string type = what.substr(i + 13, what.size() - 8 - (i + 13));   // "S:FLOAT in [0.1 - 3600]"
            if (const CLI::Option* o = at != nullptr ? defined_option(at, name) : nullptr)
                type = shown_type(o);
            return name + ": no value given: give " + name + " " + type;
        }
        return what;
    }
    if (at == nullptr)
        return what;
    const std::string path = subcommand_path(at);
    std::vector<std::string> commands;
    for (const CLI::App* sub : at->get_subcommands({}))
        commands.push_back(sub->get_name());
    const std::string command_list = fmt::format("{}", fmt::join(commands, ", "));
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
        // CLI11 lists them after ": ", last first: the first is the last
        // word (one alone is whole, spaces and all).
        const std::string words = what.substr(std::min(what.size(), after(": ")));
        const bool several = what.starts_with("The following arguments were");
        const std::string word =
            several && words.rfind(' ') != std::string::npos ? words.substr(words.rfind(' ') + 1) : words;
        if (word.size() > 1 && word[0] == '-') {
            // "--snaplen=96" is named --snaplen; "--=96", whose name is
            // empty, as typed.
            const size_t equals = word.find('=');
            const std::string name =
                equals != std::string::npos && word.find_first_not_of('-') < equals ? word.substr(0, equals) : word;
            std::vector<std::string> known;
            for (const CLI::App* a = at; a != nullptr; a = a->get_parent())
                for (const CLI::Option* o : a->get_options())
                    if (!o->get_positional()) {
                        for (const std::string& l : o->get_lnames())
                            known.push_back("--" + l);
                        for (const std::string& s : o->get_snames())
                            known.push_back("-" + s);
                    }
            // A long name's slip only: one letter is one edit from any other.
            return fmt::format("{}: no such option of {}{}", shell_word(name), path,
                               name.starts_with("--") && name.size() > 3 ? did_you_mean(name, known) : std::string());
        }
        if (!commands.empty())
            return fmt::format("{}: no such command of {}{} (the commands: {})", shell_word(word), path,
                               did_you_mean(word, commands), command_list);
        return fmt::format("{}: not expected: {} takes no more words", shell_word(word), path);
    }
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr) {
        if (what.starts_with("A subcommand"))
            return fmt::format("no command given: give one of {} ({} COMMAND --help says more of each)", command_list,
                               path);
        if (what.ends_with(" is required")) {
            const std::string name = what.substr(0, what.size() - 12);
            for (const CLI::Option* o : at->get_options())
                if (o->get_name() == name || (o->get_positional() && o->get_name(true) == name)) {
                    const std::string type = shown_type(o);
                    std::string about = o->get_description();   // "The session's id": "the session's id"
                    if (about.size() > 1 && std::isupper(static_cast<unsigned char>(about[0])) &&
                        std::islower(static_cast<unsigned char>(about[1])))
                        about[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(about[0])));
                    return o->get_positional()
                               ? fmt::format("no {} given: give {} {}, where {} is {}", type, path, type, type, about)
                               : fmt::format("{} is required: give {} {}", name, name, type);
                }
        }
        return what;
    }
    if (dynamic_cast<const CLI::ValidationError*>(&e) != nullptr) {
        // "NAME: Value X not in range A to B" (CLI::Range)
        const size_t value = after(": Value "), range = what.find(" not in range ");
        if (value != std::string::npos && range != std::string::npos && range >= value) {
            const std::string name = what.substr(0, value - 8), given = what.substr(value, range - value);
            const std::string bounds = what.substr(range + 14);
            const size_t to = bounds.find(" to ");
            if (to == std::string::npos)
                return what;
            const std::string low = plain_number(bounds.substr(0, to)), high = plain_number(bounds.substr(to + 4));
            return given.empty() ? fmt::format("{}: empty: give a number from {} to {}", name, low, high)
                                 : fmt::format("{}: {} is not a number from {} to {}", name, given, low, high);
        }
    }
    return what;
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
        std::cerr << name << ": " << parse_error_text(e, subcommand_at(app, argc, argv)) << "\nRun '" << name
                  << " --help' for the options.\n";
        return 2;
    }
    return std::nullopt;
}

} // namespace linecap
