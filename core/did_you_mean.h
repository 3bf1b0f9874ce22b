// "did you mean ...?" for a name misspelt: a spec's field, a request's
// field. The nearest known name by edit distance, if it is within two
// edits (a slip: "snapln", "srcc", "snaplenn", "nmae", "SNAPLEN").
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace linecap {

// Edits (insertions, deletions, substitutions, and swaps of two adjacent
// letters: "nmae") from `a` to `b`, letters compared without case
// ("SNAPLEN"): the optimal string alignment distance.
inline size_t edit_distance(std::string_view a, std::string_view b)
{
    const auto same = [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    };
    // Three rows of the table: i - 2, i - 1 and i.
    std::vector<size_t> before(b.size() + 1), above(b.size() + 1), row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        before.swap(above);
        above.swap(row);
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            row[j] = std::min({above[j] + 1, row[j - 1] + 1, above[j - 1] + (same(a[i - 1], b[j - 1]) ? 0 : 1)});
            if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) && same(a[i - 2], b[j - 1]))
                row[j] = std::min(row[j], before[j - 2] + 1);
        }
    }
    return row[b.size()];
}

// ": did you mean \"NAME\"?" for the known name nearest `word`, or "" when
// none is within two edits (one for a word of five letters or fewer: "some"
// is two from "none", and meant neither).
template <typename Names>
std::string did_you_mean(std::string_view word, const Names& known)
{
    std::string_view nearest;
    size_t best = word.size() <= 5 ? 2 : 3;
    for (const auto& name : known)
        if (const size_t d = edit_distance(word, name); d < best) {
            best = d;
            nearest = name;
        }
    return nearest.empty() ? std::string() : fmt::format(": did you mean \"{}\"?", nearest);
}

} // namespace linecap
