#include "core/helper_cpus.h"

#include <rte_lcore.h>

namespace linecap {

namespace {

cpu_set_t start_cpus;   // written once, before any other thread exists

} // namespace

void note_start_cpus()
{
    CPU_ZERO(&start_cpus);
    if (sched_getaffinity(0, sizeof start_cpus, &start_cpus) != 0)
        CPU_ZERO(&start_cpus);
}

const cpu_set_t& helper_cpus()
{
    static const cpu_set_t cpus = [] {
        cpu_set_t set = start_cpus;
        if (rte_lcore_count() == 0)   // EAL not initialised: no lcores to keep clear of
            CPU_ZERO(&set);
        // Every lcore EAL gave a role, service lcores (-s) too, as EAL
        // keeps its control threads off them all.
        for (unsigned lcore = 0; lcore < RTE_MAX_LCORE; lcore++) {
            if (rte_eal_lcore_role(lcore) == ROLE_OFF)
                continue;
            const rte_cpuset_t taken = rte_lcore_cpuset(lcore);
            for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++)
                if (CPU_ISSET(cpu, &taken))
                    CPU_CLR(cpu, &set);
        }
        return set;
    }();
    return cpus;
}

} // namespace linecap
