// Counters with one writer (the lcore that owns them) and any number of readers.
//
// The owner adds with a relaxed load + store: on x86 that is a plain add, no
// locked instruction, so counting costs the fast path nothing it would not pay
// for a plain integer. Readers (the monitor thread, stats, telemetry) load
// relaxed and may see a value a few microseconds old, never a torn one.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>

namespace linecap {

class counter {
public:
    void add(uint64_t n) noexcept
    {
        _value.store(_value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    // For counters derived by their owner from its own state (bytes durable on disk).
    void set(uint64_t v) noexcept { _value.store(v, std::memory_order_relaxed); }
    uint64_t get() const noexcept { return _value.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> _value{0};
};

// One session's counters, summed over workers and writers (engine/stats.h
// sums them; the daemon's catalog keeps them for ended sessions). Also the
// values a session slot's cumulative counters held when a session took it.
struct session_totals {
    uint64_t matched = 0;
    uint64_t written_packets = 0;
    uint64_t written_bytes = 0;    // headers included
    uint64_t files = 0;            // created
    uint64_t files_deleted = 0;    // by rotate.keep
    uint64_t dropped_ring = 0;
    uint64_t dropped_write = 0;
    uint64_t dropped_limit = 0;
    uint64_t index_errors = 0;     // files written whole whose index failed (rotation's log says why)

    friend bool operator==(const session_totals&, const session_totals&) = default;

    session_totals& operator+=(const session_totals& o);
    // What counters grew by since `earlier` (a slot's values when a session took it).
    friend session_totals operator-(session_totals later, const session_totals& earlier);
};

// Every counter of session_totals, by the name replies and session.json
// give it: one list, so a sum or a JSON object cannot miss one.
inline constexpr std::pair<std::string_view, uint64_t session_totals::*> session_totals_fields[] = {
    {"matched_packets", &session_totals::matched},
    {"written_packets", &session_totals::written_packets},
    {"written_bytes", &session_totals::written_bytes},
    {"dropped_ring", &session_totals::dropped_ring},
    {"dropped_write", &session_totals::dropped_write},
    {"dropped_limit", &session_totals::dropped_limit},
    {"files_created", &session_totals::files},
    {"files_deleted", &session_totals::files_deleted},
    {"index_errors", &session_totals::index_errors},
};

inline session_totals& session_totals::operator+=(const session_totals& o)
{
    for (const auto& [name, member] : session_totals_fields)
        this->*member += o.*member;
    return *this;
}

inline session_totals operator-(session_totals later, const session_totals& earlier)
{
    for (const auto& [name, member] : session_totals_fields)
        later.*member -= earlier.*member;
    return later;
}

} // namespace linecap
