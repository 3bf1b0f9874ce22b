#include "core/log.h"

#include <cstdio>
#include <ctime>
#include <string>

#include "core/utc_time.h"

namespace linecap {

namespace {

// Registered on first use (before or after rte_eal_init: EAL applies its
// --log-level patterns to types registered later too).
int logtype(log_module module)
{
    static const int types[] = {
        rte_log_register_type_and_pick_level("linecap.engine", RTE_LOG_INFO),
        rte_log_register_type_and_pick_level("linecap.writers", RTE_LOG_INFO),
        rte_log_register_type_and_pick_level("linecap.control", RTE_LOG_INFO),
        rte_log_register_type_and_pick_level("linecap.fleet", RTE_LOG_INFO),
    };
    return types[static_cast<unsigned>(module)];
}

std::string_view level_word(log_level level)
{
    switch (level) {
    case log_level::error: return "error: ";
    case log_level::warning: return "warning: ";
    case log_level::info: return "";
    case log_level::debug: return "debug: ";
    }
    return "";
}

// The stream rte_log writes to: rte_vlog formats one message and flushes,
// so each write is one or more whole lines (DPDK's own messages included).
struct stderr_stream {
    bool timestamps = false;
    bool line_start = true;
};
stderr_stream the_stream;

ssize_t write_lines(void* cookie, const char* data, size_t size)
{
    auto* s = static_cast<stderr_stream*>(cookie);
    std::string out;
    out.reserve(size + 64);
    for (size_t i = 0; i < size; i++) {
        if (s->line_start && s->timestamps) {
            timespec now{};
            clock_gettime(CLOCK_REALTIME, &now);
            out += utc_iso8601(static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec));
            out += ' ';
        }
        out += data[i];
        s->line_start = data[i] == '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stderr);
    std::fflush(stderr);
    return static_cast<ssize_t>(size);
}

} // namespace

bool log_enabled(log_module module, log_level level)
{
    const int type = logtype(module);
    return type >= 0 && rte_log_can_log(static_cast<uint32_t>(type), static_cast<uint32_t>(level));
}

std::string one_line(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f)
            out += fmt::format("\\x{:02x}", byte);
        else
            out += c;
    }
    return out;
}

void print_error(std::string_view program, std::string_view message)
{
    fmt::print(stderr, "{}: {}\n", program, one_line(message));
}

void log_write(log_module module, log_level level, std::string_view raw_message)
{
    const std::string line = one_line(raw_message);
    const std::string_view message = line;
    const int type = logtype(module);
    if (type < 0) {   // no room for a logtype: never lose the line
        fmt::print(stderr, "linecap: {}{}\n", level_word(level), message);
        return;
    }
    rte_log(static_cast<uint32_t>(level), static_cast<uint32_t>(type), "linecap: %.*s%.*s\n",
            static_cast<int>(level_word(level).size()), level_word(level).data(), static_cast<int>(message.size()),
            message.data());
}

void log_to_stderr(bool timestamps)
{
    the_stream.timestamps = timestamps;
    static FILE* stream = fopencookie(&the_stream, "w", cookie_io_functions_t{nullptr, write_lines, nullptr, nullptr});
    if (stream != nullptr)
        rte_openlog_stream(stream);
}

} // namespace linecap
