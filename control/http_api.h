// The daemon's HTTP API (--http ADDR:PORT, docs/http.md): linecapctl's
// operations as JSON routes under /api/v1, file downloads, /metrics and
// /healthz, served by cpp-httplib on threads of its own, started by the
// control thread (so on the control thread's CPUs: never a worker's lcore;
// on -l 0-1, where no CPU is free, that is the main lcore's CPU, beside
// writer 0).
//
//   HTTP client ──▶ http_api thread ──(request)──▶ control_bridge ──▶ control thread
//                   (parse_request,   ◀─(status, JSON)──  queue + eventfd     (the only one
//                    file downloads)                      polled with the      touching
//                                                         control socket)     sessions)
//
// A route becomes the same `request` the control socket parses
// (control/protocol.h), checked by the same code, and the control thread
// answers it with the same reply: what the socket refuses, the API refuses
// with the same message. Only file downloads are served on the HTTP thread
// itself, from a folder and a file name the control thread listed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "control/fleet_merge.h"
#include "control/http_tls.h"
#include "control/http_token.h"
#include "control/protocol.h"
#include "fleet/etcd.h"

namespace linecap {

// How a merge streamed over HTTP (GET .../pcap) ended: told by the merge's
// thread before it closes the pipe, read by the HTTP thread at the pipe's end.
struct merge_outcome {
    std::mutex mutex;
    bool done = false;
    std::string error;   // empty: merged whole
    bool refused = false;   // the error is the request's fault (a query's expression): 400
};
class live_stream;   // control/http_live.h

// What an HTTP thread asks the control thread.
struct http_call {
    enum class kind {
        request,   // `req`, a socket command parsed by parse_request
        metrics,   // /metrics: the counters in Prometheus' text format
        health,    // /healthz: the control loop answers
        socket,    // `req` answered as the socket answers it (the body is its reply line): the fleet agent
    };
    kind what = kind::request;
    request req;
    // A merge (GET .../pcap): the write end of the pipe the merge writes
    // into, the control thread's to close once it has taken the call (the
    // caller's if the call was not taken); and where its outcome is told.
    int output_fd = -1;
    std::shared_ptr<merge_outcome> outcome;
    // A `watch` (GET /api/v1/sessions/{id}/live): the stream its lines go to.
    std::shared_ptr<live_stream> live;
};

// The control thread's answer: the status code and the body.
struct http_answer {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
};

// How the control thread gives the answer of a call it could not answer at
// once (a start, whose filter is compiled off the control loop): called
// once, on the control thread.
using later_answer = std::function<void(http_answer)>;

// The hand-over between HTTP threads and the control thread: a queue, and an
// eventfd that is readable while calls wait (the control loop polls it
// beside its socket).
class control_bridge {
public:
    control_bridge();
    ~control_bridge();
    control_bridge(const control_bridge&) = delete;
    control_bridge& operator=(const control_bridge&) = delete;

    // The eventfd, for the control loop's poll(); -1 if it could not be made
    // (the loop then serves calls at its 20 ms tick).
    int fd() const { return _fd; }

    // HTTP thread: hands `call` over and waits up to `timeout` for the
    // control thread to take it. Empty if it was not taken by then (it is
    // then never carried out) or if the bridge is closed before it was
    // taken; once taken, the answer is always waited for, however long it
    // takes, since the call is being carried out (a 503 for a start that
    // did happen would make the client start it twice).
    std::optional<http_answer> call(http_call call, std::chrono::milliseconds timeout);

    // A call handed over, as the bridge holds it.
    struct pending {
        http_call call;
        std::optional<http_answer> answer;
        bool taken = false;      // serve() has it: the caller waits for the answer
        bool given_up = false;   // the caller left before it was taken: never served
    };
    // The same, but a call taken waits at most `answer_timeout` for its
    // answer: if that has not come by then, empty, with `late` holding the
    // call, which is carried out all the same, for answer_of(); else `late`
    // is null. For the fleet agent's starts: a host name in a filter waits
    // on DNS as long as the resolver takes, and the agent has other
    // sessions to look after meanwhile.
    std::optional<http_answer> call(http_call call, std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds answer_timeout, std::shared_ptr<pending>& late);
    // The answer of a call that call() left in `late`, once it has come;
    // else empty. (A call taken is always answered: a start, at shutdown, by
    // a refusal.)
    std::optional<http_answer> answer_of(const std::shared_ptr<pending>& late);

    // Control thread: answers the calls waiting when it is called, and no
    // more: those handed over meanwhile wait for the next call (the eventfd
    // is readable again), so HTTP clients cannot keep the control loop from
    // its socket and its sessions. `answer` returns the answer, or nothing
    // when it has kept the later_answer to give it later: its caller waits
    // until then, however long (the call is being carried out).
    void serve(const std::function<std::optional<http_answer>(const http_call&, const later_answer&)>& answer);
    // The same, every call answered at once.
    void serve(const std::function<http_answer(const http_call&)>& answer);

    // No call is taken from now on: those waiting and not taken, and later
    // ones, get an empty answer at once. A call being answered (by another
    // thread than the caller of close()) still gets its answer.
    void close();

private:
    std::mutex _mutex;
    std::condition_variable _answered;
    std::deque<std::shared_ptr<pending>> _queue;
    bool _closed = false;
    int _fd = -1;
};

// The fleet agent's requests (fleet/agent.h, daemon_call) over a bridge:
// each a socket command's JSON, answered as the socket answers it, by the
// control thread. Waits up to 5 s for the control thread to take a request
// ("unavailable" if it did not), then for its answer, however long, but
// only `start_wait` for a fleet session's start's: one whose answer is later
// (its filter compiling: a host name waits on DNS, as long as the
// resolver takes) gives "in_progress", and the agent goes on with its
// other sessions; the same start (the same fleet id) asked again gives
// that start's answer once it has come, and starts nothing more.
// Called by one thread (the agent's).
class agent_calls {
public:
    agent_calls(control_bridge& bridge, std::chrono::milliseconds start_wait)
        : _bridge(bridge), _start_wait(start_wait)
    {
    }
    nlohmann::json operator()(const nlohmann::json& request);

private:
    control_bridge& _bridge;
    std::chrono::milliseconds _start_wait;
    std::map<std::string, std::shared_ptr<control_bridge::pending>> _starting;   // late starts, by fleet id
};

// --http's ADDR:PORT: an IPv4 address (127.0.0.1:8080) or an IPv6 address in
// brackets ([::1]:8080), and a port 1 to 65535. Sets host (without brackets)
// and port; returns an empty string or what is wrong.
std::string parse_http_address(std::string_view text, std::string& host, uint16_t& port);

// 127.0.0.0/8, ::1, or ::ffff:127.x.y.z: only this machine reaches it.
bool is_loopback_address(const std::string& host);


// Whether `given` is `expected`, in a time that depends on `expected`'s
// length only (no early exit at the first differing byte).
bool same_token(std::string_view given, std::string_view expected);

// What the control thread knew, as it carried out a request it refused, of
// the session the request named and of itself.
struct refusal_facts {
    bool found = true;           // the session named exists (or none was named)
    bool running = false;        // it is running
    bool merging = false;        // it is being merged
    bool at_limit = false;       // --max-sessions sessions are running
    bool shutting_down = false;  // the daemon is shutting down
};

// HTTP's status for a socket reply to `cmd` that was refused: 404 for an
// unknown session; 409 for one in the wrong state, or a start beyond
// --max-sessions; 503 for a stop not carried out yet, a start while the
// daemon shuts down, or a watch (/live) of a running session beyond the
// live streams' limits; 500 for a delete of an ended session that failed (an
// I/O error); 400 otherwise (the request itself is wrong).
int refusal_status(command cmd, const refusal_facts& facts);

// The HTTP server. Limits (docs/http.md): `threads` threads; request
// bodies up to max_request_bytes (413 past it); each read and write of a
// connection times out; a call to the control thread waits at most
// control_timeout to be taken.
struct http_settings {
    std::string host;
    uint16_t port = 0;   // 0: any free port (tests; --http refuses 0), see http_api::port()
    std::string token;   // empty: no Authorization asked (loopback only)
    std::string token_file;   // where it came from, for a warning about its mode
    // HTTPS with these files, mutual TLS with a client CA (control/http_tls.h);
    // no certificate: plain HTTP.
    tls_files tls;
    // cpp-httplib gives each open connection a thread for as long as it is
    // open (an idle one 2 s, a stalled one 5 s per read, a download or a
    // live stream as long as it lasts): 96, so that 32 downloads and 32
    // live streams (max_live_streams) at once leave a third for everyone
    // else. They sleep in poll() and cost their stacks' touched pages only.
    size_t threads = 96;
    // Downloads under way at once; one more is 503 with Retry-After. Half
    // the threads, so downloads never take them all.
    size_t max_downloads = 32;
    // Merges streamed at once (GET .../pcap): each reads every file of a
    // session and takes a CPU while its client keeps up; the machine's
    // spare CPUs are few (the workers poll theirs).
    size_t max_merges = 4;
    // Fleet merges made by this node at once (GET /api/v1/fleet/.../pcap):
    // each downloads every node's part (this node's own through one of the
    // max_merges above) and spools them on disk.
    size_t max_fleet_merges = 2;
    // How long one read or one write of a connection may wait: a client
    // that sends or takes nothing for this long is dropped.
    std::chrono::seconds io_timeout{5};
    // How long a connection may take to send a whole request line and its
    // headers, from its opening or from the reply before: one that
    // trickles them (a byte a second is within io_timeout) is closed then,
    // since it holds one of the threads all the while.
    std::chrono::seconds request_deadline{10};
    // The fleet this node is in (--fleet-etcd), for the /api/v1/fleet
    // routes; unset: not in a fleet, and they answer 404.
    std::optional<etcd_settings> fleet_etcd;
    // How a fleet merge from this node reaches the nodes' APIs (its own
    // among them): token, CA, client certificate; and where it keeps their
    // parts while it merges (spool_dir).
    fleet_merge_settings fleet_peers;
};

class http_api {
public:
    http_api(http_settings settings, control_bridge& bridge);
    ~http_api();   // stop()
    http_api(const http_api&) = delete;
    http_api& operator=(const http_api&) = delete;

    // Binds the address (before DPDK starts: a port in use costs one line).
    // Returns an empty string or the error.
    std::string bind();
    // The port bound (the one settings gave, or the one picked for 0).
    uint16_t port() const;
    // Serves on a thread of its own (and cpp-httplib's pool), started from
    // the caller's thread: call it on the control thread.
    void start();
    // Stops accepting, ends every connection (shutdown(2): a client that
    // trickles bytes or reads nothing cannot hold it up; a download ends
    // short, and the client resumes it with a Range), joins the threads.
    // Returns within a few milliseconds of the last handler's return: close
    // the bridge first, so that none waits for the control thread.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> _impl;
};

} // namespace linecap
