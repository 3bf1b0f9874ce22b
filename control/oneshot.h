// The one-shot capture, tcpdump-style: one session from the command line,
// run until a limit, a signal, idleness or an error ends it. It is the
// daemon's machinery with one session and no socket.
#pragma once

#include <string>

#include "control/options.h"
#include "engine/pipeline.h"

namespace linecap {

// The setup step of a one-shot capture, for run_pipeline(): the session of
// the command line, in slot 0, its files under --out.
std::string start_oneshot_session(pipeline& p, const engine_options& options);

// The control loop of a one-shot capture, for run_pipeline(). Decides why
// the capture stops, records it on the session, and returns.
void oneshot_control(pipeline& p, const engine_options& options);

} // namespace linecap
