// output_file: the .part name while writing, and a failed write leaving a
// valid file that ends at its last complete record.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <random>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <pcap/pcap.h>

#include "tests/support/dpdk_env.h"
#include "writers/capture_writer.h"

using namespace linecap;

namespace {

// Lowers the file size limit for the scope: writes past it fail with EFBIG,
// a real write error from the kernel, no mock involved.
struct file_size_limit {
    rlimit saved{};
    explicit file_size_limit(rlim_t bytes)
    {
        std::signal(SIGXFSZ, SIG_IGN);   // EFBIG instead of a killed process
        getrlimit(RLIMIT_FSIZE, &saved);
        rlimit lower = saved;
        lower.rlim_cur = bytes;
        setrlimit(RLIMIT_FSIZE, &lower);
    }
    ~file_size_limit() { setrlimit(RLIMIT_FSIZE, &saved); }
};

// The file at `path` holds exactly `expected`, no byte more.
void check_file_holds(const std::string& path, const std::vector<uint8_t>& expected)
{
    std::vector<uint8_t> got(expected.size() + 1);
    const int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    CHECK(read(fd, got.data(), got.size()) == static_cast<ssize_t>(expected.size()));
    close(fd);
    got.resize(expected.size());
    CHECK(got == expected);
}

uint64_t count_records(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    INFO(errbuf);
    REQUIRE(p != nullptr);
    pcap_pkthdr* h;
    const u_char* d;
    uint64_t n = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1)
        n++;
    CHECK(rc == PCAP_ERROR_BREAK);   // ends cleanly: no half record
    pcap_close(p);
    return n;
}

} // namespace

TEST_CASE("a file being written is NAME.part, then renamed to NAME")
{
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    output_file f;
    REQUIRE(f.open(dfd, "x.pcap", 4096) == 0);
    f.append("hello", 5);
    f.end_record();
    CHECK(f.flush() == 0);
    CHECK(std::filesystem::file_size(dir + "/x.pcap.part") == 5);
    CHECK(f.close() == 0);
    CHECK(std::filesystem::file_size(dir + "/x.pcap") == 5);
    CHECK((std::filesystem::status(dir + "/x.pcap").permissions() & std::filesystem::perms::others_all) ==
          std::filesystem::perms::none);

    // Never over an existing file, never through a symlink.
    output_file again;
    CHECK(again.open(dfd, "x", 4096) == 0);
    again.discard();
    CHECK_FALSE(std::filesystem::exists(dir + "/x.part"));
    symlink("/etc/passwd", (dir + "/evil.part").c_str());
    output_file evil;
    CHECK(evil.open(dfd, "evil", 4096) == -EEXIST);
    close(dfd);
}

TEST_CASE("a write error leaves a valid file ending at its last complete record")
{
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    capture_writer w;
    REQUIRE(w.open(dfd, "full.pcap", {file_format::pcap_ns, 0, 8192}) == 0);
    std::vector<uint8_t> bytes(1000, 0xab);
    uint64_t appended = 0;
    {
        file_size_limit limit(100000);
        for (int i = 0; i < 500 && w.file().error() == 0; i++) {
            rte_mbuf* m = test::make_chain(bytes, 2048);
            w.write_packet(m, 1000u * i);
            rte_pktmbuf_free(m);
            appended++;
        }
        CHECK(w.file().error() == EFBIG);
        // Appends after the error are accepted and counted, but never written.
        rte_mbuf* m = test::make_chain(bytes, 2048);
        w.write_packet(m, 1);
        rte_pktmbuf_free(m);
        appended++;
        CHECK(w.close(0) == -EFBIG);
    }
    CHECK(w.packets() == appended);
    const uint64_t kept = w.durable_packets();
    // Every record that fit under the limit is kept: (100000 - 24) / 1016 = 98,
    // although the failing 8 KiB chunk was only partly written.
    CHECK(kept == 98);
    CHECK(kept < appended);
    const std::string path = dir + "/full.pcap";
    REQUIRE(std::filesystem::exists(path));
    CHECK(std::filesystem::file_size(path) == 24 + kept * (16 + 1000));
    CHECK(count_records(path) == kept);
    close(dfd);
}

TEST_CASE("chunks written while the next one fills hold exactly what was appended, flushes in between")
{
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    output_file f;
    REQUIRE(f.open(dfd, "overlap.bin", 8192) == 0);
    // temp_dir() is on a filesystem with O_DIRECT and io_uring here; say so
    // if not, since then only the synchronous path ran.
    if (!f.is_direct() || !f.overlaps_writes())
        WARN("no O_DIRECT or no io_uring in " << dir << ": only synchronous writes tested");
    std::vector<uint8_t> expected;
    uint32_t seed = 1;
    for (int i = 0; i < 3000; i++) {
        // Records of 1 to 200 bytes, so chunk boundaries fall anywhere.
        seed = seed * 1103515245u + 12345u;
        std::vector<uint8_t> record(1 + (seed >> 16) % 200);
        for (uint8_t& b : record)
            b = static_cast<uint8_t>(seed = seed * 1103515245u + 12345u);
        f.append(record.data(), record.size());
        f.end_record();
        expected.insert(expected.end(), record.begin(), record.end());
        if (i % 700 == 699) {
            REQUIRE(f.flush() == 0);
            CHECK(f.durable_size() == expected.size());
            CHECK(std::filesystem::file_size(dir + "/overlap.bin.part") == expected.size());
        }
    }
    CHECK(f.records() == 3000);
    REQUIRE(f.close() == 0);
    CHECK(f.durable_records() == 3000);
    check_file_holds(dir + "/overlap.bin", expected);
    close(dfd);
}

namespace {

// Is the file's page at `offset` in the page cache? (mincore over a mapping
// of the file: what the kernel holds of it now.)
bool page_cached(const std::string& path, uint64_t offset)
{
    const int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    const long page = sysconf(_SC_PAGESIZE);
    void* map = mmap(nullptr, static_cast<size_t>(page), PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
    REQUIRE(map != MAP_FAILED);
    unsigned char resident = 0;
    REQUIRE(mincore(map, static_cast<size_t>(page), &resident) == 0);
    munmap(map, static_cast<size_t>(page));
    close(fd);
    return (resident & 1) != 0;
}

} // namespace

TEST_CASE("the block a flush's tail left in the page cache is written there again, never directly")
{
    // A direct write over a cached page makes the kernel write that page
    // back and wait for it first: seconds, on a disk busy with other files.
    // Written through the page cache again, the page stays there; a direct
    // write over it would have dropped it from the cache.
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    const std::string part = dir + "/cached.bin.part";
    std::vector<uint8_t> expected;
    const auto append = [&](output_file& f, size_t n) {
        for (size_t i = 0; i < n; i++) {
            const auto b = static_cast<uint8_t>(expected.size() * 7 + 3);
            f.append(&b, 1);
            expected.push_back(b);
        }
        f.end_record();
    };
    output_file f;
    REQUIRE(f.open(dfd, "cached.bin", 8192) == 0);
    // On tmpfs every page is in the page cache; with pages larger than a
    // block, the tail's page holds the blocks after it too.
    struct statfs fs{};
    REQUIRE(fstatfs(dfd, &fs) == 0);
    if (!f.is_direct() || fs.f_type == TMPFS_MAGIC || sysconf(_SC_PAGESIZE) != 4096)
        WARN(dir << ": no O_DIRECT, tmpfs or pages other than 4 KiB: nothing to test");
    else {
        append(f, 5000);   // one whole block and a tail of 904 bytes in block 1
        REQUIRE(f.flush() == 0);
        CHECK(page_cached(part, 4096));
        SECTION("by the next flush")
        {
            append(f, 6000);   // block 1 completed, a tail in block 2
            REQUIRE(f.flush() == 0);
            CHECK(page_cached(part, 4096));
            CHECK(page_cached(part, 2 * 4096));   // the new tail
        }
        SECTION("by the next full chunk (io_uring's, where there is io_uring)")
        {
            append(f, 12000);   // the chunk [4096, 12288) fills; a flush writes block 3 and a tail in 4
            REQUIRE(f.flush() == 0);
            CHECK(page_cached(part, 4096));
            CHECK(!page_cached(part, 2 * 4096));   // written directly
            CHECK(page_cached(part, 3 * 4096));    // the flush's whole block: through the page cache too
            CHECK(page_cached(part, 4 * 4096));
        }
        REQUIRE(f.close() == 0);
        check_file_holds(dir + "/cached.bin", expected);
    }
    close(dfd);
}

TEST_CASE("the writer's flush(false) leaves a chunk in flight to finish, and the file is whole in the end")
{
    // The periodic flush does not wait for io_uring's chunk: appends, full
    // chunks and flushes in any order still make exactly the bytes appended,
    // and durable_size() never claims more than the file holds.
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    std::vector<uint8_t> expected;
    std::mt19937 rng(7);
    output_file f;
    REQUIRE(f.open(dfd, "nowait.bin", 8192) == 0);
    std::vector<uint8_t> record;
    for (int i = 0; i < 400; i++) {
        record.resize(std::uniform_int_distribution<size_t>(1, 3 * 8192)(rng));
        for (uint8_t& b : record)
            b = static_cast<uint8_t>(rng());
        f.append(record.data(), record.size());
        f.end_record();
        expected.insert(expected.end(), record.begin(), record.end());
        if (i % 3 == 0) {
            REQUIRE(f.flush(false) == 0);
            // What it calls durable is in the file already, byte for byte.
            const uint64_t durable = f.durable_size();
            REQUIRE(durable <= expected.size());
            std::vector<uint8_t> got(durable);
            const int rfd = open((dir + "/nowait.bin.part").c_str(), O_RDONLY);
            REQUIRE(rfd >= 0);
            CHECK(pread(rfd, got.data(), got.size(), 0) == static_cast<ssize_t>(got.size()));
            close(rfd);
            CHECK(std::equal(got.begin(), got.end(), expected.begin()));
        }
    }
    REQUIRE(f.flush() == 0);
    CHECK(f.durable_size() == f.size());
    REQUIRE(f.close() == 0);
    check_file_holds(dir + "/nowait.bin", expected);
    close(dfd);
}

#if defined(__x86_64__)
namespace {

// From here on, this process's io_uring_enter fails with `error`: with
// `lone_only`, whenever it is asked to submit exactly one entry without
// waiting for any (what io_uring_submit asks for a lone write; two entries,
// or a submit that also waits, go through), as the kernel's EAGAIN when it
// cannot allocate; otherwise whenever it is asked to submit anything, as a
// security policy's EPERM would. A real refusal by the kernel (a seccomp
// filter), no mock. Returns whether the filter is in place.
bool refuse_submits(bool lone_only, uint32_t error)
{
    const sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    const sock_filter refuse = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | error);
    std::vector<sock_filter> filter = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        allow,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 1, 0),
        allow,
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1])),   // to_submit (low half)
    };
    if (lone_only)
        filter.insert(filter.end(), {
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0),
            allow,
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[3])),   // flags
            BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, IORING_ENTER_GETEVENTS, 0, 1),
            allow,
            refuse,
        });
    else
        filter.insert(filter.end(), {BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1), allow, refuse});
    const sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return false;
    // A lone submit on no ring at all: the filter's error, not EBADF.
    return syscall(__NR_io_uring_enter, -1, 1, 0, 0, nullptr, 0) == -1 && errno == static_cast<int>(error);
}

// Runs `write` in a child process whose io_uring submits refuse_submits
// refuses, then checks the file `name` in `dir` holds exactly `expected`.
// The child exits with what `write` returns (77: nothing to test); a hang
// ends with SIGALRM after 20 s.
void check_refused_writes(const std::string& dir, const char* name, const std::vector<uint8_t>& expected,
                          const std::function<int()>& write)
{
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(20);
        _exit(write());
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    INFO("the child's status: " << status << " (a signal: " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")");
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        WARN("no O_DIRECT or no io_uring in " << dir << ": nothing to test");
    else {
        INFO("the child's exit status (1 open, 2 the filter, 3 a flush, 4 close): " << WEXITSTATUS(status));
        REQUIRE(WEXITSTATUS(status) == 0);
        check_file_holds(dir + "/" + name, expected);
    }
}

} // namespace

TEST_CASE("a chunk whose submit the kernel refused is written once, where it belongs")
{
    // A refused io_uring_enter leaves the write queued in the ring, and the
    // next submit of anything sends it: its buffer must not have been
    // refilled meanwhile, nor the chunk written a second time elsewhere.
    const std::string dir = test::temp_dir();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    std::vector<uint8_t> expected(10 * 8192 + 100);
    for (size_t i = 0; i < expected.size(); i++)
        expected[i] = static_cast<uint8_t>(i / 8192 * 31 + i % 251);   // each chunk unlike the others
    const auto write = [&](const char* name, bool lone_only, uint32_t error) {
        output_file f;
        if (f.open(dfd, name, 8192) != 0)
            return 1;
        if (!f.overlaps_writes())
            return 77;
        if (!refuse_submits(lone_only, error))
            return 2;
        for (size_t at = 0; at < expected.size(); at += 1000) {
            f.append(expected.data() + at, std::min<size_t>(1000, expected.size() - at));
            f.end_record();
            if (at == 5000 * 8 && f.flush() != 0)   // a wait with a refused write queued
                return 3;
        }
        return f.close() == 0 && f.durable_records() == (expected.size() + 999) / 1000 ? 0 : 4;
    };
    SECTION("for a moment (EAGAIN): each chunk's own submit; the write-back start after it, or a wait, sends it")
    {
        check_refused_writes(dir, "refused.bin", expected, [&] { return write("refused.bin", true, EAGAIN); });
    }
    SECTION("for good (EPERM, as a security policy): the file gives up io_uring and writes synchronously")
    {
        check_refused_writes(dir, "denied.bin", expected, [&] { return write("denied.bin", false, EPERM); });
    }
    close(dfd);
}
#endif
