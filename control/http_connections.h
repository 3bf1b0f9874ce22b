// The HTTP server's accepted connections, found among the process's file
// descriptors. cpp-httplib 0.11.4 keeps accepted sockets to itself (no hook
// sees them: set_socket_options applies to the listening socket only, and
// the task a connection becomes holds its descriptor opaquely), yet the API
// must act on them: end them all at stop (http_api), close the ones that
// owe a request past the deadline (http_api's guard), and shrink a live
// stream's send buffer (http_live). These functions find them by address.
//
// Only descriptors are looked at; nothing here closes or takes one. Each
// call walks /proc/self/fd, so they belong on control-side threads, never on
// a worker or writer lcore.
#pragma once

#include <cstdint>
#include <functional>
#include <netinet/in.h>
#include <string>

namespace linecap {

// The address the server listens on, as getsockname() gives its accepted
// sockets: the host's (or any, for a wildcard host) and the port.
struct listen_address {
    int family = AF_INET;
    in_addr v4{};
    in6_addr v6{};
    bool any = false;   // 0.0.0.0 or ::: accepted sockets have the address they were reached at
    uint16_t port = 0;
};

// `host` is numeric (IPv4 or IPv6, as --http takes it), `port` the bound one.
listen_address listen_address_of(const std::string& host, uint16_t port);

// Whether `fd` is a connection accepted on `listen`: a connected TCP socket
// (not listening, with a peer) whose local address is the listening one.
// While the server listens, no other socket can have that address: bind()
// refuses it and connect() picks no port a listener holds; a UDP socket or
// another address's TCP socket on the same port number does not match.
bool accepted_on(int fd, const listen_address& listen);

// Calls `fn` with each descriptor accepted on `listen`.
void for_each_connection(const listen_address& listen, const std::function<void(int fd)>& fn);

// A connection's peer as cpp-httplib names it (Request::remote_addr, a
// space, Request::remote_port: numeric host, then port); empty if it has
// none. cpp-httplib formats with getnameinfo(NI_NUMERICHOST) as this does,
// so the two compare equal for the same connection.
std::string peer_of(int fd);

// The same name from cpp-httplib's Request::remote_addr and remote_port.
std::string peer_name(const std::string& remote_addr, int remote_port);

// The bytes the peer of connection `fd` has sent so far (the kernel's
// count, TCP_INFO's tcpi_bytes_received: what reached the socket, read or
// not; TLS records counted whole); 0 if the kernel will not say.
uint64_t bytes_received(int fd);

// The descriptor of the connection accepted on `listen` from `peer` (as
// peer_of gives it), or -1.
int connection_from(const listen_address& listen, const std::string& peer);

} // namespace linecap
