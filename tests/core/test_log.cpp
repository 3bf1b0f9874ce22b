// The log: one line per event, "linecap: [level: ]message", through rte_log
// with a logtype per module, so that EAL's --log-level patterns choose what
// is shown.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/log.h"

using namespace linecap;

namespace {

// What the log writes while `body` runs, caught in memory.
template <typename Body>
std::string logged(Body body)
{
    char* text = nullptr;
    size_t size = 0;
    FILE* memory = open_memstream(&text, &size);
    REQUIRE(memory != nullptr);
    FILE* before = rte_log_get_stream();
    rte_openlog_stream(memory);
    body();
    rte_openlog_stream(before == stderr ? nullptr : before);
    std::fclose(memory);
    std::string out(text, size);
    std::free(text);
    return out;
}

} // namespace

TEST_CASE("log: one line per event, the level named unless it is info")
{
    const std::string out = logged([] {
        log_event(log_module::control, log_level::info, "session {} ({}) started", 3, "web");
        log_event(log_module::engine, log_level::warning, "port {}: {}", 0, "a caveat");
        log_event(log_module::writers, log_level::error, "disk full");
    });
    CHECK(out == "linecap: session 3 (web) started\n"
                 "linecap: warning: port 0: a caveat\n"
                 "linecap: error: disk full\n");
}

TEST_CASE("log: EAL's --log-level patterns choose what is shown, per module")
{
    REQUIRE(rte_log_set_level_pattern("linecap.control", RTE_LOG_WARNING) == 0);
    const std::string out = logged([] {
        log_event(log_module::control, log_level::info, "not shown");
        log_event(log_module::control, log_level::warning, "shown");
        log_event(log_module::engine, log_level::info, "another module: shown");
        log_event(log_module::engine, log_level::debug, "debug: not shown by default");
    });
    CHECK_FALSE(log_enabled(log_module::control, log_level::info));
    CHECK(log_enabled(log_module::engine, log_level::info));
    REQUIRE(rte_log_set_level_pattern("linecap.control", RTE_LOG_INFO) == 0);
    CHECK(out == "linecap: warning: shown\nlinecap: another module: shown\n");
}

TEST_CASE("log: a client's newline or ESC in a message cannot make a second line or recolour a terminal")
{
    // A session name or an expression a client sent, echoed in a note.
    const std::string out = logged([] {
        log_event(log_module::control, log_level::info, "note: bpf: {}", "\"udp\nlinecap: error: FAKE\x1b[31m\"");
    });
    CHECK(out == "linecap: note: bpf: \"udp\\x0alinecap: error: FAKE\\x1b[31m\"\n");
    CHECK(one_line(std::string("a\0b\tc\x7f" "d\xc3\xa9", 9)) == "a\\x00b\\x09c\\x7fd\xc3\xa9");   // UTF-8 kept
}
