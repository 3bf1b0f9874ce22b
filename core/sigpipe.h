// Writes to a peer that has gone, made by libraries that do not pass
// MSG_NOSIGNAL: OpenSSL's SSL_write (under cpp-httplib's https:// client)
// uses write(2), so a peer that ends the connection (an etcd that refuses a
// client without a certificate, a node that stops mid-download) raises
// SIGPIPE, and a program that does not ignore it (linecapctl) dies of it,
// exit 141 and no message. The daemon ignores SIGPIPE for the whole
// process; linecapctl cannot, since `linecapctl ... | head` should end as
// every Unix tool does.
#pragma once

#include <cerrno>
#include <csignal>
#include <ctime>

#include <pthread.h>

namespace linecap {

// While alive, SIGPIPE raised by the calling thread stays blocked: the
// write fails with EPIPE, which the library reports as a write error. On
// destruction a SIGPIPE that became pending meanwhile is taken off (one
// that was pending before is left) and the thread's mask is restored; errno
// is kept. The same as libpq's pq_block_sigpipe/pq_reset_sigpipe. Scope it
// around one client call, on the thread that makes it.
class sigpipe_blocked {
public:
    sigpipe_blocked()
    {
        sigset_t pipe = sigpipe_set();
        pthread_sigmask(SIG_BLOCK, &pipe, &_previous_mask);
        sigset_t pending;
        sigpending(&pending);
        _was_pending = sigismember(&pending, SIGPIPE) == 1;
    }

    ~sigpipe_blocked()
    {
        const int saved_errno = errno;
        sigset_t pending;
        sigpending(&pending);
        if (!_was_pending && sigismember(&pending, SIGPIPE) == 1) {
            sigset_t pipe = sigpipe_set();
            const timespec now{};
            while (sigtimedwait(&pipe, nullptr, &now) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &_previous_mask, nullptr);
        errno = saved_errno;
    }

    sigpipe_blocked(const sigpipe_blocked&) = delete;
    sigpipe_blocked& operator=(const sigpipe_blocked&) = delete;

private:
    static sigset_t sigpipe_set()
    {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        return set;
    }

    sigset_t _previous_mask{};
    bool _was_pending = false;
};

} // namespace linecap
