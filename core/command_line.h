// The command line of linecap's subcommands (merge, index, query), parsed
// with CLI11 and refused in one way: "linecap NAME: what is wrong", then
// where the options are, exit status 2.
#pragma once

#include <iostream>
#include <optional>
#include <string_view>

#include <CLI/CLI.hpp>

namespace linecap {

// Parses argv into `app`. Nullopt when the command goes on; else the exit
// status (0 after --help, printed; 2 after an error, said on stderr).
inline std::optional<int> parse_subcommand(CLI::App& app, int argc, char** argv, std::string_view name)
{
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::ParseError& e) {
        std::cerr << name << ": " << e.what() << "\nRun '" << name << " --help' for the options.\n";
        return 2;
    }
    return std::nullopt;
}

} // namespace linecap
