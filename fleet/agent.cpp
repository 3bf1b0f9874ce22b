#include "fleet/agent.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "core/human_units.h"
#include "core/log.h"
#include "core/utc_time.h"

namespace linecap {

namespace {

using json = nlohmann::json;

bool ok(const json& reply)
{
    return reply.is_object() && reply.value("ok", false);
}

std::string error_of(const json& reply)
{
    return reply.is_object() && reply.contains("error") && reply["error"].is_string() ? reply["error"].get<std::string>()
                                                                                        : "the daemon did not answer";
}

// The control thread did not take the request: nothing was done, ask again.
bool unavailable(const json& reply)
{
    return !reply.is_object() || reply.value("unavailable", false);
}

} // namespace

fleet_agent::fleet_agent(agent_settings settings, std::string node, uint64_t started_ns,
                         const node_registration& registration, daemon_call call)
    : _settings(std::move(settings)), _node(std::move(node)), _started_ns(started_ns), _registration(registration),
      _call(std::move(call)),
      _watcher([&] {
          etcd_settings s = _settings.etcd;
          s.timeout = _settings.quiet_watch;
          return s;
      }()),
      _etcd(_settings.etcd)
{
}

fleet_agent::~fleet_agent()
{
    stop();
}

void fleet_agent::start()
{
    _watcher_thread = std::thread([this] { watch(); });
    _agent_thread = std::thread([this] { run(); });
}

void fleet_agent::stop()
{
    {
        const std::lock_guard lock(_mutex);
        _stopping = true;
    }
    _wake.notify_all();
    _watcher.interrupt();
    _etcd.interrupt();
    if (_watcher_thread.joinable())
        _watcher_thread.join();
    if (_agent_thread.joinable())
        _agent_thread.join();
}

bool fleet_agent::wait(std::chrono::milliseconds d)
{
    std::unique_lock lock(_mutex);
    _wake.wait_for(lock, d, [this] { return _stopping; });
    return !_stopping;
}

void fleet_agent::push(news n)
{
    {
        const std::lock_guard lock(_mutex);
        _queue.push_back(std::move(n));
    }
    _wake.notify_all();
}

// A failure is logged when it starts and the recovery when it ends.
void fleet_agent::say(bool failed, const std::string& what)
{
    if (failed && !_failing)
        log_event(log_module::fleet, log_level::warning, "fleet: {}; sessions run on, retrying every {} ms", what,
                  _settings.retry.count());
    else if (!failed && _failing)
        log_event(log_module::fleet, log_level::info, "fleet: etcd {} answers again: following fleet sessions",
                  _watcher.endpoint());
    _failing = failed;
}

// The watcher thread: lists the fleet sessions, then watches them from that
// revision; lists again only when etcd has compacted what it missed.
void fleet_agent::watch()
{
    int64_t revision = 0;
    bool listed = false;
    for (;;) {
        try {
            if (!watch_step(revision, listed))
                return;
        } catch (const std::exception& e) {
            // A fault no reply of etcd's should cause (etcd_client throws
            // nothing): said, and the watcher lists again after a pause.
            // Never the daemon's end: capture must not depend on etcd.
            log_event(log_module::fleet, log_level::error, "fleet: following fleet sessions failed: {}; sessions run "
                      "on, listing them again in {} ms", e.what(), _settings.retry.count());
            listed = false;
            if (!wait(_settings.retry))
                return;
        }
    }
}

// One listing if `listed` is not, then one watch from `revision`; false:
// stopping.
bool fleet_agent::watch_step(int64_t& revision, bool& listed)
{
    if (!listed) {
        std::vector<etcd_kv> kvs;
        if (std::string e = _watcher.list(fleet_sessions_prefix(), kvs, revision); !e.empty()) {
            say(true, fmt::format("cannot list fleet sessions: {}", e));
            return wait(_settings.retry);
        }
        // The listing and its keys' values in one hand-over: the agent
        // sees them together.
        std::vector<news> batch;
        batch.push_back({news::kind::listed, {}, {}, {}});
        for (etcd_kv& kv : kvs) {
            batch.front().present.push_back(kv.key);
            batch.push_back({news::kind::put, std::move(kv.key), std::move(kv.value), {}});
        }
        {
            const std::lock_guard lock(_mutex);
            std::move(batch.begin(), batch.end(), std::back_inserter(_queue));
        }
        _wake.notify_all();
        listed = true;
    }
    const etcd_client::watch_end end = _watcher.watch(fleet_sessions_prefix(), revision + 1, [&](const etcd_event& e) {
        push({e.deleted ? news::kind::deleted : news::kind::put, e.kv.key, e.kv.value, {}});
        return true;
    });
    revision = std::max(revision, end.revision);
    {
        const std::lock_guard lock(_mutex);
        if (_stopping)
            return false;
    }
    if (end.compacted) {
        listed = false;   // what changed meanwhile is in a new listing
    } else if (!end.error.empty()) {
        say(true, fmt::format("cannot follow fleet sessions: {}", end.error));
        return wait(_settings.retry);
    }
    say(false, "");
    return true;
}

// The agent thread: the watcher's news as it comes, and each tick the start
// and end times that have come and the statuses.
void fleet_agent::run()
{
    std::string last_fault;
    for (;;) {
        std::vector<news> batch;
        {
            std::unique_lock lock(_mutex);
            _wake.wait_for(lock, _settings.report, [this] { return _stopping || !_queue.empty(); });
            if (_stopping)
                break;
            batch.swap(_queue);
        }
        // A fault no reply should cause (a daemon or etcd reply of a shape
        // this code does not expect) is said (once while it repeats), and
        // skips that news or the rest of this tick; the next tick tries
        // again. Never the daemon's end: capture must not depend on etcd.
        const auto guarded = [&](const auto& step) {
            try {
                step();
            } catch (const std::exception& e) {
                if (e.what() != last_fault)
                    log_event(log_module::fleet, log_level::error, "fleet: following fleet sessions failed: {}; "
                              "sessions run on, trying again every {} ms", e.what(), _settings.report.count());
                last_fault = e.what();
            }
        };
        for (const news& n : batch)
            guarded([&] {
                if (n.what == news::kind::listed)
                    on_listing(n.present);
                else
                    on_session(n.key, n.value, n.what == news::kind::deleted);
            });
        guarded([&] {
            if (!_local_known)
                learn_local();
            for (auto& [id, t] : _sessions)
                reconcile(t);
            report();
            forget_gone();
        });
    }
}

void fleet_agent::on_listing(const std::vector<std::string>& present)
{
    // Fleet sessions deleted while this node could not watch.
    for (auto& [id, t] : _sessions)
        if (std::find(present.begin(), present.end(), fleet_session_key(id)) == present.end())
            t.gone = true;
    learn_local();
}

// This node's sessions already tagged with a fleet id: a daemon restarted
// after a crash finds them, and starts none of them twice. Until it knows
// them, it starts nothing.
bool fleet_agent::learn_local()
{
    const json local = _call({{"cmd", "list"}});
    if (!ok(local)) {
        if (!unavailable(local))
            log_event(log_module::fleet, log_level::warning, "fleet: cannot list this node's sessions: {}",
                      error_of(local));
        return false;
    }
    for (const json& row : local.value("sessions", json::array()))
        if (row.is_object() && row.contains("fleet") && row["fleet"].is_string()) {
            tracked& t = _sessions[row["fleet"].get<std::string>()];
            // (A start in progress: its answer, asked for at the next
            // tick, gives the same id.)
            if (t.local_id.empty() && !t.starting)
                t.local_id = row.value("id", "");
        }
    _local_known = true;
    return true;
}

// Entries whose key went (or that no longer target this node), once their
// session here has ended: their status goes too.
void fleet_agent::forget_gone()
{
    for (auto it = _sessions.begin(); it != _sessions.end();) {
        tracked& t = it->second;
        // An entry with no session is a local session whose key has gone
        // (learn_local): nothing of it is in etcd.
        const bool drop = t.session.id.empty() || (t.gone && !t.starting && (t.local_id.empty() || t.ended));
        if (drop && !t.session.id.empty() && !_etcd.remove(fleet_status_key(it->first, _node)).empty()) {
            ++it;   // tried again next tick
            continue;
        }
        it = drop ? _sessions.erase(it) : std::next(it);
    }
}

void fleet_agent::on_session(const std::string& key, const std::string& value, bool deleted)
{
    const std::string id = key.substr(fleet_sessions_prefix().size());
    fleet_session s;
    if (!deleted) {
        std::string error = parse_fleet_session(parse_stored_json(value), s);
        if (error.empty() && s.id != id)
            error = fmt::format("its \"id\" is {}, not the key's", s.id);
        if (!error.empty()) {
            log_event(log_module::fleet, log_level::warning, "fleet: {} in etcd is not a fleet session ({}): left alone",
                      key, error);
            return;
        }
    }
    if (deleted || !s.targets(_node)) {
        // Deleted, or no longer for this node: its session here stops
        // (reconcile), and the entry and its status go once it has ended
        // (forget_gone).
        if (const auto found = _sessions.find(id); found != _sessions.end()) {
            found->second.gone = true;
            reconcile(found->second);
        }
        return;
    }
    tracked& t = _sessions[id];
    const bool first = t.session.id.empty();
    t.session = std::move(s);
    t.gone = false;
    if (first && t.local_id.empty() && !t.session.late_join) {
        // Begun before this node joined: not for it, unless it says so.
        std::string e;
        const std::optional<uint64_t> created = parse_utc_time(t.session.created, utc_now_ns(), e);
        const uint64_t began = std::max(created.value_or(0), t.session.start_ns);
        t.late = began != 0 && began < _started_ns && !t.session.stopped;
    }
    reconcile(t);
}

void fleet_agent::reconcile(tracked& t)
{
    if (t.session.id.empty())
        return;   // a local session's entry whose key is not (or no longer) there
    const uint64_t now = utc_now_ns();
    const fleet_session& s = t.session;
    const bool ended = s.end_ns != 0 && now >= s.end_ns;
    const bool wanted = !t.gone && !s.stopped && !ended;
    if (t.local_id.empty()) {
        // A start whose answer was late is asked again until it comes, even
        // once the session is no longer wanted: a session it started is
        // then stopped like any other (below, at the next tick).
        if (!t.starting && (!wanted || now < s.start_ns || t.late || !_local_known))
            return;
        if (!t.starting) {
            json spec = s.spec;
            if (s.end_ns != 0) {
                // The end time as the session's own limit, so it ends on
                // time even if etcd is away then (whole seconds, rounded
                // up; the spec's own limit if that is sooner).
                const uint64_t left_s = (s.end_ns - now + 999999999) / 1000000000;
                if (!spec.contains("limits") || !spec["limits"].is_object())
                    spec["limits"] = json::object();
                // The spec's limit read as its parser reads it
                // (core/spec.cpp): seconds, or text with a unit, as
                // linecapctl sends --duration 5m. One it cannot read is left
                // for the daemon to refuse, in its own words.
                json& limit = spec["limits"]["seconds"];
                const std::optional<double> given = limit.is_number() ? std::optional(limit.get<double>())
                                                    : limit.is_string() ? parse_seconds(limit.get<std::string>())
                                                                        : std::nullopt;
                if (limit.is_null() || (given && *given > static_cast<double>(left_s)))
                    limit = left_s;
            }
            t.start_request = {{"cmd", "start"}, {"spec", spec}, {"fleet", s.id}};
            // Its status in etcd ("waiting") before it starts here, so that
            // a `fleet rm` reading the statuses meanwhile sees this node:
            // its transaction fails on a status put after its read
            // (linecapctl's run_fleet_rm). Not written (etcd away): it
            // starts all the same, the capture not hanging on etcd, and
            // stops once it sees the key gone.
            if (const int64_t lease = _registration.lease(); lease != 0)
                write_status(s.id, t, lease);
        }
        // A start whose answer was late (a filter naming a host waits on
        // DNS) is asked again as it was first sent, which collects that
        // start's answer (control/http_api.h, agent_calls) and starts
        // nothing more: its spec is not made again (past the end time, its
        // limit would be none the daemon takes).
        const json reply = _call(t.start_request);
        t.starting = reply.is_object() && reply.value("in_progress", false);
        if (t.starting) {
            t.start_error.clear();   // its status: waiting (or stopped), not an older refusal
            return;
        }
        if (unavailable(reply))
            return;   // not carried out: next tick
        if (!ok(reply)) {
            // Refused (a spec this daemon cannot run, --max-sessions
            // reached, ...): said once, asked again each tick, since the
            // cause may pass.
            if (error_of(reply) != t.start_error)
                log_event(log_module::fleet, log_level::warning, "fleet: fleet session {} cannot start here: {}", s.id,
                          error_of(reply));
            t.start_error = error_of(reply);
            return;
        }
        t.start_error.clear();
        t.local_id = reply.value("id", "");
        log_event(log_module::fleet, log_level::info, "fleet: fleet session {} runs here as session {}", s.id,
                  t.local_id);
        return;
    }
    if (!wanted && !t.ended) {
        // Stopped (or past its end, or deleted): ours ends, if it still runs.
        const json shown = _call({{"cmd", "show"}, {"id", t.local_id}});
        if (ok(shown) && shown["session"].value("status", "") == "running") {
            const json reply = _call({{"cmd", "stop"}, {"id", t.local_id}});
            if (ok(reply))
                log_event(log_module::fleet, log_level::info, "fleet: fleet session {} {}: session {} stopped", s.id,
                          t.gone ? "deleted" : "stopped", t.local_id);
        }
        // Its end is learnt by status_of() (t.ended), once that status is
        // the one written.
    }
}

// This node's status of `t`; nullopt when the control thread did not answer
// (the last one written stands).
std::optional<json> fleet_agent::status_of(tracked& t)
{
    json status = {{"node", _node}};
    if (t.local_id.empty()) {
        if (t.late || !t.start_error.empty()) {
            status["status"] = "not_started";
            status["error"] = t.late ? "this node joined after the fleet session began (fleet start --late-join "
                                       "lets late nodes in)"
                                     : t.start_error;
        } else {
            status["status"] = t.session.stopped ? "stopped" : "waiting";
            if (t.session.start_ns != 0)
                status["start"] = utc_iso8601(t.session.start_ns);
        }
        return status;
    }
    status["local_id"] = t.local_id;
    const json shown = _call({{"cmd", "show"}, {"id", t.local_id}});
    if (unavailable(shown))
        return std::nullopt;
    if (!ok(shown)) {
        status["status"] = "gone";
        status["error"] = error_of(shown);   // deleted here (linecapctl rm)
        t.ended = true;
        return status;
    }
    const json& s = shown["session"];
    json files = json::array();
    for (const json& f : s.value("files", json::array()))
        files.push_back(f.value("name", ""));
    for (const char* field : {"name", "status", "reason", "error", "started", "ended", "counters"})
        if (s.contains(field))
            status[field] = s[field];
    status["files"] = files;
    t.ended = s.value("status", "") != "running";
    return status;
}

// Each status that changed, or was written under an earlier lease (gone
// with it), or not at all yet. Stops at the first failure: etcd away, the
// rest waits for the next tick rather than a timeout each.
void fleet_agent::report()
{
    const int64_t lease = _registration.lease();
    if (lease == 0)
        return;   // not registered (etcd away): written once it is
    for (auto& [id, t] : _sessions) {
        {
            const std::lock_guard lock(_mutex);
            if (_stopping)
                return;
        }
        if (t.session.id.empty() || t.gone)
            continue;
        if (!write_status(id, t, lease))
            return;
        if (!t.local_id.empty() && !t.member_written) {
            // After the status (what `fleet start` waits for), and without a
            // lease: the node's part outlives the node (fleet merge).
            const json member = {{"node", _node}, {"local_id", t.local_id}};
            if (!_etcd.put(fleet_member_key(id, _node), member.dump()).empty())
                return;
            t.member_written = true;
        }
    }
}

// `t`'s status, if it changed or was written under an earlier lease (or
// not at all). false: etcd did not take it.
bool fleet_agent::write_status(const std::string& id, tracked& t, int64_t lease)
{
    if (t.ended && !t.written.empty() && t.written_lease == lease)
        return true;   // its final status is written
    const std::optional<json> status = status_of(t);
    if (!status)
        return true;
    const std::string text = status->dump();
    if (text == t.written && t.written_lease == lease)
        return true;
    json stamped = *status;
    stamped["updated"] = utc_iso8601(utc_now_ns());
    if (!_etcd.put(fleet_status_key(id, _node), stamped.dump(), lease).empty())
        return false;
    t.written = text;
    t.written_lease = lease;
    return true;
}

} // namespace linecap
