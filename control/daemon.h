// linecap as a daemon (--control): the data path runs from start to
// shutdown, and capture sessions come and go over the control socket
// (docs/control.md). This is the control thread's loop: it serves the
// socket, handles each request, starts and stops sessions
// (engine/sessions.h), ends those that reached a limit, keeps each
// session's session.json current and publishes DPDK telemetry. `watch`
// lines go out through watch_fanout (control/watch.h); merges and deletes
// run off the loop in background_jobs (control/jobs.h).
#pragma once

#include <array>
#include <memory>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/catalog.h"
#include "control/http_api.h"
#include "control/jobs.h"
#include "control/options.h"
#include "control/protocol.h"
#include "control/server.h"
#include "control/watch.h"
#include "engine/pipeline.h"
#include "fleet/agent.h"
#include "core/tsc_clock.h"
#include "fleet/node.h"

namespace linecap {

class control_daemon {
public:
    explicit control_daemon(const engine_options& options);
    ~control_daemon();

    // Before DPDK starts: the catalog under --out-root (sessions of earlier
    // runs listed again) and the socket. Returns an empty string or the error.
    std::string prepare();

    // The sessions of --start, for run_pipeline()'s setup step: they exist
    // before the workers receive their first packet. Returns an empty
    // string or what went wrong (the daemon then exits).
    std::string start_initial_sessions(pipeline& p);

    // The control loop, for run_pipeline(): returns on shutdown (the
    // command, SIGTERM or SIGINT) once every session is closed.
    void run(pipeline& p);

private:
    void on_request(client_id client, std::string_view line);
    void on_gone(client_id client);
    std::string handle(client_id client, const request& req);   // the reply line

    // A start's reply: the line the socket sends, and the status HTTP
    // answers with (201, or the refusal's: 400, 409 at --max-sessions, 503
    // shutting down or too many starts waiting).
    using start_reply = std::function<void(const std::string& line, int status)>;
    // A start from the socket, HTTP or the fleet agent. Its filter is
    // compiled by a job, off the loop (libpcap resolves a host name in an
    // expression, which can wait seconds on DNS); the session is opened
    // here once it is done. `reply` is called once, on this thread: at once
    // for a start refused before its compile, else when it is done (or at
    // shutdown, refused).
    void start(const request& req, start_reply reply);
    // The starts whose filters are being compiled; each is answered once.
    struct pending_start {
        start_reply reply;
        bool answered = false;
    };
    // Refuses them all ("shutting down"): their clients, HTTP threads and
    // the fleet agent do not wait for a resolver at shutdown.
    void refuse_pending_starts();
    int start_refusal_status() const;   // a start refused now: 503, 409 or 400
    // A session from a request or --start, with its compiled filter: its
    // folder, its slot in the pipeline, its record (tagged with `fleet`,
    // the fleet session it runs for, if any). Returns an empty string or
    // why not.
    std::string open_session(const session_spec& requested, const nlohmann::json& spec_json,
                             std::shared_ptr<const session_filter> filter, std::string& id, std::string& folder,
                             const std::string& fleet = {});
    std::string at_session_limit() const;   // the refusal when every slot is taken
    std::string stop(const request& req);
    std::string list();
    std::string show(const request& req);
    std::string stats();
    nlohmann::ordered_json stats_fields();   // the reply's, without "ok"
    std::string files(const request& req);
    std::string merge(client_id client, const request& req);
    // The socket's merge and HTTP's (GET .../pcap, control/http_stream.h):
    // the same checks and refusals, into `output_fd` (closed here or by the
    // job). With `outcome` the merge is streamed: no socket client waits.
    // Returns the error reply, or an empty string once the merge runs.
    std::string merge_into(client_id client, const request& req, int output_fd, std::shared_ptr<merge_outcome> outcome);
    std::string remove(const request& req);
    // A socket client's watch, or (live) an HTTP client's (GET .../live).
    std::string watch(client_id client, const request& req, std::shared_ptr<live_stream> live = nullptr);
    // The HTTP API's calls (control/http_api.h): a request answered as the
    // socket answers it, with its status code; /metrics; /healthz.
    // Nothing: `later` will be called (a start).
    std::optional<http_answer> answer_http(const http_call& call, const later_answer& later);
    void join_fleet();
    void reanchor_clock();

    // Ends a running session: out of the classifier, files closed, record
    // saved, watchers told.
    // Returns an empty string, or why it could not (it then runs on).
    std::string finish(session_record& record, stop_reason why);
    void end_sessions_that_stopped();
    void reap_jobs(bool wait);
    void publish_telemetry_snapshots();
    // session.json written, or the record kept for retry_saves() (a full
    // disk, a descriptor limit, a planted link: a restart must not list a
    // session that ended as still running, so it is tried again).
    void save_record(const session_record& record);
    void retry_saves();

    session_totals counters_of(const session_record& record) const;
    nlohmann::ordered_json summary_of(const session_record& record) const;
    session_record* running_in(unsigned slot);
    std::string session_label(unsigned slot);   // its id, for per-session counters
    unsigned running_count() const;
    // The session a command names by id or by name: a name must be one
    // session's (running_first: or one running session's, for stop and
    // watch). Null, with error saying why, if not.
    session_record* lookup(const std::string& key, bool running_first, std::string& error);

    // What a running session's user should know and cannot see in its
    // counters: the ports' replays have ended, or nothing has matched a
    // while after it started (docs/control.md, "Notes").
    struct session_note {
        std::string_view kind;   // "bpf", "replay_ended", "nothing_matched", "nothing_arrived"
        std::string text;
    };
    std::vector<session_note> notes_of(const session_record& record) const;
    nlohmann::ordered_json notes_json(const session_record& record) const;
    // Sends each running session's new notes to its watchers, once.
    void send_new_notes();

    engine_options _options;
    pipeline* _p = nullptr;
    session_catalog _catalog;
    control_server _server;
    watch_fanout _watch;
    background_jobs _jobs;
    control_bridge _bridge;                        // HTTP threads -> this thread
    std::unique_ptr<http_api> _http;               // --http; null without
    std::unique_ptr<node_registration> _fleet;     // --fleet-etcd; null without
    std::unique_ptr<fleet_agent> _fleet_agent;     // ... and the fleet sessions it runs
    std::vector<std::shared_ptr<pending_start>> _pending_starts;
    std::array<uint64_t, max_sessions> _retry_after_ns{};   // after a failed stop
    std::set<std::string> _unsaved;                // ids whose session.json is behind
    uint64_t _next_save_retry = 0;                 // TSC
    std::array<uint64_t, max_sessions> _rx_at_start{};      // packets the ports had received when it started
    std::map<std::string, std::set<std::string_view>> _notes_sent;   // id -> kinds of note its watchers got
    uint64_t _next_notes_check = 0;                // TSC
    // The clock packets are stamped with, re-anchored to the system clock
    // every second (core/tsc_clock.h); created in run().
    std::unique_ptr<clock_discipline> _discipline;
    uint64_t _next_reanchor = 0;                   // TSC
    bool _offset_said = false;                     // a large offset logged (once until it is small again)
    bool _shutdown = false;
    uint64_t _started_ns = 0;
};

} // namespace linecap
