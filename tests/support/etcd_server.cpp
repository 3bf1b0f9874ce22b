#include "tests/support/etcd_server.h"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <thread>
#include <sys/prctl.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>

namespace linecap::test {

namespace {

// A socket bound to a port free on 127.0.0.1 now (the kernel's pick for
// port 0), and that port.
int bound_socket(int& port)
{
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof a;
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&a), &size) == 0);
    port = ntohs(a.sin_port);
    return s;
}

// A port free on 127.0.0.1 now.
int free_port()
{
    int port = 0;
    close(bound_socket(port));
    return port;
}

} // namespace

etcd_server::etcd_server()
{
    const int client = free_port(), peer = free_port();
    launch("unit", client, peer, fmt::format("unit=http://127.0.0.1:{}", peer), {});
    wait_ready();
}

etcd_server::etcd_server(unsigned index, const int (&ports)[6])
{
    const std::string cluster = fmt::format("m0=http://127.0.0.1:{},m1=http://127.0.0.1:{},m2=http://127.0.0.1:{}",
                                            ports[1], ports[3], ports[5]);
    // Short elections, so that a member cut off from the others knows it
    // has no leader within a second or two.
    launch(fmt::format("m{}", index), ports[2 * index], ports[2 * index + 1], cluster,
           {"--heartbeat-interval=100", "--election-timeout=500", "--initial-cluster-state=new",
            "--initial-cluster-token=linecap-unit"});
}

void etcd_server::pick_cluster_ports(int (&ports)[6])
{
    // Each taken while the earlier ones are held, so no two match.
    std::vector<int> held;
    for (int& port : ports)
        held.push_back(bound_socket(port));
    for (const int s : held)
        close(s);
}

void etcd_server::launch(const std::string& name, int client, int peer, const std::string& initial_cluster,
                         const std::vector<std::string>& extra)
{
    REQUIRE(access("/usr/bin/etcd", X_OK) == 0);   // scripts/bootstrap installs etcd-server
    // In memory where /dev/shm has 1 GiB free (etcd preallocates 64 MB log
    // segments): etcd syncs its log to disk at every write, and on a disk
    // busy writing back other files one sync can take seconds, past the
    // calls' timeouts these tests hold to.
    char shm[] = "/dev/shm/linecap-etcd.XXXXXX", tmp[] = "/tmp/linecap-etcd.XXXXXX";
    struct statvfs fs{};
    const bool roomy = statvfs("/dev/shm", &fs) == 0 && fs.f_bavail * fs.f_frsize >= (uint64_t{1} << 30);
    const char* dir = roomy ? mkdtemp(shm) : nullptr;
    if (dir == nullptr)
        dir = mkdtemp(tmp);
    REQUIRE(dir != nullptr);
    _dir = dir;
    _url = fmt::format("http://127.0.0.1:{}", client);
    const std::string peer_url = fmt::format("http://127.0.0.1:{}", peer);
    std::vector<std::string> args = {"/usr/bin/etcd",
                                     "--name=" + name,
                                     "--data-dir=" + _dir + "/data",
                                     "--listen-client-urls=" + _url,
                                     "--advertise-client-urls=" + _url,
                                     "--listen-peer-urls=" + peer_url,
                                     "--initial-advertise-peer-urls=" + peer_url,
                                     "--initial-cluster=" + initial_cluster};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string log = _dir + "/etcd.log";
    const pid_t parent = getpid();
    _pid = fork();
    REQUIRE(_pid >= 0);
    if (_pid == 0) {
        // etcd dies with the test, and takes none of its descriptors: an
        // etcd left behind holding DPDK's telemetry socket (which EAL opens
        // without close-on-exec) made the next test process's EAL wait
        // forever in connect(), checking whether that socket was in use.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);   // the test died before the line above
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close_range(3, ~0U, 0);
        std::vector<char*> argv;
        for (std::string& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
}

void etcd_server::wait_ready()
{
    httplib::Client health(_url);
    health.set_connection_timeout(std::chrono::milliseconds(200));
    for (int i = 0; i < 100; i++) {
        if (const auto r = health.Get("/health"); r && r->status == 200)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL("etcd did not answer on " << _url << " within 10 s (its log: " << _dir << "/etcd.log)");
}

etcd_server::~etcd_server()
{
    if (_pid > 0) {
        kill(_pid, SIGCONT);
        kill(_pid, SIGKILL);
        waitpid(_pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(_dir, ec);
}

void etcd_server::pause()
{
    kill(_pid, SIGSTOP);
    // kill() returns before every thread has stopped: wait until each of
    // its threads is shown stopped ('T'), so no reply can leave after this.
    const auto stopped = [](const std::filesystem::path& stat_file) {
        std::ifstream stat(stat_file);
        const std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const size_t close = text.rfind(')');
        return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T';
    };
    for (int i = 0; i < 1000; i++) {
        bool all = true;
        std::error_code ec;
        for (const auto& task : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", _pid), ec))
            all = all && stopped(task.path() / "stat");
        if (all && !ec)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    FAIL("etcd was sent SIGSTOP and did not stop within a second");
}

void etcd_server::resume()
{
    kill(_pid, SIGCONT);
}

} // namespace linecap::test
