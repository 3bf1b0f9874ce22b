#include "writers/session_output.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.h"
#include "core/utc_time.h"

namespace linecap {

namespace {

// A live time-rotated file is closed this long after its window ends even if
// no packet comes to trigger it, so operators get complete files on time.
// "Live": its last packet is within live_skew of the wall clock (a replay's
// packets carry old times, and its files rotate on packet times only).
constexpr uint64_t window_grace_ns = 1000000000ull;
constexpr uint64_t live_skew_ns = 60ull * 1000000000ull;

// A rotation held by a stalled chunk write (rotate_file) asks the file
// again after this long, not at every packet.
constexpr uint64_t rotation_retry_ns = 1000000;

stop_reason reason_for_errno(int err)
{
    return err == ENOSPC || err == EDQUOT ? stop_reason::disk_full : stop_reason::error;
}

} // namespace

std::string capture_file_name(const output_spec& spec, unsigned writer_index, uint32_t seq,
                              uint64_t start_ns)
{
    return fmt::format("{}-w{}-{:06}-{}.{}", spec.name, writer_index, seq, utc_basic(start_ns),
                       format_extension(spec.format));
}

bool is_writer_file_name(std::string_view name)
{
    // <session>-w<writer>-<6-digit seq>-<YYYYMMDDTHHMMSSZ>.<pcap|pcapng>[.part]
    if (name.ends_with(".part"))
        name.remove_suffix(5);
    const size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || (name.substr(dot) != ".pcap" && name.substr(dot) != ".pcapng"))
        return false;
    name = name.substr(0, dot);
    const auto digits = [](std::string_view s) {
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    constexpr size_t time_len = 16;   // utc_basic: 20231114T221320Z
    if (name.size() < time_len + 1)
        return false;
    const std::string_view time = name.substr(name.size() - time_len);
    if (!digits(time.substr(0, 8)) || time[8] != 'T' || !digits(time.substr(9, 6)) || time[15] != 'Z')
        return false;
    name.remove_suffix(time_len);
    if (!name.ends_with('-'))
        return false;
    name.remove_suffix(1);
    const size_t seq_dash = name.rfind('-');
    if (seq_dash == std::string_view::npos || !digits(name.substr(seq_dash + 1)) || name.size() - seq_dash - 1 < 6)
        return false;
    name = name.substr(0, seq_dash);
    const size_t writer_dash = name.rfind("-w");
    return writer_dash != std::string_view::npos && writer_dash != 0 && digits(name.substr(writer_dash + 2)) &&
           check_session_name(name.substr(0, writer_dash)).empty();
}

int session_output::open(session* s, std::string& error)
{
    _owner = s;
    _seq = 0;
    // Everything a previous session in this slot left behind (the file
    // object itself is closed already, and keeps its buffer).
    _closed = false;
    _closed_by_limit = false;
    _window_end_ns = UINT64_MAX;
    _last_ts_ns = 0;
    _packets_granted = _bytes_granted = 0;
    _closed_packets = _closed_bytes = 0;
    _base_packets = _counters->written_packets.get();
    _base_bytes = _counters->written_bytes.get();
    _on_disk.clear();
    _on_disk_bytes = 0;
    _said_keep_too_small = false;
    _index.take_marks(s->spec.index_marked());
    const int rc = open_file(s->start_ns, error);
    if (rc != 0)
        _owner = nullptr;
    return rc;
}

void session_output::publish()
{
    const bool open = _file.file().is_open();
    _counters->written_packets.set(_base_packets + _closed_packets + (open ? _file.durable_packets() : 0));
    _counters->written_bytes.set(_base_bytes + _closed_bytes + (open ? _file.file().durable_size() : 0));
}

void session_output::fail(int err, const std::string& what)
{
    _owner->fail(reason_for_errno(err),
                 fmt::format("writer {}: {}/{}: {}", _writer_index, _owner->spec.dir, what, strerror(err)));
    _closed = true;
}

// Deletes the oldest closed files beyond the session's keep count
// (rotate.keep) and beyond this writer's share of its keep_bytes.
void session_output::apply_keep()
{
    const uint32_t keep = _owner->spec.rotate.keep;
    const uint64_t keep_bytes = _owner->keep_bytes_per_writer;
    while (!_on_disk.empty() &&
           ((keep != 0 && _on_disk.size() > keep) || (keep_bytes != 0 && _on_disk_bytes > keep_bytes))) {
        // The file just closed, alone over the bound: every file is
        // deleted as it closes. Said once: nothing else would tell.
        if (_on_disk.size() == 1 && !_said_keep_too_small && keep_bytes != 0 && _on_disk_bytes > keep_bytes) {
            _said_keep_too_small = true;
            log_event(log_module::writers, log_level::warning,
                      "writer {}: {}/{}: {} bytes, over this writer's share of keep_bytes ({} bytes): deleted as "
                      "soon as it was closed, as every file of this size will be; give keep_bytes room for several "
                      "files (it counts bytes: 1 GB is 1000000000)",
                      _writer_index, _owner->spec.dir, _on_disk.front().first, _on_disk_bytes, keep_bytes);
        }
        // Held open while its name goes, so that the reaper's close, not
        // this lcore, frees its extents (writers/file_reaper.h).
        const char* name = _on_disk.front().first.c_str();
        const int fd = _reaper != nullptr ? openat(_owner->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        unlinkat(_owner->dir_fd, name, 0);
        if (fd >= 0 && !_reaper->take(fd))
            close(fd);
        unlinkat(_owner->dir_fd, index_name_of(_on_disk.front().first).c_str(), 0);   // if it has one
        _on_disk_bytes -= _on_disk.front().second;
        _on_disk.pop_front();
        _counters->files_deleted.add(1);
    }
}

// Closes the session's current file on this writer. A file that failed is
// cut back to its last complete record; the packets that did not make it are
// counted as write drops and the session stops with the reason.
void session_output::close_file()
{
    output_file& file = _file.file();
    if (!file.is_open())
        return;
    const bool indexed = _index.is_open();
    const uint64_t records_read = _index.records_read(), records_in_chunk = _index.records_in_chunk();
    const uint64_t records_end = file.size();   // before pcapng's closing blocks
    const int rc = _file.close(_clock->now_ns(), _owner->read_interface);
    // The index is renamed with its file (and stays .idx.part beside a
    // .part the rename left). An index that failed leaves the capture
    // whole: a query reads the file past the index's last chunk.
    if (std::string e = _index.close(rc == 0, records_end); !e.empty()) {
        _counters->index_errors.add(1);
        log_event(log_module::writers, log_level::warning, "writer {}: {}/{}: the index: {}", _writer_index, _owner->spec.dir, file.name(), e);
    }
    // The file's time on this writer, from its open to its close and its
    // index's: scripts/bench's index case reads it, for files written with
    // and without an index in one run.
    const uint64_t took_us = (_clock->now_ns() - _file_opened_ns) / 1000;
    if (indexed)
        log_event(log_module::writers, log_level::debug,
                  "writer {}: {}/{}: {} records in {} us, indexed, {} of them read for every key, {} marked in an "
                  "older block",
                  _writer_index, _owner->spec.dir, file.name(), _file.packets(), took_us, records_read,
                  records_in_chunk);
    else
        log_event(log_module::writers, log_level::debug, "writer {}: {}/{}: {} records in {} us, not indexed",
                  _writer_index, _owner->spec.dir, file.name(), _file.packets(), took_us);
    _closed_packets += _file.durable_packets();
    _closed_bytes += file.durable_size();
    _counters->write_drops.add(_file.packets() - _file.durable_packets());
    _on_disk.emplace_back(file.name(), file.durable_size());
    _on_disk_bytes += file.durable_size();
    publish();
    if (rc != 0) {
        // A write error names the file it hit; otherwise closing failed:
        // the rename to its final name (its folder removed, made read-only,
        // or the name taken), and the file is left NAME.part.
        const bool write_failed = file.error() != 0;
        fail(-rc, write_failed ? file.name() : file.name() + ".part: cannot close it and rename it " + file.name());
        return;
    }
    apply_keep();
}

// What a burst took of the limits and will not write goes back to them.
void session_output::give_back_grants()
{
    _owner->packets_left.give_back(_packets_granted);
    _owner->bytes_left.give_back(_bytes_granted);
    _packets_granted = _bytes_granted = 0;
}

void session_output::end(bool by_limit, bool hold)
{
    if (_owner == nullptr)
        return;
    // Once ended, the session may be gone (the control thread frees it after
    // the writers have closed it): nothing of it is touched again.
    if (!_closed) {
        give_back_grants();
        _closed_by_limit = by_limit;
        _closed = true;
    }
    _close_held = hold && _file.file().is_open() && !_file.file().write_settled();
    if (!_close_held)
        close_file();
}

void session_output::stop_at_limit(stop_reason why)
{
    _owner->stop(why);
    _counters->limit_drops.add(1);
    end(true, true);
}

namespace {

// Whether the folder holds a capture file NAME or NAME.part. (An index
// name taken fails only the index: the file is kept whole, and counted in
// index_errors.)
bool name_taken(int dir_fd, const std::string& name)
{
    struct stat st;
    for (const std::string& n : {name, name + ".part"})
        if (fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            return true;
    return false;
}

// How many taken names open_file passes over before it tries the next one
// anyway (and its error says which name was taken).
constexpr uint32_t max_name_tries = 1000;

} // namespace

// Opens the session's next file on this writer, named after `start_ns`.
int session_output::open_file(uint64_t start_ns, std::string& error)
{
    session& s = *_owner;
    _file_opened_ns = _clock->now_ns();
    // A name already taken in the folder (an earlier run of the same
    // session name into it: replayed files name their rotations by the
    // packets' times, which repeat) is passed over for the next sequence
    // number; the file would otherwise be written whole and then refused
    // its final name, its packets lost.
    std::string name;
    for (uint32_t tries = 0;; tries++) {
        name = capture_file_name(s.spec, _writer_index, ++_seq, start_ns);
        if (tries == max_name_tries || !name_taken(s.dir_fd, name))
            break;
    }
    capture_file_options options;
    options.format = s.spec.format;
    options.snaplen = s.spec.snaplen;
    options.chunk_bytes = s.spec.chunk_bytes;
    options.direct = s.spec.direct_io;
    options.interfaces = &s.interfaces;
    options.start_ns = s.start_ns;
    options.linktype = linktype_of(s.spec.decap);
    if (const int rc = _file.open(s.dir_fd, name, options); rc != 0) {
        error = fmt::format("writer {}: cannot create {}/{}.part: {}", _writer_index, s.spec.dir, name, strerror(-rc));
        return rc;
    }
    // A benchmark's hook, never a capture's: every other file of an indexed
    // session written without its index, and its workers marking nothing
    // meanwhile (index_epoch::marks_paused), so that one run times the
    // pipeline with and without an index side by side (scripts/bench
    // --only index). The pause is the writer's, not the session's: the
    // benchmark runs one session.
    static const bool every_other_unindexed = getenv("LINECAP_BENCH_INDEX_EVERY_OTHER_FILE") != nullptr;
    const bool bench_unindexed = every_other_unindexed && _seq % 2 == 0;
    if (every_other_unindexed && s.spec.indexed())
        _index.pause_marks(bench_unindexed);
    if (s.spec.indexed() && !bench_unindexed)
        if (std::string e = _index.open(s.dir_fd, name, _file.file().size()); !e.empty()) {
            _counters->index_errors.add(1);
            log_event(log_module::writers, log_level::warning, "writer {}: {}/{}: no index for this file: {}", _writer_index, s.spec.dir, name, e);
        }
    _window_end_ns = UINT64_MAX;   // set by the file's first packet
    // What opening and closing the file add counts against the byte limit
    // from the start, so a limit holds once the file is closed. A file whose
    // header and closing blocks alone do not fit is not kept at all. The
    // records of this burst after it take their bytes one by one again.
    s.bytes_left.give_back(_bytes_granted);
    _bytes_granted = 0;
    if (!s.bytes_left.take_all(_file.file().size() + _file.closing_bytes())) {
        _file.file().discard();
        _index.discard();
        s.stop(stop_reason::bytes);
        end(true);
        return 0;
    }
    _counters->files.add(1);
    return 0;
}

// Opens a new file mid-capture; an error stops the session (a full disk, a
// file descriptor limit, a folder removed under us).
bool session_output::reopen(uint64_t start_ns)
{
    std::string error;
    const int rc = open_file(start_ns, error);
    if (rc != 0) {
        _owner->fail(reason_for_errno(-rc), error);
        _closed = true;
        return false;
    }
    return !_closed;
}

bool session_output::rotate_file(uint64_t ts_ns)
{
    if (_file.file().is_open()) {
        const uint64_t now = _clock->now_ns();
        if (now < _rotation_retry_ns)
            return true;
        if (!_file.file().write_settled()) {
            _rotation_retry_ns = now + rotation_retry_ns;
            return true;
        }
    }
    // A new time window starts at its aligned time; a size or count
    // rotation, or a late packet, stays in the current window: windows
    // never go back.
    const uint64_t interval = _owner->spec.rotate.seconds * ns_per_second;
    const bool new_window = interval != 0 && _window_end_ns != UINT64_MAX && ts_ns >= _window_end_ns;
    const uint64_t start = new_window ? window_start(ts_ns, interval) : ts_ns;
    const uint64_t window_end = _window_end_ns;
    close_file();
    if (_closed || !reopen(start))
        return false;
    if (!new_window)
        _window_end_ns = window_end;
    return true;
}

void session_output::housekeeping(uint64_t now_ns, bool flush_due)
{
    if (_close_held && _file.file().write_settled()) {
        _close_held = false;
        close_file();
    }
    if (_owner == nullptr || _closed)
        return;
    output_file& file = _file.file();
    if (!file.is_open())
        return;
    if (_window_end_ns != UINT64_MAX && now_ns >= _window_end_ns + window_grace_ns &&
        _last_ts_ns + live_skew_ns > now_ns && _last_ts_ns < now_ns + live_skew_ns && file.write_settled()) {
        close_file();   // the next packet opens the next window's file
        return;
    }
    if (flush_due && file.has_pending() && file.flush(false) != 0)
        end();
    publish();
}

std::vector<std::string> session_output::files_on_disk() const
{
    std::vector<std::string> names;
    for (const auto& [name, bytes] : _on_disk)
        names.push_back(name);
    if (_file.file().is_open())
        names.push_back(_file.file().name() + ".part");
    return names;
}

} // namespace linecap
