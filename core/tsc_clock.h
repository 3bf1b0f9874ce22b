// Wall-clock nanoseconds from the TSC, with no system call per packet, kept
// in step with the system clock while it runs.
//
// Calibrated once at start-up against CLOCK_REALTIME (the epoch) and
// CLOCK_MONOTONIC_RAW (the rate). We do not use rte_get_tsc_hz(): when the CPU
// does not report its TSC rate, DPDK measures it and rounds to 10 MHz, an
// error of up to 0.5% (18 s per hour at 2 GHz). Our own measurement over
// 100 ms is good to a few parts per million.
//
// A daemon runs for weeks while NTP or chrony corrects the system clock;
// the TSC does not follow. So the control thread re-anchors the clock every
// second (clock_discipline, below): the mapping from TSC to time is swapped
// under an rte_seqlock while workers and writers read it, each new mapping
// starting where the old one is at the instant of the swap (no jump) and running a
// little fast or slow (at most 500 ppm) to take the offset to the system
// clock away smoothly. Time never goes backwards; a system clock set
// forward by more than a second is followed at once.
#pragma once

#include <cstdint>

#include <rte_cycles.h>
#include <rte_seqlock.h>

namespace linecap {

// TSC to nanoseconds since the epoch: time ns0 at TSC tsc0, then ns_per_tsc
// (32.32 fixed point) a tick. A TSC before tsc0 (read before a re-anchoring,
// converted after it) maps to a time before ns0.
struct clock_mapping {
    uint64_t tsc0 = 0;
    uint64_t ns0 = 0;
    uint64_t ns_per_tsc = 0;

    uint64_t to_ns(uint64_t tsc) const
    {
        const __int128 delta = static_cast<int64_t>(tsc - tsc0);
        return ns0 + static_cast<uint64_t>(static_cast<int64_t>((delta * static_cast<__int128>(ns_per_tsc)) >> 32));
    }
};

// `old` continued at a new rate from TSC `at` on: time `old.to_ns(at)`
// (plus `step_ns` forward) there, `ns_per_tsc` a tick after.
clock_mapping rebased(const clock_mapping& old, uint64_t at, uint64_t ns_per_tsc, uint64_t step_ns = 0);

class tsc_clock {
public:
    uint64_t hz = 0;   // measured TSC rate; fixed once calibrated

    tsc_clock() { rte_seqlock_init(&_lock); }
    tsc_clock(const tsc_clock& other) : hz(other.hz), _mapping(other.mapping()) { rte_seqlock_init(&_lock); }
    tsc_clock& operator=(const tsc_clock& other)
    {
        hz = other.hz;
        set_mapping(other.mapping());
        return *this;
    }

    // Measures the TSC rate for about `window_ms` and fixes the epoch.
    static tsc_clock calibrate(unsigned window_ms = 100);

    // The mapping in force, whole (never half of one and half of the next).
    clock_mapping mapping() const
    {
        clock_mapping m;
        uint32_t sn;
        do {
            sn = rte_seqlock_read_begin(&_lock);
            m = _mapping;
        } while (rte_seqlock_read_retry(&_lock, sn));
        return m;
    }
    // One writer at a time (the control thread).
    void set_mapping(const clock_mapping& m)
    {
        rte_seqlock_write_lock(&_lock);
        _mapping = m;
        rte_seqlock_write_unlock(&_lock);
    }

    // Re-anchoring: the mapping continued from this instant at the rate
    // clock_discipline chose, taken as the mapping is swapped, so no
    // lcore's time goes back however long the rate took to choose.
    void rebase(uint64_t ns_per_tsc, uint64_t step_ns = 0)
    {
        rte_seqlock_write_lock(&_lock);
        _mapping = rebased(_mapping, rte_rdtsc(), ns_per_tsc, step_ns);
        rte_seqlock_write_unlock(&_lock);
    }

    uint64_t to_ns(uint64_t tsc) const { return mapping().to_ns(tsc); }
    uint64_t now_ns() const { return to_ns(rte_rdtsc()); }

private:
    mutable rte_seqlock_t _lock;
    clock_mapping _mapping;
};

// The system clock (CLOCK_REALTIME) read between two TSC reads: the best
// of 16 tries, where the two reads are closest.
struct clock_reading {
    uint64_t tsc = 0;        // midway between the two TSC reads
    uint64_t ns = 0;         // the system clock then
    uint64_t error_ns = 0;   // half the time between the two TSC reads: the pair's uncertainty
};
clock_reading read_system_clock(uint64_t hz);

// Re-anchoring, one reading at a time (the control thread, every second).
// Pure arithmetic on what it is given, so tests drive it with readings of a
// system clock of their own making.
class clock_discipline {
public:
    struct settings {
        double slew_s = 10;           // an offset is taken away over about this long ...
        double max_ppm = 500;         // ... at most this fast (the kernel's own slew limit)
        uint64_t step_ns = 1000000000;  // a system clock this far ahead is followed at once
    };
    struct outcome {
        clock_mapping next;           // from the reading on; tsc_clock::rebase() takes its rate at the swap
        int64_t offset_ns = 0;        // the system clock minus linecap's, at the reading
        uint64_t error_ns = 0;        // the reading's uncertainty
        double ppm = 0;               // the new mapping's rate against the calibrated one, in ppm
        bool stepped = false;         // followed a forward step of the system clock
    };

    clock_discipline(uint64_t calibrated_ns_per_tsc, settings s) : _base(calibrated_ns_per_tsc), _s(s) {}
    explicit clock_discipline(uint64_t calibrated_ns_per_tsc) : clock_discipline(calibrated_ns_per_tsc, settings{}) {}

    // The mapping to use from `r` on, given the one in force.
    outcome adjust(const clock_mapping& now, const clock_reading& r);

private:
    uint64_t _base;                   // ns_per_tsc as calibrated
    settings _s;
    clock_reading _last{};            // the previous reading (tsc 0: none yet)
    double _system_rate = 0;          // the system clock's ns per TSC tick, as measured; 0: not yet
};

} // namespace linecap
