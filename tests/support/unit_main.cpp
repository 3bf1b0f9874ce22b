#include <cstdlib>
#include <sched.h>
#include <string>
#include <filesystem>
#include <cstring>
#include <stdexcept>

#include <rte_eal.h>
#include <rte_errno.h>

#include "core/packet_meta.h"
#include "tests/support/dpdk_env.h"

namespace linecap::test {

// Catch2's session over argv (catch_runner.cpp): the tests' exit status.
int run_catch(int argc, char** argv);

namespace {
rte_mempool* pool = nullptr;
std::vector<std::string> dirs;
} // namespace

rte_mempool* mbuf_pool()
{
    return pool;
}

rte_mbuf* make_chain(const std::vector<uint8_t>& bytes, uint16_t segment)
{
    rte_mbuf* head = nullptr;
    rte_mbuf* tail = nullptr;
    size_t done = 0;
    do {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr)
            throw std::runtime_error("mbuf pool empty");
        const uint16_t n = static_cast<uint16_t>(std::min<size_t>(segment, bytes.size() - done));
        char* dst = rte_pktmbuf_append(m, n);
        if (n != 0)
            std::memcpy(dst, bytes.data() + done, n);
        done += n;
        if (head == nullptr) {
            head = tail = m;
        } else {
            rte_pktmbuf_chain(head, m);
            tail = m;
        }
    } while (done < bytes.size());
    return head;
}

std::string temp_dir()
{
    char pattern[] = "/tmp/linecap-unit-XXXXXX";
    const char* made = mkdtemp(pattern);
    if (made == nullptr)
        throw std::runtime_error("mkdtemp failed");
    dirs.push_back(made);
    return made;
}

} // namespace linecap::test

int main(int argc, char** argv)
{
    // EAL without hugepages, PCI, a shared config or a telemetry socket
    // (every unit-test process would take /var/run/dpdk/rte's): runs
    // anywhere, side by side. Lcore 0 floats over every CPU this process
    // may use ("0@(0,1)"), not pinned to CPU 0 as "-l 0" would pin it:
    // processes run side by side (tests/meson.build) would share one CPU.
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    std::string lcores = "0@(";
    if (sched_getaffinity(0, sizeof cpus, &cpus) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &cpus))
                lcores += std::to_string(cpu) + ",";
    lcores.back() = ')';
    if (lcores == "0@)")
        lcores = "0";
    const char* eal_argv[] = {"linecap-unit", "--no-huge", "-m", "1024", "--no-pci", "--no-shconf",
                              "--no-telemetry", "--lcores", lcores.c_str(), "--log-level", "lib.*:error", nullptr};
    int eal_argc = static_cast<int>(sizeof eal_argv / sizeof eal_argv[0]) - 1;
    if (rte_eal_init(eal_argc, const_cast<char**>(eal_argv)) < 0) {
        fprintf(stderr, "unit tests: EAL init failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    if (linecap::register_packet_meta() != 0) {
        fprintf(stderr, "unit tests: cannot register packet_meta\n");
        return 1;
    }
    linecap::test::pool = rte_pktmbuf_pool_create("unit_pool", 32767, 0, 0, 2048 + RTE_PKTMBUF_HEADROOM,
                                                  SOCKET_ID_ANY);
    if (linecap::test::pool == nullptr) {
        fprintf(stderr, "unit tests: mbuf pool: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    const int result = linecap::test::run_catch(argc, argv);
    for (const std::string& d : linecap::test::dirs)
        std::filesystem::remove_all(d);
    rte_mempool_free(linecap::test::pool);
    rte_eal_cleanup();
    return result;
}
