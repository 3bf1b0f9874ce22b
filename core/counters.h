// Counters with one writer (the lcore that owns them) and any number of readers.
//
// The owner adds with a relaxed load + store: on x86 that is a plain add, no
// locked instruction, so counting costs the fast path nothing it would not pay
// for a plain integer. Readers (the monitor thread, stats, telemetry) load
// relaxed and may see a value a few microseconds old, never a torn one.
#pragma once

#include <atomic>
#include <cstdint>

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

    friend bool operator==(const session_totals&, const session_totals&) = default;
};

} // namespace linecap
