#include "core/sigpipe.h"

#include <cerrno>
#include <csignal>

#include <catch2/catch.hpp>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

bool sigpipe_pending()
{
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
}

bool sigpipe_blocked_now()
{
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, nullptr, &mask);
    return sigismember(&mask, SIGPIPE) == 1;
}

} // namespace

TEST_CASE("a write to a peer gone, under sigpipe_blocked, fails with EPIPE and leaves no signal behind")
{
    // SIGPIPE's default action (the runner does not ignore it): without the
    // guard the write below would end the test program.
    const auto previous = std::signal(SIGPIPE, SIG_DFL);
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    close(fds[1]);
    REQUIRE_FALSE(sigpipe_blocked_now());
    {
        const linecap::sigpipe_blocked guard;
        CHECK(sigpipe_blocked_now());
        errno = 0;
        CHECK(write(fds[0], "x", 1) == -1);
        CHECK(errno == EPIPE);
        CHECK(sigpipe_pending());
    }
    CHECK(errno == EPIPE);   // kept through the guard's end
    CHECK_FALSE(sigpipe_pending());
    CHECK_FALSE(sigpipe_blocked_now());
    close(fds[0]);
    std::signal(SIGPIPE, previous);
}

TEST_CASE("sigpipe_blocked leaves a SIGPIPE that was pending before it, and a mask that blocked it")
{
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t before;
    REQUIRE(pthread_sigmask(SIG_BLOCK, &pipe, &before) == 0);
    REQUIRE(pthread_kill(pthread_self(), SIGPIPE) == 0);
    REQUIRE(sigpipe_pending());
    {
        const linecap::sigpipe_blocked guard;
    }
    CHECK(sigpipe_pending());
    CHECK(sigpipe_blocked_now());
    const timespec now{};
    CHECK(sigtimedwait(&pipe, nullptr, &now) == SIGPIPE);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
}
