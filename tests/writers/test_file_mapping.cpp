// A capture file another program cuts short while it is read, mapped
// (writers/file_mapping.h): the reader says so, and the process goes on.
// Without file_mapping's handler each of these reads ends the process with
// SIGBUS.
#include <catch2/catch.hpp>

#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "core/capture_format.h"
#include "tests/support/dpdk_env.h"
#include "writers/capture_reader.h"
#include "writers/file_mapping.h"

using namespace linecap;

namespace {

namespace fs = std::filesystem;

void write_file(const std::string& path, const std::vector<uint8_t>& bytes)
{
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    close(fd);
}

// A pcap file (µs, version 2.4) of `count` records of 60 bytes, of link type
// `dlt`: 76 bytes a record after the 24-byte header.
void write_pcap(const std::string& path, uint32_t count, int dlt)
{
    std::vector<uint8_t> bytes(sizeof(linecap::pcap_file_header) + size_t{count} * (sizeof(pcap_record_header) + 60));
    const linecap::pcap_file_header header{pcap_magic_us, 2, 4, 0, 0, 65535, static_cast<uint32_t>(dlt)};
    std::memcpy(bytes.data(), &header, sizeof header);
    uint8_t* at = bytes.data() + sizeof header;
    for (uint32_t i = 0; i < count; i++) {
        const pcap_record_header record{1700000000 + i / 1000, (i % 1000) * 1000, 60, 60};
        std::memcpy(at, &record, sizeof record);
        at += sizeof record;
        std::memset(at, 0x11, 60);   // no record of zeros: only the cut makes zeros
        at[12] = 0x08;               // IPv4
        at[13] = 0x00;
        at += 60;
    }
    write_file(path, bytes);
}

constexpr uint32_t record_bytes = sizeof(pcap_record_header) + 60;

} // namespace

TEST_CASE("a mapped file cut short reads zeros past the cut and says it was cut; another mapping is untouched")
{
    const std::string dir = test::temp_dir();
    const std::string a = dir + "/a", b = dir + "/b";
    std::vector<uint8_t> ones(1 << 20, 1);
    for (const std::string& path : {a, b})
        write_file(path, ones);
    file_mapping ma, mb;
    const int fa = open(a.c_str(), O_RDONLY | O_CLOEXEC), fb = open(b.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(ma.map(fa, ones.size()) == 0);
    REQUIRE(mb.map(fb, ones.size()) == 0);
    close(fa);
    close(fb);
    CHECK(ma.data()[500000] == 1);
    REQUIRE(truncate(a.c_str(), 10000) == 0);
    CHECK(ma.data()[9999] == 1);     // before the cut: the file's
    CHECK(!ma.cut());
    CHECK(ma.data()[500000] == 0);   // past it: zeros, not SIGBUS
    CHECK(ma.cut());
    CHECK(ma.data()[ones.size() - 1] == 0);
    CHECK(!mb.cut());
    CHECK(mb.data()[ones.size() - 1] == 1);
    ma.unmap();
    CHECK(!ma.cut());
    // A slot left is taken again, not cut.
    const int fa2 = open(b.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(ma.map(fa2, ones.size()) == 0);
    close(fa2);
    CHECK(!ma.cut());
    CHECK(ma.data()[700000] == 1);
    CHECK(ma.map(fa2, 0) == EINVAL);
    fs::remove_all(dir);
}

TEST_CASE("a SIGBUS in no file_mapping still ends the process")
{
    const std::string dir = test::temp_dir();
    const std::string ours = dir + "/ours", other = dir + "/other";
    std::vector<uint8_t> ones(1 << 16, 1);
    for (const std::string& path : {ours, other})
        write_file(path, ones);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        file_mapping registered;   // the handler installed
        const int fd = open(ours.c_str(), O_RDONLY | O_CLOEXEC);
        if (registered.map(fd, ones.size()) != 0)
            _exit(3);
        const int other_fd = open(other.c_str(), O_RDONLY | O_CLOEXEC);
        void* raw = mmap(nullptr, ones.size(), PROT_READ, MAP_PRIVATE, other_fd, 0);
        if (raw == MAP_FAILED || truncate(other.c_str(), 0) != 0)
            _exit(4);
        const volatile uint8_t* bytes = static_cast<const uint8_t*>(raw);
        const uint8_t byte = bytes[40000];   // faults, in no file_mapping
        _exit(byte == 0 ? 0 : 5);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    // Killed by SIGBUS; under a sanitizer, whose handler was there first,
    // its report and exit status 1.
    INFO("status " << status);
    CHECK(((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) || (WIFEXITED(status) && WEXITSTATUS(status) == 1)));
    fs::remove_all(dir);
}

TEST_CASE("a pcap file cut short while it is read: every whole record before the cut, then an error naming it")
{
    const std::string dir = test::temp_dir();
    const std::string path = dir + "/cut.pcap";
    constexpr uint32_t count = 200000;   // 15 MB
    // A cut at a record's end inside a page (the rest of the page reads
    // zeros, no fault), inside a record's data at a page's start (the rest
    // faults), and inside a record's header.
    for (const uint64_t cut : {uint64_t{24} + 2000 * record_bytes, uint64_t{40} * 4096,
                               uint64_t{24} + 3000 * record_bytes + 8}) {
        // Ethernet is read straight from the mapping, Linux cooked capture by
        // libpcap through fmemopen(): both ways meet the cut.
        for (const int dlt : {DLT_EN10MB, DLT_LINUX_SLL}) {
            INFO("cut at byte " << cut << ", link type " << dlt);
            write_pcap(path, count, dlt);
            capture_reader reader;
            REQUIRE(reader.open(path, false).empty());
            capture_record r;
            for (int i = 0; i < 1000; i++)
                REQUIRE(reader.next(r) == read_status::record);
            REQUIRE(truncate(path.c_str(), static_cast<off_t>(cut)) == 0);
            read_status st;
            uint64_t n = 1000, damaged = 0;   // records handed out with bytes not the file's
            while ((st = reader.next(r)) == read_status::record) {
                damaged += r.caplen != 60 || r.ts_ns == 0 || r.data[0] != 0x11 || r.data[59] != 0x11;
                n++;
            }
            const uint64_t whole = (cut - 24) / record_bytes;
            CHECK(damaged == 0);
            CHECK(n == whole);
            CHECK(st == read_status::error);
            CHECK(reader.error() ==
                  fmt::format("{}: record {} (byte {}): the file was cut short by another program while it was read "
                              "(it had {} bytes when opened): read it again once nothing truncates it",
                              path, whole + 1, 24 + whole * record_bytes, 24 + uint64_t{count} * record_bytes));
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("a pcap file cut inside its last page while it is read: the zeros there are no records")
{
    // No page past the cut to fault on: the file's size says it.
    const std::string dir = test::temp_dir();
    const std::string path = dir + "/small.pcap";
    write_pcap(path, 10, DLT_EN10MB);
    capture_reader reader;
    REQUIRE(reader.open(path, false).empty());
    capture_record r;
    for (int i = 0; i < 3; i++)
        REQUIRE(reader.next(r) == read_status::record);
    REQUIRE(truncate(path.c_str(), 24 + 5 * record_bytes) == 0);
    CHECK(reader.next(r) == read_status::record);
    CHECK(reader.next(r) == read_status::record);
    CHECK(reader.next(r) == read_status::error);
    CHECK(reader.error() == path + ": record 6 (byte 404): the file was cut short by another program while it was "
                                   "read (it had 784 bytes when opened): read it again once nothing truncates it");
    fs::remove_all(dir);
}

TEST_CASE("a record handed out straight from the mapping and cut before its caller read it: the error says so")
{
    const std::string dir = test::temp_dir();
    const std::string path = dir + "/cut.pcap";
    write_pcap(path, 200000, DLT_EN10MB);
    capture_reader reader;
    REQUIRE(reader.open(path, false).empty());
    capture_record r;
    for (int i = 0; i < 1000; i++)
        REQUIRE(reader.next(r) == read_status::record);
    REQUIRE(truncate(path.c_str(), 24 + 500 * record_bytes) == 0);
    const volatile uint8_t* data = r.data;
    CHECK(data[59] == 0);   // the caller's read, after the cut: zeros, not SIGBUS
    CHECK(reader.next(r) == read_status::error);
    CHECK_THAT(reader.error(), Catch::StartsWith(path + ": record 1001 (byte 76024): the file was cut short") &&
                                   Catch::Contains("; the record before was cut as it was read and may end in zeros"));
    fs::remove_all(dir);
}
