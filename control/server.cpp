#include "control/server.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "control/protocol.h"
#include "core/log.h"

namespace linecap {

namespace {

using steady = std::chrono::steady_clock;

// How long accepting pauses after running out of descriptors: short enough
// that a client waiting in the backlog hardly notices once they free up.
constexpr int accept_retry_ms = 100;

double seconds_since(steady::time_point t)
{
    return std::chrono::duration<double>(steady::now() - t).count();
}

// Descriptors one recvmsg takes (merge passes one); the kernel closes any
// beyond them (MSG_CTRUNC).
constexpr size_t max_fds_per_read = 4;
// Descriptors a client may have waiting for their lines.
constexpr size_t max_pending_fds = 4;

// Reads at most this much from one client per poll, so one fast client
// cannot starve the others (or the daemon's other duties).
constexpr size_t read_quantum = 256 << 10;

std::string socket_error(const std::string& path, std::string_view what)
{
    return fmt::format("--control {}: {}: {}", path, what, std::strerror(errno));
}

bool fill_address(const std::string& path, sockaddr_un& addr)
{
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        return false;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return true;
}

} // namespace

struct control_server::client {
    int fd = -1;
    client_id id = 0;
    std::string in;
    std::string out;
    size_t out_sent = 0;          // bytes of `out` already sent
    bool skipping = false;        // inside an over-long line, up to its newline
    bool closing = false;         // close once `out` is sent
    bool eof = false;             // it will send nothing more
    bool awaiting = false;        // a reply is being prepared: later requests wait
    bool dead = false;            // close now
    bool streaming = false;
    steady::time_point partial_since{};
    steady::time_point last_request = steady::now();
    steady::time_point last_sent = steady::now();   // or when output started waiting
    uint64_t received = 0;        // bytes received so far: in[0] is byte received - in.size() of the stream
    // Descriptors passed with SCM_RIGHTS, each with the stream offset of the
    // first byte it came with: they belong to the line holding that byte.
    std::vector<std::pair<uint64_t, int>> fds;
    std::vector<int> line_fds;    // those of the line being handled

    ~client()
    {
        for (const auto& [offset, fd] : fds)
            ::close(fd);
        for (int fd : line_fds)
            ::close(fd);
    }

    size_t pending() const { return out.size() - out_sent; }
};

control_server::control_server() = default;

control_server::~control_server()
{
    close();
}

std::string control_server::listen(const std::string& path, const std::string& group, server_limits limits)
{
    _limits = limits;
    sockaddr_un addr;
    if (!fill_address(path, addr))
        return fmt::format("--control {}: a socket path must be 1 to {} bytes long", path, sizeof(addr.sun_path) - 1);

    gid_t gid = static_cast<gid_t>(-1);
    if (!group.empty()) {
        const struct group* g = getgrnam(group.c_str());
        if (g == nullptr)
            return fmt::format("--control-group {}: no such group", group);
        gid = g->gr_gid;
    }

    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fmt::format("--control {}: exists and is not a socket; linecap will not replace it", path);
        // A socket file: in use, or left behind by a linecap that died.
        const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const bool alive = probe >= 0 && connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
        if (probe >= 0)
            ::close(probe);
        if (alive)
            return fmt::format("--control {}: another process listens on this socket (another linecap?)", path);
        if (unlink(path.c_str()) != 0)
            return socket_error(path, "cannot remove the stale socket");
    } else if (errno != ENOENT) {
        return socket_error(path, "cannot look at the path");
    }

    _fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (_fd < 0)
        return socket_error(path, "cannot create a socket");
    if (bind(_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        std::string e = socket_error(path, "cannot bind");
        ::close(_fd);
        _fd = -1;
        return e;
    }
    _path = path;
    // Nobody can connect before listen(), so the mode is right before anyone
    // could use the socket.
    if (chmod(path.c_str(), 0660) != 0 || (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)) {
        std::string e = socket_error(path, "cannot set the socket's mode or group");
        close();
        return e;
    }
    if (::listen(_fd, 64) != 0) {
        std::string e = socket_error(path, "cannot listen");
        close();
        return e;
    }
    return {};
}

void control_server::close()
{
    for (auto& c : _clients)
        ::close(c->fd);
    _clients.clear();
    if (_fd >= 0) {
        ::close(_fd);
        _fd = -1;
    }
    if (!_path.empty()) {
        unlink(_path.c_str());
        _path.clear();
    }
}

control_server::client* control_server::find(client_id id)
{
    for (auto& c : _clients)
        if (c->id == id)
            return c.get();
    return nullptr;
}

const control_server::client* control_server::find(client_id id) const
{
    for (const auto& c : _clients)
        if (c->id == id)
            return c.get();
    return nullptr;
}

bool control_server::connected(client_id id) const
{
    const client* c = find(id);
    return c != nullptr && !c->dead;
}

void control_server::accept_clients()
{
    for (;;) {
        const int fd = accept4(_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            if (!_accept_failing)
                log_event(log_module::control, log_level::warning, "{}: cannot accept a client: {}; trying again every {} ms", _path,
                          strerror(errno), accept_retry_ms);
            _accept_failing = true;
            _accept_paused_until = steady::now() + std::chrono::milliseconds(accept_retry_ms);
            return;
        }
        if (fd < 0)
            return;   // EAGAIN, or a client that went away before we took it
        if (_accept_failing)
            log_event(log_module::control, log_level::info, "{}: accepting clients again", _path);
        _accept_failing = false;
        if (_clients.size() >= _limits.max_clients) {
            const std::string busy = error_reply(fmt::format(
                                         "too many clients ({}); try again when one has disconnected",
                                         _limits.max_clients)) + "\n";
            (void)send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(fd);
            continue;
        }
        auto c = std::make_unique<client>();
        c->fd = fd;
        c->id = _next_id++;
        _clients.push_back(std::move(c));
    }
}

void control_server::process_lines(client& c, const std::function<void(client_id, std::string_view)>& on_request)
{
    size_t start = 0;
    const uint64_t base = c.received - c.in.size();   // stream offset of c.in[0]
    for (size_t nl; !c.awaiting && !c.dead && !c.closing && c.pending() <= _limits.paused_input_output &&
                    (nl = c.in.find('\n', start)) != std::string::npos;
         start = nl + 1) {
        std::string_view line(c.in.data() + start, nl - start);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        drop_fds_before(c, base + start);   // sent with no line, or with a skipped one
        while (!c.fds.empty() && c.fds.front().first <= base + nl) {
            c.line_fds.push_back(c.fds.front().second);
            c.fds.erase(c.fds.begin());
        }
        if (c.skipping) {
            c.skipping = false;
        } else if (line.size() > max_request_bytes) {   // arrived whole, before the check below saw it
            queue(c.id, error_reply(fmt::format("request of {} bytes refused: the limit is {} bytes per line",
                                                line.size(), max_request_bytes)));
        } else if (!line.empty()) {
            c.last_request = steady::now();
            on_request(c.id, line);
        }
        for (int fd : c.line_fds)
            ::close(fd);   // not taken by the handler
        c.line_fds.clear();
    }
    c.in.erase(0, start);
    if (!c.skipping && c.in.size() > max_request_bytes && c.in.find('\n') == std::string::npos) {
        queue(c.id, error_reply(fmt::format("request longer than {} bytes refused; skipping it up to its newline",
                                            max_request_bytes)));
        c.skipping = true;
    }
    if (c.skipping) {
        c.in.clear();
        drop_fds_before(c, c.received);
    }
    // Half a line waiting: since when (a complete line restarts the clock;
    // whole lines held back until the client reads its replies are not half).
    if (c.in.empty() || c.awaiting || c.in.find('\n') != std::string::npos)
        c.partial_since = {};
    else if (start != 0 || c.partial_since == steady::time_point{})
        c.partial_since = steady::now();
}

void control_server::read_from(client& c, const std::function<void(client_id, std::string_view)>& on_request)
{
    char buf[16384];
    size_t taken = 0;
    while (taken < read_quantum && !c.eof && !c.dead) {
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_read)];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(c.fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n > 0) {
            for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                    continue;
                const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < count; i++) {
                    int fd;
                    std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                    if (c.fds.size() < max_pending_fds)
                        c.fds.emplace_back(c.received, fd);
                    else
                        ::close(fd);   // a request needs one: more is a client hoarding our descriptors
                }
            }
            c.received += static_cast<uint64_t>(n);
        }
        if (n == 0) {
            c.eof = true;   // it has said all it will: answer, then close
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c.dead = true;
            break;
        }
        taken += static_cast<size_t>(n);
        c.in.append(buf, static_cast<size_t>(n));
        process_lines(c, on_request);
        if (c.awaiting || c.pending() > _limits.paused_input_output)
            break;   // the rest waits in the kernel's buffer
    }
}

void control_server::write_to(client& c)
{
    while (c.pending() > 0) {
        const ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c.dead = true;   // EPIPE, ECONNRESET: it went away mid-reply
            break;
        }
        c.out_sent += static_cast<size_t>(n);
    }
    if (c.out_sent > 0)
        c.last_sent = steady::now();
    if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
    } else if (c.out_sent > (1 << 20)) {
        c.out.erase(0, c.out_sent);
        c.out_sent = 0;
    }
}

void control_server::poll(int timeout_ms, const std::function<void(client_id, std::string_view)>& on_request,
                          const std::function<void(client_id)>& on_gone)
{
    if (_fd < 0)
        return;
    std::vector<pollfd> fds;
    fds.reserve(_clients.size() + 2);
    fds.push_back({_fd, static_cast<short>(steady::now() < _accept_paused_until ? 0 : POLLIN), 0});
    // No POLLIN after EOF (it would stay readable and spin us), while a
    // client awaits a reply (its next requests wait their turn), nor while
    // it has not read what it already asked for. A client that hung up with
    // nothing to send it (awaiting a reply: a merge, a start waiting on
    // DNS) is left out: poll reports a hang-up whatever is asked, and would
    // return at once until the reply came.
    for (const auto& c : _clients)
        fds.push_back({c->eof && c->pending() == 0 ? -1 : c->fd,
                       static_cast<short>((c->eof || c->awaiting || c->pending() > _limits.paused_input_output ? 0 : POLLIN) |
                                          (c->pending() > 0 ? POLLOUT : 0)),
                       0});
    // Last, so fds[i+1] stays _clients[i].
    if (_wake_fd >= 0)
        fds.push_back({_wake_fd, POLLIN, 0});
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);

    // Clients are only added by accept_clients(), after this loop: fds[i+1]
    // is _clients[i].
    if (ready > 0) {
        for (size_t i = 0; i < _clients.size(); i++) {
            client& c = *_clients[i];
            const short events = fds[i + 1].revents;
            if (events & (POLLIN | POLLHUP | POLLERR))
                read_from(c, on_request);
            if (events & POLLNVAL)
                c.dead = true;
        }
        if (fds[0].revents & POLLIN)
            accept_clients();
    }

    for (auto& c : _clients) {
        // Lines left waiting while a reply was prepared, or while the client
        // caught up with its replies.
        if (!c->awaiting && !c->dead && c->pending() <= _limits.paused_input_output &&
            c->in.find('\n') != std::string::npos)
            process_lines(*c, on_request);
        if (c->pending() > 0 && !c->dead)
            write_to(*c);
        if (c->pending() > 0 && seconds_since(c->last_sent) > _limits.output_stall_timeout_s)
            c->dead = true;   // reads nothing we send
        if (c->partial_since != steady::time_point{} && seconds_since(c->partial_since) > _limits.partial_line_timeout_s) {
            queue(c->id, error_reply(fmt::format("half a request for {:.0f} s: closing the connection",
                                                 _limits.partial_line_timeout_s)));
            write_to(*c);
            c->dead = true;
        }
        if (!c->streaming && c->pending() == 0 && seconds_since(c->last_request) > _limits.idle_timeout_s)
            c->dead = true;
        if ((c->closing || (c->eof && c->in.find('\n') == std::string::npos)) && c->pending() == 0 && !c->awaiting)
            c->dead = true;
    }
    for (auto it = _clients.begin(); it != _clients.end();) {
        if ((*it)->dead) {
            const client_id id = (*it)->id;
            ::close((*it)->fd);
            it = _clients.erase(it);
            if (on_gone)
                on_gone(id);
        } else {
            ++it;
        }
    }
}

void control_server::queue(client_id id, std::string_view line)
{
    client* c = find(id);
    if (c == nullptr || c->dead)
        return;
    if (c->pending() + line.size() > _limits.max_pending_output) {
        c->dead = true;   // it does not read what it asked for
        return;
    }
    if (c->pending() == 0)
        c->last_sent = steady::now();   // the stall clock starts with the first unsent byte
    c->out.append(line);
    c->out.push_back('\n');
}

void control_server::drop_fds_before(client& c, uint64_t offset)
{
    while (!c.fds.empty() && c.fds.front().first < offset) {
        ::close(c.fds.front().second);
        c.fds.erase(c.fds.begin());
    }
}

int control_server::take_passed_fd(client_id id)
{
    client* c = find(id);
    if (c == nullptr || c->line_fds.empty())
        return -1;
    const int fd = c->line_fds.front();
    c->line_fds.erase(c->line_fds.begin());
    return fd;
}

void control_server::set_awaiting(client_id id, bool awaiting)
{
    if (client* c = find(id))
        c->awaiting = awaiting;
}

bool control_server::queue_droppable(client_id id, std::string_view line)
{
    client* c = find(id);
    if (c == nullptr || c->dead || c->pending() > _limits.droppable_output)
        return false;
    queue(id, line);
    return true;
}

void control_server::close_after_reply(client_id id)
{
    if (client* c = find(id))
        c->closing = true;
}

void control_server::set_streaming(client_id id, bool streaming)
{
    if (client* c = find(id))
        c->streaming = streaming;
}

void control_server::flush(int timeout_ms)
{
    const auto give_up = steady::now() + std::chrono::milliseconds(timeout_ms);
    while (steady::now() < give_up) {
        std::vector<pollfd> fds;
        std::vector<client*> who;
        for (auto& c : _clients) {
            if (c->pending() > 0 && !c->dead) {
                fds.push_back({c->fd, POLLOUT, 0});
                who.push_back(c.get());
            }
        }
        if (fds.empty())
            return;
        if (::poll(fds.data(), fds.size(), 20) > 0)
            for (size_t i = 0; i < fds.size(); i++)
                if (fds[i].revents != 0)
                    write_to(*who[i]);
    }
}

} // namespace linecap
