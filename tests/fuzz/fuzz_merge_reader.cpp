// libFuzzer target: `linecap merge` (writers/merge.cpp) reading arbitrary
// bytes as a capture file. Each input is written to a file (in TMPDIR) and
// merged with a small valid pcap (made once, with libpcap) into a new file.
// Whatever the bytes, merge must not crash; whatever it writes (all of it,
// or what it could read before an error), libpcap must read to its end and
// find there the number of packets merge reports. When the fuzzed file is a
// pcap file libpcap reads to its end, merge must succeed with every record of
// it plus the valid file's; when libpcap stops early in a pcap file, merge
// must report an error (libpcap is its pcap reader; pcapng and other formats
// go to wiretap, which may read further than libpcap).
// Built by scripts/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <pcap/pcap.h>

#include "writers/merge.h"

namespace {

namespace fs = std::filesystem;

constexpr unsigned valid_records = 3;

std::string dir;          // TMPDIR's: scripts/fuzz gives a folder on disk (see there why)
std::string fuzzed_path;
std::string valid_path;
std::string output_base;

// Records libpcap reads from `path` before its end or its first error;
// -1 if it cannot open it. `clean`: it reached the end without an error.
long count_records(const std::string& path, bool& clean)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == nullptr)
        return -1;
    pcap_pkthdr* h;
    const u_char* d;
    long n = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &d)) == 1)
        n++;
    clean = rc == PCAP_ERROR_BREAK;
    pcap_close(p);
    return n;
}

// Three Ethernet frames, nanosecond pcap, written by libpcap itself.
void write_valid_file(const std::string& path)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
    if (out == nullptr) {
        fprintf(stderr, "fuzz-merge-reader: %s: %s\n", path.c_str(), pcap_geterr(dead));
        std::abort();
    }
    u_char frame[60] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45};
    for (unsigned i = 0; i < valid_records; i++) {
        pcap_pkthdr h{};
        h.ts.tv_sec = 1700000000 + i;
        h.ts.tv_usec = 500;   // nanoseconds, given the precision
        h.caplen = h.len = sizeof frame;
        frame[59] = static_cast<u_char>(i);
        pcap_dump(reinterpret_cast<u_char*>(out), &h, frame);
    }
    pcap_dump_close(out);
    pcap_close(dead);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    // scripts/fuzz gives a folder of its own in TMPDIR and removes it
    // afterwards (libFuzzer ends without running atexit handlers).
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/dev/shm") + "/linecap-fuzz-merge-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
        perror("fuzz-merge-reader: mkdtemp");
        std::abort();
    }
    dir = pattern;
    fuzzed_path = dir + "/fuzzed.pcap";
    valid_path = dir + "/valid.pcap";
    output_base = dir + "/merged";
    write_valid_file(valid_path);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FILE* f = fopen(fuzzed_path.c_str(), "wb");
    if (f == nullptr || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        std::abort();

    // The fuzzed file first: its format decides the output's (pcap or pcapng).
    linecap::merge_request request;
    request.inputs = {fuzzed_path, valid_path};
    request.output = output_base + ".out";
    std::error_code ec;
    fs::remove(request.output, ec);
    linecap::merge_result result;
    const std::string error = linecap::merge_captures(request, result);
    if (!fs::exists(request.output, ec)) {
        if (error.empty())
            std::abort();   // success without an output
        return 0;           // refused before writing anything
    }
    bool output_clean = false;
    const long merged = count_records(request.output, output_clean);
    if (merged < 0 || !output_clean || static_cast<uint64_t>(merged) != result.packets)
        std::abort();   // merge wrote what libpcap cannot read, or miscounted it

    bool fuzzed_clean = false;
    const long from_fuzzed = count_records(fuzzed_path, fuzzed_clean);
    FILE* raw = fopen(fuzzed_path.c_str(), "rb");
    uint32_t magic = 0;
    const bool is_pcap = raw != nullptr && fread(&magic, 4, 1, raw) == 1 &&
                         (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d || magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1);
    if (raw != nullptr)
        fclose(raw);
    if (is_pcap && from_fuzzed >= 0) {
        if (fuzzed_clean && (!error.empty() || result.packets != static_cast<uint64_t>(from_fuzzed) + valid_records))
            std::abort();   // a readable pcap file merged wrongly: a record lost or invented
        if (!fuzzed_clean && error.empty())
            std::abort();   // a pcap file that ends in an error is reported as one
    }
    return 0;
}
