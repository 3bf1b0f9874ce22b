#include "engine/lcore_layout.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace linecap {

namespace {

bool contains(const std::vector<unsigned>& v, unsigned x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

std::string check_list(const char* option, const std::vector<unsigned>& list,
                       const std::vector<unsigned>& enabled)
{
    for (size_t i = 0; i < list.size(); i++) {
        if (!contains(enabled, list[i]))
            return fmt::format("{}: lcore {} is not enabled; EAL enabled {} (see -l)", option,
                               list[i], fmt::join(enabled, ","));
        if (std::count(list.begin(), list.end(), list[i]) > 1)
            return fmt::format("{}: lcore {} is listed twice", option, list[i]);
    }
    return {};
}

} // namespace

std::string plan_lcores(const engine_config& o, const std::vector<unsigned>& enabled,
                        lcore_layout& layout)
{
    if (auto e = check_list("--worker-lcores", o.worker_lcores, enabled); !e.empty())
        return e;
    if (auto e = check_list("--writer-lcores", o.writer_lcores, enabled); !e.empty())
        return e;
    for (unsigned l : o.worker_lcores)
        if (contains(o.writer_lcores, l))
            return fmt::format("lcore {} is in both --worker-lcores and --writer-lcores", l);

    layout.workers = o.worker_lcores;
    layout.writers = o.writer_lcores;
    std::vector<unsigned> free;
    for (unsigned l : enabled)
        if (!contains(layout.workers, l) && !contains(layout.writers, l))
            free.push_back(l);

    const unsigned total = static_cast<unsigned>(enabled.size());
    const unsigned free_count = static_cast<unsigned>(free.size());
    const unsigned want_writers = layout.writers.empty()
        ? (o.writers ? o.writers : std::max(1u, total / 4))
        : static_cast<unsigned>(layout.writers.size());
    const unsigned writers_from_free = want_writers - static_cast<unsigned>(layout.writers.size());
    unsigned want_workers = static_cast<unsigned>(layout.workers.size());
    if (layout.workers.empty())
        want_workers = o.workers ? o.workers
                                 : (free_count > writers_from_free ? free_count - writers_from_free : 0);
    const unsigned workers_from_free = want_workers - static_cast<unsigned>(layout.workers.size());
    if (want_workers == 0 || writers_from_free + workers_from_free > free_count) {
        const unsigned need = std::max(want_workers, 1u) + want_writers;
        return fmt::format("need {} lcores ({} worker{} + {} writer{}) but EAL enabled {} ({}); "
                           "give more with -l, e.g. -l 0-{}",
                           need, std::max(want_workers, 1u), want_workers > 1 ? "s" : "",
                           want_writers, want_writers > 1 ? "s" : "", total,
                           fmt::join(enabled, ","), need - 1);
    }

    // Writers: the main lcore (first in `free` when still free), then from the end.
    while (layout.writers.size() < want_writers) {
        if (!free.empty() && free.front() == enabled.front()) {
            layout.writers.push_back(free.front());
            free.erase(free.begin());
        } else {
            layout.writers.push_back(free.back());
            free.pop_back();
        }
    }
    // Workers: from the start.
    while (layout.workers.size() < want_workers) {
        layout.workers.push_back(free.front());
        free.erase(free.begin());
    }
    return {};
}

} // namespace linecap
