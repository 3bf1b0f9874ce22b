#include "tests/support/loopback_client.h"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace linecap::test {

int connect_to(uint16_t port, int receive_buffer)
{
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    if (receive_buffer != 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    return s;
}

void send_all(int s, std::string_view text)
{
    while (!text.empty()) {
        const ssize_t n = ::send(s, text.data(), text.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text.remove_prefix(static_cast<size_t>(n));
    }
}

std::string read_until(int s, std::string_view until, std::chrono::milliseconds wait)
{
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    char buffer[65536];
    while (until.empty() || out.find(until) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{s, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        const ssize_t n = recv(s, buffer, sizeof buffer, 0);
        if (n <= 0)
            break;
        out.append(buffer, static_cast<size_t>(n));
    }
    return out;
}

} // namespace linecap::test
