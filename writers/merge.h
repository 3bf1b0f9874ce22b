// linecap merge: the per-writer files of a capture (and .part files up to
// their last complete record) merged into one file in timestamp order, as a
// streaming k-way merge: one pending record per input, so memory stays
// constant whatever the sizes. Equal timestamps keep the order of the
// inputs as given (directories expand to their files sorted by name).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/capture_format.h"

namespace linecap {

struct merge_request {
    std::vector<std::string> inputs;       // files, or folders of capture files
    std::string output;                    // empty: <first input's folder>/merged.<ext>
    std::optional<file_format> format;     // empty: the first input's
};

struct merge_result {
    std::string output;                    // the file written
    uint64_t packets = 0;
    size_t files = 0;
    std::vector<std::string> notes;        // inputs that ended early, and why
};

// Returns an empty string, or what is wrong (naming the file). A finished
// input that cannot be read to its end (cut short, a damaged record, a
// record of another link type) is an error too, after every record of every
// input that could be read is written: `result` then says what the output
// holds. Inputs named .part are files a capture was writing: their torn or
// unwritten tail ends them with a note, not an error.
std::string merge_captures(const merge_request& request, merge_result& result);

// `linecap merge ...`: parses argv (argv[0] is "merge"), merges, prints a
// summary or one error. Returns the exit status.
int merge_main(int argc, char** argv);

} // namespace linecap
