#include "control/http_connections.h"

#include <arpa/inet.h>
#include <charconv>
#include <cstddef>
#include <dirent.h>
#include <linux/tcp.h>   // struct tcp_info with tcpi_bytes_received (glibc's netinet/tcp.h stops short of it)
#include <netdb.h>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fmt/format.h>

namespace linecap {

listen_address listen_address_of(const std::string& host, uint16_t port)
{
    listen_address a;
    a.port = port;
    if (inet_pton(AF_INET, host.c_str(), &a.v4) == 1) {
        a.any = a.v4.s_addr == htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET6, host.c_str(), &a.v6) == 1) {
        a.family = AF_INET6;
        a.any = IN6_IS_ADDR_UNSPECIFIED(&a.v6);
    }
    return a;
}

bool accepted_on(int fd, const listen_address& listen)
{
    int type = 0, protocol = 0, listening = 1;
    socklen_t size = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0 || type != SOCK_STREAM)
        return false;
    size = sizeof protocol;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &size) != 0 || protocol != IPPROTO_TCP)
        return false;
    size = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || listening != 0)
        return false;
    sockaddr_storage local{}, peer{};
    socklen_t length = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0 || local.ss_family != listen.family)
        return false;
    length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0)
        return false;
    if (listen.family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&local);
        return ntohs(in->sin_port) == listen.port && (listen.any || in->sin_addr.s_addr == listen.v4.s_addr);
    }
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&local);
    return ntohs(in6->sin6_port) == listen.port && (listen.any || IN6_ARE_ADDR_EQUAL(&in6->sin6_addr, &listen.v6));
}

void for_each_connection(const listen_address& listen, const std::function<void(int fd)>& fn)
{
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr)
        return;
    while (const dirent* entry = readdir(dir)) {
        int fd = -1;
        const std::string_view text(entry->d_name);
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fd);
        if (ec != std::errc() || end != text.data() + text.size() || fd == dirfd(dir))
            continue;
        struct stat st{};
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || !accepted_on(fd, listen))
            continue;
        fn(fd);
    }
    closedir(dir);
}

uint64_t bytes_received(int fd)
{
    tcp_info info{};
    socklen_t n = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &n) != 0 ||
        n < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received)
        return 0;
    return info.tcpi_bytes_received;
}

std::string peer_of(int fd)
{
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 ||
        getnameinfo(reinterpret_cast<const sockaddr*>(&peer), length, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return {};
    return fmt::format("{} {}", host, port);   // as peer_name()
}

std::string peer_name(const std::string& remote_addr, int remote_port)
{
    return fmt::format("{} {}", remote_addr, remote_port);
}

int connection_from(const listen_address& listen, const std::string& peer)
{
    int found = -1;
    for_each_connection(listen, [&](int fd) {
        if (found < 0 && peer_of(fd) == peer)
            found = fd;
    });
    return found;
}

} // namespace linecap
