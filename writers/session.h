// A capture session as the writers see it at run time: its output spec
// (core/spec.h), the open folder, the limit budgets, and why it stopped.
//
// One `session` is shared by every writer and by the monitor thread. Its spec
// is fixed before any packet for it is written; what changes at run time
// (the stop reason, the limit budgets) is atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "core/counters.h"
#include "core/spec.h"
#include "writers/capture_writer.h"

namespace linecap {

// A share of a limit taken by several writers at once, so that a limit of N
// packets writes exactly N packets whatever the number of writers.
class budget {
public:
    explicit budget(uint64_t limit = 0) { reset(limit); }

    void reset(uint64_t limit)
    {
        _unlimited = limit == 0;
        _left.store(limit, std::memory_order_relaxed);
    }

    bool unlimited() const { return _unlimited; }

    // Takes exactly `want`, or nothing if less is left. Returns whether it did.
    bool take_all(uint64_t want)
    {
        if (_unlimited)
            return true;
        uint64_t left = _left.load(std::memory_order_relaxed);
        do {
            if (left < want)
                return false;
        } while (!_left.compare_exchange_weak(left, left - want, std::memory_order_relaxed));
        return true;
    }

    // Takes up to `want` from what is left and returns what was granted.
    uint64_t take(uint64_t want)
    {
        if (_unlimited)
            return want;
        uint64_t left = _left.load(std::memory_order_relaxed);
        uint64_t granted;
        do {
            granted = left < want ? left : want;
            if (granted == 0)
                return 0;
        } while (!_left.compare_exchange_weak(left, left - granted, std::memory_order_relaxed));
        return granted;
    }

    // Returns what was taken and will not be spent.
    void give_back(uint64_t unspent)
    {
        if (!_unlimited && unspent != 0)
            _left.fetch_add(unspent, std::memory_order_relaxed);
    }

private:
    std::atomic<uint64_t> _left{0};
    bool _unlimited = true;
};

struct session {
    session() = default;
    ~session()
    {
        if (dir_fd >= 0)
            ::close(dir_fd);
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    output_spec spec;
    int dir_fd = -1;                    // the open folder; files are created under it
    uint64_t start_ns = 0;              // wall clock when the session started
    budget packets_left;
    budget bytes_left;
    // rotate.keep_bytes, this writer's share: the session's bound divided
    // equally among its writers (0: none).
    uint64_t keep_bytes_per_writer = 0;
    std::vector<capture_interface> interfaces;     // the ports, for pcapng
    interface_counter_reader read_interface = nullptr;
    // What the slot's counters held when this session took the slot. The
    // workers' and the writers' per-slot counters are cumulative over every
    // session that has held the slot, never reset; a session counts from
    // here (engine/stats.cpp). Indexed by worker, and by writer.
    std::vector<uint64_t> base_matched;
    std::vector<uint64_t> base_ring_drops;
    std::vector<session_totals> base_writers;   // written_*, files*, dropped_write, dropped_limit
    std::atomic<stop_reason> reason{stop_reason::none};

    // Records why the session stops. The first reason wins; later ones are
    // ignored, so a limit reached during a user stop still reads "user".
    bool stop(stop_reason why)
    {
        stop_reason expected = stop_reason::none;
        return reason.compare_exchange_strong(expected, why, std::memory_order_acq_rel);
    }
    bool stopped() const { return reason.load(std::memory_order_acquire) != stop_reason::none; }

    // Stops the session because of an error, keeping the first message (with
    // its context: which writer, which file, what failed) for the summary.
    void fail(stop_reason why, const std::string& message)
    {
        {
            std::lock_guard lock(_error_lock);
            if (_error.empty())
                _error = message;
        }
        stop(why);
    }
    std::string error() const
    {
        std::lock_guard lock(_error_lock);
        return _error;
    }

private:
    mutable std::mutex _error_lock;   // taken only on errors, never per packet
    std::string _error;
};

} // namespace linecap
