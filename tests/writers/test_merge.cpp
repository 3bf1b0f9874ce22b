// linecap merge on inputs written by libpcap, read back with libpcap.
#include <catch2/catch.hpp>

#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iterator>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/dpdk_env.h"
#include "core/capture_format.h"
#include "writers/capture_reader.h"
#include "writers/capture_writer.h"
#include "writers/merge.h"
#include "writers/session_output.h"

using namespace linecap;

namespace {

// A capture of `packets` 60-byte packets of link type `dlt`, one second apart from `first_sec`.
void write_input(const std::string& path, int dlt, int packets, long first_sec, int snaplen = 65535)
{
    pcap_t* dead = pcap_open_dead_with_tstamp_precision(dlt, snaplen, PCAP_TSTAMP_PRECISION_NANO);
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

    // A raw IP pcapng file is read by Wireshark's reader, whose link type is
    // the file's LINKTYPE_RAW (101): the reader gives libpcap's DLT_RAW (12)
    // whichever library reads, so it merges with raw IP pcap files (the two
    // numbers once made it "link type 101, neither Ethernet nor raw IP").
    capture_reader ng;
    REQUIRE(ng.open(dir + "/raw.pcapng") == "");
    CHECK(std::string(ng.library()) == "wiretap");
    CHECK(ng.dlt() == DLT_RAW);
    capture_record record;
    REQUIRE(ng.next(record) == read_status::record);
    CHECK(record.dlt == DLT_RAW);
    for (const file_format format : {file_format::pcap_ns, file_format::pcapng}) {
        pcap_t* p = merge_and_open({dir + "/raw.pcapng", dir + "/raw-a.pcap"}, dir, "again", format, 6);
        CHECK(pcap_datalink(p) == DLT_RAW);
        pcap_close(p);
    }

    merge_request mixed;
    mixed.inputs = {dir + "/raw-a.pcap", dir + "/eth.pcap"};
    mixed.output = dir + "/mixed.pcap";
    merge_result result;
    CHECK(merge_captures(mixed, result) == dir + "/eth.pcap: link type EN10MB (Ethernet) differs from the first "
                                                 "input's RAW (Raw IP); merge files of one kind");
    CHECK(result.stopped_in == std::vector<std::string>{dir + "/eth.pcap"});
    CHECK_FALSE(result.output_failed);
    mixed.inputs = {dir + "/raw.pcapng", dir + "/eth.pcap"};
    CHECK(merge_captures(mixed, result) == dir + "/eth.pcap: link type EN10MB (Ethernet) differs from the first "
                                                 "input's RAW (Raw IP); merge files of one kind");

    merge_request other;
    other.inputs = {dir + "/sll.pcap"};
    other.output = dir + "/other.pcap";
    CHECK(merge_captures(other, result) == dir + "/sll.pcap: link type LINUX_SLL (Linux cooked v1) is neither "
                                                 "Ethernet nor raw IP; linecap writes those two");
}

namespace {

// pcapng blocks, little-endian (draft-ietf-opsawg-pcapng, section 3.1).
std::string pcapng_block(uint32_t type, std::string body)
{
    body.resize((body.size() + 3) & ~size_t{3}, '\0');
    const auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
    const uint32_t total = static_cast<uint32_t>(body.size()) + 12;
    return u32(type) + u32(total) + body + u32(total);
}
const std::string pcapng_shb =
    pcapng_block(0x0A0D0D0A, std::string("\x4d\x3c\x2b\x1a\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff", 16));
std::string pcapng_idb(uint16_t linktype)
{
    std::string body(8, '\0');
    std::memcpy(body.data(), &linktype, 2);   // snap length 0: none
    return pcapng_block(1, body);
}
std::string pcapng_epb(uint32_t ts_us, const std::string& data)
{
    const uint32_t head[5] = {0, 0, ts_us, static_cast<uint32_t>(data.size()), static_cast<uint32_t>(data.size())};
    return pcapng_block(6, std::string(reinterpret_cast<const char*>(head), sizeof head) + data);
}
void write_bytes(const std::string& path, const std::string& bytes)
{
    std::ofstream(path, std::ios::binary) << bytes;
}

} // namespace

TEST_CASE("a link type is named as tcpdump names it, from the file's LINKTYPE_ number or libpcap's DLT_")
{
    CHECK(linktype_text(DLT_RAW) == "RAW (Raw IP)");
    CHECK(linktype_text(DLT_LINUX_SLL) == "LINUX_SLL (Linux cooked v1)");
    CHECK(linktype_text(4000) == "4000 (unknown to libpcap)");

    // Each LINKTYPE_ number as libpcap reads it from a pcap file (its own
    // linktype_to_dlt), against dlt_of_linktype, and against Wireshark's
    // reader's for the same number in a pcapng interface.
    const std::string dir = test::temp_dir();
    for (const uint16_t linktype : {0, 1, 9, 11, 12, 100, 101, 102, 103, 104, 105, 106, 108, 109, 113, 127, 228, 276}) {
        INFO("LINKTYPE " << linktype);
        write_input(dir + "/lt.pcap", DLT_EN10MB, 1, 1700000000);
        std::fstream f(dir + "/lt.pcap", std::ios::binary | std::ios::in | std::ios::out);
        const uint32_t wide = linktype;
        f.seekp(20).write(reinterpret_cast<const char*>(&wide), 4);
        f.close();
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline((dir + "/lt.pcap").c_str(), errbuf);
        REQUIRE(p != nullptr);
        const int libpcap_dlt = pcap_datalink(p);
        pcap_close(p);
        CHECK(dlt_of_linktype(linktype) == libpcap_dlt);

        capture_reader pcap_read;
        REQUIRE(pcap_read.open(dir + "/lt.pcap") == "");
        CHECK(pcap_read.dlt() == libpcap_dlt);
        write_bytes(dir + "/lt.pcapng", pcapng_shb + pcapng_idb(linktype) + pcapng_epb(1, std::string(60, 'x')));
        capture_reader ng;
        if (linktype == 102 || linktype == 103) {   // BSD/OS SLIP and PPP: not in Wireshark's table
            CHECK(ng.open(dir + "/lt.pcapng") == dir + "/lt.pcapng: its first interface's link type is one "
                                                       "Wireshark's reader does not know; linecap reads Ethernet "
                                                       "and raw IP captures");
            continue;
        }
        REQUIRE(ng.open(dir + "/lt.pcapng") == "");
        CHECK(std::string(ng.library()) == "wiretap");
        CHECK(ng.dlt() == libpcap_dlt);
        CHECK(linktype_text(ng.dlt()) == linktype_text(libpcap_dlt));
    }
}

// Blocks before the first interface block (decryption secrets, as `editcap
// --inject-secrets` writes them) left Wireshark's reader without a link
// type when the file was opened: it was refused as "link type 4". Custom
// blocks there (which Wireshark's reader hands out as records of their
// own) were refused as "not a capture file" by -r, merge and a query,
// where tcpdump and tshark read the packets after them.
TEST_CASE("a pcapng file whose first interface block comes after other blocks reads as any other")
{
    const std::string dir = test::temp_dir();
    const std::string secrets = pcapng_block(0x0000000A, std::string("KSLT\x08\0\0\0CLIENT_R", 16));
    // Custom blocks of the PEN for documentation (32473), copied and not.
    const std::string custom = pcapng_block(0x00000BAD, std::string("\xd9\x7e\0\0hello", 9));
    const std::string custom_no_copy = pcapng_block(0x40000BAD, std::string("\xd9\x7e\0\0hi", 6));
    const std::string frame = std::string(12, '\0') + std::string("\x08\x00\x45", 3) + std::string(45, '\0');
    for (const std::string& leading : {secrets, custom, custom_no_copy, custom + secrets + custom_no_copy}) {
        INFO("leading blocks: " << leading.size() << " bytes");
        write_bytes(dir + "/dsb.pcapng", pcapng_shb + leading + pcapng_idb(1) + pcapng_epb(1, frame) + pcapng_epb(2, frame));
        capture_reader r;
        REQUIRE(r.open(dir + "/dsb.pcapng") == "");
        CHECK(r.dlt() == DLT_EN10MB);
        CHECK(r.interface_count() == 1);
        capture_record record;
        for (uint32_t us = 1; us <= 2; us++) {
            REQUIRE(r.next(record) == read_status::record);
            CHECK(record.ts_ns == us * 1000);
            CHECK(record.caplen == frame.size());
            CHECK(record.dlt == DLT_EN10MB);
        }
        CHECK(r.next(record) == read_status::end);
        CHECK(r.error() == "");
        pcap_t* p = merge_and_open({dir + "/dsb.pcapng"}, dir, "dsb-merged-" + std::to_string(leading.size()),
                                   file_format::pcapng, 2);
        CHECK(pcap_datalink(p) == DLT_EN10MB);
        pcap_close(p);

        // A section with no interface and no packet: no records, not a refusal.
        write_bytes(dir + "/bare.pcapng", pcapng_shb + leading);
        capture_reader bare;
        REQUIRE(bare.open(dir + "/bare.pcapng") == "");
        CHECK(bare.dlt() == -1);
        CHECK(bare.note() == dir + "/bare.pcapng: ends before its first record (no interface block)");
        CHECK(bare.next(record) == read_status::end);
        CHECK(linktype_text(bare.dlt()) == "none (the file describes no interface)");
    }
}

// A pcapng packet longer than its interface's snap length (tcpdump -r
// refuses it; Wireshark reads it whole) is cut to the output's snap length,
// the inputs' largest: said in a note naming the first, never silently.
TEST_CASE("merge says how many records it cut to the output's snap length, and where the first was")
{
    const std::string dir = test::temp_dir();
    std::string idb_body(8, '\0');
    idb_body[0] = 1;     // Ethernet
    idb_body[4] = 64;    // snap length 64
    const std::string frame = std::string(12, '\0') + std::string("\x08\x00\x45", 3) + std::string(85, '\0');
    write_bytes(dir + "/over.pcapng", pcapng_shb + pcapng_block(1, idb_body) + pcapng_epb(1, frame.substr(0, 60)) +
                                          pcapng_epb(2, frame) + pcapng_epb(3, frame));
    merge_request request;
    request.inputs = {dir + "/over.pcapng"};
    request.output = dir + "/over-merged.pcap";
    merge_result result;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(result.packets == 3);
    REQUIRE(result.notes.size() == 1);
    CHECK(result.notes[0] == dir + "/over.pcapng: record 2 and 1 more: longer than the output's snap "
                             "length (the inputs' largest): cut to 64 bytes (tcpdump -r refuses such a pcapng record; Wireshark reads it "
                             "whole)");
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(request.output.c_str(), errbuf);
    REQUIRE(p != nullptr);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    for (const uint32_t want : {60u, 64u, 64u}) {
        REQUIRE(pcap_next_ex(p, &h, &data) == 1);
        CHECK(h->caplen == want);
    }
    pcap_close(p);
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

namespace {

// pcapng by hand: a section, two Ethernet interfaces with different snap
// lengths (what mergecap writes of a 64-byte and a 65535-byte capture), and
// a 60-byte packet on each in turn. libpcap 1.10 refuses such a file after
// its first packet; Wireshark's reader takes it whole.
void write_two_snaplen_pcapng(const std::string& path, int packets, std::array<uint32_t, 2> snaplens = {64, 65535})
{
    std::vector<uint8_t> out;
    auto put32 = [&](uint32_t v) { out.insert(out.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 4); };
    auto put16 = [&](uint16_t v) { out.insert(out.end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 2); };
    put32(pcapng_section_header); put32(28); put32(pcapng_byte_order_magic); put16(1); put16(0);
    put32(0xffffffff); put32(0xffffffff); put32(28);
    for (uint32_t snaplen : snaplens) {   // IDB with if_tsresol 9
        put32(pcapng_interface_description); put32(32); put16(1); put16(0); put32(snaplen);
        put16(9); put16(1); out.insert(out.end(), {9, 0, 0, 0}); put16(0); put16(0); put32(32);
    }
    for (int i = 0; i < packets; i++) {
        const uint64_t ts = 1700000000ull * 1000000000u + static_cast<uint64_t>(i) * 1000;
        put32(pcapng_enhanced_packet); put32(28 + 60 + 4); put32(static_cast<uint32_t>(i % 2));
        put32(static_cast<uint32_t>(ts >> 32)); put32(static_cast<uint32_t>(ts)); put32(60); put32(60);
        std::vector<uint8_t> frame(60, static_cast<uint8_t>(i));
        out.insert(out.end(), frame.begin(), frame.end());
        put32(28 + 60 + 4);
    }
    FILE* f = fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(fwrite(out.data(), 1, out.size(), f) == out.size());
    fclose(f);
}

} // namespace

TEST_CASE("merge reads a pcapng file libpcap refuses (interfaces of different snap lengths) to its end")
{
    const std::string dir = test::temp_dir();
    write_two_snaplen_pcapng(dir + "/two.pcapng", 4);
    write_input(dir + "/good.pcap", DLT_EN10MB, 1, 1700000005);
    pcap_t* p = merge_and_open({dir + "/two.pcapng", dir + "/good.pcap"}, dir, "out", file_format::pcap_ns, 5);
    pcap_pkthdr* h;
    const u_char* d;
    std::vector<uint64_t> times;
    while (pcap_next_ex(p, &h, &d) == 1)
        times.push_back(static_cast<uint64_t>(h->ts.tv_sec) * 1000000000u + static_cast<uint64_t>(h->ts.tv_usec));
    pcap_close(p);
    CHECK(times.size() == 5);
    CHECK(std::is_sorted(times.begin(), times.end()));
}

TEST_CASE("a finished input merge cannot read to its end is an error naming it; the readable records are kept")
{
    const std::string dir = test::temp_dir();
    write_input(dir + "/three.pcap", DLT_EN10MB, 3, 1700000000);
    write_input(dir + "/good.pcap", DLT_EN10MB, 1, 1700000010);
    std::filesystem::copy_file(dir + "/three.pcap", dir + "/cut.pcap");
    std::filesystem::resize_file(dir + "/cut.pcap", std::filesystem::file_size(dir + "/three.pcap") - 20);

    merge_request request;
    request.inputs = {dir + "/cut.pcap", dir + "/good.pcap"};
    request.output = dir + "/out.pcap";
    merge_result result;
    const std::string error = merge_captures(request, result);
    CHECK_THAT(error, Catch::StartsWith(dir + "/cut.pcap: record 3 (byte 176): "));
    CHECK_THAT(error, Catch::Contains("incomplete"));
    CHECK(result.packets == 3);   // two of cut.pcap, good.pcap's one
    CHECK(result.stopped_in == std::vector<std::string>{dir + "/cut.pcap"});
    CHECK_FALSE(result.output_failed);
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(request.output.c_str(), errbuf);
    REQUIRE(p != nullptr);
    pcap_pkthdr* h;
    const u_char* d;
    int n = 0;
    while (pcap_next_ex(p, &h, &d) == 1)
        n++;
    pcap_close(p);
    CHECK(n == 3);

    // The same bytes named .part: a capture cut by a crash, a note and no error.
    std::filesystem::rename(dir + "/cut.pcap", dir + "/cut.pcap.part");
    request.inputs = {dir + "/cut.pcap.part", dir + "/good.pcap"};
    request.output = dir + "/out2.pcap";
    merge_result partial;
    CHECK(merge_captures(request, partial) == "");
    CHECK(partial.packets == 3);
    REQUIRE(partial.notes.size() == 1);
    CHECK_THAT(partial.notes[0], Catch::Contains("ends after 2 complete records"));
}

TEST_CASE("merge orders times past 2038 after times before it (pcap seconds are unsigned)")
{
    const std::string dir = test::temp_dir();
    write_input(dir + "/late.pcap", DLT_EN10MB, 1, 0xfffffff0l);            // 2106
    write_input(dir + "/mid.pcap", DLT_EN10MB, 1, 2147483648l);             // 2038, past 2^31
    write_input(dir + "/early.pcap", DLT_EN10MB, 1, 2147483647l);           // 2038, before 2^31
    pcap_t* p = merge_and_open({dir + "/late.pcap", dir + "/mid.pcap", dir + "/early.pcap"}, dir, "out",
                               file_format::pcapng, 3);
    pcap_close(p);
    capture_reader reader;
    REQUIRE(reader.open(dir + "/out.pcapng").empty());
    capture_record r;
    std::vector<uint64_t> seconds;
    while (reader.next(r) == read_status::record)
        seconds.push_back(r.ts_ns / 1000000000u);
    CHECK(seconds == std::vector<uint64_t>{2147483647u, 2147483648u, 0xfffffff0u});
}

namespace {

// The packets of a capture, and its header's snap length, read with libpcap.
struct read_back {
    std::vector<uint64_t> times_s;
    int snaplen = -1;
};

read_back read_with_libpcap(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    INFO(errbuf);
    REQUIRE(p != nullptr);
    read_back out;
    out.snaplen = pcap_snapshot(p);
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(p, &h, &d) == 1)
        out.times_s.push_back(static_cast<uint64_t>(h->ts.tv_sec));
    pcap_close(p);
    return out;
}

// A session folder as the writers leave it: two writers' files.
const std::string w0 = "/ring-w0-000001-20231114T221320Z.pcap";
const std::string w1 = "/ring-w1-000001-20231114T221320Z.pcap";

} // namespace

TEST_CASE("a folder's merge takes the files the writers named: never an earlier merge's output, nor other files")
{
    const std::string dir = test::temp_dir();
    write_input(dir + w0, DLT_EN10MB, 3, 1700000000);
    write_input(dir + w1, DLT_EN10MB, 2, 1700000010);
    std::ofstream(dir + "/session.json") << "{}\n";
    // What an earlier merge left beside them, and a file put there by hand.
    write_input(dir + "/merged.pcap", DLT_EN10MB, 5, 1700000000);
    write_input(dir + "/notes.pcap", DLT_EN10MB, 1, 1700000000);

    merge_request request;
    request.inputs = {dir};
    request.output = dir + "/merged-again.pcap";
    merge_result result;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(result.packets == 5);
    CHECK(result.files == 2);
    // Merged again, with its own output now in the folder: still 5, not 10.
    request.output = test::temp_dir() + "/third.pcap";
    merge_result again;
    REQUIRE(merge_captures(request, again) == "");
    CHECK(again.packets == 5);
    CHECK(again.files == 2);

    CHECK(is_writer_file_name(w0.substr(1)));
    CHECK(is_writer_file_name("ring-w12-123456-20231114T221320Z.pcapng.part"));
    for (const char* other : {"merged.pcap", "merged.pcapng", "notes.pcap", "session.json", "ring-w0.pcap",
                              "ring-w0-000001-20231114T221320Z.txt", "ring-wx-000001-20231114T221320Z.pcap",
                              "ring-w0-01-20231114T221320Z.pcap", "-w0-000001-20231114T221320Z.pcap",
                              "ring-w0-000001-2023111T221320Z.pcap", "a b-w0-000001-20231114T221320Z.pcap"}) {
        INFO(other);
        CHECK_FALSE(is_writer_file_name(other));
    }
}

TEST_CASE("a folder's file that cannot be read is left out, named; the others are merged")
{
    const std::string dir = test::temp_dir();
    const std::string outside = test::temp_dir();
    write_input(dir + w0, DLT_EN10MB, 3, 1700000000);
    write_input(outside + "/elsewhere.pcap", DLT_EN10MB, 4, 1700000005);
    // A link to a file outside (never followed in a folder), a link to the
    // folder's own file (no loss: no error), text at a capture file's name.
    const std::string link = dir + "/s-w0-000002-20231114T221321Z.pcap";
    const std::string same = dir + "/s-w0-000003-20231114T221322Z.pcap";
    const std::string text = dir + "/s-w0-000004-20231114T221323Z.pcap";
    REQUIRE(symlink((outside + "/elsewhere.pcap").c_str(), link.c_str()) == 0);
    REQUIRE(symlink((dir + w0).c_str(), same.c_str()) == 0);
    std::ofstream(text) << "not packets\n";

    merge_request request;
    request.inputs = {dir};
    request.output = outside + "/out.pcap";
    merge_result result;
    const std::string error = merge_captures(request, result);
    INFO(error);
    CHECK(error.find(link + ": a symbolic link: not followed in a folder") != std::string::npos);
    CHECK(error.find(text + ": not a capture file") != std::string::npos);
    CHECK(error.find(same) == std::string::npos);
    CHECK(error.ends_with("merged what could be read (3 packets) into " + outside + "/out.pcap: it is incomplete"));
    CHECK(result.packets == 3);
    // By path, each one the merge did not read: the link, and the text.
    CHECK(result.stopped_in.size() == 2);
    CHECK(std::count(result.stopped_in.begin(), result.stopped_in.end(), link) == 1);
    CHECK(std::count(result.stopped_in.begin(), result.stopped_in.end(), text) == 1);
    // Named as an input, the link is read; text named as an input is
    // refused before anything is written.
    request.inputs = {dir + w0, link};
    request.output = outside + "/named.pcap";
    merge_result named;
    CHECK(merge_captures(request, named) == "");
    CHECK(named.packets == 7);
    // The link's file given after the folder: read, so no loss. The folder
    // given twice: each file named once. A link to nothing: said so.
    const std::string dangling = dir + "/s-w0-000005-20231114T221324Z.pcap";
    REQUIRE(symlink((outside + "/nothing.pcap").c_str(), dangling.c_str()) == 0);
    request.inputs = {dir, dir + "/", outside + "/elsewhere.pcap"};
    request.output = outside + "/twice.pcap";
    merge_result twice;
    const std::string twice_error = merge_captures(request, twice);
    INFO(twice_error);
    CHECK(twice_error.find(link) == std::string::npos);
    CHECK(twice_error.find(dangling + ": a symbolic link to no file") != std::string::npos);
    const auto count = [&](const std::string& what) {
        size_t n = 0;
        for (size_t at = twice_error.find(what); at != std::string::npos; at = twice_error.find(what, at + 1))
            n++;
        return n;
    };
    CHECK(count("s-w0-000004-20231114T221323Z.pcap:") == 1);   // under either spelling of the folder
    CHECK(count("s-w0-000005-20231114T221324Z.pcap:") == 1);
    CHECK(twice.packets == 7);
    request.inputs = {dir + w0, text};
    request.output = outside + "/refused.pcap";
    merge_result refused;
    CHECK(merge_captures(request, refused).starts_with(text + ": not a capture file"));
    CHECK_FALSE(std::filesystem::exists(request.output));
}

TEST_CASE("merge refuses to replace its output unless forced, and never writes over an input")
{
    const std::string dir = test::temp_dir();
    write_input(dir + w0, DLT_EN10MB, 3, 1700000000);
    const std::string out = test::temp_dir() + "/out.pcap";
    std::ofstream(out) << "precious";

    merge_request request;
    request.inputs = {dir};
    request.output = out;
    merge_result result;
    CHECK(merge_captures(request, result) == out + ": already exists; give another -o, or --force to replace it");
    std::string kept;
    std::getline(std::ifstream(out), kept);
    CHECK(kept == "precious");

    request.force = true;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(read_with_libpcap(out).times_s.size() == 3);

    // Forced onto one of its own inputs: refused, the input untouched.
    // Found in a folder given: in the words of a file named as the
    // folder's capture files, which it is.
    const auto size = std::filesystem::file_size(dir + w0);
    const std::string as_writer_names = ": named as the capture files of " + dir +
                                        " are, in that folder: this and every later merge or query of the folder "
                                        "would read it as one of them; give -o a file outside the folder";
    request.output = dir + w0;
    CHECK(merge_captures(request, result) == dir + w0 + as_writer_names);
    CHECK(result.refused);
    CHECK(std::filesystem::file_size(dir + w0) == size);
    // Given by name: an input.
    merge_request named;
    named.inputs = {dir + w0};
    named.output = dir + w0;
    named.force = true;
    CHECK(merge_captures(named, result) == dir + w0 + ": the output is also an input; give another -o");
    CHECK(std::filesystem::file_size(dir + w0) == size);
    // Not there yet, but named as a writer names its files, in the folder
    // read: refused alike (a later query of the folder would read it, its
    // packets twice), and not left behind.
    const std::string later = dir + "/cap-w0-000099-20231114T221329Z.pcap";
    request.output = later;
    request.force = false;
    CHECK(merge_captures(request, result) == later + as_writer_names);
    CHECK_FALSE(std::filesystem::exists(later));
    request.output = dir + "/./sub/../cap-w1-000001-20231114T221329Z.pcap";   // the folder by another path
    std::filesystem::create_directory(dir + "/sub");
    CHECK(merge_captures(request, result) == request.output + as_writer_names);
    // In the folder under another name, or named so elsewhere: written.
    request.output = dir + "/merged.pcap";
    REQUIRE(merge_captures(request, result) == "");
    CHECK(read_with_libpcap(dir + "/merged.pcap").times_s.size() == 3);
    request.output = test::temp_dir() + "/cap-w0-000099-20231114T221329Z.pcap";
    REQUIRE(merge_captures(request, result) == "");
    request.force = true;

    // Refused before anything is written: the file made for it goes again.
    write_input(dir + "/raw.pcap", DLT_RAW, 1, 1700000000);
    merge_request mixed;
    mixed.inputs = {dir + w0, dir + "/raw.pcap"};
    mixed.output = dir + "/mixed.pcap";
    CHECK_THAT(merge_captures(mixed, result), Catch::Contains("differs from the first input's"));
    CHECK_FALSE(std::filesystem::exists(dir + "/mixed.pcap"));
}

TEST_CASE("the merged file's snap length is the largest of its inputs'")
{
    const std::string dir = test::temp_dir();
    write_input(dir + w0, DLT_EN10MB, 2, 1700000000, 256);
    write_input(dir + w1, DLT_EN10MB, 2, 1700000001, 128);
    merge_request request;
    request.inputs = {dir};
    request.output = test::temp_dir() + "/out.pcap";
    merge_result result;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(read_with_libpcap(request.output).snaplen == 256);

    // pcapng inputs: their interfaces' largest (wiretap's side of the reader).
    const std::string two = test::temp_dir() + "/two.pcapng";
    write_two_snaplen_pcapng(two, 2);
    request.inputs = {two};
    request.output = test::temp_dir() + "/out.pcap";
    request.format = file_format::pcap_ns;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(read_with_libpcap(request.output).snaplen == 65535);

    // Interfaces that declare less than their 60-byte records hold: the
    // header says their largest, and the records are cut to it, as libpcap
    // reads an over-long record of a pcap file (the output stays valid).
    const std::string short_snap = test::temp_dir() + "/short.pcapng";
    write_two_snaplen_pcapng(short_snap, 2, {32, 48});
    request.inputs = {short_snap};
    request.output = test::temp_dir() + "/out.pcap";
    REQUIRE(merge_captures(request, result) == "");
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(request.output.c_str(), errbuf);
    REQUIRE(p != nullptr);
    CHECK(pcap_snapshot(p) == 48);
    pcap_pkthdr* h;
    const u_char* d;
    REQUIRE(pcap_next_ex(p, &h, &d) == 1);
    CHECK(h->caplen == 48);
    CHECK(h->len == 60);
    pcap_close(p);
}

TEST_CASE("merge keeps the packets of a time window: since and until, inclusive")
{
    const std::string dir = test::temp_dir();
    write_input(dir + w0, DLT_EN10MB, 10, 1700000000);   // 1700000000 .. 1700000009
    write_input(dir + w1, DLT_EN10MB, 10, 1700000005);   // 1700000005 .. 1700000014
    merge_request request;
    request.inputs = {dir};
    request.output = test::temp_dir() + "/window.pcap";
    request.since_ns = 1700000004ull * 1000000000u;
    request.until_ns = 1700000006ull * 1000000000u;
    merge_result result;
    REQUIRE(merge_captures(request, result) == "");
    CHECK(result.packets == 5);
    CHECK(read_with_libpcap(request.output).times_s ==
          std::vector<uint64_t>{1700000004, 1700000005, 1700000005, 1700000006, 1700000006});
}

TEST_CASE("a .part file is read up to its last complete record at the size it had; a live one without a note")
{
    const std::string dir = test::temp_dir();
    const std::string part = dir + "/ring-w0-000002-20231114T221330Z.pcap.part";
    write_input(part, DLT_EN10MB, 4, 1700000020);
    write_input(dir + w0, DLT_EN10MB, 2, 1700000000);
    {   // half a record: a header that promises 60 bytes, and 10 of them
        std::ofstream f(part, std::ios::app | std::ios::binary);
        const pcap_record_header h{1700000030, 0, 60, 60};
        f.write(reinterpret_cast<const char*>(&h), sizeof h);
        f.write("0123456789", 10);
    }
    // Created just now by a rotation: empty.
    std::ofstream(dir + "/ring-w1-000001-20231114T221320Z.pcap.part").close();

    merge_request request;
    request.inputs = {dir};
    request.output = test::temp_dir() + "/snapshot.pcap";
    request.live = true;
    merge_result live;
    REQUIRE(merge_captures(request, live) == "");
    CHECK(live.packets == 6);
    CHECK(live.files == 2);
    CHECK(read_with_libpcap(request.output).times_s ==
          std::vector<uint64_t>{1700000000, 1700000001, 1700000020, 1700000021, 1700000022, 1700000023});
    CHECK(live.notes.empty());   // a running capture's tails, and its next file just made empty, are no news

    // The folder of a capture that was cut (not live): where and why it ends.
    request.live = false;
    request.output = test::temp_dir() + "/crashed.pcap";
    merge_result cut;
    REQUIRE(merge_captures(request, cut) == "");
    CHECK(cut.packets == 6);
    REQUIRE(cut.notes.size() == 2);
    CHECK_THAT(cut.notes[0], Catch::Contains("ends after 4 complete records") && Catch::Contains("half a record"));
    CHECK_THAT(cut.notes[1], Catch::Contains("empty"));
}

TEST_CASE("a merge whose reader hangs up stops at its first failed write, not at the end of its inputs")
{
    // GET .../pcap and `linecapctl merge -o - | head`: the pipe's reader goes
    // away; the merge must not read the rest of a session for nothing.
    const std::string dir = test::temp_dir();
    write_input(dir + "/a.pcap", DLT_EN10MB, 200000, 1000);
    write_input(dir + "/b.pcap", DLT_EN10MB, 200000, 1000);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    close(fds[0]);   // the reader is gone before the first byte
    const auto previous = std::signal(SIGPIPE, SIG_IGN);   // as the daemon runs
    merge_request request;
    request.inputs = {dir + "/a.pcap", dir + "/b.pcap"};
    request.output = "the HTTP client";
    request.output_fd = fds[1];
    merge_result result;
    const std::string error = merge_captures(request, result);
    std::signal(SIGPIPE, previous);
    close(fds[1]);
    INFO(error);
    CHECK(error.find("Broken pipe") != std::string::npos);
    CHECK(result.output_failed);   // the daemon's log: "ended early", not "failed"
    CHECK(result.stopped_in.empty());
    CHECK(result.packets < 400000 / 2);   // the records of the first buffer written (4 MiB), not all
}

namespace {

// A pcapng file of two ports' interfaces, as a writer makes it: packet i on
// port i % 2, 1 µs apart from `first_ns`.
void write_two_port_pcapng(const std::string& dir, const std::string& name, int packets, uint64_t first_ns)
{
    const std::vector<capture_interface> ports = {{0, "net_pcap0", "net_pcap"}, {1, "net_pcap1", "net_pcap"}};
    capture_file_options o;
    o.format = file_format::pcapng;
    o.chunk_bytes = 1 << 16;
    o.interfaces = &ports;
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    capture_writer w;
    REQUIRE(w.open(dir_fd, name, o) == 0);
    const uint8_t frame[60] = {0x02};
    for (int i = 0; i < packets; i++)
        w.write_record(first_ns + static_cast<uint64_t>(i) * 1000, 60, frame, 60, static_cast<uint32_t>(i % 2));
    REQUIRE(w.close(0) == 0);
    close(dir_fd);
}

// Each record's interface name, in the order read.
std::vector<std::string> interfaces_of(const std::string& path)
{
    capture_reader r;
    REQUIRE(r.open(path) == "");
    std::vector<std::string> names;
    capture_record rec;
    while (r.next(rec) == read_status::record)
        names.push_back(r.interface_name(rec.interface));
    return names;
}

} // namespace

TEST_CASE("a pcapng merge keeps its inputs' interfaces, one per name; a pcap input's is \"linecap\"")
{
    const std::string dir = test::temp_dir();
    write_two_port_pcapng(dir, "a.pcapng", 4, 1700000000ull * 1000000000u);
    write_two_port_pcapng(dir, "b.pcapng", 2, 1700000000ull * 1000000000u + 500);
    write_input(dir + "/c.pcap", DLT_EN10MB, 1, 1700000001);
    pcap_close(merge_and_open({dir + "/a.pcapng", dir + "/b.pcapng", dir + "/c.pcap"}, dir, "out", file_format::pcapng, 7));
    // a0 (port 0), b0 (0), a1 (1), b1 (1), a2 (0), a3 (1), then c's.
    CHECK(interfaces_of(dir + "/out.pcapng") ==
          std::vector<std::string>{"net_pcap0", "net_pcap0", "net_pcap1", "net_pcap1", "net_pcap0", "net_pcap1", "linecap"});
    capture_reader r;
    REQUIRE(r.open(dir + "/out.pcapng") == "");
    CHECK(r.interface_count() == 3);
    CHECK(r.interface_description(1) == "net_pcap");
}

TEST_CASE("merge_readers of readers opened by the caller (fleet merge's parts): interfaces renamed per input, the comment")
{
    const std::string dir = test::temp_dir();
    write_two_port_pcapng(dir, "a.pcapng", 3, 1700000000ull * 1000000000u);
    write_two_port_pcapng(dir, "b.pcapng", 3, 1700000000ull * 1000000000u + 500);
    std::vector<std::unique_ptr<merge_input>> inputs;
    for (const char* node : {"a", "b"}) {
        auto in = std::make_unique<merge_input>();
        REQUIRE(in->reader.open(dir + "/" + node + ".pcapng") == "");
        const capture_reader& reader = in->reader;
        in->name_interface = [node = std::string(node), &reader](uint32_t i) {
            return std::pair{node + ":" + reader.interface_name(i), std::string("node ") + node};
        };
        inputs.push_back(std::move(in));
    }
    const std::string out_path = dir + "/fleet.pcapng";
    merge_sink out;
    out.fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    out.name = out_path;
    out.comment = "fleet merge of x: nodes a, b";
    merge_result result;
    bool attached = false;
    CHECK(merge_readers(inputs, out, result, attached) == "");
    CHECK(attached);
    CHECK(result.packets == 6);
    // a0 (port 0), b0 (0), a1 (1), b1 (1), a2 (0), b2 (0).
    CHECK(interfaces_of(out_path) ==
          std::vector<std::string>{"a:net_pcap0", "b:net_pcap0", "a:net_pcap1", "b:net_pcap1", "a:net_pcap0", "b:net_pcap0"});
    capture_reader r;
    REQUIRE(r.open(out_path) == "");
    CHECK(r.interface_count() == 4);
    CHECK(r.interface_description(3) == "node b");
    // The comment, as the section header holds it (opt_comment, code 1).
    std::ifstream in(out_path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(bytes.find("fleet merge of x: nodes a, b") != std::string::npos);
}
