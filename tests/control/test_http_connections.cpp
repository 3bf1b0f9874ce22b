// control/http_connections: the server's accepted sockets found among the
// process's descriptors, on real loopback sockets.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <set>
#include <sys/socket.h>
#include <unistd.h>

#include "control/http_connections.h"
#include "tests/support/loopback_client.h"

using namespace linecap;

namespace {

// A TCP listener on 127.0.0.1, an ephemeral port.
int listen_on_loopback(uint16_t& port)
{
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(s, 8) == 0);
    socklen_t size = sizeof a;
    REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &size) == 0);
    port = ntohs(a.sin_port);
    return s;
}

std::string local_name(int fd)
{
    sockaddr_in a{};
    socklen_t size = sizeof a;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size) == 0);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return peer_name(host, ntohs(a.sin_port));
}

} // namespace

TEST_CASE("http_connections: the accepted sockets, and only those, are the server's connections")
{
    uint16_t port = 0;
    const int listener = listen_on_loopback(port);
    const int client1 = test::connect_to(port), client2 = test::connect_to(port);
    const int accepted1 = accept(listener, nullptr, nullptr), accepted2 = accept(listener, nullptr, nullptr);
    REQUIRE(accepted1 >= 0);
    REQUIRE(accepted2 >= 0);
    // A UDP socket bound to the same address and port is not one.
    const int udp = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(bind(udp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);

    for (const std::string host : {"127.0.0.1", "0.0.0.0"}) {
        INFO(host);
        std::set<int> found;
        for_each_connection(listen_address_of(host, port), [&](int fd) { found.insert(fd); });
        CHECK(found == std::set<int>{accepted1, accepted2});
        // Each found by its peer, the name cpp-httplib gives it: the client's end.
        CHECK(peer_of(accepted1) == local_name(client1));
        CHECK(connection_from(listen_address_of(host, port), local_name(client1)) == accepted1);
        CHECK(connection_from(listen_address_of(host, port), local_name(client2)) == accepted2);
        CHECK(connection_from(listen_address_of(host, port), peer_name("127.0.0.1", 1)) == -1);
    }
    // Another address, another port, another family: none.
    for (const auto& [host, p] : {std::pair<std::string, uint16_t>{"127.0.0.2", port}, {"127.0.0.1", uint16_t(port + 1)},
                                  {"::1", port}, {"::", port}}) {
        INFO(host << " " << p);
        int count = 0;
        for_each_connection(listen_address_of(host, p), [&](int) { count++; });
        CHECK(count == 0);
    }
    CHECK(peer_of(listener).empty());
    for (const int fd : {client1, client2, accepted1, accepted2, udp, listener})
        close(fd);
}
