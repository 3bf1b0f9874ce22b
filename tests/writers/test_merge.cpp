// linecap merge on inputs written by libpcap, read back with libpcap.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include "tests/support/dpdk_env.h"
#include "writers/merge.h"

using namespace linecap;

namespace {

// A capture of `packets` 60-byte packets of link type `dlt`, one second apart from `first_sec`.
void write_input(const std::string& path, int dlt, int packets, long first_sec)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    REQUIRE(dumper != nullptr);
    const u_char packet[60] = {0x45};
    for (int i = 0; i < packets; i++) {
        pcap_pkthdr h{};
        h.ts.tv_sec = first_sec + i;
        h.len = h.caplen = sizeof packet;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, packet);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

// Merges `inputs` into DIR/NAME.pcap or .pcapng, expecting `packets`
// records; the output, opened with libpcap.
pcap_t* merge_and_open(const std::vector<std::string>& inputs, const std::string& dir, const std::string& name,
                       file_format format, uint64_t packets)
{
    merge_request request;
    request.inputs = inputs;
    request.output = dir + "/" + name + (format == file_format::pcapng ? ".pcapng" : ".pcap");
    request.format = format;
    merge_result result;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(result.packets == packets);
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(request.output.c_str(), errbuf);
    INFO(errbuf);
    REQUIRE(p != nullptr);
    return p;
}

} // namespace

TEST_CASE("merge keeps raw IP captures (\"decap\": \"ip\") raw, and refuses mixed or other link types")
{
    const std::string dir = test::temp_dir();
    write_input(dir + "/raw-a.pcap", DLT_RAW, 2, 1700000000);
    write_input(dir + "/raw-b.pcap", DLT_RAW, 2, 1700000001);
    write_input(dir + "/eth.pcap", DLT_EN10MB, 1, 1700000000);
    write_input(dir + "/sll.pcap", DLT_LINUX_SLL, 1, 1700000000);

    for (const file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        pcap_t* p = merge_and_open({dir + "/raw-a.pcap", dir + "/raw-b.pcap"}, dir, "raw", format, 4);
        CHECK(pcap_datalink(p) == DLT_RAW);
        pcap_close(p);
    }

    merge_request mixed;
    mixed.inputs = {dir + "/raw-a.pcap", dir + "/eth.pcap"};
    mixed.output = dir + "/mixed.pcap";
    merge_result result;
    CHECK(merge_captures(mixed, result) ==
          dir + "/eth.pcap: link type EN10MB differs from the first input's RAW; merge files of one kind");

    merge_request other;
    other.inputs = {dir + "/sll.pcap"};
    other.output = dir + "/other.pcap";
    CHECK(merge_captures(other, result) ==
          dir + "/sll.pcap: link type LINUX_SLL is neither Ethernet nor raw IP; linecap writes those two");
}

// Found by fuzz-merge-reader: a record of no captured bytes reached memcpy
// as an empty vector's data(), null, which is undefined whatever the length;
// the sanitizer build (scripts/test) stops on it.
TEST_CASE("merge keeps a record of no captured bytes, in pcap and pcapng")
{
    const std::string dir = test::temp_dir();
    const std::string in = dir + "/in.pcap";
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
    pcap_dumper_t* dumper = pcap_dump_open(dead, in.c_str());
    REQUIRE(dumper != nullptr);
    const u_char frame[60] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00};
    pcap_pkthdr h{};
    h.ts.tv_sec = 1700000000;
    h.len = 60;
    h.caplen = 0;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame);
    h.ts.tv_sec++;
    h.caplen = 60;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame);
    pcap_dump_close(dumper);
    pcap_close(dead);

    for (const file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        pcap_t* p = merge_and_open({in}, dir, "out", format, 2);
        pcap_pkthdr* got;
        const u_char* data;
        REQUIRE(pcap_next_ex(p, &got, &data) == 1);
        CHECK(got->caplen == 0);
        CHECK(got->len == 60);
        REQUIRE(pcap_next_ex(p, &got, &data) == 1);
        CHECK(got->caplen == 60);
        CHECK(pcap_next_ex(p, &got, &data) == PCAP_ERROR_BREAK);
        pcap_close(p);
    }
}
