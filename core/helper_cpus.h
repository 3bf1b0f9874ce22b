// Where linecap's helpers run: the kernel's workers that carry a writer's
// io_uring writes (writers/output_file.cpp), beside DPDK's control threads
// (the control thread, the file reaper, the HTTP server's threads), which
// EAL places itself.
//
// EAL pins each lcore's thread to its CPU, and io_uring's kernel workers
// take their CPUs from the thread that submits to them (seen on Linux 6.18;
// older kernels let them run anywhere): a writer's would run on the
// writer's own CPU, where their work (a chunk's copy into a tmpfs's pages,
// a write-back's start) preempts the writer it was handed off to spare
// (13-34% of that CPU at 64-byte packets into a tmpfs:
// docs/performance.md), however many CPUs sit idle.
//
// The helper CPUs are those the process could use when it started (its
// affinity before rte_eal_init: taskset's, a cgroup's) less every enabled
// lcore's: DPDK's own rule for its control threads' CPUs. None where every
// CPU is an lcore's (-l 0-1 on a 2-CPU machine): EAL then puts its control
// threads on the main lcore's CPU, and a writer's kernel workers stay on
// the writer's, as they would anyway.
#pragma once

#include <sched.h>

namespace linecap {

// Keeps the calling thread's CPUs, the process's at start: call it once,
// before rte_eal_init (which pins the calling thread to the main lcore).
void note_start_cpus();

// The helper CPUs (above); empty when there are none, or when
// note_start_cpus() has not run (a process that never starts EAL, such as
// `linecap merge`, or the benchmarks). Computed once, at the first call,
// from any thread: call it after rte_eal_init (before, it is empty for
// good).
const cpu_set_t& helper_cpus();

} // namespace linecap
