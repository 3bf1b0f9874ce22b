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

// app.parse(argc, argv), with three mistakes refused in words of their own
// (CLI11 2.1 says nothing of the first two and takes the third for
// something else):
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
// Words after "--" (a tcpdump expression) are kept as they are. Throws
// what app.parse throws.
inline void parse_command_line(CLI::App& app, int argc, char** argv)
{
    std::vector<std::string> words;
    bool options = true;
    const CLI::App* at = &app;   // the subcommand the words so far have named: whose options these are
    const auto option_named = [&at](const std::string& word) -> const CLI::Option* {
        if (word.size() < 2 || word[0] != '-')
            return nullptr;
        return defined_option(at, word.substr(0, word.find('=')));
    };
    for (int i = 1; i < argc; i++) {
        std::string word = argv[i];
        if (word == "--")
            options = false;
        if (options)
            if (const CLI::App* sub = subcommand_named(at, word))
                at = sub;
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
        if (options && equals == std::string::npos && i + 1 < argc)
            if (const CLI::Option* o = option_named(word); o != nullptr && o->get_expected_min() > 0)
                if (const std::string next = argv[i + 1]; next != "--" && option_named(next) != nullptr)
                    throw CLI::ArgumentMismatch(word + ": no value given (the next word, " + next +
                                                ", is an option): give " + word + " " + o->get_type_name() +
                                                " (a value that starts with '-' as " + word + "=VALUE)");
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
