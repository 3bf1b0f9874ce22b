// The session table of a pipeline: which slot a new session takes, and when
// a session's duration limit is due (the control thread's to enforce).
#include <catch2/catch.hpp>

#include "engine/sessions.h"

using namespace linecap;

TEST_CASE("session table: the lowest free slot below the limit, or none")
{
    pipeline p;
    CHECK(free_session_slot(p, 8) == 0);
    p.sessions[0] = std::make_unique<session>();
    p.sessions[2] = std::make_unique<session>();
    CHECK(free_session_slot(p, 8) == 1);
    p.sessions[1] = std::make_unique<session>();
    CHECK(free_session_slot(p, 8) == 3);
    CHECK(free_session_slot(p, 3) == -1);            // --max-sessions 3: all taken
    CHECK(free_session_slot(p, 1000) == 3);           // never past max_sessions
    for (unsigned slot = 0; slot < max_sessions; slot++)
        p.sessions[slot] = std::make_unique<session>();
    CHECK(free_session_slot(p, 1000) == -1);
}

TEST_CASE("session table: a duration limit is due once its seconds have passed, never before the start")
{
    constexpr uint64_t s = 1000000000;
    pipeline p;
    CHECK(due_limit(p, 0, 5 * s) == stop_reason::none);   // a free slot
    p.sessions[0] = std::make_unique<session>();
    session& one = *p.sessions[0];
    one.start_ns = 100 * s;
    CHECK(due_limit(p, 0, 1000 * s) == stop_reason::none);   // no limit
    one.spec.limits.seconds = 2.5;
    CHECK(due_limit(p, 0, 100 * s) == stop_reason::none);
    CHECK(due_limit(p, 0, 102 * s + s / 2 - 1) == stop_reason::none);
    CHECK(due_limit(p, 0, 102 * s + s / 2) == stop_reason::duration);
    CHECK(due_limit(p, 0, 99 * s) == stop_reason::none);     // a clock read before the start
}
