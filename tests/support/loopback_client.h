// A raw TCP client of a server on 127.0.0.1, for the HTTP API's unit tests:
// requests written byte for byte (including malformed ones) and replies read
// as the server sends them, with deadlines.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace linecap::test {

// A connected socket to 127.0.0.1:`port` (a Catch2 failure if it cannot
// connect); `receive_buffer` bytes of SO_RCVBUF if not 0 (a client that
// holds little). The caller closes it.
int connect_to(uint16_t port, int receive_buffer = 0);

// Sends all of `text`, or as much as the server takes before it ends the
// connection (what it said is read next). No SIGPIPE.
void send_all(int s, std::string_view text);

// What the server sends until `until` is in it (empty: until it closes the
// connection), or until `wait` has passed.
std::string read_until(int s, std::string_view until, std::chrono::milliseconds wait);

} // namespace linecap::test
