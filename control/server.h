// The control socket's server: a Unix stream socket, non-blocking, polled by
// the daemon's control thread between its other duties.
//
// Every client has its own input and output buffers, so a client that sends
// half a line and stalls, or never reads its replies, or goes away mid-reply,
// costs only its own buffers: nobody else waits for it, and the data path
// never sees it. Limits (docs/control.md):
//   - a request line over max_request_bytes is refused and skipped;
//   - a client holding half a line for partial_line_timeout_s is closed;
//   - a client with more than paused_input_output bytes of replies unread
//     is not read from until it catches up: a client pipelining requests
//     faster than it reads is slowed down by its own socket, not closed;
//   - a client whose unread replies still pass max_pending_output (one huge
//     reply), or that reads none of them for output_stall_timeout_s, is
//     closed (watch streams shed lines before that, see queue_droppable());
//   - at most max_clients at once; more are told so and closed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace linecap {

struct server_limits {
    unsigned max_clients = 64;
    double partial_line_timeout_s = 10;
    double idle_timeout_s = 600;                // no request, no watch: closed
    double output_stall_timeout_s = 30;         // replies waiting, none read: closed
    size_t max_pending_output = 8 << 20;
    size_t paused_input_output = 1 << 20;       // stop reading requests above this
    size_t droppable_output = 256 << 10;        // watch lines are shed above this
};

using client_id = uint64_t;

class control_server {
public:
    control_server();
    ~control_server();
    control_server(const control_server&) = delete;
    control_server& operator=(const control_server&) = delete;

    // Creates the socket at `path`, mode 0660, owned by `group` if given.
    // Refuses to replace anything but a stale socket (one nobody listens on).
    // Returns an empty string or the error.
    std::string listen(const std::string& path, const std::string& group, server_limits limits = {});

    // Waits up to `timeout_ms` for clients, reads and writes what is ready,
    // and calls `on_request` once per complete line received. `on_gone` is
    // called for every client that is closed (by it or by us).
    void poll(int timeout_ms, const std::function<void(client_id, std::string_view line)>& on_request,
              const std::function<void(client_id)>& on_gone);

    // A descriptor whose readability ends poll()'s wait too (the HTTP API's
    // eventfd, control/http_api.h); reading it is the caller's. -1: none.
    void wake_on(int fd) { _wake_fd = fd; }

    // While `on_request` handles a line: a descriptor the client passed with
    // it (SCM_RIGHTS; merge's output file), now the caller's to close; -1 if
    // none. Descriptors a handler does not take are closed after it returns.
    int take_passed_fd(client_id client);

    // Queues a reply line (the newline is added). Never blocks.
    void queue(client_id client, std::string_view line);
    // Queues a line that may be shed if the client is slow to read (watch
    // output). Returns false if it was shed.
    bool queue_droppable(client_id client, std::string_view line);
    // Closes the client once what is queued for it has been sent.
    void close_after_reply(client_id client);
    // While a client awaits a reply prepared elsewhere (a merge), its later
    // requests wait, so replies stay in order, and it is not closed.
    void set_awaiting(client_id client, bool awaiting);
    // A watching client is never closed for being idle.
    void set_streaming(client_id client, bool streaming);
    bool connected(client_id client) const;
    size_t clients() const { return _clients.size(); }

    // Sends what is queued, for up to `timeout_ms` (used on the way out).
    void flush(int timeout_ms);
    // Closes everything and removes the socket file. Done by the destructor too.
    void close();

private:
    struct client;
    void accept_clients();
    void read_from(client& c, const std::function<void(client_id, std::string_view)>& on_request);
    void process_lines(client& c, const std::function<void(client_id, std::string_view)>& on_request);
    void write_to(client& c);
    void drop_fds_before(client& c, uint64_t offset);
    client* find(client_id id);
    const client* find(client_id id) const;

    int _fd = -1;
    int _wake_fd = -1;
    std::string _path;
    server_limits _limits;
    client_id _next_id = 1;
    std::vector<std::unique_ptr<client>> _clients;
    // Out of file descriptors (EMFILE, ENFILE): new clients wait in the
    // listen backlog until then, instead of the socket polling readable and
    // spinning the control loop.
    std::chrono::steady_clock::time_point _accept_paused_until{};
    bool _accept_failing = false;   // warned once per episode
};

} // namespace linecap
