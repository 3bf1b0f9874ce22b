// The daemon's work that takes seconds: merges of a session's files and
// deletes of its folder run on threads of their own, so the control loop
// goes on enforcing limits and serving clients meanwhile. The loop starts
// them and reaps them; nothing else touches them.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/server.h"
#include "writers/merge.h"

namespace linecap {

// A merge that has ended: for the client that asked, the reply to send.
struct finished_merge {
    client_id client = 0;
    std::string id;        // the session's
    std::string error;     // empty: merged
    merge_result result;
    bool streamed = false; // an HTTP download's (GET .../pcap): no socket client waits for a reply
};

class background_jobs {
public:
    background_jobs();
    ~background_jobs();   // waits for every job
    background_jobs(const background_jobs&) = delete;
    background_jobs& operator=(const background_jobs&) = delete;

    // Merges `request` for session `id`, asked by `client`; closes the
    // request's folder_fd and output_fd once done. `on_done`, if given, is
    // called on the merge's thread with its error (empty: merged) before
    // the descriptors are closed: a reader of a pipe knows the outcome by
    // the time it reads the end of the stream. Such a merge is `streamed`.
    void merge(client_id client, const std::string& id, merge_request request,
               std::function<void(const std::string& error)> on_done = {});
    bool merging(const std::string& id) const { return _merging.count(id) != 0; }

    // Deletes the tree at `path` (a folder the catalog moved out of sight).
    void remove_tree(const std::string& path);

    // Joins the jobs that are done, or all of them if `wait`; each merge
    // that ended is handed to `on_merged`.
    void reap(bool wait, const std::function<void(const finished_merge&)>& on_merged);

private:
    struct job;
    std::vector<std::unique_ptr<job>> _jobs;
    std::multiset<std::string> _merging;   // ids with merges under way (each client merges into its own file)
};

} // namespace linecap
