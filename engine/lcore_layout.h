// Which lcore does what. Workers get lcores of their own, never shared with
// anything: they busy-poll the ports. Writers take the main lcore first,
// because the control thread shares that core's CPU and a writer (which
// sleeps in write() anyway) tolerates the company; then lcores from the end.
//
//   -l 0-1                 writer 0 | worker 1
//   -l 0-3                 writer 0 | workers 1 2 3
//   -l 0-7                 writers 0 7 | workers 1-6
//   --workers/--writers N  counts;  --worker-lcores/--writer-lcores  exact lists
#pragma once

#include <string>
#include <vector>

#include "engine/config.h"

namespace linecap {

struct lcore_layout {
    std::vector<unsigned> workers;
    std::vector<unsigned> writers;
};

// Assigns roles among `enabled` (the lcores EAL enabled, main lcore first).
// Returns an empty string, or what is wrong with the request.
std::string plan_lcores(const engine_config& config, const std::vector<unsigned>& enabled,
                        lcore_layout& layout);

} // namespace linecap
