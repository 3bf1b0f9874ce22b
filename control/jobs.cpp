#include "control/jobs.h"

#include <atomic>
#include <filesystem>
#include <thread>
#include <unistd.h>

namespace linecap {

struct background_jobs::job {
    std::thread thread;
    std::atomic<bool> done{false};
    bool is_merge = false;
    finished_merge merged;   // a merge's outcome, written by its thread before `done`
};

background_jobs::background_jobs() = default;

background_jobs::~background_jobs()
{
    reap(true, [](const finished_merge&) {});
}

void background_jobs::merge(client_id client, const std::string& id, merge_request request,
                            std::function<void(const std::string& error)> on_done)
{
    auto j = std::make_unique<job>();
    j->is_merge = true;
    j->merged.client = client;
    j->merged.id = id;
    j->merged.streamed = static_cast<bool>(on_done);
    job* raw = j.get();
    j->thread = std::thread([raw, request = std::move(request), on_done = std::move(on_done)] {
        raw->merged.error = merge_captures(request, raw->merged.result);
        if (on_done)
            on_done(raw->merged.error);
        for (int fd : {request.folder_fd, request.output_fd})
            if (fd >= 0)
                close(fd);
        raw->done.store(true, std::memory_order_release);
    });
    _merging.insert(id);
    _jobs.push_back(std::move(j));
}

void background_jobs::remove_tree(const std::string& path)
{
    auto j = std::make_unique<job>();
    job* raw = j.get();
    j->thread = std::thread([raw, path] {
        std::error_code ec;   // what cannot be removed stays in the hidden folder
        std::filesystem::remove_all(path, ec);
        raw->done.store(true, std::memory_order_release);
    });
    _jobs.push_back(std::move(j));
}

void background_jobs::reap(bool wait, const std::function<void(const finished_merge&)>& on_merged)
{
    for (auto it = _jobs.begin(); it != _jobs.end();) {
        job& j = **it;
        if (!wait && !j.done.load(std::memory_order_acquire)) {
            ++it;
            continue;
        }
        j.thread.join();
        if (j.is_merge) {
            on_merged(j.merged);
            _merging.erase(_merging.find(j.merged.id));
        }
        it = _jobs.erase(it);
    }
}

} // namespace linecap
