// A node's part in fleet sessions (docs/fleet.md): a thread that follows
// /linecap/sessions/ in etcd and runs, on this node, each fleet session that
// targets it, and writes this node's status of each under the node's lease.
//
//   etcd /linecap/sessions/ ──list, then watch from its revision──▶ watcher thread ──queue──▶ agent thread
//   agent ──daemon_call({"cmd": "start", "spec": ..., "fleet": ID})──▶ control thread (the socket's requests)
//   agent ──each second: {"cmd": "show"} of each, put /linecap/status/ID/NODE (node's lease)──▶ etcd
//
// Two threads, so that a watch stays open as long as nothing changes (one
// request to etcd per change, not per tick) while the agent keeps its
// tick; a change reaches the agent at once.
//
// What runs here is a local session like any other, tagged with the fleet
// session's id in its session.json: a daemon restarted after a crash finds
// it there and never starts it twice. Losing etcd stops nothing: the
// sessions run on, and the statuses catch up when etcd answers.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "fleet/etcd.h"
#include "fleet/fleet_session.h"
#include "fleet/node.h"

namespace linecap {

// One request of the control protocol (docs/control.md), answered by the
// daemon's control thread; its reply as JSON: {"ok": false, "error": ...}
// when refused, with "unavailable": true when the control thread did not
// take the request (busy, or shutting down): it was not carried out; with
// "in_progress": true for a start taken whose answer is late (its filter
// compiling): the same start, asked again, gives that answer once it has
// come.
using daemon_call = std::function<nlohmann::json(const nlohmann::json& request)>;

struct agent_settings {
    etcd_settings etcd;
    std::chrono::milliseconds report{1000};      // statuses written at most this often
    std::chrono::milliseconds retry{1000};       // while etcd cannot be reached
    std::chrono::seconds quiet_watch{10};        // a watch with no news is made again after it
};

class fleet_agent {
public:
    // `node`: this node's name; `started_ns`: when it joined (a fleet session
    // created before that starts here only if it allows late joiners);
    // `registration`: whose lease the statuses are under.
    fleet_agent(agent_settings settings, std::string node, uint64_t started_ns, const node_registration& registration,
                daemon_call call);
    ~fleet_agent();   // stop()

    void start();
    void stop();

private:
    struct tracked {
        fleet_session session;
        std::string local_id;        // this node's session of it; empty: none (yet)
        std::string start_error;     // why the last start was refused (tried again each tick)
        bool late = false;           // this node joined after it began, and it takes no late joiners
        std::string written;         // the status last put (its JSON), to skip unchanged ones
        int64_t written_lease = 0;   // ... and the lease it was put under
        bool ended = false;          // its session here has ended (its status no longer changes)
        bool member_written = false; // its member key (fleet_member_key) says this node ran it
        bool gone = false;           // its key was deleted, or it no longer targets this node
        bool starting = false;       // its start was taken and not yet answered: asked again each tick
        nlohmann::json start_request;   // the start last sent: sent again, unchanged, while `starting`
    };

    // What the watcher hands the agent: a change, or a listing (the keys
    // present at its revision; their values follow as changes).
    struct news {
        enum class kind { put, deleted, listed } what = kind::put;
        std::string key;
        std::string value;
        std::vector<std::string> present;
    };

    void watch();
    bool watch_step(int64_t& revision, bool& listed);
    void run();
    void push(news n);
    void on_listing(const std::vector<std::string>& present);
    bool learn_local();
    void on_session(const std::string& key, const std::string& value, bool deleted);
    void reconcile(tracked& t);
    void report();
    bool write_status(const std::string& id, tracked& t, int64_t lease);
    std::optional<nlohmann::json> status_of(tracked& t);
    void forget_gone();
    void say(bool failed, const std::string& what);
    bool wait(std::chrono::milliseconds d);

    agent_settings _settings;
    std::string _node;
    uint64_t _started_ns;
    const node_registration& _registration;
    daemon_call _call;
    etcd_client _watcher;   // the watcher thread's (and interrupt())
    etcd_client _etcd;      // the agent thread's
    // The agent thread's own:
    std::map<std::string, tracked> _sessions;   // by fleet id: those that target this node
    bool _local_known = false;   // this node's tagged sessions are in _sessions (nothing starts before)
    // The watcher thread's own:
    bool _failing = false;
    std::thread _agent_thread, _watcher_thread;
    std::mutex _mutex;
    std::condition_variable _wake;
    std::vector<news> _queue;   // under _mutex
    bool _stopping = false;     // under _mutex
};

} // namespace linecap
