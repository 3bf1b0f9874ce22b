#include "writers/merge.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <chrono>
#include <memory>
#include <queue>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "core/human_units.h"
#include "core/query_fields.h"
#include "core/shell_word.h"
#include "core/utc_time.h"
#include "writers/capture_index.h"
#include "writers/capture_reader.h"
#include "writers/capture_writer.h"
#include "writers/record_walk.h"
#include "writers/recovery.h"
#include "writers/session_output.h"

namespace linecap {

namespace {

namespace fs = std::filesystem;

// A folder whose files keep being renamed or deleted under the listing (a
// capture rotating many times a second with keep-N) is listed again, up to
// this many times: each pass that loses a race still keeps what it opened.
constexpr int max_listings = 1000;

// An input, open before any is read.
struct opened_file {
    std::string path;
    int fd = -1;
    struct stat st{};
    bool in_folder = false;   // found in a folder given, not named
};

// Why the input `path` cannot be opened (errno `err`). Every input is held
// open from the start (a snapshot of what is on disk), so a merge of more
// files than the process may open fails at the first one past the limit:
// that is said, with what to do.
std::string cannot_open_text(const std::string& path, int err)
{
    if (err == ENFILE)
        return fmt::format("{}: cannot open it: {}: the system's table of open files is full (sysctl fs.file-max); "
                           "close files elsewhere, raise it, or give fewer files",
                           path, strerror(err));
    if (err != EMFILE)
        return fmt::format("{}: cannot open it: {}", path, strerror(err));
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    const std::string remedy =
        limit.rlim_max <= limit.rlim_cur   ? std::string("give fewer files (or raise the hard limit: a service's LimitNOFILE=)")
        : limit.rlim_max == RLIM_INFINITY
            ? std::string("raise the limit (ulimit -n where it is started; a service's LimitNOFILE=) or give fewer files")
            : fmt::format("raise the limit (ulimit -n {} where it is started; a service's LimitNOFILE=) or give fewer "
                          "files",
                          limit.rlim_max);
    return fmt::format("{}: cannot open it: {}: every input is held open at once, and there are more than this "
                       "process may open (ulimit -n: {}); {}",
                       path, strerror(err), limit.rlim_cur, remedy);
}

// A folder's file that cannot be opened, and what to say of it.
struct unopened_file {
    struct stat self;
    std::string path, said;
};

struct opened_files {
    std::vector<opened_file> files;
    // A folder's files that cannot be opened, each once however its folder
    // was spelt: the merge goes on without them and ends with their errors
    // (merge_result::unreadable), their paths in stopped_in.
    std::vector<unopened_file> unopened;
    // A folder's symbolic links to files, never followed, and what to say
    // of each unless the merge reads its file anyway (resolved once every
    // input is open: the file may be given after the folder).
    struct link {
        struct stat self, target;
        std::string path, said;
    };
    std::vector<link> links;
    void add_unopened(const struct stat& self, std::string path, std::string said)
    {
        for (const unopened_file& u : unopened)
            if (u.self.st_dev == self.st_dev && u.self.st_ino == self.st_ino)
                return;   // its folder given twice
        unopened.push_back({self, std::move(path), std::move(said)});
    }
    // Their errors, or their paths, in order.
    std::vector<std::string> unopened_said() const
    {
        std::vector<std::string> out;
        for (const unopened_file& u : unopened)
            out.push_back(u.said);
        return out;
    }
    std::vector<std::string> unopened_paths() const
    {
        std::vector<std::string> out;
        for (const unopened_file& u : unopened)
            out.push_back(u.path);
        return out;
    }
    ~opened_files()
    {
        for (const opened_file& f : files)
            if (f.fd >= 0)
                close(f.fd);
    }
    bool holds(const struct stat& st) const
    {
        return std::any_of(files.begin(), files.end(), [&](const opened_file& f) {
            return f.st.st_dev == st.st_dev && f.st.st_ino == st.st_ino;
        });
    }
};

// The names in the folder `dir_fd` (read through a duplicate: closedir
// closes the descriptor it is given).
std::string list_folder(int dir_fd, const std::string& dir, std::vector<std::string>& names)
{
    names.clear();
    const int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
    if (d == nullptr) {
        const int err = errno;
        if (fd >= 0)
            close(fd);
        return fmt::format("{}: cannot list the folder: {}", dir, strerror(err));
    }
    rewinddir(d);
    while (const dirent* e = readdir(d))
        if (is_writer_file_name(e->d_name))
            names.emplace_back(e->d_name);
    closedir(d);
    return {};
}

// The errors of inputs that could not be read, for one message: the first
// three, and how many more (a ring of a thousand unreadable files is not a
// thousand-line error).
std::string unreadable_text(const std::vector<std::string>& errors)
{
    std::string text;
    for (size_t i = 0; i < errors.size() && i < 3; i++)
        text += (i == 0 ? "" : "; ") + errors[i];
    if (errors.size() > 3)
        text += fmt::format("; and {} more inputs that could not be read", errors.size() - 3);
    return text;
}

// Opens every capture file of a folder linecap's writers may still be
// writing. A file that goes between the listing and its open (a .part
// renamed to its final name, a file deleted by keep-N) makes the folder be
// listed again; files opened already stay open (their descriptors survive
// the rename or the deletion) and are not taken twice. The folder's files
// are appended to `out` sorted by name.
std::string open_folder(int dir_fd, const std::string& dir, opened_files& out)
{
    const size_t first = out.files.size();
    bool found = false;   // a capture file, perhaps opened already through another input
    // What this folder's listing found unopenable (each listing again says its own).
    std::vector<unopened_file> unopened;
    std::vector<opened_files::link> links;
    for (int listing = 0;; listing++) {
        unopened.clear();
        links.clear();
        std::vector<std::string> names;
        if (std::string e = list_folder(dir_fd, dir, names); !e.empty())
            return e;
        bool raced = false;
        for (const std::string& name : names) {
            const int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
            if (fd < 0 && errno == ENOENT) {
                raced = true;
                continue;
            }
            if (fd < 0 && (errno == EMFILE || errno == ENFILE))   // no file of the folder is the cause
                return cannot_open_text(dir + "/" + name, errno);
            if (fd < 0) {
                // One file of a ring that cannot be read must not hide the
                // others' packets: said at the end, as a damaged one is. A
                // link to a file the merge reads anyway is no loss.
                const int err = errno;
                found = true;
                struct stat self{}, target{};
                fstatat(dir_fd, name.c_str(), &self, AT_SYMLINK_NOFOLLOW);
                if (err == ELOOP && fstatat(dir_fd, name.c_str(), &target, 0) == 0 && S_ISREG(target.st_mode))
                    links.push_back({self, target, dir + "/" + name,
                                     fmt::format("{}/{}: a symbolic link: not followed in a folder (give the file it "
                                                 "names, or the link itself, as an input)",
                                                 dir, name)});
                else
                    unopened.push_back({self, dir + "/" + name, err == ELOOP ? fmt::format("{}/{}: a symbolic link to no file", dir,
                                                                           name)
                                                             : fmt::format("{}/{}: cannot open it: {}", dir, name,
                                                                           strerror(err))});
                continue;
            }
            opened_file f{dir + "/" + name, fd, {}, true};
            if (fstat(fd, &f.st) != 0 || !S_ISREG(f.st.st_mode)) {
                // Named as a capture, but not a file: said as a damaged one
                // is (opened without waiting: O_NONBLOCK), never read. A
                // folder so named holds no packets of this one: passed over.
                close(fd);
                if (S_ISDIR(f.st.st_mode))
                    continue;
                found = true;
                unopened.push_back({f.st, f.path, fmt::format("{}: not a file (a FIFO, a device or a socket)", f.path)});
                continue;
            }
            found = true;
            if (out.holds(f.st)) {
                close(fd);   // opened already: under its .part name, or the folder was given twice
                continue;
            }
            out.files.push_back(std::move(f));
        }
        if (!raced)
            break;
        if (listing + 1 == max_listings)
            return fmt::format("{}: files kept disappearing while they were opened ({} tries); try again", dir,
                               max_listings);
    }
    for (unopened_file& u : unopened)
        out.add_unopened(u.self, std::move(u.path), std::move(u.said));
    out.links.insert(out.links.end(), links.begin(), links.end());
    if (!found)
        return fmt::format("{}: no capture files written by linecap (NAME-wN-SEQ-TIME.pcap, .pcapng, .part) in this "
                           "folder", dir);
    std::sort(out.files.begin() + static_cast<std::ptrdiff_t>(first), out.files.end(),
              [](const opened_file& a, const opened_file& b) { return a.path < b.path; });
    return {};
}

// A pcapng output's interfaces, one per name and description.
struct output_interfaces {
    std::vector<capture_interface> list;
    std::unordered_map<std::string, uint32_t> by_name;   // name NUL description -> index in list
};

// One input of the k-way merge: the caller's reader, its pending record
// copied out of the reader's buffer (which the next read reuses), and where
// its interfaces go in the output.
struct pending_input {
    merge_input& in;
    capture_record record;
    std::vector<uint8_t> data;
    std::vector<uint32_t> interface_of;   // the reader's interface -> the output's

    // Loads the next record; false at the end or at an error (the reader says which).
    bool next()
    {
        if (in.reader.next(record) != read_status::record)
            return false;
        data.assign(record.data, record.data + record.caplen);
        return true;
    }
    uint32_t output_interface() const
    {
        return record.interface < interface_of.size() ? interface_of[record.interface]
                                                      : interface_of.empty() ? 0 : interface_of[0];
    }
    // Maps the reader's interfaces not mapped yet (all of them at the start;
    // later, those a pcapng file describes after its first packet: another
    // section's, or a late interface block) to the output's: one per name
    // and description. A new one is also described in the output by
    // `writer` (none: its header is not written yet).
    void map_interfaces(output_interfaces& out, capture_writer* writer)
    {
        const uint32_t count = std::max(in.reader.interface_count(), 1u);
        for (auto i = static_cast<uint32_t>(interface_of.size()); i < count; i++) {
            std::pair<std::string, std::string> named =
                in.name_interface ? in.name_interface(i)
                                  : std::pair{in.reader.interface_name(i), in.reader.interface_description(i)};
            if (named.first.empty())
                named.first = "linecap";
            const auto [at, added] = out.by_name.try_emplace(named.first + '\0' + named.second,
                                                             static_cast<uint32_t>(out.list.size()));
            interface_of.push_back(at->second);
            if (!added)
                continue;
            out.list.push_back({static_cast<uint16_t>(out.list.size()), named.first, named.second});
            if (writer != nullptr)
                writer->add_interface(out.list.back());
        }
    }
};

// Keeps a reader to `rate` bytes per second on average (0: no limit): it
// sleeps whenever it is ahead of that pace, checked per MiB read.
class read_pacer {
public:
    explicit read_pacer(uint64_t rate) : _rate(rate) {}
    void consume(uint64_t bytes)
    {
        if (_rate == 0 || (_unchecked += bytes) < (1 << 20))
            return;
        _read += _unchecked;
        _unchecked = 0;
        const auto due = _start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(static_cast<double>(_read) / static_cast<double>(_rate)));
        std::this_thread::sleep_until(due);
    }

private:
    uint64_t _rate;
    uint64_t _read = 0;
    uint64_t _unchecked = 0;
    std::chrono::steady_clock::time_point _start = std::chrono::steady_clock::now();
};

// Sends a regular output file's pages to the disk as they are written (one
// step of write_behind_bytes behind, waited for, and dropped from the page
// cache), instead of leaving the kernel to gather hundreds of megabytes of
// dirty pages: ext4 (data=ordered) makes a journal commit wait for them, and
// with it a capture writer's fallocate, rename or truncate on the same disk:
// its rings fill meanwhile. Not a regular file (a pipe): nothing to do.
class write_behind {
public:
    // `written`: the output's bytes handed to the kernel so far (they end
    // at the descriptor's offset now: a client's file may start anywhere).
    write_behind(int fd, uint64_t written)
    {
        struct stat st{};
        const int flags = fcntl(fd, F_GETFL);
        const off_t at = lseek(fd, 0, SEEK_CUR);
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flags < 0 || (flags & O_APPEND) != 0 || at < 0 ||
            static_cast<uint64_t>(at) < written)
            return;
        _fd = fd;
        _base = static_cast<uint64_t>(at) - written;
        _started = _done = written;
    }
    void wrote(uint64_t written)
    {
        if (_fd < 0 || written - _started < write_behind_bytes)
            return;
        sync_file_range(_fd, offset(_started), offset(written) - offset(_started), SYNC_FILE_RANGE_WRITE);
        if (_started > _done) {   // the step before: on disk once this returns
            sync_file_range(_fd, offset(_done), offset(_started) - offset(_done),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
            posix_fadvise(_fd, offset(_done), offset(_started) - offset(_done), POSIX_FADV_DONTNEED);
        }
        _done = _started;
        _started = written;
    }

private:
    off_t offset(uint64_t written) const { return static_cast<off_t>(_base + written); }
    static constexpr uint64_t write_behind_bytes = 8 << 20;
    int _fd = -1;            // -1: nothing to do
    uint64_t _base = 0;      // the file offset of the output's first byte
    uint64_t _started = 0;   // writeback started up to here (output bytes)
    uint64_t _done = 0;      // on disk up to here
};

// Opens the output: standard output for "-", else the file, created (or,
// with `force`, replaced once it is known not to be an input; `created`
// says whether this call made it). Returns the descriptor, or -1 with
// `error` set.
int open_output(const std::string& path, bool force, bool& created, std::string& error)
{
    created = false;
    if (path == "-") {
        if (isatty(STDOUT_FILENO)) {
            error = "-o -: standard output is a terminal; send it to a program (linecap merge -o - DIR | tshark -r -) "
                    "or give a file";
            return -1;
        }
        return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0);
    }
    if (error = output_folder_problem(path); !error.empty())
        return -1;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0) {
        created = true;
        return fd;
    }
    if (errno == EEXIST && force)
        fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == EEXIST)
        error = output_exists_problem(path);
    else if (fd < 0)
        error = fmt::format("{}: cannot create it: {}", path, strerror(errno));
    return fd;
}

} // namespace

std::string output_folder_problem(const std::string& path)
{
    if (struct stat st{}; stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        return fmt::format("{}: a folder; give -o the name of a file to write, e.g. -o {}", path,
                           shell_word((fs::path(path) / "capture.pcapng").string()));
    return {};
}

std::string output_exists_problem(const std::string& path)
{
    return fmt::format("{}: already exists; give another -o, or --force to replace it", path);
}

std::string merge_captures(const merge_request& request, merge_result& result)
{
    // A closed standard output or input, said before any input is opened:
    // the first would be given its descriptor, and be taken for the output.
    if (request.output == "-" && request.output_fd < 0 && fcntl(STDOUT_FILENO, F_GETFD) < 0)
        return "-o -: standard output is closed; give a file to write (-o capture.pcap), or send it to a program "
               "(-o - | tshark -r -)";
    if (std::find(request.inputs.begin(), request.inputs.end(), "-") != request.inputs.end() &&
        fcntl(STDIN_FILENO, F_GETFD) < 0)
        return "-: standard input is closed; give the capture file's name instead";
    // Every input is opened before any is read: a snapshot of what is on disk now.
    opened_files opened;
    // The folders read, for the output's place (below).
    struct folder_read {
        std::string name;
        struct stat st;
    };
    std::vector<folder_read> folders;
    const auto note_folder = [&](int dir_fd, const std::string& name) {
        if (struct stat st{}; fstat(dir_fd, &st) == 0)
            folders.push_back({name, st});
    };
    if (request.folder_fd >= 0) {
        if (std::string e = open_folder(request.folder_fd, request.folder, opened); !e.empty())
            return e;
        note_folder(request.folder_fd, request.folder);
    }
    for (const std::string& in : request.inputs) {
        std::error_code ec;
        if (in != "-" && fs::is_directory(in, ec)) {
            const int dir_fd = open(in.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dir_fd < 0)
                return fmt::format("{}: cannot open the folder: {}", in, strerror(errno));
            std::string e = open_folder(dir_fd, in, opened);
            note_folder(dir_fd, in);
            close(dir_fd);
            if (!e.empty())
                return e;
            continue;
        }
        opened_file f{in, in == "-" ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(in.c_str(), O_RDONLY | O_CLOEXEC), {}};
        if (f.fd < 0) {
            const int err = errno;
            result.stopped_in.push_back(in);
            return cannot_open_text(in, err);
        }
        fstat(f.fd, &f.st);
        if (S_ISREG(f.st.st_mode) && opened.holds(f.st)) {
            close(f.fd);   // given twice (by name, through a link, or in a folder given too): read once
            continue;
        }
        opened.files.push_back(std::move(f));
    }
    for (const opened_files::link& l : opened.links)
        if (!opened.holds(l.target))
            opened.add_unopened(l.self, l.path, l.said);
    if (opened.files.empty() && !opened.unopened.empty()) {
        result.stopped_in = opened.unopened_paths();
        return unreadable_text(opened.unopened_said()) + ": nothing to merge";
    }
    if (opened.files.empty())
        return "no input files";
    if (request.on_opened)
        request.on_opened();

    uint8_t head[sizeof(pcap_file_header)];
    const ssize_t head_len = S_ISREG(opened.files.front().st.st_mode) ? pread(opened.files.front().fd, head, sizeof head, 0) : 0;
    const std::optional<capture_header> first = read_capture_header(head, head_len > 0 ? static_cast<size_t>(head_len) : 0);
    const file_format format = request.format ? *request.format : first ? first->format : file_format::pcap_ns;

    // The output: never one of the inputs, and an existing file replaced only when asked.
    std::string output = request.output;
    if (output.empty())
        output = (fs::path(opened.files.front().path).parent_path() / ("merged." + std::string(format_extension(format)))).string();
    std::string error;
    // A file this merge created and has not written to yet goes again if the merge cannot start.
    bool created = false;
    const int out_fd = request.output_fd >= 0 ? fcntl(request.output_fd, F_DUPFD_CLOEXEC, 0)
                                              : open_output(output, request.force, created, error);
    if (out_fd < 0)
        return error.empty() ? fmt::format("{}: {}", output, strerror(errno)) : error;
    const auto abandon = [&](std::string why) {
        close(out_fd);
        if (created)
            unlink(output.c_str());
        return why;
    };
    struct stat out_st{};
    fstat(out_fd, &out_st);
    if (S_ISREG(out_st.st_mode)) {
        // Named as a writer names its files, in a folder read: this merge
        // or a later one of the folder would take it as an input, whether
        // it was there before (found in the listing: a daemon's client
        // creates its output before it asks) or made now (the folder was
        // listed before). The same words for both, from every entry point.
        const auto same_file = [](const struct stat& a, const struct stat& b) {
            return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
        };
        const std::string out_name = fs::path(output).filename().string();
        const folder_read* in_folder = nullptr;
        if (is_writer_file_name(out_name) && request.output_fd >= 0) {
            // A daemon's: the session's folder alone, its client's path
            // not the daemon's to resolve.
            for (const opened_file& f : opened.files)
                if (f.in_folder && same_file(f.st, out_st) && !folders.empty())
                    in_folder = &folders.front();
        } else if (is_writer_file_name(out_name)) {
            const fs::path parent = fs::path(output).parent_path();
            if (struct stat st{}; stat(parent.empty() ? "." : parent.c_str(), &st) == 0)
                for (const folder_read& f : folders)
                    if (same_file(f.st, st))
                        in_folder = &f;
        }
        result.refused = in_folder != nullptr || opened.holds(out_st);
        if (in_folder != nullptr)
            return abandon(fmt::format("{}: named as the capture files of {} are, in that folder: this and every later "
                                       "merge or query of the folder would read it as one of them; give -o a file "
                                       "outside the folder",
                                       output, in_folder->name));
        if (opened.holds(out_st))
            return abandon(fmt::format("{}: the output is also an input; give another -o", output));
        // Nor an input's index (a query reads it after the output is open).
        for (const opened_file& f : opened.files) {
            struct stat index_st{};
            if (S_ISREG(f.st.st_mode) && stat(index_name_of(f.path).c_str(), &index_st) == 0 &&
                same_file(index_st, out_st)) {
                result.refused = true;
                return abandon(fmt::format("{}: the output is the index of the input {}; give another -o", output,
                                           f.path));
            }
        }
    }

    std::vector<std::unique_ptr<merge_input>> inputs;
    bool skipped_headless = false;   // an input passed over for want of a header or interface, not empty
    for (opened_file& f : opened.files) {
        // A .part file is read up to its last complete record at the size it
        // has now (it may be growing), or, left by a crash, before its torn tail.
        const bool partial = f.path.ends_with(".part");
        uint64_t limit_bytes = UINT64_MAX, limit_packets = UINT64_MAX;
        if (partial && S_ISREG(f.st.st_mode)) {
            const auto size = static_cast<uint64_t>(f.st.st_size);
            if (size == 0) {   // a running capture's next file, just created
                if (!request.live)
                    result.notes.push_back(fmt::format("{}: empty (the capture stopped as it created it); skipped", f.path));
                continue;
            }
            if (const std::optional<file_format> own = capture_format_of(f.fd)) {
                const record_framing framing = framing_of(*own, true);
                const walk_result walk = walk_records(f.fd, framing.first_record, size, framing);
                if (walk.error == 0) {
                    limit_bytes = walk.end;
                    limit_packets = walk.packets;
                    if (walk.end < size && !request.live)
                        result.notes.push_back(
                            walk.unwritten ? fmt::format("{}: ends after {} complete records: zeros follow at byte {} "
                                                         "(the rest was never written)", f.path, walk.packets, walk.end)
                                           : fmt::format("{}: ends after {} complete records (byte {} of {}: half a "
                                                         "record follows: the capture was cut there, or is still "
                                                         "writing it)",
                                                         f.path, walk.packets, walk.end, size));
                }
            }
        }
        auto in = std::make_unique<merge_input>();
        const int fd = std::exchange(f.fd, -1);   // the reader's now
        std::string e = request.open_input
                            ? request.open_input(fd, f.path, partial, limit_bytes, in->reader, result.notes)
                            : in->reader.open_descriptor(fd, f.path, partial, limit_bytes, limit_packets);
        if (!e.empty())
            result.stopped_in.push_back(f.path);
        if (!e.empty() && f.in_folder) {
            result.unreadable.push_back(e);   // the folder's other files are merged
            continue;
        }
        if (!e.empty())
            return abandon(e);
        if (in->reader.dlt() == -1) {   // a .part cut inside its header (or, running, still getting it), a pcapng with no interface: nothing to merge
            skipped_headless = true;
            if (!request.live)
                result.notes.push_back(in->reader.note());
            continue;
        }
        if (request.check_input)
            if (std::string refused = request.check_input(in->reader); !refused.empty()) {
                result.refused = true;
                result.stopped_in.push_back(f.path);
                return abandon(refused);
            }
        inputs.push_back(std::move(in));
    }
    const std::vector<std::string> said = opened.unopened_said(), paths = opened.unopened_paths();
    result.unreadable.insert(result.unreadable.begin(), said.begin(), said.end());
    result.stopped_in.insert(result.stopped_in.begin(), paths.begin(), paths.end());
    if (inputs.empty() && !result.unreadable.empty())
        return abandon(unreadable_text(result.unreadable) + ": nothing to merge");
    if (inputs.empty())   // each passed over, said in a note (a run's live merge: an empty or new .part)
        return abandon(skipped_headless ? "no input holds a record: nothing to merge"
                                        : "every input is an empty .part file: nothing to merge");
    merge_sink out{out_fd, output, format, request.since_ns, request.until_ns, {}, request.keep, request.read_rate,
                   request.force && !created && S_ISREG(out_st.st_mode)};
    bool attached = false;
    std::string e = merge_readers(inputs, out, result, attached);
    return attached ? e : abandon(e);
}

std::string merge_readers(std::vector<std::unique_ptr<merge_input>>& inputs, const merge_sink& out,
                          merge_result& result, bool& attached)
{
    attached = false;
    const std::string& output = out.name;
    std::vector<pending_input> pending;
    pending.reserve(inputs.size());
    int merged_dlt = -1;
    uint32_t snaplen = 1;   // the largest of the inputs'; 0 once one has none
    output_interfaces interfaces;   // the output's (pcapng)
    for (std::unique_ptr<merge_input>& in : inputs) {
        const int dlt = in->reader.dlt();
        if (merged_dlt == -1)
            merged_dlt = dlt;
        else if (dlt != merged_dlt) {
            result.stopped_in.push_back(in->reader.path());
            return fmt::format("{}: link type {} differs from the first input's {}; merge files of one kind",
                               in->reader.path(), linktype_text(dlt), linktype_text(merged_dlt));
        }
        if (snaplen != 0)
            snaplen = in->reader.snaplen() == 0 ? 0 : std::max(snaplen, in->reader.snaplen());
        pending_input& p = pending.emplace_back(pending_input{*in, {}, {}, {}});
        if (out.format != file_format::pcapng)
            continue;
        p.map_interfaces(interfaces, nullptr);
    }
    // The two link types linecap writes: Ethernet, and raw IP ("decap": "ip").
    if (merged_dlt != DLT_EN10MB && merged_dlt != DLT_RAW) {
        result.stopped_in.push_back(inputs.front()->reader.path());
        return fmt::format("{}: link type {} is neither Ethernet nor raw IP; linecap writes those two",
                           inputs.front()->reader.path(), linktype_text(merged_dlt));
    }

    capture_writer writer;
    capture_file_options options;
    options.format = out.format;
    options.linktype = merged_dlt == DLT_RAW ? linktype_raw : linktype_ethernet;
    options.interfaces = &interfaces.list;
    options.comment = out.comment;
    // The header says what the records hold: the inputs' largest snap
    // length. A record longer than its own file declared (a pcapng packet
    // over its interface's snap length) is cut to it, as libpcap cuts such
    // a record of a pcap file when it reads it, and a note says so.
    options.snaplen = snaplen;
    // The file --force replaces is emptied only now that the merge starts:
    // a merge refused before this leaves it as it was.
    if (out.replace && ftruncate(out.fd, 0) != 0) {
        result.output_failed = true;
        return fmt::format("{}: cannot replace it: {}", output, strerror(errno));
    }
    if (int rc = writer.attach(out.fd, output, options); rc != 0) {
        result.output_failed = true;
        return fmt::format("{}: cannot write it: {}", output, strerror(-rc));
    }
    attached = true;

    // Min-heap on (timestamp, input index): equal times keep the inputs' order.
    using entry = std::pair<uint64_t, size_t>;
    auto later = [](const entry& a, const entry& b) { return a.first != b.first ? a.first > b.first : a.second > b.second; };
    std::priority_queue<entry, std::vector<entry>, decltype(later)> heap(later);
    std::vector<std::string>& unreadable = result.unreadable;   // and finished inputs that could not be read to their end
    // An input that ended: how (a partial file's torn tail is a note; a
    // finished file that stops early, or a record of another link type, is
    // an error).
    auto ended = [&](const capture_reader& reader) {
        if (!reader.error().empty()) {
            unreadable.push_back(reader.error());
            result.stopped_in.push_back(reader.path());
        }
        else if (!reader.note().empty())
            result.notes.push_back(reader.note());
        if (reader.repaired() != 0)
            result.notes.push_back(fmt::format("{}: {} record{} a captured length above the original length; "
                                               "written with the original length raised to match",
                                               reader.path(), reader.repaired(),
                                               reader.repaired() == 1 ? " has" : "s have"));
    };
    read_pacer pacer(out.read_rate);
    auto advance = [&](size_t i) {
        pending_input& p = pending[i];
        for (;;) {
            if (!p.next()) {
                ended(p.in.reader);
                return;
            }
            pacer.consume(p.record.caplen + 16);
            if (p.record.dlt != merged_dlt) {
                result.stopped_in.push_back(p.in.reader.path());
                unreadable.push_back(fmt::format("{}: record {} is link type {}, not {} like the rest",
                                                 p.in.reader.path(), p.in.reader.record_number(),
                                                 linktype_text(p.record.dlt), linktype_text(merged_dlt)));
            } else if (p.record.ts_ns < out.since_ns || p.record.ts_ns > out.until_ns) {
                continue;   // outside the time window asked for
            } else if (out.keep && !out.keep(p.record)) {
                continue;   // not selected (linecap query's filter)
            } else {
                heap.push({p.record.ts_ns, i});
            }
            return;
        }
    };
    for (size_t i = 0; i < pending.size(); i++)
        advance(i);
    // A write that failed (a reader of the pipe that hung up: EPIPE; a full
    // disk) ends the merge: the records after it would be read for nothing.
    write_behind behind(out.fd, writer.file().durable_size());
    // Records cut to the output's snap length: counted, and the first one's
    // file named, so that no byte is left out unsaid.
    const uint32_t output_snaplen = writer.snaplen();
    uint64_t cut = 0;
    std::string first_cut;
    while (!heap.empty() && writer.file().error() == 0) {
        const size_t i = heap.top().second;
        heap.pop();
        pending_input& p = pending[i];
        if (out.format == file_format::pcapng && p.record.interface >= p.interface_of.size())
            p.map_interfaces(interfaces, &writer);
        if (p.record.caplen > output_snaplen && cut++ == 0)
            first_cut = fmt::format("{}: record {}", p.in.reader.path(), p.in.reader.record_number());
        writer.write_record(p.record.ts_ns, p.record.len, p.data.data(), p.record.caplen, p.output_interface());
        behind.wrote(writer.file().durable_size());
        result.packets++;
        advance(i);
    }
    if (cut != 0)
        result.notes.push_back(fmt::format("{}{}: longer than the output's snap length (the inputs' largest): cut to {} bytes (tcpdump "
                                           "-r refuses such a pcapng record; Wireshark reads it whole)",
                                           first_cut,
                                           cut == 1 ? "" : fmt::format(" and {} more", cut - 1),
                                           output_snaplen));
    const int rc = writer.close(0);   // closes out.fd
    if (rc != 0) {
        result.output_failed = true;
        return fmt::format("{}: writing failed: {}", output, strerror(-rc));
    }
    result.output = output;
    result.files = inputs.size();
    if (!unreadable.empty()) {
        return unreadable_text(unreadable) + fmt::format("; merged what could be read ({}) into {}: it is incomplete",
                                                         count_of(result.packets, "packet", "packets"), output);
    }
    return {};
}

} // namespace linecap
