#include "fleet/node.h"

#include <cmath>

#include <sys/timex.h>

#include <fmt/format.h>

#include "core/log.h"
#include "core/utc_time.h"

namespace linecap {

kernel_clock read_kernel_clock()
{
    timex tx{};   // modes 0: read only
    const int state = adjtimex(&tx);
    kernel_clock c;
    c.synchronised = state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
    c.est_error_us = tx.esterror;
    c.max_error_us = tx.maxerror;
    return c;
}

nlohmann::json clock_json(const kernel_clock& clock, const capture_clock& capture)
{
    nlohmann::json j = {{"synchronised", clock.synchronised},
                        {"est_error_us", clock.est_error_us},
                        {"max_error_us", clock.max_error_us}};
    if (capture.known)
        j["capture"] = {{"offset_ns", capture.offset_ns}, {"error_ns", capture.error_ns},
                        {"slew_ppm", std::round(capture.slew_ppm * 1000) / 1000}};
    return j;
}

nlohmann::json node_record(const node_identity& node, unsigned running, const kernel_clock& clock,
                           const std::string& updated_utc, const capture_clock& capture)
{
    nlohmann::json ports = nlohmann::json::array();
    for (const node_port& p : node.ports)
        ports.push_back({{"port", p.id}, {"name", p.name}, {"driver", p.driver}});
    return {{"name", node.name},         {"url", node.url},         {"version", node.version},
            {"ports", ports},            {"sessions_running", running},
            {"clock", clock_json(clock, capture)}, {"started", node.started}, {"updated", updated_utc}};
}

node_registration::node_registration(registration_settings settings, node_identity node)
    : _settings(std::move(settings)), _node(std::move(node)), _etcd(_settings.etcd)
{
}

node_registration::~node_registration()
{
    stop();
}

void node_registration::start()
{
    _thread = std::thread([this] { run(); });
}

void node_registration::stop()
{
    {
        const std::lock_guard lock(_mutex);
        _stopping = true;
    }
    _wake.notify_all();
    if (_thread.joinable())
        _thread.join();
}

void node_registration::set_capture_clock(const capture_clock& clock)
{
    const std::lock_guard lock(_mutex);
    _capture = clock;
}

void node_registration::set_running(unsigned sessions)
{
    {
        const std::lock_guard lock(_mutex);
        if (sessions == _running)
            return;
        _running = sessions;
        _changed = true;
    }
    _wake.notify_all();
}

// Waits `d`, or less when stopping or, if `on_change`, when the record has
// news. false: stopping.
bool node_registration::wait(std::chrono::milliseconds d, bool on_change)
{
    std::unique_lock lock(_mutex);
    _wake.wait_for(lock, d, [&] { return _stopping || (on_change && _changed); });
    return !_stopping;
}

std::string node_registration::write_record(int64_t lease)
{
    unsigned running;
    capture_clock capture;
    {
        const std::lock_guard lock(_mutex);
        running = _running;
        capture = _capture;
        _changed = false;
    }
    return _etcd.put(node_key(_node.name),
                     node_record(_node, running, read_kernel_clock(), utc_iso8601(utc_now_ns()), capture).dump(), lease);
}

// A failure is logged when it starts, and the recovery when it ends: etcd
// down for an hour is two lines, not one a second.
void node_registration::say(bool failed, const std::string& what)
{
    if (failed && !_failing)
        log_event(log_module::fleet, log_level::warning, "fleet: {}; capturing goes on, retrying every {} ms", what,
                  _settings.retry.count());
    else if (!failed && _failing)
        log_event(log_module::fleet, log_level::info, "fleet: {}", what);
    _failing = failed;
}

void node_registration::run()
{
    int64_t lease = 0;
    for (;;) {
        try {
            keep_registered(lease);
            break;   // stopping
        } catch (const std::exception& e) {
            // A fault no reply of etcd's should cause (etcd_client throws
            // nothing): said, and the registration goes on after a pause.
            // Never the daemon's end: capture must not depend on etcd.
            log_event(log_module::fleet, log_level::error, "fleet: node {}'s registration failed: {}; capturing goes "
                      "on, trying again in {} ms", _node.name, e.what(), _settings.retry.count());
            _failing = true;
            if (!wait(_settings.retry, false))
                break;
        }
    }
    // Leaving: the record goes at once rather than when the lease runs out
    // (not tried when etcd is not answering: the daemon's exit would wait
    // for the call's timeout, and the lease ends anyway).
    if (lease != 0 && !_failing) {
        if (std::string e = _etcd.revoke(lease); !e.empty())
            log_event(log_module::fleet, log_level::warning, "fleet: node {} leaves without revoking its lease ({}): "
                      "its record goes within {} s", _node.name, e, _settings.lease_ttl_s);
    }
}

// Registers the node and keeps its lease alive until stop(); `lease` is the
// one it is registered under (0: none).
void node_registration::keep_registered(int64_t& lease)
{
    using clock = std::chrono::steady_clock;
    const std::string key = node_key(_node.name);
    const auto keep_alive_every = std::chrono::milliseconds(_settings.lease_ttl_s * 1000 / 3);
    clock::time_point written{};
    bool first = true;
    int64_t granted = 0;   // a lease whose record could not be written yet
    for (;;) {
        if (lease == 0) {
            // (Re)join: a lease, then the record under it. A lease granted
            // by an attempt whose put failed is used again while it lives:
            // a new one each retry would leave one behind a second.
            std::string e;
            if (granted != 0) {
                int64_t ttl = 0;
                e = _etcd.keep_alive(granted, ttl);
                if (e.empty() && ttl <= 0)
                    granted = 0;   // expired meanwhile
            }
            if (e.empty() && granted == 0)
                e = _etcd.grant(_settings.lease_ttl_s, granted);
            if (e.empty())
                e = write_record(granted);
            if (!e.empty()) {
                say(true, fmt::format("cannot register node {}: {}", _node.name, e));
                if (!wait(_settings.retry, false))
                    return;
                continue;
            }
            lease = granted;
            granted = 0;
            _lease = lease;
            written = clock::now();
            if (first || _failing)
                log_event(log_module::fleet, log_level::info, "fleet: node {} registered in etcd {} as {} ({} s lease)",
                          _node.name, _etcd.endpoint(), key, _settings.lease_ttl_s);
            first = false;
            _failing = false;
        }
        if (!wait(_failing ? _settings.retry : keep_alive_every, !_failing))
            return;
        int64_t ttl = 0;
        if (std::string e = _etcd.keep_alive(lease, ttl); !e.empty()) {
            // The lease may outlive a short outage: kept alive again when
            // etcd answers, or granted anew if it expired meanwhile.
            say(true, fmt::format("cannot keep node {}'s lease alive: {}", _node.name, e));
            continue;
        }
        if (ttl <= 0) {
            log_event(log_module::fleet, log_level::warning,
                      "fleet: node {}'s lease expired (etcd was out of reach for longer than {} s): registering again",
                      _node.name, _settings.lease_ttl_s);
            lease = 0;
            _lease = 0;
            _failing = true;   // logs the registration when it succeeds
            continue;
        }
        say(false, fmt::format("etcd {} answers again: node {} still registered", _etcd.endpoint(), _node.name));
        bool changed;
        {
            const std::lock_guard lock(_mutex);
            changed = _changed;
        }
        if (changed || clock::now() - written >= _settings.refresh)
            if (write_record(lease).empty())
                written = clock::now();
    }
}

} // namespace linecap
