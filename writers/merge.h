// linecap merge: the per-writer files of a capture (and .part files up to
// their last complete record) merged into one file in timestamp order, as a
// streaming k-way merge: one pending record per input, so memory stays
// constant whatever the sizes. Equal timestamps keep the order of the
// inputs as given (folders expand to their files sorted by name).
//
// A folder may belong to a capture that is running: its files are opened
// first, all of them, and read afterwards (an open descriptor survives the
// rename of a .part file and the deletion of a file by keep-N), and a .part
// file is read up to its last complete record at the size it had then. So a
// merge is a snapshot of what was on disk, never a file read half.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/capture_format.h"
#include "writers/capture_reader.h"

namespace linecap {

struct merge_request {
    std::vector<std::string> inputs;       // files, or folders of capture files
    // Or a folder already open (the daemon's session folder, opened under
    // its descriptors), named `folder` in messages. Not closed here.
    int folder_fd = -1;
    std::string folder;
    std::string output;                    // the file to write; "-": standard output;
                                           // empty: <first input's folder>/merged.<ext>
    int output_fd = -1;                    // or a descriptor to write into (not closed here); `output` names it
    bool force = false;                    // replace an existing output file
    std::optional<file_format> format;     // empty: the first input's
    uint64_t since_ns = 0;                 // packets with since_ns <= time <= until_ns only
    uint64_t until_ns = UINT64_MAX;
    // The capture is running: its .part files are being written, and where
    // their bytes end for now is no news (no note).
    bool live = false;
    // How each input is opened (linecap query: the chunks its index
    // selects), the reader taking `fd`; `limit_bytes` is where a .part
    // file's complete records end. Notes go to `notes`. Unset: the whole
    // file (capture_reader::open_descriptor).
    std::function<std::string(int fd, const std::string& path, bool partial, uint64_t limit_bytes,
                              capture_reader& reader, std::vector<std::string>& notes)>
        open_input;
    // Called with each input once it is open (its link type known): an error
    // refuses the whole merge before anything is written, where open_input's
    // error for a file a folder holds only leaves that file out (linecap
    // query: an expression the input's link type cannot take). Unset: none.
    std::function<std::string(const capture_reader& reader)> check_input;
    // Which records go into the output (linecap query's filter); unset: all.
    std::function<bool(const capture_record&)> keep;
    // Called once every input is open, before any is read: a job that
    // races a rotating ring to open its files at full speed can take its
    // time from there (the daemon lowers its priority here, control/jobs.h).
    std::function<void()> on_opened;
    // At most this many bytes of records read per second (their headers
    // counted as 16 bytes), so that a merge or query of a running ring
    // leaves the disk to its writers; 0: as fast as the inputs read. The
    // daemon's --read-rate.
    uint64_t read_rate = 0;
};

struct merge_result {
    std::string output;                    // the file written
    uint64_t packets = 0;
    size_t files = 0;
    std::vector<std::string> notes;        // inputs that ended early, and why
    // Inputs that could not be read to their end, or at all (a file a folder
    // holds that cannot be opened or is no capture), each as its error:
    // merge_readers' error names them (the first three, and how many more),
    // after merging the rest.
    std::vector<std::string> unreadable;
    // The inputs the merge did not read to their end, by path: those of
    // `unreadable`, and one that stopped the merge (a link type it cannot
    // take, a file given by name that cannot be opened, one check_input
    // refused). A caller's advice
    // about a file (a query's "linecap index makes one") leaves these out:
    // their errors say what is wrong with them.
    std::vector<std::string> stopped_in;
    // The output could not be made or written (the error says why: a full
    // disk; a reader of the pipe, an HTTP client, gone).
    bool output_failed = false;
    // merge_request::check_input refused an input (a query's expression
    // that the files' link type cannot take), or the output was refused
    // (an input, an input's index, or named as the capture files of a
    // folder read, in it): the request's fault, nothing written.
    bool refused = false;
};

// Returns an empty string, or what is wrong (naming the file). A finished
// input that cannot be read to its end (cut short, a damaged record, a
// record of another link type) is an error too, after every record of every
// input that could be read is written: `result` then says what the output
// holds. Inputs named .part are files a capture was writing: they are read
// up to their last complete record, with a note if half a record follows.
// A folder contributes the files linecap's writers name
// (is_writer_file_name), never an earlier merge's output. The output is
// never an input, an input's index, nor a file named as a writer names
// its files in a folder given (this merge or a later one would read it),
// and an existing output file is replaced only with `force`.
std::string merge_captures(const merge_request& request, merge_result& result);

// The words every entry point (linecap merge and query; linecapctl merge,
// query, snapshot and fleet merge) says of an output it will not write:
// "PATH: a folder; give -o the name of a file to write, e.g. -o
// PATH/capture.pcapng" if `path` is a folder, else "".
std::string output_folder_problem(const std::string& path);
// "PATH: already exists; give another -o, or --force to replace it".
std::string output_exists_problem(const std::string& path);

// One input of a merge whose reader the caller opened (fleet merge: a
// node's download). `name_interface` names each of its pcapng interfaces
// in a pcapng output (index: the reader's interface); unset, an interface
// keeps its own name and description (if_name, if_description), and the
// interfaces of inputs without any (pcap) are one, "linecap". Interfaces
// of one name and description are one in the output.
struct merge_input {
    capture_reader reader;
    std::function<std::pair<std::string, std::string>(uint32_t index)> name_interface;
};

// Where merge_readers writes.
struct merge_sink {
    int fd = -1;                        // taken (closed) once the output's header is written
    std::string name;                   // in messages
    file_format format = file_format::pcapng;
    uint64_t since_ns = 0;              // as merge_request's
    uint64_t until_ns = UINT64_MAX;
    std::string comment;                // pcapng: the Section Header Block's comment (opt_comment)
    std::function<bool(const capture_record&)> keep;   // as merge_request's
    uint64_t read_rate = 0;                            // as merge_request's
    // `fd` is an existing file to replace (--force): emptied just before
    // the header is written, so that a merge refused before then (an
    // input that cannot be read or taken) leaves it as it was.
    bool replace = false;
};

// The k-way merge of open readers, in time order (equal times keep the
// order of `inputs`). Returns an empty string, or what is wrong: before
// anything is written (the inputs' link types differ, or are neither
// Ethernet nor raw IP; `out.fd` is then left open, `attached` false), or
// after, when an input could not be read to its end (as merge_captures).
std::string merge_readers(std::vector<std::unique_ptr<merge_input>>& inputs, const merge_sink& out,
                          merge_result& result, bool& attached);

} // namespace linecap
