#include "writers/recovery.h"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "writers/capture_index.h"
#include "writers/output_file.h"
#include "writers/record_walk.h"

namespace linecap {

namespace {

constexpr std::string_view part_suffix = ".part";

// A session's capture files: not session.json, not a merge's output.
bool is_session_capture(const std::string& name)
{
    return !name.starts_with("merged.") && is_capture_file_name(name);
}

// The names in the folder, read through its descriptor (a dup: closedir
// closes the descriptor it is given).
std::vector<std::string> names_in(int dir_fd, int& error)
{
    std::vector<std::string> names;
    const int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
    if (d == nullptr) {
        error = errno;
        if (fd >= 0)
            close(fd);
        return names;
    }
    rewinddir(d);
    while (const dirent* e = readdir(d))
        names.emplace_back(e->d_name);
    closedir(d);
    error = 0;
    return names;
}

// What a capture file holds, and where its last complete record ends.
struct scanned {
    std::optional<file_format> format;
    uint64_t size = 0;
    walk_result walk;
};

// `partial`: a .part file, which may end in zeros or half a record.
scanned scan(int fd, bool partial)
{
    scanned s;
    struct stat st{};
    if (fstat(fd, &st) != 0)
        return s;
    s.size = static_cast<uint64_t>(st.st_size);
    s.format = capture_format_of(fd);
    if (!s.format)
        return s;
    const record_framing framing = framing_of(*s.format, partial);
    s.walk = walk_records(fd, framing.first_record, s.size, framing);
    return s;
}

uint64_t mtime_ns(int fd)
{
    struct stat st{};
    if (fstat(fd, &st) != 0)
        return 0;
    return static_cast<uint64_t>(st.st_mtim.tv_sec) * 1000000000ull + static_cast<uint64_t>(st.st_mtim.tv_nsec);
}

// NAME.part: cut back to its last complete record, synced, renamed NAME;
// or, empty, removed (`removed`). Returns an empty string or why it keeps
// its .part name.
std::string salvage(int dir_fd, const std::string& dir, const std::string& part, bool& removed,
                    folder_recovery& out)
{
    removed = false;
    const int fd = openat(dir_fd, part.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fmt::format("{}/{}: cannot open it: {}; left as it is", dir, part, strerror(errno));
    out.last_write_ns = std::max(out.last_write_ns, mtime_ns(fd));   // an empty file's creation included
    if (struct stat st{}; fstat(fd, &st) == 0 && st.st_size == 0) {
        close(fd);
        if (unlinkat(dir_fd, part.c_str(), 0) != 0)
            return fmt::format("{}/{}: empty, but cannot be removed: {}; left as it is", dir, part, strerror(errno));
        out.removed_empty++;
        removed = true;
        return {};
    }
    const scanned s = scan(fd, true);
    std::string problem;
    if (!s.format)
        problem = "not a pcap or pcapng file linecap wrote (too short, or its header is damaged)";
    else if (s.walk.error != 0)
        problem = fmt::format("cannot read it: {}", strerror(s.walk.error));
    else if (s.walk.end < s.size && ftruncate(fd, static_cast<off_t>(s.walk.end)) != 0)
        problem = fmt::format("cannot cut it back to its last complete record at byte {}: {}", s.walk.end,
                              strerror(errno));
    else if (fsync(fd) != 0)
        problem = fmt::format("cannot sync it: {}", strerror(errno));
    close(fd);
    out.files++;
    if (!problem.empty()) {
        out.bytes += s.size;
        out.packets += s.walk.packets;
        return fmt::format("{}/{}: {}; left as .part", dir, part, problem);
    }
    out.bytes += s.walk.end;
    out.packets += s.walk.packets;
    out.cut_bytes += s.size - s.walk.end;
    const std::string final_name = part.substr(0, part.size() - part_suffix.size());
    if (const int err = rename_no_replace(dir_fd, part, final_name); err != 0)
        return fmt::format("{}/{}: valid up to byte {} ({} packets) but cannot be renamed {}: {}; left as .part",
                           dir, part, s.walk.end, s.walk.packets, final_name, strerror(err));
    out.renamed++;
    return {};
}

// A closed file: valid by construction; counted.
void count(int dir_fd, const std::string& dir, const std::string& name, folder_recovery& out)
{
    const int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        out.warnings.push_back(fmt::format("{}/{}: cannot open it to count its packets: {}", dir, name,
                                           strerror(errno)));
        return;
    }
    const scanned s = scan(fd, false);
    out.last_write_ns = std::max(out.last_write_ns, mtime_ns(fd));
    close(fd);
    out.files++;
    out.bytes += s.size;
    out.packets += s.walk.packets;
    if (!s.format || s.walk.end != s.size)
        out.warnings.push_back(fmt::format("{}/{}: not a complete capture file (valid up to byte {} of {})", dir,
                                           name, s.walk.end, s.size));
}

// The index a writer was writing when the crash came (NAME.idx.part beside
// NAME, renamed from NAME.part above or already): made again from the
// file, whose records it may not all cover, as NAME.idx. The file a
// session with an index was writing (`was_part`, `indexed`) gets one made
// even without NAME.idx.part: the crash came between the file's creation
// and its index's. The empty .part removed above (`removed`) takes its
// NAME.idx.part with it. A NAME.idx.part that is not a regular file is
// not ours to touch.
void reindex(int dir_fd, const std::string& dir, const std::string& name, bool was_part, bool removed,
             bool indexed, folder_recovery& out)
{
    const std::string torn = index_name_of(name + std::string(part_suffix));
    struct stat st{};
    const bool has_torn = fstatat(dir_fd, torn.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (has_torn && !S_ISREG(st.st_mode))
        return;
    if (removed) {
        if (has_torn && unlinkat(dir_fd, torn.c_str(), 0) == 0)
            out.removed_empty_indexes++;
        return;
    }
    if (!has_torn && (!was_part || !indexed ||
                      fstatat(dir_fd, index_name_of(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0))
        return;
    index_build_result r;
    if (std::string e = index_capture_file(name, index_name_of(name), index_chunk_bytes, r, dir_fd); !e.empty())
        out.warnings.push_back(fmt::format("{}/{}: its index cannot be made again: {}", dir, name, e));
    else
        out.reindexed++;
    if (has_torn)
        unlinkat(dir_fd, torn.c_str(), 0);
}

} // namespace

std::optional<file_format> capture_format_of(int fd)
{
    uint8_t head[sizeof(pcap_file_header)];
    const ssize_t n = pread(fd, head, sizeof head, 0);
    const std::optional<capture_header> header = read_capture_header(head, n < 0 ? 0 : static_cast<size_t>(n));
    // Recovery walks records in this machine's byte order, as linecap wrote them.
    if (!header || header->swapped)
        return std::nullopt;
    return header->format;
}

folder_recovery recover_capture_folder(int dir_fd, const std::string& dir, bool indexed)
{
    folder_recovery out;
    int error = 0;
    const std::vector<std::string> names = names_in(dir_fd, error);
    if (error != 0) {
        out.warnings.push_back(fmt::format("{}: cannot list the folder: {}", dir, strerror(error)));
        return out;
    }
    for (const std::string& name : names) {
        struct stat st{};
        if (!is_session_capture(name) || fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;   // symbolic links, folders, devices: not ours to touch
        std::string closed = name;
        const bool was_part = name.ends_with(part_suffix);
        bool removed = false;
        if (was_part) {
            if (std::string w = salvage(dir_fd, dir, name, removed, out); !w.empty()) {
                out.warnings.push_back(std::move(w));
                continue;   // its index stays NAME.idx.part, beside it
            }
            closed = name.substr(0, name.size() - part_suffix.size());
        } else {
            count(dir_fd, dir, name, out);
        }
        reindex(dir_fd, dir, closed, was_part, removed, indexed, out);
    }
    return out;
}

} // namespace linecap
