// Sessions added to and removed from a running pipeline, without restarting
// ports or pausing workers. Called from the control thread only.
//
// Adding: the session's first file is opened on every writer (by the writer
// lcore, through its command ring), then a classifier that includes it is
// swapped in; packets for it flow from the next burst on.
//
// Removing: a classifier without it is swapped in; once every worker has
// passed a quiescent point (QSBR) no packet can be classified for it any
// more, so every writer writes what is already queued for it and closes its
// files. The old classifier is freed at that point too.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/spec.h"
#include "engine/pipeline.h"
#include "filters/classifier.h"

namespace linecap {

// A free slot below `limit`, or -1.
int free_session_slot(const pipeline& p, unsigned limit);

// The filter of `spec` (filters/classifier.h) as this pipeline runs it:
// BPF in DPDK's checked JIT or interpreter (--bpf-interpreter), its `len` read
// from the packet's metadata when the pipeline reads a file. Null, with
// `error` (the field named: "bpf: ..."), if it does not compile.
std::shared_ptr<const session_filter> compile_session_filter(const pipeline& p, const session_spec& spec,
                                                             std::string& error);

// The DPDK half of the same, for a filter prepared on another thread
// (session_filter::prepare: the daemon prepares off its control loop, since
// libpcap resolves a host name in an expression, which can wait seconds on
// DNS). Empty, or the error.
std::string load_session_filter(const pipeline& p, session_filter& filter);

// Starts `spec` in `slot` with `filter` (compile_session_filter's), its
// files under the folder `dir_fd` (taken over: closed with the session).
// Returns an empty string, or the error (a file that cannot be created)
// with nothing left behind.
std::string add_session(pipeline& p, unsigned slot, const session_spec& spec, int dir_fd,
                        std::shared_ptr<const session_filter> filter);

// The same, compiling the filter first (a bad filter is one more error).
std::string add_session(pipeline& p, unsigned slot, const session_spec& spec, int dir_fd);

// Stops the session in `slot` (recording `why` if it has no reason yet),
// closes its files and frees the slot once its final counters are read by
// `on_final` (called before the slot is freed). Blocking: milliseconds.
// Returns an empty string, or why the session could not be taken out of the
// classifier (it then goes on running; try again).
std::string remove_session(pipeline& p, unsigned slot, stop_reason why,
                           const std::function<void(const pipeline&, unsigned slot)>& on_final = {});

// Time limits are the control thread's to enforce: the reason a running
// session should stop now (limits.seconds), or none.
stop_reason due_limit(const pipeline& p, unsigned slot, uint64_t now_ns);

} // namespace linecap
