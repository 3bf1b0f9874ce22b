// A word as a shell needs it typed, for the commands messages suggest
// ("linecap index FILE makes one", curl's --data-urlencode): a file name with
// a space or a quote, pasted back, must reach the program whole.
#pragma once

#include <string>

namespace linecap {

// `word` unchanged if it holds only characters no POSIX shell treats
// specially; otherwise in single quotes, each ' written '\''.
inline std::string shell_word(const std::string& word)
{
    if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                "-_./=,:@%+") == std::string::npos)
        return word;
    std::string quoted = "'";
    for (char ch : word)
        quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return quoted + "'";
}

} // namespace linecap
