#include "control/catalog.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/spec.h"
#include "core/utc_time.h"
#include "control/stats_json.h"
#include "writers/capture_index.h"
#include "writers/recovery.h"

namespace linecap {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

constexpr const char* metadata_name = session_record_name;
constexpr const char* metadata_tmp = session_record_tmp_name;
constexpr const char* trash_prefix = ".deleted-";

// "<id>-<name>" -> id, or 0 if the folder is not a session's.
uint64_t id_of_folder(std::string_view folder, std::string& name)
{
    const size_t dash = folder.find('-');
    if (dash == std::string_view::npos || dash == 0)
        return 0;
    uint64_t id = 0;
    const auto [end, ec] = std::from_chars(folder.data(), folder.data() + dash, id);
    if (ec != std::errc{} || end != folder.data() + dash)
        return 0;
    name = std::string(folder.substr(dash + 1));
    return check_session_name(name).empty() ? id : 0;
}

bool read_file_at(int dir_fd, const std::string& path, std::string& text)
{
    const int fd = openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    char buf[65536];
    ssize_t n;
    text.clear();
    while ((n = read(fd, buf, sizeof(buf))) > 0 && text.size() < (16 << 20))
        text.append(buf, static_cast<size_t>(n));
    close(fd);
    return n == 0;
}

} // namespace

std::string_view session_record::status() const
{
    if (reason == stop_reason::none)
        return "running";
    return reason == stop_reason::error || reason == stop_reason::disk_full ? "failed" : "finished";
}

ojson session_record::to_json() const
{
    ojson j = {
        {"id", id}, {"name", name}, {"folder", folder}, {"status", status()},
        {"reason", reason == stop_reason::none ? std::string_view() : stop_reason_name(reason)},
        {"error", error}, {"note", note}, {"started", started}, {"ended", ended}, {"spec", spec},
        {"counters", session_totals_json(counters)},
    };
    if (!fleet.empty())
        j["fleet"] = fleet;
    return j;
}

bool session_record::from_json(const nlohmann::json& j, session_record& out, std::string& error)
{
    try {
        out.id = j.at("id").get<std::string>();
        out.name = j.at("name").get<std::string>();
        out.folder = j.at("folder").get<std::string>();
        const std::string status = j.at("status").get<std::string>();
        const std::string reason = j.value("reason", "");
        const auto why = reason.empty() ? std::optional(stop_reason::none) : stop_reason_from_name(reason);
        if (!why || (status == "running") != (*why == stop_reason::none)) {
            error = fmt::format("status \"{}\" with reason \"{}\" is not a state of a session", status, reason);
            return false;
        }
        out.reason = *why;
        out.error = j.value("error", "");
        out.note = j.value("note", "");
        out.started = j.value("started", "");
        out.ended = j.value("ended", "");
        out.spec = j.value("spec", ojson::object());
        out.fleet = j.value("fleet", "");
        out.counters = session_totals_from_json(j.value("counters", nlohmann::json::object()));
    } catch (const nlohmann::json::exception& e) {
        error = e.what();
        return false;
    }
    return true;
}

session_catalog::~session_catalog()
{
    if (_root_fd >= 0)
        close(_root_fd);
}

std::string session_catalog::open(const std::string& out_root, gid_t group)
{
    _group = group;
    std::error_code ec;
    fs::create_directories(out_root, ec);
    if (ec)
        return fmt::format("--out-root {}: cannot create the folder: {}", out_root, ec.message());
    _root = fs::absolute(out_root, ec).lexically_normal().string();
    if (_root.size() > 1 && _root.back() == '/')
        _root.pop_back();
    _root_fd = ::open(_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (_root_fd < 0)
        return fmt::format("--out-root {}: cannot open the folder: {}", out_root, std::strerror(errno));

    for (const auto& entry : fs::directory_iterator(_root, ec)) {
        std::string name;
        const std::string folder = entry.path().filename().string();
        if (folder.starts_with(trash_prefix)) {
            std::error_code trash_ec;   // a delete the last run did not finish
            fs::remove_all(entry.path(), trash_ec);
            continue;
        }
        const uint64_t id = entry.is_directory() && !entry.is_symlink() ? id_of_folder(folder, name) : 0;
        if (id == 0)
            continue;
        _next_id = std::max(_next_id, id + 1);
        std::string text, error;
        if (!read_file_at(_root_fd, folder + "/" + metadata_name, text)) {
            _warnings.push_back(fmt::format("{}/{}: no readable {}; not listed", _root, folder, metadata_name));
            continue;
        }
        session_record r;
        const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded() || !session_record::from_json(j, r, error) || r.id != std::to_string(id) ||
            r.folder != folder) {
            _warnings.push_back(fmt::format("{}/{}/{}: not a session record linecap wrote{}{}; not listed", _root,
                                            folder, metadata_name, error.empty() ? "" : ": ", error));
            continue;
        }
        if (r.reason == stop_reason::none)
            close_crashed(r);
        r.slot = -1;
        _records[id] = std::move(r);
    }
    if (ec)
        return fmt::format("--out-root {}: cannot list the folder: {}", _root, ec.message());
    return {};
}

// A session a daemon was running when it died (kill -9, a crash, power
// loss): its .part files become valid files, its counters what they hold.
void session_catalog::close_crashed(session_record& r)
{
    const std::string dir = folder_path(r);
    const int dir_fd = openat(_root_fd, r.folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    folder_recovery found;
    if (dir_fd < 0) {
        found.warnings.push_back(fmt::format("{}: cannot open the folder: {}", dir, std::strerror(errno)));
    } else {
        // Whether the session indexes its files: the spec it was started
        // with, as saved (a spec that no longer parses: no index made where
        // none was left).
        session_spec spec;
        const bool indexed = parse_session_spec(nlohmann::json(r.spec), spec).empty() && spec.output.indexed();
        found = recover_capture_folder(dir_fd, dir, indexed);
        close(dir_fd);
    }
    r.reason = stop_reason::crashed;
    r.error.clear();
    if (found.last_write_ns != 0)
        r.ended = utc_iso8601(found.last_write_ns);   // its last write: as close to the end as is known
    r.note = fmt::format("linecap stopped without closing this session (a crash, kill -9 or power loss). "
                         "The restart cut {} .part file{} back to the last complete record ({} bytes of "
                         "half-written records removed) and renamed {}; the counters are what the files hold, "
                         "the end time is their last write",
                         found.renamed, found.renamed == 1 ? "" : "s", found.cut_bytes,
                         found.renamed == 1 ? "it" : "them");
    if (found.removed_empty != 0)
        r.note += fmt::format("; it removed {} empty .part file{} (created just before the end, no header yet){}",
                              found.removed_empty, found.removed_empty == 1 ? "" : "s",
                              found.removed_empty_indexes == 0 ? ""
                              : found.removed_empty_indexes == 1
                                  ? " and the index begun beside one"
                                  : fmt::format(" and the indexes begun beside {}", found.removed_empty_indexes));
    if (found.reindexed != 0)
        r.note += fmt::format("; it made {} index{} again from {} file{}", found.reindexed,
                              found.reindexed == 1 ? "" : "es", found.reindexed == 1 ? "its" : "their",
                              found.reindexed == 1 ? "" : "s");
    if (!found.warnings.empty())
        r.note += fmt::format(". Left as found: {}", fmt::join(found.warnings, "; "));
    r.counters = session_totals{};
    r.counters.written_packets = found.packets;
    r.counters.written_bytes = found.bytes;
    r.counters.files = found.files;
    for (std::string& w : found.warnings)
        _warnings.push_back(fmt::format("session {}: {}", r.id, w));
    if (std::string e = save(r); !e.empty())
        _warnings.push_back(e);
}

std::string session_catalog::create(const std::string& name, session_record*& out, int& dir_fd)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        const uint64_t id = _next_id++;
        const std::string folder = fmt::format("{}-{}", id, name);
        if (mkdirat(_root_fd, folder.c_str(), 0750) != 0) {
            if (errno == EEXIST)
                continue;   // left there by hand; take the next id
            _next_id = id;  // not used up
            return fmt::format("{}/{}: cannot create the session folder: {}", _root, folder, std::strerror(errno));
        }
        dir_fd = openat(_root_fd, folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        // The control group's, set-group-id (files made in it take its
        // group), 0750: members of the group read the sessions, as the
        // socket lets them (docs/security.md).
        const char* step = "open";
        int err = errno;
        if (dir_fd >= 0 && _group != static_cast<gid_t>(-1) &&
            (fchown(dir_fd, static_cast<uid_t>(-1), _group) != 0 || fchmod(dir_fd, 02750) != 0)) {
            err = errno;
            step = "give the --control-group";
            close(dir_fd);
            dir_fd = -1;
        }
        if (dir_fd < 0) {
            std::string e = fmt::format("{}/{}: cannot {} the session folder: {}", _root, folder, step, std::strerror(err));
            unlinkat(_root_fd, folder.c_str(), AT_REMOVEDIR);
            _next_id = id;
            return e;
        }
        session_record& r = _records[id];
        r = session_record{};
        r.id = std::to_string(id);
        r.name = name;
        r.folder = folder;
        out = &r;
        return {};
    }
    return fmt::format("{}: cannot find a free session folder name", _root);
}

std::string session_catalog::save(const session_record& record) const
{
    const std::string text = record.to_json().dump(2, ' ', false, ojson::error_handler_t::replace) + "\n";
    const std::string tmp = record.folder + "/" + metadata_tmp;
    const std::string final_name = record.folder + "/" + metadata_name;
    const int fd = openat(_root_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return fmt::format("{}/{}: cannot write: {}", _root, tmp, std::strerror(errno));
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n <= 0) {
            std::string e = fmt::format("{}/{}: cannot write: {}", _root, tmp, n < 0 ? std::strerror(errno) : "no space");
            close(fd);
            unlinkat(_root_fd, tmp.c_str(), 0);
            return e;
        }
        done += static_cast<size_t>(n);
    }
    const bool synced = fsync(fd) == 0;
    close(fd);
    if (!synced || renameat(_root_fd, tmp.c_str(), _root_fd, final_name.c_str()) != 0) {
        std::string e = fmt::format("{}/{}: cannot write: {}", _root, final_name, std::strerror(errno));
        unlinkat(_root_fd, tmp.c_str(), 0);
        return e;
    }
    return {};
}

session_record* session_catalog::find(const std::string& id)
{
    uint64_t n = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc{} || end != id.data() + id.size())
        return nullptr;
    const auto it = _records.find(n);
    return it == _records.end() ? nullptr : &it->second;
}

const session_record* session_catalog::find(const std::string& id) const
{
    return const_cast<session_catalog*>(this)->find(id);
}

std::vector<session_record*> session_catalog::all()
{
    std::vector<session_record*> out;
    for (auto& [id, r] : _records)
        out.push_back(&r);
    return out;
}

std::string session_catalog::remove(const std::string& id, std::string& trash)
{
    session_record* r = find(id);
    if (r == nullptr)
        return fmt::format("no session {}", id);
    // Renamed at once (the session is gone from the list and from a
    // restart's), emptied later by the caller: a folder of many files takes
    // a while to delete. The name is ours (a number and a checked name).
    const std::string hidden = trash_prefix + r->folder;
    if (renameat(_root_fd, r->folder.c_str(), _root_fd, hidden.c_str()) != 0)
        return fmt::format("{}: cannot remove: {}", folder_path(*r), std::strerror(errno));
    trash = _root + "/" + hidden;
    forget(id);
    return {};
}

void session_catalog::discard_new(const std::string& id)
{
    const session_record* r = find(id);
    if (r == nullptr)
        return;
    const uint64_t n = std::stoull(id);
    std::error_code ec;
    fs::remove_all(folder_path(*r), ec);   // just created: empty, or one empty file per writer
    forget(id);
    if (!ec && n + 1 == _next_id)
        _next_id = n;
}

void session_catalog::forget(const std::string& id)
{
    uint64_t n = 0;
    std::from_chars(id.data(), id.data() + id.size(), n);
    _records.erase(n);
}

std::vector<file_entry> session_catalog::files(const session_record& record) const
{
    std::vector<file_entry> out;
    std::map<std::string, uint64_t> indexes;   // by name
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder_path(record), ec)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_regular_file() || entry.is_symlink() || name == metadata_name || name == metadata_tmp ||
            name.ends_with(".tmp"))
            continue;
        std::error_code size_ec;
        const uint64_t size = entry.file_size(size_ec);
        if (name.ends_with(".idx") || name.ends_with(".idx.part"))
            indexes[name] = size_ec ? 0 : size;
        else
            out.push_back({name, size_ec ? 0 : size, 0});
    }
    for (file_entry& f : out)
        if (const auto it = indexes.find(index_name_of(f.name)); it != indexes.end())
            f.index_bytes = it->second;
    std::sort(out.begin(), out.end(), [](const file_entry& a, const file_entry& b) { return a.name < b.name; });
    return out;
}

} // namespace linecap
