// A real etcd (Debian's etcd-server) for the fleet's unit tests: one member
// (or a member of a three-member cluster) on two free loopback ports, its
// data in a temporary folder (in /dev/shm when it has room: a disk's slow
// syncs are not what the tests test),
// started by the constructor (ready when it returns) and killed and removed
// by the destructor. A Catch2 failure if etcd is missing or does not come
// up within 10 s.
#pragma once

#include <string>
#include <vector>
#include <sys/types.h>

namespace linecap::test {

class etcd_server {
public:
    etcd_server();
    // Member `index` (0, 1, 2) of a three-member cluster on loopback ports
    // that `cluster_ports` gives (client, peer, for each member in turn);
    // not waited for: a member answers /health only once a quorum has
    // started (wait_ready).
    etcd_server(unsigned index, const int (&cluster_ports)[6]);
    ~etcd_server();
    // Until /health says 200 (10 s at most; a Catch2 failure then).
    void wait_ready();
    // Six free loopback ports for a cluster's members.
    static void pick_cluster_ports(int (&cluster_ports)[6]);
    etcd_server(const etcd_server&) = delete;
    etcd_server& operator=(const etcd_server&) = delete;

    // http://127.0.0.1:PORT
    const std::string& url() const { return _url; }
    // SIGSTOP (returning once the process is stopped) / SIGCONT: etcd stops
    // answering, its connections stay open.
    void pause();
    void resume();

private:
    void launch(const std::string& name, int client, int peer, const std::string& initial_cluster,
                const std::vector<std::string>& extra);
    std::string _dir;
    std::string _url;
    pid_t _pid = -1;
};

} // namespace linecap::test
