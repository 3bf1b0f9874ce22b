// The daemon's sessions, running and past, and their folders under
// --out-root:
//
//   <out-root>/<id>-<name>/session.json     what `show` prints, kept current
//   <out-root>/<id>-<name>/<name>-w0-...    the capture files
//
// session.json is written when a session starts and again when it ends
// (write to a temporary file, fsync, rename), so a daemon that restarts
// lists every earlier session from it. One found still "running" belonged
// to a daemon that died without closing it: open() tidies its folder (every
// .part file cut back to its last complete record and renamed, as
// writers/recovery.h) and lists it as finished, reason "crashed".
#pragma once

#include <cstdint>
#include <map>
#include <sys/types.h>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/counters.h"
#include "core/spec.h"

namespace linecap {

struct session_record {
    std::string id;
    std::string name;
    std::string folder;                 // <id>-<name>, under the out root
    nlohmann::ordered_json spec;        // as the client gave it
    std::string fleet;                  // the fleet session it runs for (docs/fleet.md); empty: none
    stop_reason reason = stop_reason::none;   // none while it runs; crashed: see open()
    std::string error;                  // why it failed, if it did
    std::string note;                   // what a restart found and tidied, for a crashed one
    std::string started;                // UTC, ISO-8601 with nanoseconds
    std::string ended;
    session_totals counters;            // last known: at its end, or what a restart found in its files
    int slot = -1;                      // the pipeline slot while running
    // What the filter's compile said while it runs (a bpf expression DPDK
    // cannot run, run in libpcap's interpreter instead): a note of start's
    // reply, show and watch. Not kept in session.json.
    std::string filter_note;

    // "running", "finished", or "failed" (a full disk, a write error): what
    // the reason says. A crashed session's files were recovered: finished.
    std::string_view status() const;

    // As session.json holds it: "status" and "reason" ("" while running) by name.
    nlohmann::ordered_json to_json() const;
    static bool from_json(const nlohmann::json& j, session_record& out, std::string& error);
};

// A capture file in a session's folder, and its index's size (FILE.idx or
// FILE.idx.part beside it; 0: none).
struct file_entry {
    std::string name;
    uint64_t bytes = 0;
    uint64_t index_bytes = 0;
};

// A session's record in its folder, and the name it is written under
// before its rename over the record.
inline constexpr const char* session_record_name = "session.json";
inline constexpr const char* session_record_tmp_name = "session.json.tmp";

class session_catalog {
public:
    // Opens (creating if needed) the out root and loads the sessions found
    // in it; the folders of sessions a crash left "running" are tidied
    // first (synchronously: it reads their capture files once). Returns an
    // empty string or the error.
    // `group`: the --control-group's id (or -1): every session folder is
    // made that group's, with the set-group-id bit, so its files are too,
    // and members of the group can read them (docs/security.md).
    std::string open(const std::string& out_root, gid_t group = static_cast<gid_t>(-1));

    const std::string& root() const { return _root; }
    int root_fd() const { return _root_fd; }
    ~session_catalog();

    // A new record with a fresh id and its folder created; the folder's
    // descriptor is returned in `dir_fd` (the caller owns it).
    std::string create(const std::string& name, session_record*& out, int& dir_fd);
    // Writes the record's session.json. Returns an empty string or the error.
    std::string save(const session_record& record) const;
    // Removes a record, and renames its folder to `trash` (hidden, under
    // the root) for the caller to delete with everything in it (fs::
    // remove_all, which does not follow symbolic links), off the hot path.
    // A trash folder left by a crash is deleted by the next open().
    std::string remove(const std::string& id, std::string& trash);
    // Undoes create() for a session that could not start: its folder goes,
    // and its id is given to the next session.
    void discard_new(const std::string& id);

    session_record* find(const std::string& id);
    const session_record* find(const std::string& id) const;
    std::vector<session_record*> all();   // by id, oldest first

    // The capture files in a session's folder, by name.
    std::vector<file_entry> files(const session_record& record) const;
    std::string folder_path(const session_record& record) const { return _root + "/" + record.folder; }

    // Warnings from open(): folders that could not be read back.
    const std::vector<std::string>& warnings() const { return _warnings; }

private:
    void forget(const std::string& id);
    void close_crashed(session_record& r);

    std::string _root;
    int _root_fd = -1;
    gid_t _group = static_cast<gid_t>(-1);
    uint64_t _next_id = 1;
    std::map<uint64_t, session_record> _records;
    std::vector<std::string> _warnings;
};

} // namespace linecap
