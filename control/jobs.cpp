#include "control/jobs.h"

#include <atomic>
#include <filesystem>
#include <sched.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace linecap {

struct background_jobs::job {
    std::thread thread;
    // Shared with a run()'s thread, which may outlive the job (abandon_runs).
    std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
    bool is_merge = false;
    finished_merge merged;   // a merge's outcome, written by its thread before `done`
    std::function<void()> then;   // a run()'s, called by the reaper
};

background_jobs::background_jobs() = default;

background_jobs::~background_jobs()
{
    reap(true, [](const finished_merge&) {});
}

namespace {

// The calling thread yields the CPU to every other thread (SCHED_IDLE: it
// runs when they rest) and the disk to other readers and writers (the
// lowest best-effort I/O level; the bfq and kyber schedulers act on it).
// Best effort: a thread that cannot lower its priority still runs, paced
// by its read rate.
void lower_priorities()
{
    sched_param none{};
    sched_setscheduler(0, SCHED_IDLE, &none);   // 0: this thread (Linux schedules threads)
    constexpr int ioprio_class_best_effort = 2, ioprio_class_shift = 13, ioprio_who_process = 1, lowest = 7;
    syscall(SYS_ioprio_set, ioprio_who_process, 0, ioprio_class_best_effort << ioprio_class_shift | lowest);
}

} // namespace

void background_jobs::merge(client_id client, const std::string& id, query_request request, bool query,
                            std::function<void(const std::string& error, bool refused)> on_done)
{
    auto j = std::make_unique<job>();
    j->is_merge = true;
    j->merged.client = client;
    j->merged.id = id;
    j->merged.query = query;
    j->merged.streamed = static_cast<bool>(on_done);
    job* raw = j.get();
    request.merge.on_opened = lower_priorities;
    j->thread = std::thread([raw, request = std::move(request), query, on_done = std::move(on_done)] {
        if (query) {
            raw->merged.error = run_query(request, raw->merged.result);
            // Refused before anything was read (an expression tcpdump
            // refuses, or one the files' link type cannot take): the words
            // the socket and HTTP give for an expression they refuse.
            if (raw->merged.result.expression_refused || raw->merged.result.merge.refused)
                raw->merged.error = "query: " + raw->merged.error;
        } else {
            raw->merged.error = merge_captures(request.merge, raw->merged.result.merge);
            // An output refused (an input, an input's index): as linecapctl
            // words the refusals it makes itself ("merge: FILE: ...").
            if (raw->merged.result.merge.refused)
                raw->merged.error = "merge: " + raw->merged.error;
        }
        if (on_done)
            on_done(raw->merged.error, raw->merged.result.expression_refused || raw->merged.result.merge.refused);
        for (int fd : {request.merge.folder_fd, request.merge.output_fd})
            if (fd >= 0)
                close(fd);
        raw->done->store(true, std::memory_order_release);
    });
    _merging.insert(id);
    _jobs.push_back(std::move(j));
}

void background_jobs::remove_tree(const std::string& path)
{
    auto j = std::make_unique<job>();
    job* raw = j.get();
    j->thread = std::thread([raw, path] {
        lower_priorities();   // freeing gigabytes of extents: the writers first
        std::error_code ec;   // what cannot be removed stays in the hidden folder
        std::filesystem::remove_all(path, ec);
        raw->done->store(true, std::memory_order_release);
    });
    _jobs.push_back(std::move(j));
}

void background_jobs::run(std::function<void()> work, std::function<void()> then)
{
    auto j = std::make_unique<job>();
    j->then = std::move(then);
    j->thread = std::thread([done = j->done, work = std::move(work)] {
        work();
        done->store(true, std::memory_order_release);
    });
    _jobs.push_back(std::move(j));
}

void background_jobs::reap(bool wait, const std::function<void(const finished_merge&)>& on_merged)
{
    // A `then` may start jobs of its own: taken out of the list first.
    std::vector<std::unique_ptr<job>> ended;
    for (auto it = _jobs.begin(); it != _jobs.end();) {
        if (!wait && !(*it)->done->load(std::memory_order_acquire)) {
            ++it;
            continue;
        }
        ended.push_back(std::move(*it));
        it = _jobs.erase(it);
    }
    for (const auto& j : ended) {
        j->thread.join();
        if (j->is_merge) {
            on_merged(j->merged);
            _merging.erase(_merging.find(j->merged.id));
        } else if (j->then) {
            j->then();
        }
    }
}

size_t background_jobs::abandon_runs()
{
    size_t left = 0;
    for (auto it = _jobs.begin(); it != _jobs.end();) {
        if ((*it)->then && !(*it)->done->load(std::memory_order_acquire)) {
            (*it)->thread.detach();
            left++;
            it = _jobs.erase(it);
        } else {
            ++it;
        }
    }
    return left;
}

} // namespace linecap
