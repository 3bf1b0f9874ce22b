// A real etcd (Debian's etcd-server) for the fleet's unit tests: one member
// on two free loopback ports, its data in a temporary folder (in /dev/shm
// when it has room: a disk's slow syncs are not what the tests test),
// started by the constructor (ready when it returns) and killed and removed
// by the destructor. A Catch2 failure if etcd is missing or does not come
// up within 10 s.
#pragma once

#include <string>
#include <sys/types.h>

namespace linecap::test {

class etcd_server {
public:
    etcd_server();
    ~etcd_server();
    etcd_server(const etcd_server&) = delete;
    etcd_server& operator=(const etcd_server&) = delete;

    // http://127.0.0.1:PORT
    const std::string& url() const { return _url; }
    // SIGSTOP (returning once the process is stopped) / SIGCONT: etcd stops
    // answering, its connections stay open.
    void pause();
    void resume();

private:
    std::string _dir;
    std::string _url;
    pid_t _pid = -1;
};

} // namespace linecap::test
