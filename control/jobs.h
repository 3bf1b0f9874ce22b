// The daemon's work that takes seconds: merges and queries of a session's
// files and deletes of its folder run on threads of their own, so the
// control loop goes on enforcing limits and serving clients meanwhile. The
// loop starts them and reaps them; nothing else touches them.
//
// A merge or query thread, once it has opened its files (at full speed: a
// ring rotating many times a second deletes what it is slow to open), runs
// only when the other threads of its CPU rest (SCHED_IDLE), at the lowest
// best-effort I/O level, and
// reads at most merge_request::read_rate bytes a second: on a machine where
// the writers share its CPU and disk, the capture comes first. A writer
// that never rests makes such a job wait until it does.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/server.h"
#include "query/query.h"
#include "writers/merge.h"

namespace linecap {

// The output an HTTP download's merge or query names in its errors ("the
// HTTP download: writing failed: Broken pipe": its client went away).
inline constexpr std::string_view http_download_output = "the HTTP download";

// A merge or query that has ended: for the client that asked, the reply to send.
struct finished_merge {
    client_id client = 0;
    std::string id;        // the session's
    std::string error;     // empty: merged
    bool query = false;
    query_result result;   // a merge's: result.merge only
    bool streamed = false; // an HTTP download's (GET .../pcap, .../query): no socket client waits for a reply
};

class background_jobs {
public:
    background_jobs();
    ~background_jobs();   // waits for every job
    background_jobs(const background_jobs&) = delete;
    background_jobs& operator=(const background_jobs&) = delete;

    // Merges `request.merge` for session `id`, asked by `client`, or, if
    // `query`, queries it (query/query.h: through the files' indexes, with
    // request.expression); closes the request's folder_fd and output_fd
    // once done. `on_done`, if given, is called on the job's thread with
    // its error (empty: done), and whether that error is the request's
    // fault (a query's expression refused), before the descriptors are
    // closed: a reader of a pipe knows the outcome by the time it reads
    // the end of the stream. Such a job is `streamed`.
    void merge(client_id client, const std::string& id, query_request request, bool query,
               std::function<void(const std::string& error, bool refused)> on_done = {});
    bool merging(const std::string& id) const { return _merging.count(id) != 0; }

    // Deletes the tree at `path` (a folder the catalog moved out of sight).
    void remove_tree(const std::string& path);

    // Runs `work` on a thread of its own, at the usual priority (a start's
    // filter compile: short, unless libpcap waits on DNS for a host name),
    // then `then` on the thread that reaps it, once it is done.
    void run(std::function<void()> work, std::function<void()> then);
    // Leaves every run() still working to finish on its own (its `then` is
    // never called) and returns how many: at exit, where a resolver must
    // not hold the process. Their `work` must own all it touches.
    size_t abandon_runs();

    // Joins the jobs that are done, or all of them if `wait`; each merge
    // that ended is handed to `on_merged`, each run's `then` is called.
    void reap(bool wait, const std::function<void(const finished_merge&)>& on_merged);

private:
    struct job;
    std::vector<std::unique_ptr<job>> _jobs;
    std::multiset<std::string> _merging;   // ids with merges under way (each client merges into its own file)
};

} // namespace linecap
