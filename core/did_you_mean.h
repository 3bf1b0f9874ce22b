// "did you mean ...?" for a name misspelt: a spec's field, a request's
// field. The nearest known name by Levenshtein's distance, if it is within
// two edits (a slip: "snapln", "srcc", "snaplenn").
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace linecap {

// Edits (insertions, deletions, substitutions) from `a` to `b`.
inline size_t edit_distance(std::string_view a, std::string_view b)
{
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
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
