#include "control/daemon.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rte_cycles.h>

#include "control/metrics.h"
#include "control/telemetry.h"
#include "core/log.h"
#include "core/thread_priority.h"
#include "core/utc_time.h"
#include "engine/sessions.h"
#include "control/stats_json.h"
#include "writers/merge.h"

namespace linecap {

namespace {

using ojson = nlohmann::ordered_json;

// How long the loop sleeps in poll() when nothing happens: also the
// granularity of duration limits and of noticing a writer-side stop.
constexpr int poll_ms = 20;
constexpr double telemetry_period_s = 0.5;
// A session that has matched nothing this long after its start gets a note.
constexpr double quiet_note_after_s = 10;
// Ports that only replay files and have received nothing this long have
// reached the files' ends (a replay delivers as fast as the lcore takes).
constexpr double replay_ended_after_s = 1;
// How long the fleet agent's thread waits for a start's answer before it
// goes on and collects it at a later tick (join_fleet): a filter without
// host names compiles well within it.
constexpr std::chrono::milliseconds agent_start_wait{1000};

// A socket reply as an HTTP body: its fields without "ok", which the HTTP
// status says instead.
std::string http_body(ojson reply)
{
    reply.erase("ok");
    return reply.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

} // namespace

control_daemon::control_daemon(const engine_options& options) : _options(options) {}

control_daemon::~control_daemon()
{
    reap_jobs(true);
}

std::string control_daemon::prepare()
{
    // A merge writes into a pipe a client passed (linecapctl merge -o - |
    // tshark): a reader that goes away is a write error for that merge, not
    // a signal that ends the daemon.
    std::signal(SIGPIPE, SIG_IGN);
    gid_t group = static_cast<gid_t>(-1);
    if (!_options.control_group.empty()) {
        const struct group* g = getgrnam(_options.control_group.c_str());
        if (g == nullptr)
            return fmt::format("--control-group {}: no such group", _options.control_group);
        group = g->gr_gid;
    }
    if (std::string e = _catalog.open(_options.out_root, group); !e.empty())
        return e;
    for (const std::string& warning : _catalog.warnings())
        log_event(log_module::control, log_level::warning, "{}", warning);
    if (std::string e = _server.listen(_options.control_socket, _options.control_group); !e.empty())
        return e;
    if (!_options.http_listen.empty()) {
        http_settings http;
        http.host = _options.http_host;
        http.port = _options.http_port;
        http.token = _options.http_token;
        http.token_file = _options.http_token_file;
        http.tls = {_options.http_cert, _options.http_key, _options.http_client_ca};
        if (!_options.fleet_etcd.empty()) {
            http.fleet_etcd = _options.fleet_etcd_settings;
            // The fleet's nodes share this node's token and, over HTTPS, its
            // CA (--http-client-ca) and certificate, presented as a client's
            // (docs/fleet.md, "Security").
            http.fleet_peers.token = _options.http_token;
            http.fleet_peers.ca_file = _options.http_client_ca;
            http.fleet_peers.cert_file = _options.http_cert;
            http.fleet_peers.key_file = _options.http_key;
            http.fleet_peers.spool_dir = _options.out_root;
        }
        _http = std::make_unique<http_api>(std::move(http), _bridge);
        if (std::string e = _http->bind(); !e.empty())
            return e;
    }
    return {};
}

session_record* control_daemon::running_in(unsigned slot)
{
    for (session_record* r : _catalog.all())
        if (r->slot == static_cast<int>(slot))
            return r;
    return nullptr;
}

std::string control_daemon::session_label(unsigned slot)
{
    const session_record* r = running_in(slot);
    return r ? r->id : std::to_string(slot);
}

unsigned control_daemon::running_count() const
{
    unsigned running = 0;
    for (const auto& s : _p->sessions)
        running += s != nullptr;
    return running;
}

session_record* control_daemon::lookup(const std::string& key, bool running_first, std::string& error)
{
    if (session_record* r = _catalog.find(key))
        return r;
    std::vector<session_record*> named;
    for (session_record* r : _catalog.all())
        if (r->name == key)
            named.push_back(r);
    // An operator reuses a name ("sub-4711" every morning): stop and watch
    // mean the one running.
    if (running_first && named.size() > 1) {
        std::vector<session_record*> running;
        for (session_record* r : named)
            if (r->slot >= 0)
                running.push_back(r);
        if (running.size() == 1)
            named = running;
    }
    if (named.size() == 1)
        return named[0];
    if (named.empty()) {
        error = fmt::format("no session has the id or name {} (linecapctl ls lists them)", key);
    } else {
        std::vector<std::string> ids;
        for (const session_record* r : named)
            ids.push_back(r->id);
        error = fmt::format("{} sessions are named {} (ids {}): give the id", named.size(), key,
                            fmt::join(ids, ", "));
    }
    return nullptr;
}

session_totals control_daemon::counters_of(const session_record& record) const
{
    if (record.slot < 0)
        return record.counters;
    return sum_session(*_p, static_cast<unsigned>(record.slot));
}

ojson control_daemon::summary_of(const session_record& record) const
{
    const session_totals c = counters_of(record);
    ojson row = {
        {"id", record.id}, {"name", record.name}, {"status", record.status()},
        {"reason", record.reason == stop_reason::none ? std::string_view() : stop_reason_name(record.reason)},
        {"started", record.started}, {"ended", record.ended}, {"packets", c.written_packets},
        {"bytes", c.written_bytes}, {"drops", c.dropped_ring + c.dropped_write},
        {"folder", _catalog.folder_path(record)},
    };
    if (!record.fleet.empty())
        row["fleet"] = record.fleet;
    return row;
}

// Every second: the system clock read beside the TSC, and the mapping the
// lcores stamp with moved towards it, smoothly and never backwards
// (core/tsc_clock.h). An offset above a millisecond (the system clock set,
// or NTP stepping it) is logged when it appears and when it is gone.
void control_daemon::reanchor_clock()
{
    const clock_discipline::outcome o = _discipline->adjust(_p->clock.mapping(), read_system_clock(_p->clock.hz));
    _p->clock.rebase(o.next.ns_per_tsc, o.stepped ? static_cast<uint64_t>(o.offset_ns) : 0);
    constexpr int64_t large_ns = 1000000;
    if (o.stepped)
        log_event(log_module::control, log_level::warning,
                  "the system clock went forward by {:.3f} s: packet times follow it at once", o.offset_ns / 1e9);
    else if (std::llabs(o.offset_ns) > large_ns && !_offset_said)
        log_event(log_module::control, log_level::warning,
                  "the system clock is {:.3f} ms {} linecap's (set, or stepped by NTP): packet times follow it smoothly, "
                  "{:+.0f} ppm, never backwards",
                  std::llabs(o.offset_ns) / 1e6, o.offset_ns > 0 ? "ahead of" : "behind", o.ppm);
    else if (std::llabs(o.offset_ns) <= large_ns / 10 && _offset_said)
        log_event(log_module::control, log_level::info, "packet times agree with the system clock again ({:+} ns)",
                  o.offset_ns);
    if (std::llabs(o.offset_ns) > large_ns)
        _offset_said = true;
    else if (std::llabs(o.offset_ns) <= large_ns / 10)
        _offset_said = false;
    if (_fleet)
        _fleet->set_capture_clock({true, o.offset_ns, o.error_ns, o.ppm});
}

void control_daemon::run(pipeline& p)
{
    _p = &p;
    _started_ns = p.clock.now_ns();
    _discipline = std::make_unique<clock_discipline>(p.clock.mapping().ns_per_tsc);
    register_telemetry();
    uint64_t next_telemetry = 0;
    const uint64_t stats_every = static_cast<uint64_t>(_options.stats_interval_s * static_cast<double>(p.clock.hz));
    uint64_t next_stats = p.start_tsc + stats_every;
    log_event(log_module::control, log_level::info, "listening on {}, sessions under {}", _options.control_socket, _catalog.root());
    // HTTP threads are started here, on the control thread: they run where
    // it runs (never on a worker's lcore; on -l 0-1, on writer 0's CPU).
    _server.wake_on(_bridge.fd());
    if (_http)
        _http->start();
    if (!_options.fleet_etcd.empty())
        join_fleet();

    while (!_shutdown && !stop_requested_by_signal() && !p.failed.load(std::memory_order_relaxed)) {
        _server.poll(
            poll_ms, [this](client_id c, std::string_view line) { on_request(c, line); },
            [this](client_id c) { on_gone(c); });
        _bridge.serve([this](const http_call& call, const later_answer& later) { return answer_http(call, later); });
        end_sessions_that_stopped();
        _watch.pump(*_p, _catalog, _server);
        retry_saves();
        reap_jobs(false);
        if (_fleet)
            _fleet->set_running(running_count());
        const uint64_t now = rte_rdtsc();
        if (now >= _next_notes_check) {
            send_new_notes();
            _next_notes_check = now + p.clock.hz;
        }
        if (now >= _next_reanchor) {
            reanchor_clock();
            _next_reanchor = now + p.clock.hz;
        }
        if (now >= next_telemetry) {
            publish_telemetry_snapshots();
            next_telemetry = now + static_cast<uint64_t>(telemetry_period_s * static_cast<double>(p.clock.hz));
        }
        if (stats_every != 0 && now >= next_stats) {
            print_live_counters(take_snapshot(p), p.seconds_since_start(now));
            next_stats = now + stats_every;
        }
    }

    // HTTP calls get 503 from now on (none is being answered: this thread
    // answers them), and the fleet agent's get nothing: it stops, and
    // starts no session meanwhile. Starts whose filters are being compiled
    // are refused now ("shutting down"), not once a resolver gives up:
    // their HTTP threads and the agent wait for those answers, and the
    // sessions must end first.
    _shutdown = true;
    _bridge.close();
    refuse_pending_starts();
    _server.flush(100);   // their socket clients hear it now
    // Their threads wait on a resolver: the exit does not.
    if (const size_t left = _jobs.abandon_runs(); left != 0)
        log_event(log_module::control, log_level::info,
                  "{} start{} still compiling {} filter{} (a host name waiting on DNS) left behind", left,
                  left == 1 ? "" : "s", left == 1 ? "its" : "their", left == 1 ? "" : "s");
    if (_fleet_agent)
        _fleet_agent->stop();
    // Shutdown: every running session ends with reason "shutdown", its
    // files closed valid, before the workers stop, and before anything an
    // HTTP client does can delay it.
    for (session_record* r : _catalog.all())
        if (r->slot >= 0)
            finish(*r, stop_reason::shutdown);
    // Then the HTTP threads: every connection is ended (a download under way
    // ends short; the client resumes it with a Range), in milliseconds.
    if (_http)
        _http->stop();
    // Last, so that a node still capturing is never shown gone.
    if (_fleet)
        _fleet->stop();
    reap_jobs(true);
    publish_telemetry_snapshots();
    _server.flush(1000);
    _server.close();
}

// Registers this node in the fleet's etcd from a thread of its own, kept
// there while the daemon runs (fleet/node.h). etcd out of reach is logged,
// never fatal: the capture does not depend on it.
void control_daemon::join_fleet()
{
    node_identity node;
    node.name = _options.node_name;
    node.url = _options.fleet_url;
    node.version = LINECAP_VERSION;
    node.started = utc_iso8601(utc_now_ns());
    for (const port_row& row : take_snapshot(*_p).ports)
        node.ports.push_back({row.plan->id, row.plan->name, row.plan->driver});
    registration_settings settings;
    settings.etcd = _options.fleet_etcd_settings;
    _fleet = std::make_unique<node_registration>(settings, node);
    _fleet->start();
    agent_settings agent;
    agent.etcd = settings.etcd;
    // Its requests go to this thread as the HTTP API's do, and are answered
    // as the socket answers them; a start whose answer is late (a host name
    // in its filter waits on DNS) is collected at a later tick, the agent
    // going on with its other sessions meanwhile.
    _fleet_agent = std::make_unique<fleet_agent>(agent, node.name, _started_ns, *_fleet,
                                                 agent_calls(_bridge, agent_start_wait));
    _fleet_agent->start();
}

void control_daemon::on_request(client_id client, std::string_view line)
{
    request req;
    if (std::string e = parse_request(line, req); !e.empty()) {
        _server.queue(client, error_reply(e));
        return;
    }
    const std::string reply = handle(client, req);
    if (!reply.empty())
        _server.queue(client, reply);
}

void control_daemon::on_gone(client_id client)
{
    _watch.remove_client(*_p, _catalog, client);
}

std::string control_daemon::handle(client_id client, const request& req)
{
    switch (req.cmd) {
    case command::start:
        // The reply comes when the filter is compiled (or at once, refused).
        _server.set_awaiting(client, true);
        start(req, [this, client](const std::string& line, int) {
            _server.queue(client, line);
            _server.set_awaiting(client, false);
        });
        return {};
    case command::stop: return stop(req);
    case command::list: return list();
    case command::show: return show(req);
    case command::stats: return stats();
    case command::files: return files(req);
    case command::merge:
    case command::query: return merge(client, req);
    case command::remove: return remove(req);
    case command::watch: return watch(client, req);
    case command::shutdown:
        _shutdown = true;
        return ok_reply({{"message", "stopping every session and exiting"}});
    }
    return error_reply("unhandled command");
}

void control_daemon::start(const request& req, start_reply reply)
{
    // A fleet session runs once on a node: a restarted daemon's agent finds
    // it here (running, or ended by the crash) and does not start it again.
    const auto ran_here = [this](const std::string& fleet) -> std::string {
        if (!fleet.empty())
            for (const session_record* r : _catalog.all())
                if (r->fleet == fleet)
                    return fmt::format("fleet session {} already ran here, as session {} ({})", fleet, r->id,
                                       r->status());
        return {};
    };
    std::string refused = ran_here(req.fleet);
    if (refused.empty() && _shutdown)
        refused = "linecap is shutting down";
    if (refused.empty() && free_session_slot(*_p, _options.session_limit) < 0)
        refused = at_session_limit();
    if (!refused.empty()) {
        reply(error_reply(refused), start_refusal_status());
        return;
    }
    if (_pending_starts.size() >= max_sessions) {
        reply(error_reply(fmt::format("{} starts are waiting for their filters to compile (a host name in an expression "
                                      "waits on DNS); try again once they are answered",
                                      _pending_starts.size())),
              503);
        return;
    }
    // Compiled on a job's thread; the rest here, once it is done. Meanwhile
    // the loop goes on (the fleet session and the slot are checked again).
    struct compiled {
        std::shared_ptr<session_filter> filter;
        std::string error;
    };
    auto c = std::make_shared<compiled>();
    auto pending = std::make_shared<pending_start>();
    pending->reply = std::move(reply);
    // The thread does libpcap's and Hyperscan's part, and touches nothing
    // of DPDK or of the daemon: at exit it is left behind if a resolver
    // still keeps it (background_jobs::abandon_runs).
    const auto work = [c, spec = req.spec] {
        // At the lowest normal priority (core/thread_priority.h): libpcap's
        // optimizer takes time cubic in an expression's terms (800 "or
        // host" terms: 100 s), and at the writers' priority two such starts
        // made a running ring drop three times as much.
        lower_this_thread();
        try {
            c->filter = session_filter::prepare(spec, c->error);
            // What the spec says (its "bpf", its "payload"), named as every
            // other refusal of a spec is named, so that linecapctl and the
            // HTTP API say it with the words the one-shot uses.
            if (!c->error.empty())
                c->error = "start: spec: " + c->error;
        } catch (const std::exception& e) {
            c->error = fmt::format("compiling the filter: {}", e.what());
        }
    };
    const auto then = [this, c, req, ran_here, pending] {
        std::erase(_pending_starts, pending);
        if (pending->answered)   // refused at shutdown
            return;
        pending->answered = true;
        if (c->filter)
            c->error = load_session_filter(*_p, *c->filter);
        if (!c->error.empty()) {
            pending->reply(error_reply(c->error), 400);
            return;
        }
        try {
            std::string id, folder, e = ran_here(req.fleet);
            if (e.empty())
                e = open_session(req.spec, req.spec_json, c->filter, id, folder, req.fleet);
            if (!e.empty()) {
                pending->reply(error_reply(e), start_refusal_status());
                return;
            }
            pending->reply(ok_reply({{"id", id}, {"folder", folder}, {"notes", notes_json(*_catalog.find(id))}}),
                           201);
        } catch (const std::exception& e) {   // answered whatever happens: its client waits
            pending->reply(error_reply(fmt::format("start: {}", e.what())), 500);
        }
    };
    try {
        _jobs.run(work, then);
    } catch (const std::system_error& e) {
        pending->reply(error_reply(fmt::format("cannot start a thread to compile the filter: {}", e.what())), 503);
        return;
    }
    _pending_starts.push_back(pending);
}

void control_daemon::refuse_pending_starts()
{
    for (const auto& pending : _pending_starts)
        if (!pending->answered) {
            pending->answered = true;
            // "unavailable": not carried out, as a request the control
            // thread never took (the fleet agent's reading).
            pending->reply(ojson({{"ok", false}, {"error", "linecap is shutting down"}, {"unavailable", true}}).dump(),
                           503);
        }
}

int control_daemon::start_refusal_status() const
{
    return _shutdown ? 503 : free_session_slot(*_p, _options.session_limit) < 0 ? 409 : 400;
}

std::string control_daemon::at_session_limit() const
{
    return fmt::format("{} sessions are running, the --max-sessions limit; stop one first (linecapctl stop ID)",
                       _options.session_limit);
}

std::string control_daemon::start_initial_sessions(pipeline& p)
{
    _p = &p;
    for (size_t i = 0; i < _options.start_specs.size(); i++) {
        std::string id, folder;
        const nlohmann::json spec_json = nlohmann::json::parse(_options.start_texts[i]);
        std::string e;
        std::shared_ptr<const session_filter> filter = compile_session_filter(p, _options.start_specs[i], e);
        if (filter)
            e = open_session(_options.start_specs[i], spec_json, std::move(filter), id, folder);
        if (!e.empty()) {
            // The daemon exits: those already started end as at a shutdown.
            for (session_record* r : _catalog.all())
                if (r->slot >= 0)
                    finish(*r, stop_reason::shutdown);
            return fmt::format("--start {}: {}", _options.start_files[i], e);
        }
    }
    return {};
}

std::string control_daemon::open_session(const session_spec& requested, const nlohmann::json& spec_json,
                                         std::shared_ptr<const session_filter> filter, std::string& id,
                                         std::string& folder, const std::string& fleet)
{
    if (_shutdown)
        return "linecap is shutting down";
    const int slot = free_session_slot(*_p, _options.session_limit);
    if (slot < 0)
        return at_session_limit();
    session_spec spec = requested;
    spec.output.direct_io = _options.session.output.direct_io;
    session_record* record = nullptr;
    int dir_fd = -1;
    if (std::string e = _catalog.create(spec.output.name, record, dir_fd); !e.empty())
        return e;
    spec.output.dir = _catalog.folder_path(*record);
    const std::string bpf_note = filter && filter->bpf ? filter->bpf->note() : std::string();
    if (std::string e = add_session(*_p, static_cast<unsigned>(slot), spec, dir_fd, std::move(filter)); !e.empty()) {
        const std::string discarded = record->id;
        _catalog.discard_new(discarded);
        return e;
    }
    record->slot = slot;
    record->filter_note = bpf_note.empty() ? bpf_note : "bpf: " + bpf_note;
    _rx_at_start[static_cast<unsigned>(slot)] = take_snapshot(*_p).totals.rx_packets;
    _notes_sent.erase(record->id);
    record->spec = spec_json;
    record->fleet = fleet;
    record->reason = stop_reason::none;
    record->started = utc_iso8601(_p->sessions[static_cast<unsigned>(slot)]->start_ns);
    save_record(*record);
    if (fleet.empty())
        log_event(log_module::control, log_level::info, "session {} ({}) started", record->id, record->name);
    else
        log_event(log_module::control, log_level::info, "session {} ({}) started for fleet session {}", record->id,
                  record->name, fleet);
    id = record->id;
    folder = spec.output.dir;
    return {};
}

std::string control_daemon::finish(session_record& record, stop_reason why)
{
    const unsigned slot = static_cast<unsigned>(record.slot);
    if (_p->clock.now_ns() < _retry_after_ns[slot])
        return "linecap could not stop this session a moment ago; it tries again every second";
    stop_reason reason = why;
    std::string error;
    const std::string failed = remove_session(*_p, slot, why, [&](const pipeline& p, unsigned s) {
        record.counters = sum_session(p, s);
        reason = p.sessions[s]->reason.load();
        error = p.sessions[s]->error();
    });
    if (!failed.empty()) {
        // Out of memory for a classifier without it: the session runs on.
        _retry_after_ns[slot] = _p->clock.now_ns() + 1000000000;
        log_event(log_module::control, log_level::warning, "session {}: cannot stop it yet: {}", record.id, failed);
        return failed;
    }
    // Samples of its packets taken before its files closed go to its
    // watchers now, before the slot can be reused.
    _watch.pump(*_p, _catalog, _server);
    record.slot = -1;
    record.reason = reason;
    record.error = error;
    record.ended = utc_iso8601(_p->clock.now_ns());
    save_record(record);
    log_event(log_module::control, error.empty() ? log_level::info : log_level::error, "session {} ({}) {}: {}{}{}", record.id,
              record.name, record.status(), stop_reason_name(record.reason), error.empty() ? "" : ": ", error);
    _watch.end_session(*_p, _catalog, _server, record.id, std::string(stop_reason_name(record.reason)));
    return {};
}

void control_daemon::save_record(const session_record& record)
{
    if (std::string e = _catalog.save(record); !e.empty()) {
        log_event(log_module::control, log_level::warning, "session {}: {}; trying again every second", record.id, e);
        _unsaved.insert(record.id);
    } else {
        _unsaved.erase(record.id);
    }
}

void control_daemon::retry_saves()
{
    const uint64_t now = rte_rdtsc();
    if (_unsaved.empty() || now < _next_save_retry)
        return;
    _next_save_retry = now + _p->clock.hz;
    for (auto it = _unsaved.begin(); it != _unsaved.end();) {
        const session_record* r = _catalog.find(*it);
        if (r == nullptr || _catalog.save(*r).empty()) {   // deleted, or saved at last
            if (r != nullptr)
                log_event(log_module::control, log_level::info, "session {}: session.json written", r->id);
            it = _unsaved.erase(it);
        } else {
            ++it;
        }
    }
}

void control_daemon::end_sessions_that_stopped()
{
    const uint64_t now_ns = _p->clock.now_ns();
    for (unsigned slot = 0; slot < max_sessions; slot++) {
        const session* s = _p->sessions[slot].get();
        if (s == nullptr)
            continue;
        stop_reason why = s->reason.load();   // a limit or an error a writer saw
        if (why == stop_reason::none)
            why = due_limit(*_p, slot, now_ns);
        if (why == stop_reason::none)
            continue;
        if (session_record* r = running_in(slot))
            finish(*r, why);
    }
}

std::string control_daemon::stop(const request& req)
{
    std::string error;
    session_record* r = lookup(req.id, true, error);
    if (r == nullptr)
        return error_reply(error);
    if (r->slot < 0)
        return error_reply(fmt::format("session {} has already ended ({}: {})", r->id, r->status(),
                                       stop_reason_name(r->reason)));
    if (std::string e = finish(*r, stop_reason::user); !e.empty())
        return error_reply(fmt::format("session {}: {}", r->id, e));
    return ok_reply({{"id", r->id}, {"status", r->status()}, {"reason", stop_reason_name(r->reason)},
                     {"counters", session_totals_json(r->counters)}});
}

std::string control_daemon::list()
{
    ojson sessions = ojson::array();
    for (const session_record* r : _catalog.all()) {
        ojson s = summary_of(*r);
        // What its folder holds now, beside what it has written: less once
        // keep-N deleted files. Read from the folder, so for `list` only,
        // not for every telemetry snapshot.
        uint64_t disk_bytes = 0;
        for (const file_entry& f : _catalog.files(*r))
            disk_bytes += f.bytes + f.index_bytes;
        s["disk_bytes"] = disk_bytes;
        sessions.push_back(std::move(s));
    }
    return ok_reply({{"sessions", sessions}});
}

std::string control_daemon::show(const request& req)
{
    std::string error;
    const session_record* r = lookup(req.id, false, error);
    if (r == nullptr)
        return error_reply(error);
    ojson session = r->to_json();
    session["folder"] = _catalog.folder_path(*r);
    session["counters"] = session_totals_json(counters_of(*r));
    ojson files = ojson::array();
    for (const file_entry& f : _catalog.files(*r))
        files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"index_bytes", f.index_bytes}});
    session["files"] = files;
    session["notes"] = notes_json(*r);
    return ok_reply({{"session", session}});
}

std::string control_daemon::stats()
{
    return ok_reply(stats_fields());
}

nlohmann::ordered_json control_daemon::stats_fields()
{
    const counters_snapshot snap = take_snapshot(*_p);
    return ojson({
        {"uptime_s", static_cast<double>(_p->clock.now_ns() - _started_ns) / 1e9},
        {"sessions_running", running_count()},
        {"totals", totals_json(snap)},
        {"ports", ports_json(snap)},
        {"pools", pools_json(snap)},
        {"workers", workers_json(snap, [this](unsigned slot) { return session_label(slot); })},
        {"writers", writers_json(snap)},
    });
}

std::optional<http_answer> control_daemon::answer_http(const http_call& call, const later_answer& later)
{
    switch (call.what) {
    case http_call::kind::health:
        return http_answer{200, ojson({{"status", "ok"}, {"sessions_running", running_count()}}).dump()};
    case http_call::kind::metrics: {
        ojson sessions = ojson::array();
        for (const session_record* r : _catalog.all())
            if (r->slot >= 0)
                sessions.push_back({{"id", r->id}, {"name", r->name}, {"counters", session_totals_json(counters_of(*r))}});
        return http_answer{200, prometheus_text(stats_fields(), sessions), "text/plain; version=0.0.4; charset=utf-8"};
    }
    case http_call::kind::socket:   // the fleet agent's: the reply line as the socket gives it
        if (call.req.cmd == command::start) {
            start(call.req, [later](const std::string& line, int) { later({200, line}); });
            return std::nullopt;
        }
        return http_answer{200, handle(0, call.req)};
    case http_call::kind::request: break;
    }
    const request& req = call.req;
    if (req.cmd == command::start) {
        start(req, [later](const std::string& line, int status) {
            later({status, http_body(ojson::parse(line))});
        });
        return std::nullopt;
    }
    // The routes build none of these: a watch needs a live stream (GET
    // .../live gives one), a merge a pipe to write into (GET .../pcap gives
    // one), and shutdown is the operator's, not the web's.
    const bool merge = req.cmd == command::merge || req.cmd == command::query;
    if ((req.cmd == command::watch && !call.live) || (merge && call.output_fd < 0) ||
        req.cmd == command::shutdown)
        return http_answer{400, ojson({{"error", fmt::format("{} is not served over HTTP", command_name(req.cmd))}}).dump()};
    // The session the command names, looked up as handle() will: its
    // state says which refusal it is (404, 409, ...).
    refusal_facts facts;
    bool ambiguous = false;
    facts.shutting_down = _shutdown;
    if (!req.id.empty()) {
        std::string ignored;
        const session_record* r = lookup(req.id, req.cmd == command::stop, ignored);
        const bool found = r != nullptr;
        facts.found = found;
        facts.running = found && r->slot >= 0;
        facts.merging = found && _jobs.merging(r->id);
        // Not found, but a name several sessions share: the request must
        // say which (400), not "no such session" (404).
        const auto all = _catalog.all();
        ambiguous = !found && std::any_of(all.begin(), all.end(), [&](const session_record* s) { return s->name == req.id; });
    }
    if (merge) {
        // Streamed into the pipe from now on: the reply says what the HTTP
        // thread names the download after.
        std::string ignored;
        const session_record* r = lookup(req.id, false, ignored);
        const std::string id = r ? r->id : std::string(), name = r ? r->name : std::string();
        const bool running = r && r->slot >= 0;
        const std::string error = merge_into(0, req, call.output_fd, call.outcome);
        if (error.empty())
            return http_answer{200, ojson({{"id", id}, {"name", name}, {"running", running}}).dump()};
        return http_answer{ambiguous ? 400 : refusal_status(req.cmd, facts), http_body(ojson::parse(error))};
    }
    ojson reply = ojson::parse(req.cmd == command::watch ? watch(0, req, call.live) : handle(0, req));
    const bool ok = reply.value("ok", false);
    const std::string body = http_body(std::move(reply));
    if (ok)
        return http_answer{200, body};
    return http_answer{ambiguous ? 400 : refusal_status(req.cmd, facts), body};
}

std::string control_daemon::files(const request& req)
{
    std::string error;
    const session_record* r = lookup(req.id, false, error);
    if (r == nullptr)
        return error_reply(error);
    const std::string folder = _catalog.folder_path(*r);
    ojson files = ojson::array();
    for (const file_entry& f : _catalog.files(*r))
        files.push_back(
            {{"name", f.name}, {"bytes", f.bytes}, {"index_bytes", f.index_bytes}, {"path", folder + "/" + f.name}});
    return ok_reply({{"id", r->id}, {"folder", folder}, {"files", files}});
}

std::string control_daemon::merge(client_id client, const request& req)
{
    // The output is the client's own file (or pipe), opened by the client
    // and passed with the request: it ends up the client's, written by the
    // daemon without the client needing to read the session's folder, and
    // nothing is left in the folder.
    return merge_into(client, req, _server.take_passed_fd(client), nullptr);
}

std::string control_daemon::merge_into(client_id client, const request& req, int output_fd,
                                       std::shared_ptr<merge_outcome> outcome)
{
    const auto refuse = [&](const std::string& why) {
        if (output_fd >= 0)
            close(output_fd);
        return error_reply(why);
    };
    std::string error;
    const session_record* r = lookup(req.id, false, error);
    if (r == nullptr)
        return refuse(error);
    const bool query = req.cmd == command::query;
    const std::string_view cmd = command_name(req.cmd);
    if (output_fd < 0)
        return refuse(fmt::format("{}: no output file came with the request: the client opens the file and passes "
                                  "its descriptor with the request (SCM_RIGHTS), as linecapctl {} ID -o FILE does",
                                  cmd, cmd));
    // The words `linecap query` gives for the same expression or address.
    // The expression is compiled by the job, not here: libpcap resolves a
    // host name in it, which can wait seconds on DNS (run_query refuses it
    // before reading anything).
    query_request asked;
    if (query)
        if (std::string e = take_query_terms(req.filter, req.inner_host, req.vni, asked, false); !e.empty())
            return refuse(fmt::format("query: {}", e));
    const int folder_fd = openat(_catalog.root_fd(), r->folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (folder_fd < 0)
        return refuse(fmt::format("{}: cannot open the session's folder: {}", _catalog.folder_path(*r), strerror(errno)));
    // Nor the session's record (--force would empty it: a daemon started
    // again would no longer list the session), as merge_captures refuses
    // an input and its index.
    if (struct stat out_st{}; fstat(output_fd, &out_st) == 0 && S_ISREG(out_st.st_mode))
        for (const char* name : {session_record_name, session_record_tmp_name})
            if (struct stat st{}; fstatat(folder_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                  st.st_dev == out_st.st_dev && st.st_ino == out_st.st_ino) {
                close(folder_fd);
                return refuse(fmt::format("{}: {}: the output is the session's record ({}/{}); give another -o",
                                          cmd, req.output.empty() ? "the output" : req.output, _catalog.folder_path(*r), name));
            }
    merge_request& request = asked.merge;
    // 0: no limit; anything above it at least a byte a second.
    request.read_rate = _options.read_rate_mb > 0 ? std::max<uint64_t>(1, static_cast<uint64_t>(_options.read_rate_mb * 1e6)) : 0;
    request.folder_fd = folder_fd;
    request.folder = _catalog.folder_path(*r);
    request.output_fd = output_fd;
    request.output = req.output.empty() ? "the output" : req.output;
    request.force = req.force;
    request.since_ns = req.since_ns;
    request.until_ns = req.until_ns;
    // A running session's files are taken as they are on disk now (writers/merge.h).
    request.live = r->slot >= 0;
    if (req.format)
        request.format = req.format;
    else if (r->spec.contains("format") && r->spec["format"].is_string())
        request.format = parse_format(r->spec["format"].get<std::string>());
    // Off the control loop: a merge of gigabytes takes seconds, and the
    // loop enforces limits and serves other clients meanwhile. The job
    // closes both descriptors.
    if (outcome) {
        _jobs.merge(client, r->id, std::move(asked), query, [outcome](const std::string& error, bool refused) {
            const std::lock_guard lock(outcome->mutex);
            outcome->error = error;
            outcome->refused = refused;
            outcome->done = true;
        });
        return {};
    }
    _jobs.merge(client, r->id, std::move(asked), query);
    _server.set_awaiting(client, true);
    return {};   // the reply comes when the merge is done
}

std::vector<control_daemon::session_note> control_daemon::notes_of(const session_record& record) const
{
    std::vector<session_note> notes;
    if (record.slot < 0)
        return notes;
    if (!record.filter_note.empty())
        notes.push_back({"bpf", record.filter_note});
    const auto slot = static_cast<unsigned>(record.slot);
    const double idle_s = _p->seconds_since_start(rte_rdtsc()) - _p->seconds_since_start(last_rx_tsc(*_p));
    const bool only_replays = !_p->ports.empty() && std::all_of(_p->ports.begin(), _p->ports.end(),
                                                                 [](const port_plan& port) { return port.replay; });
    if (only_replays && idle_s >= replay_ended_after_s)
        notes.push_back({"replay_ended",
                         fmt::format("the ports replay files and have received nothing for {:.0f} s: the replays "
                                     "have ended, so this session will see no more packets (linecapctl stop {})",
                                     idle_s, record.id)});
    const double age_s = static_cast<double>(_p->clock.now_ns() - _p->sessions[slot]->start_ns) / 1e9;
    if (age_s < quiet_note_after_s || sum_session(*_p, slot).matched != 0)
        return notes;
    const uint64_t received = take_snapshot(*_p).totals.rx_packets - _rx_at_start[slot];
    if (received != 0)
        notes.push_back({"nothing_matched",
                         fmt::format("no packet has matched in the {:.0f} s since this session started, while the "
                                     "ports received {}: check its filter (linecapctl show {} prints it)",
                                     age_s, received, record.id)});
    else if (!only_replays)
        notes.push_back({"nothing_arrived", fmt::format("no packet has arrived on any port in the {:.0f} s since "
                                                        "this session started",
                                                        age_s)});
    return notes;
}

nlohmann::ordered_json control_daemon::notes_json(const session_record& record) const
{
    ojson texts = ojson::array();
    for (const session_note& n : notes_of(record))
        texts.push_back(n.text);
    return texts;
}

void control_daemon::send_new_notes()
{
    for (const session_record* r : _catalog.all()) {
        if (r->slot < 0) {
            _notes_sent.erase(r->id);
            continue;
        }
        std::set<std::string_view>& sent = _notes_sent[r->id];
        for (const session_note& n : notes_of(*r))
            if (sent.insert(n.kind).second)
                _watch.note(_server, r->id, n.text);
    }
}

void control_daemon::reap_jobs(bool wait)
{
    _jobs.reap(wait, [this](const finished_merge& m) {
        if (m.streamed) {   // GET .../pcap: its client got the bytes, or went away (a write error here)
            // A client gone is its end cut short; anything else (an
            // expression the files' link type refuses, a file unreadable)
            // is the request's failure, answered as such.
            if (!m.error.empty())
                log_event(log_module::control, log_level::info, "http: the {} of session {} {}: {}",
                          m.query ? "query" : "merge", m.id,
                          m.result.merge.output_failed ? "ended early" : "failed", m.error);
            return;
        }
        const merge_result& merged = m.result.merge;
        ojson reply = {{"id", m.id}, {"output", merged.output}, {"packets", merged.packets}, {"files", merged.files},
                       {"notes", merged.notes}};
        if (m.query)   // what the indexes saved: as `linecap query` prints it
            reply.update({{"files_indexed", m.result.files_indexed}, {"chunks", m.result.chunks},
                          {"chunks_read", m.result.chunks_read}, {"capture_bytes", m.result.capture_bytes},
                          {"bytes_read", m.result.bytes_read}});
        _server.queue(m.client, m.error.empty() ? ok_reply(reply) : error_reply(m.error));
        _server.set_awaiting(m.client, false);
    });
}

std::string control_daemon::remove(const request& req)
{
    std::string error;
    const session_record* r = lookup(req.id, false, error);
    if (r == nullptr)
        return error_reply(error);
    if (r->slot >= 0)
        return error_reply(fmt::format("session {} is running; stop it first (linecapctl stop {})", r->id, r->id));
    if (_jobs.merging(r->id))
        return error_reply(fmt::format("session {} is being merged; delete it once the merge is done", r->id));
    const std::string id = r->id;
    std::string trash;
    if (std::string e = _catalog.remove(id, trash); !e.empty())
        return error_reply(e);
    // Off the control loop: thousands of files take a while.
    _jobs.remove_tree(trash);
    return ok_reply({{"id", id}});
}

std::string control_daemon::watch(client_id client, const request& req, std::shared_ptr<live_stream> live)
{
    std::string error;
    const session_record* r = lookup(req.id, true, error);
    if (r == nullptr)
        return error_reply(error);
    if (r->slot < 0)
        return error_reply(fmt::format("session {} is not running ({}); its files are in {}", r->id, r->status(),
                                       _catalog.folder_path(*r)));
    if (live) {
        if (std::string e = _watch.add_live(*_p, _catalog, std::move(live), r->id); !e.empty())
            return error_reply(e);
    } else {
        _watch.add(*_p, _catalog, client, r->id);
        _server.set_streaming(client, true);
    }
    // The notes due now go in this reply; the loop sends only later ones.
    for (const session_note& n : notes_of(*r))
        _notes_sent[r->id].insert(n.kind);
    return ok_reply({{"id", r->id}, {"watching", true},
                     {"max_lines_per_second", watch_samples_per_second * _p->writers.size()},
                     {"notes", notes_json(*r)}});
}

void control_daemon::publish_telemetry_snapshots()
{
    const counters_snapshot snap = take_snapshot(*_p);
    ojson totals = totals_json(snap);
    totals["uptime_s"] = static_cast<uint64_t>((_p->clock.now_ns() - _started_ns) / 1000000000);
    totals["sessions_running"] = running_count();
    publish_telemetry("/linecap/stats", totals);

    const auto by_index = [](const ojson& list, const char* key) {
        ojson out = ojson::object();
        for (const ojson& item : list)
            out[std::to_string(item[key].get<unsigned>())] = item;
        return out;
    };
    publish_telemetry("/linecap/ports", by_index(ports_json(snap), "port"));
    publish_telemetry("/linecap/workers", by_index(workers_json(snap, [this](unsigned slot) { return session_label(slot); }), "worker"));
    publish_telemetry("/linecap/writers", by_index(writers_json(snap), "writer"));

    ojson sessions = ojson::object();
    const auto all = _catalog.all();
    // Telemetry dicts hold 256 entries: the newest sessions.
    const size_t first = all.size() > 256 ? all.size() - 256 : 0;
    for (size_t i = first; i < all.size(); i++) {
        ojson s = summary_of(*all[i]);
        s.erase("id");
        sessions[all[i]->id] = s;
    }
    publish_telemetry("/linecap/sessions", sessions);
}

} // namespace linecap
