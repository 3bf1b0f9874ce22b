// linecap merge on inputs written by libpcap, read back with libpcap.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include "tests/support/dpdk_env.h"
#include "writers/merge.h"

using namespace linecap;

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
        merge_request request;
        request.inputs = {in};
        request.output = dir + (format == file_format::pcapng ? "/out.pcapng" : "/out.pcap");
        request.format = format;
        merge_result result;
        REQUIRE(merge_captures(request, result) == "");
        CHECK(result.packets == 2);

        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(request.output.c_str(), errbuf);
        INFO(errbuf);
        REQUIRE(p != nullptr);
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
