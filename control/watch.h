// `watch`: clients that follow a running session's packets, one line each
// (control/describe.h). Writers sample the packets of watched sessions into
// a ring each (writers/writer.h, watch_sample); the control loop drains the
// rings and sends each line to the clients watching that session, as
// droppable lines (a slow client loses lines, never blocks the loop).
#pragma once

#include <map>
#include <string>

#include "control/catalog.h"
#include "control/http_live.h"
#include "control/server.h"
#include "engine/pipeline.h"

namespace linecap {

class watch_fanout {
public:
    // `client` follows session `id` (running); the writers start sampling it.
    void add(pipeline& p, const session_catalog& catalog, client_id client, const std::string& id);

    // An HTTP client follows session `id` (running) through `stream`.
    // Returns an empty string, or why not: max_live_per_session streams
    // follow that session already, or max_live_streams are open.
    std::string add_live(pipeline& p, const session_catalog& catalog, std::shared_ptr<live_stream> stream,
                         const std::string& id);

    // A client that went away. Returns whether it was watching.
    bool remove_client(pipeline& p, const session_catalog& catalog, client_id client);

    // The session `id` has ended: its watchers get the end event and are
    // closed once it is sent.
    void end_session(pipeline& p, const session_catalog& catalog, control_server& server, const std::string& id,
                     const std::string& reason);

    // Tells the clients watching session `id` something its packets do not
    // show (control_daemon::notes_of).
    void note(control_server& server, const std::string& id, const std::string& text);

    // Sends the samples the writers took since the last call.
    void pump(pipeline& p, const session_catalog& catalog, control_server& server);

private:
    // Tells the writers which slots are watched.
    void update(pipeline& p, const session_catalog& catalog);

    // Forgets the live streams whose HTTP client has gone.
    void drop_abandoned(pipeline& p, const session_catalog& catalog);

    std::map<client_id, std::string> _watchers;   // client -> session id
    struct live_watcher {
        std::shared_ptr<live_stream> stream;
        std::string id;   // the session followed
    };
    std::vector<live_watcher> _live;
};

} // namespace linecap
