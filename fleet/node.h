// A daemon's place in the fleet (docs/fleet.md): its record in etcd, kept
// there under a lease by a thread of its own.
//
//   <prefix>nodes/<name>   {"name", "url", "version", "ports", "sessions_running", "clock", "started", "updated"}
//
// The record lives as long as its lease: the registration thread keeps the
// lease alive every third of its time to live, so a node whose daemon dies
// (or whose host is cut off) vanishes from the fleet within that time; a
// busy or stalled data path never delays it (it shares nothing with the
// lcores). When etcd cannot be reached the capture goes on untouched; the
// thread says so once in the log and registers again when etcd answers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fleet/etcd.h"
#include "fleet/names.h"

namespace linecap {

// The kernel's clock discipline, from adjtimex(2) (what NTP or chrony told
// it): whether the system clock is synchronised, and its estimated and
// maximum errors in microseconds (timex.esterror and maxerror).
struct kernel_clock {
    bool synchronised = false;
    int64_t est_error_us = 0;
    int64_t max_error_us = 0;
};
kernel_clock read_kernel_clock();

// linecap's own clock (the TSC clock packets are stamped with,
// core/tsc_clock.h) against the system clock at its last re-anchoring.
struct capture_clock {
    bool known = false;      // re-anchored at least once
    int64_t offset_ns = 0;   // the system clock minus linecap's
    uint64_t error_ns = 0;   // the reading's uncertainty
    double slew_ppm = 0;     // how fast linecap's clock runs against its calibration, taking the offset away
};
nlohmann::json clock_json(const kernel_clock& clock, const capture_clock& capture = {});

struct node_port {
    unsigned id = 0;
    std::string name;     // as DPDK names it (net_pcap0, 0000:3b:00.0)
    std::string driver;
};

// What the node says of itself.
struct node_identity {
    std::string name;
    std::string url;       // its HTTP API, as other nodes and linecapctl reach it
    std::string version;
    std::vector<node_port> ports;
    std::string started;   // UTC, RFC 3339
};

// `running`: the sessions the node runs now.
nlohmann::json node_record(const node_identity& node, unsigned running, const kernel_clock& clock,
                           const std::string& updated_utc, const capture_clock& capture = {});

struct registration_settings {
    etcd_settings etcd;
    int64_t lease_ttl_s = 5;                    // a dead node is gone within it
    std::chrono::milliseconds retry{1000};      // while etcd cannot be reached
    std::chrono::seconds refresh{10};           // the record written again (its clock state)
};

class node_registration {
public:
    node_registration(registration_settings settings, node_identity node);
    ~node_registration();   // stop()

    void start();
    // Revokes the lease (the node leaves the fleet at once, not after the
    // lease's time) and ends the thread; within the timeouts of the etcd
    // call under way and of the revoke (none when etcd is not answering).
    void stop();
    // The number of sessions running changed: the record says it within
    // moments (from the control thread; never waits on etcd).
    void set_running(unsigned sessions);
    // linecap's clock was re-anchored: the record says so when next written
    // (from the control thread; never waits on etcd).
    void set_capture_clock(const capture_clock& clock);

    // The lease the record is under now (0: not registered). Set just after
    // the record is written: a reader of etcd may see the record first.
    // Keys written under an earlier one are gone with it: fleet/agent.h
    // writes its statuses again when this changes.
    int64_t lease() const { return _lease.load(); }

private:
    std::string write_record(int64_t lease);
    void run();
    void keep_registered(int64_t& lease);
    void say(bool failed, const std::string& what);
    bool wait(std::chrono::milliseconds d, bool on_change);

    registration_settings _settings;
    node_identity _node;
    etcd_client _etcd;
    std::thread _thread;
    std::mutex _mutex;
    std::condition_variable _wake;
    bool _stopping = false;
    unsigned _running = 0;    // under _mutex
    capture_clock _capture;   // under _mutex
    bool _changed = false;    // _running not yet in etcd
    bool _failing = false;   // the last call failed (said once in the log)
    std::atomic<int64_t> _lease = 0;
};

} // namespace linecap
