// After a crash: the capture files of a session that was still running, made
// valid. Every NAME.part is cut back to the end of its last complete record
// (walk_records, the walker output_file uses after a failed write) and
// renamed NAME, never over an existing file; one that cannot be made valid
// keeps its .part name, with a warning. An empty .part (the crash came
// between its creation and its header's write) held nothing: it is removed.
// Closed files are valid already and only counted. An index a writer was
// writing (NAME.idx.part) is made again from its file as NAME.idx. Used by
// the daemon at
// start-up (control/catalog.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/capture_format.h"

namespace linecap {

struct folder_recovery {
    uint64_t files = 0;          // capture files left in the folder
    uint64_t packets = 0;        // packets they hold (those still .part included, up to their last whole record)
    uint64_t bytes = 0;          // their size
    unsigned renamed = 0;        // .part files cut back and renamed
    unsigned removed_empty = 0;  // empty .part files removed: created, the crash came before their header
    uint64_t cut_bytes = 0;      // bytes of half-written records removed
    unsigned reindexed = 0;      // indexes made again from their files (NAME.idx.part left by the crash, or none)
    unsigned removed_empty_indexes = 0;   // NAME.idx.part of the empty .part files removed
    uint64_t last_write_ns = 0;  // the newest modification time among them
    std::vector<std::string> warnings;   // files left as they were, and why
};

// Tidies the capture files in the folder `dir_fd` (`dir` names it in
// messages): each .part cut back to its last complete record and renamed,
// each index left unfinished (NAME.idx.part) made again from its file, and,
// for a session with an index (`indexed`: output_spec::indexed), the index
// of the file it was writing made even if the crash came before its
// index was created. Files are opened under the descriptor with
// O_NOFOLLOW; symbolic links and anything not a regular file are left
// alone. Reads every capture file once, sequentially.
folder_recovery recover_capture_folder(int dir_fd, const std::string& dir, bool indexed);

// The format of a capture file linecap wrote, from its header, or nothing.
std::optional<file_format> capture_format_of(int fd);

} // namespace linecap
