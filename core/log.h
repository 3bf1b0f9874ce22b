// linecap's log: the events of the daemon and the engine (a session started,
// a port's caveat, a catalog write that failed), one line each, with a
// level, through DPDK's rte_log. Each module has a logtype of its own
// (linecap.engine, linecap.writers, linecap.control, linecap.fleet), so EAL's --log-level
// chooses what is shown, as for DPDK's own: --log-level=linecap.*:debug,
// --log-level=linecap.control:warning. The default level is info.
//
// Lines go to stderr, DPDK's with them:
//
//   linecap: session 3 (web) started                         one-shot
//   2026-11-29T18:42:00.123456789Z linecap: warning: ...     daemon (log_to_stderr(true))
//
// Never call it from a worker's or a writer's loop: formatting a line costs
// microseconds, and stderr can block. What the fast path sees is counted
// (core/counters.h), and the control thread reports it.
//
// What a user typed wrong (a bad option, a file that cannot be read) is not
// logged: the program prints it as one plain "linecap: ..." line and exits.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <rte_log.h>

namespace linecap {

enum class log_module : uint8_t { engine, writers, control, fleet };

enum class log_level : uint32_t {
    error = RTE_LOG_ERR,          // "linecap: error: ..."
    warning = RTE_LOG_WARNING,    // "linecap: warning: ..."
    info = RTE_LOG_INFO,          // "linecap: ..."
    debug = RTE_LOG_DEBUG,        // "linecap: debug: ..."
};

// Whether a line of `level` from `module` would be shown.
bool log_enabled(log_module module, log_level level);

// Writes one line: a control character in `message` (a newline, an ESC
// that would recolour a terminal, from a name or an expression a client
// sent) is written as \xNN (one_line).
void log_write(log_module module, log_level level, std::string_view message);

// `text` as one line of a log or of an error on a terminal: the control
// characters (0x00-0x1f, 0x7f) as \xNN, the rest as it is.
std::string one_line(std::string_view text);

// "PROGRAM: MESSAGE\n" on stderr, the message as one_line makes it: how
// linecap and linecapctl say an error.
void print_error(std::string_view program, std::string_view message);

template <typename... Args>
void log_event(log_module module, log_level level, fmt::format_string<Args...> format, Args&&... args)
{
    if (log_enabled(module, level))
        log_write(module, level, fmt::format(format, std::forward<Args>(args)...));
}

// Every rte_log line from here on, linecap's and DPDK's, goes to stderr,
// each line after the UTC time if `timestamps` (a daemon's log). Call it
// once, before rte_eal_init.
void log_to_stderr(bool timestamps);

} // namespace linecap
