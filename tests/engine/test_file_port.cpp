// linecap -r's reader of capture files (engine/file_port.h), on files built
// here byte by byte: what each record becomes, and the errors.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <pcap/pcap.h>

#include "engine/file_port.h"
#include "engine/worker.h"
#include "filters/bpf.h"
#include "tests/support/dpdk_env.h"

using namespace linecap;

namespace {

struct raw_record {
    uint32_t sec;
    uint32_t frac;
    uint32_t caplen;
    uint32_t len;
};

void put32(std::string& out, uint32_t v, bool big_endian = false)
{
    if (big_endian)
        v = __builtin_bswap32(v);
    out.append(reinterpret_cast<const char*>(&v), 4);
}

void put16(std::string& out, uint16_t v, bool big_endian = false)
{
    if (big_endian)
        v = __builtin_bswap16(v);
    out.append(reinterpret_cast<const char*>(&v), 2);
}

std::string frame_bytes(uint32_t n, uint8_t seed)
{
    std::string s(n, '\0');
    for (uint32_t i = 0; i < n; i++)
        s[i] = static_cast<char>(seed + i);
    return s;
}

std::string pcap_file(const std::vector<raw_record>& records, bool nanosecond = false, bool big_endian = false,
                      uint32_t linktype = 1)
{
    std::string out;
    put32(out, nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, big_endian);
    put16(out, 2, big_endian);
    put16(out, 4, big_endian);
    put32(out, 0, big_endian);
    put32(out, 0, big_endian);
    put32(out, 262144, big_endian);
    put32(out, linktype, big_endian);
    uint8_t seed = 1;
    for (const raw_record& r : records) {
        put32(out, r.sec, big_endian);
        put32(out, r.frac, big_endian);
        put32(out, r.caplen, big_endian);
        put32(out, r.len, big_endian);
        out += frame_bytes(r.caplen, seed++);
    }
    return out;
}

// A pcapng section with one interface (Ethernet unless `linktype` says) of
// resolution 10^-`tsresol`.
std::string pcapng_file(uint8_t tsresol, const std::vector<std::pair<uint64_t, raw_record>>& packets,
                        uint16_t linktype = 1)
{
    std::string out;
    put32(out, 0x0A0D0D0A);
    put32(out, 28);
    put32(out, 0x1A2B3C4D);
    put16(out, 1);
    put16(out, 0);
    put32(out, 0xffffffff);
    put32(out, 0xffffffff);
    put32(out, 28);
    put32(out, 1);   // interface description
    put32(out, 32);
    put16(out, linktype);
    put16(out, 0);
    put32(out, 262144);
    put16(out, 9);   // if_tsresol
    put16(out, 1);
    out += static_cast<char>(tsresol);
    out += std::string(3, '\0');
    put32(out, 0);   // end of options
    put32(out, 32);
    uint8_t seed = 1;
    for (const auto& [units, r] : packets) {
        const uint32_t padded = (r.caplen + 3) & ~3u;
        const uint32_t total = 32 + padded;
        put32(out, 6);
        put32(out, total);
        put32(out, 0);
        put32(out, static_cast<uint32_t>(units >> 32));
        put32(out, static_cast<uint32_t>(units));
        put32(out, r.caplen);
        put32(out, r.len);
        out += frame_bytes(r.caplen, seed++);
        out += std::string(padded - r.caplen, '\0');
        put32(out, total);
    }
    return out;
}

std::string write_file(const std::string& name, const std::string& bytes)
{
    const std::string path = test::temp_dir() + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

struct read_result {
    std::vector<capture_record> records;   // data pointers are not kept
    std::vector<std::string> data;
    std::string error;
    bool ended = false;
};

read_result read_all(const std::string& path)
{
    read_result r;
    std::string error;
    auto file = open_replay_file(path, error);
    INFO(error);
    REQUIRE(file != nullptr);
    capture_record record;
    for (;;) {
        const auto st = file->next(record);
        if (st != read_status::record) {
            r.ended = st == read_status::end;
            r.error = file->error();
            break;
        }
        r.data.emplace_back(reinterpret_cast<const char*>(record.data), record.caplen);
        record.data = nullptr;
        r.records.push_back(record);
    }
    return r;
}

constexpr uint64_t ns = 1000000000ull;

} // namespace

TEST_CASE("pcap seconds are unsigned: times past 2038 and up to 2106 come back exactly")
{
    const bool nanosecond = GENERATE(false, true);
    const bool big_endian = GENERATE(false, true);
    const uint32_t frac = nanosecond ? 250000001u : 250000u;
    const auto path = write_file("y2038.pcap",
                                 pcap_file({{2145916790, frac, 60, 60}, {2147483647, frac, 60, 60},
                                            {2147483648u, frac, 60, 60}, {4294967295u, frac, 60, 60}},
                                           nanosecond, big_endian));
    const read_result r = read_all(path);
    CHECK(r.ended);
    REQUIRE(r.records.size() == 4);
    const uint64_t frac_ns = nanosecond ? 250000001u : 250000000u;
    CHECK(r.records[0].ts_ns == 2145916790ull * ns + frac_ns);
    CHECK(r.records[1].ts_ns == 2147483647ull * ns + frac_ns);
    CHECK(r.records[2].ts_ns == 2147483648ull * ns + frac_ns);
    CHECK(r.records[3].ts_ns == 4294967295ull * ns + frac_ns);
    CHECK(r.data[3] == frame_bytes(60, 4));
}

TEST_CASE("lengths: snapped records keep their wire length; caplen > len gets len = caplen; empty records")
{
    const auto path = write_file("lengths.pcap", pcap_file({{1, 0, 96, 1500}, {2, 0, 60, 20}, {3, 0, 0, 262144},
                                                            {4, 0, 47, 0}, {5, 0, 1514, 1514}}));
    const read_result r = read_all(path);
    CHECK(r.ended);
    REQUIRE(r.records.size() == 5);
    CHECK((r.records[0].caplen == 96 && r.records[0].len == 1500));
    CHECK((r.records[1].caplen == 60 && r.records[1].len == 60));
    CHECK((r.records[2].caplen == 0 && r.records[2].len == 262144));
    CHECK((r.records[3].caplen == 47 && r.records[3].len == 47));
    CHECK((r.records[4].caplen == 1514 && r.records[4].len == 1514));
    CHECK(r.data[0] == frame_bytes(96, 1));
    CHECK(r.data[1] == frame_bytes(60, 2));
}

TEST_CASE("a fraction of a second of one second or more is added as the file holds it, unsigned")
{
    // tcpdump's rx_serviceid_oobr.pcap: 0 s + 3841916976 µs (as a signed field, negative).
    const read_result us = read_all(write_file("frac.pcap", pcap_file({{0, 3841916976u, 0, 0}, {10, 1000000, 60, 60}})));
    REQUIRE(us.records.size() == 2);
    CHECK(us.records[0].ts_ns == 3841916976000ull);
    CHECK(us.records[1].ts_ns == 11 * ns);
    const read_result nsf = read_all(write_file("frac-ns.pcap", pcap_file({{7, 4294967295u, 60, 60}}, true)));
    REQUIRE(nsf.records.size() == 1);
    CHECK(nsf.records[0].ts_ns == 7 * ns + 4294967295ull);
}

TEST_CASE("pcapng: nanosecond and microsecond interfaces, times past 2106")
{
    const uint8_t tsresol = GENERATE(uint8_t{6}, uint8_t{9});
    const uint64_t per_second = tsresol == 9 ? ns : 1000000;
    const uint64_t t1 = 1700000000ull * per_second + 123;           // .000000123 or .000123
    const uint64_t t2 = 4294967296ull * per_second + per_second - 1;  // 2106-02-07T06:28:16, one unit before the next second
    const auto path = write_file("in.pcapng", pcapng_file(tsresol, {{t1, {0, 0, 61, 1500}}, {t2, {0, 0, 64, 64}}}));
    const read_result r = read_all(path);
    CHECK(r.ended);
    REQUIRE(r.records.size() == 2);
    const uint64_t unit_ns = ns / per_second;
    CHECK(r.records[0].ts_ns == 1700000000ull * ns + 123 * unit_ns);
    CHECK(r.records[1].ts_ns == 4294967296ull * ns + (per_second - 1) * unit_ns);
    CHECK((r.records[0].caplen == 61 && r.records[0].len == 1500));
    CHECK(r.data[0] == frame_bytes(61, 1));
    CHECK(r.data[1] == frame_bytes(64, 2));
}

TEST_CASE("a torn record: the records before it, then one error naming the file, the record and the byte")
{
    std::string bytes = pcap_file({{1, 0, 60, 60}, {2, 0, 60, 60}, {3, 0, 100, 100}});
    const size_t cut = bytes.size() - 40;   // inside the third record's data
    bytes.resize(cut);
    const auto path = write_file("torn.pcap", bytes);
    const read_result r = read_all(path);
    CHECK_FALSE(r.ended);
    CHECK(r.records.size() == 2);
    INFO(r.error);
    CHECK(r.error.find(path) != std::string::npos);
    CHECK(r.error.find("record 3") != std::string::npos);
    CHECK(r.error.find("record 3 (byte 176)") != std::string::npos);   // where the torn record starts

    // Cut inside a record header.
    std::string header_cut = pcap_file({{1, 0, 60, 60}, {2, 0, 60, 60}});
    header_cut.resize(24 + 76 + 10);
    const read_result h = read_all(write_file("torn-header.pcap", header_cut));
    CHECK(h.records.size() == 1);
    CHECK(h.error.find("record 2") != std::string::npos);
}

TEST_CASE("files that are not Ethernet captures are refused at open, by name")
{
    struct bad {
        const char* name;
        std::string bytes;
        const char* says;
    };
    for (const bad& b : {bad{"text.pcap", "hello, world\n", "not a capture file: it starts with 68 65 6c 6c"},
                         bad{"empty.pcap", "", "not a capture file: it holds 0 bytes"},
                         bad{"short.pcap", "\xd4\xc3", "not a capture file: it holds 2 bytes"},
                         bad{"header-cut.pcap", pcap_file(std::vector<raw_record>{}).substr(0, 20),
                             "20 bytes, shorter than a pcap file header (24 bytes): the file was cut short"},
                         bad{"header-cut.pcapng", pcapng_file(6, {{1, {0, 0, 20, 20}}}, 1).substr(0, 20),
                             "20 bytes, shorter than a pcapng Section Header Block (at least 28 bytes): the file was "
                             "cut short"},
                         // The same words whichever library reads the file (libpcap, Wireshark's reader).
                         bad{"raw-ip.pcap", pcap_file({{1, 0, 20, 20}}, false, false, 101),
                             "its link type is RAW (Raw IP); linecap reads Ethernet captures only"},
                         bad{"raw-ip.pcapng", pcapng_file(6, {{1, {0, 0, 20, 20}}}, 101),
                             "its link type is RAW (Raw IP); linecap reads Ethernet captures only"},
                         bad{"sll.pcapng", pcapng_file(6, {{1, {0, 0, 20, 20}}}, 113),
                             "its link type is LINUX_SLL (Linux cooked v1); linecap reads Ethernet captures only"}}) {
        const auto path = write_file(b.name, b.bytes);
        std::string error;
        CHECK(open_replay_file(path, error) == nullptr);
        INFO(error);
        CHECK(error.find("-r " + path + ": ") == 0);
        CHECK(error.find(b.says) != std::string::npos);
    }
    std::string error;
    CHECK(open_replay_file("/nonexistent/x.pcap", error) == nullptr);
    CHECK(error == "-r /nonexistent/x.pcap: cannot open it: No such file or directory");
}

namespace {

// What one -r run through receive_file_records hands out and counts.
struct prefiltered_run {
    std::vector<uint64_t> kept_records;   // indexes of the records handed out as mbufs
    uint64_t calls_before_first_packet = 0;
    uint64_t fed_after_first_call = 0;
    bool finished_after_first_call = false;
    worker_totals counted;
    uint64_t fed = 0, port_packets = 0, port_bytes = 0;
};

prefiltered_run receive_all(const std::string& path, const bpf_expression* prefilter,
                            const std::vector<raw_record>& records)
{
    prefiltered_run run;
    file_port f;
    f.paths = {path};
    REQUIRE(open_file_port(f, test::mbuf_pool()) == "");
    f.prefilter = prefilter;
    auto w = std::make_unique<worker>();
    rte_mbuf* pkts[32];
    for (uint64_t call = 0;; call++) {
        const uint16_t n = receive_file_records(f, *w, pkts, 32);
        if (call == 0) {
            run.fed_after_first_call = f.fed.load();
            run.finished_after_first_call = f.finished.load();
        }
        for (uint16_t i = 0; i < n; i++) {
            // Which record it is: its wire length is its own (below).
            const uint32_t wire = meta_of(pkts[i])->wire_len;
            uint64_t index = 0;
            while (index < records.size() && records[index].len != wire)
                index++;
            REQUIRE(index < records.size());
            CHECK(pkts[i]->pkt_len == records[index].caplen);
            run.kept_records.push_back(index);
            rte_pktmbuf_free(pkts[i]);
        }
        if (n == 0 && f.finished.load())
            break;
        REQUIRE(call < 100000);
    }
    REQUIRE(f.error == "");
    run.counted = read_worker_totals(w->counters);
    run.fed = f.fed.load();
    run.port_packets = f.rx_packets.load();
    run.port_bytes = f.rx_bytes.load();
    close_file_port(f);
    return run;
}

} // namespace

TEST_CASE("-r's prefilter: the records the expression refuses are counted as received and filtered, never copied")
{
    // Every record has a wire length of its own, so a handed-out mbuf names
    // its record. Odd ones: an empty record of a long packet, a snapped one,
    // one over 65535 bytes (no one-segment view: copied, as the classifier
    // decides), and 3000 that the expression refuses in a row (more than one
    // call's look-ahead).
    std::vector<raw_record> records;
    for (uint32_t i = 0; i < 200; i++)
        records.push_back({i, 0, 60 + i % 7, 1000 + i});
    records.push_back({300, 0, 0, 262144});
    records.push_back({301, 0, 96, 1500 * 7});
    records.push_back({302, 0, 70000, 70000});
    for (uint32_t i = 0; i < 3000; i++)
        records.push_back({400 + i, 0, 64, 20000 + i});
    records.push_back({9000, 0, 61, 19999});
    const auto path = write_file("prefilter.pcap", pcap_file(records));
    // Records' first bytes run 1, 2, 3, ... (pcap_file's seeds).
    const std::string expression = GENERATE(as<std::string>{}, "ether[0] & 3 = 1 or len = 262144 or len = 10500",
                                            "len < 1100 and ether[2] > 40", "len = 19999");
    const bpf_runner runner = GENERATE(bpf_runner::guarded_jit, bpf_runner::interpreter);
    INFO(expression);
    bpf_expression prefilter;
    REQUIRE(prefilter.compile(expression, runner, packet_meta_offset + static_cast<int>(offsetof(packet_meta, wire_len)))
            == "");

    // libpcap's own interpreter on the bytes as the file holds them: what tcpdump -r keeps.
    bpf_program program{};
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    REQUIRE(pcap_compile(dead.get(), &program, expression.c_str(), 1, 0) == 0);
    std::vector<uint64_t> expected;
    uint64_t bytes = 0, refused_bytes = 0;
    for (uint64_t r = 0; r < records.size(); r++) {
        const std::string data = frame_bytes(records[r].caplen, static_cast<uint8_t>(r + 1));
        bytes += records[r].caplen;
        // The record too long for a view is handed out whatever the expression says.
        if (records[r].caplen > UINT16_MAX ||
            bpf_filter(program.bf_insns, reinterpret_cast<const u_char*>(data.data()), records[r].len,
                       records[r].caplen) != 0)
            expected.push_back(r);
        else
            refused_bytes += records[r].caplen;
    }
    pcap_freecode(&program);

    const prefiltered_run run = receive_all(path, &prefilter, records);
    CHECK(run.kept_records == expected);
    // The worker counts the mbufs handed out once it has classified them;
    // the port counts the refused ones for it, as received and filtered.
    CHECK(run.counted.rx_packets == records.size() - expected.size());
    CHECK(run.counted.rx_bytes == refused_bytes);
    CHECK(run.counted.filtered == records.size() - expected.size());
    CHECK(run.counted.matched == 0);
    CHECK(run.fed == records.size());
    CHECK(run.port_packets == records.size());
    CHECK(run.port_bytes == bytes);
    if (expression == "len = 19999") {
        // One call looks at prefilter_look_ahead records at most, and hands
        // none out: the worker passes a quiescent point between calls.
        CHECK(run.fed_after_first_call == prefilter_look_ahead);
        CHECK_FALSE(run.finished_after_first_call);
        CHECK(run.kept_records == std::vector<uint64_t>{202, records.size() - 1});
    }

    // Without a prefilter every record is handed out.
    const prefiltered_run all = receive_all(path, nullptr, records);
    CHECK(all.kept_records.size() == records.size());
    CHECK(all.counted.rx_packets == 0);   // the worker counts them, after classifying
    CHECK(all.fed == records.size());
}

TEST_CASE("pcap records read straight out of the mapping are libpcap's records, odd ones included")
{
    // Records libpcap hands out changed (cut to the file's snap length, one
    // longer than its original length), in files of both byte orders, µs
    // and ns, versions 2.4 (read out of the mapping) and 2.3 (libpcap's
    // length swap: read by libpcap throughout), each against libpcap's own
    // pcap_next_ex on the same file, record after record.
    const bool nanosecond = GENERATE(false, true);
    const bool big_endian = GENERATE(false, true);
    const uint16_t minor = GENERATE(uint16_t{4}, uint16_t{3});
    std::string bytes = pcap_file({{1, 3841916976u, 60, 60}, {2, 5, 100, 100}, {3, 6, 64, 1500}, {4, 7, 200, 50},
                                   {5, 8, 61, 61}, {6, 9, 0, 0}, {7, 10, 65, 66}},
                                  nanosecond, big_endian);
    const uint32_t snaplen = big_endian ? __builtin_bswap32(64u) : 64u;
    std::memcpy(&bytes[16], &snaplen, 4);
    const uint16_t minor_field = big_endian ? __builtin_bswap16(minor) : minor;
    std::memcpy(&bytes[6], &minor_field, 2);
    const auto path = write_file("odd.pcap", bytes);
    INFO("nanosecond " << nanosecond << ", big endian " << big_endian << ", version 2." << minor);

    const read_result r = read_all(path);
    char errbuf[PCAP_ERRBUF_SIZE];
    std::unique_ptr<pcap_t, decltype(&pcap_close)> pcap(
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf), &pcap_close);
    REQUIRE(pcap != nullptr);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    size_t i = 0;
    int rc = 0;
    while ((rc = pcap_next_ex(pcap.get(), &h, &data)) == 1) {
        REQUIRE(i < r.records.size());
        INFO("record " << i + 1);
        CHECK(r.records[i].caplen == h->caplen);
        CHECK(r.records[i].len == std::max(h->len, h->caplen));
        CHECK(r.records[i].ts_ns == uint64_t{static_cast<uint32_t>(h->ts.tv_sec)} * ns +
                                        (nanosecond ? uint64_t{static_cast<uint32_t>(h->ts.tv_usec)}
                                                    : uint64_t{static_cast<uint32_t>(h->ts.tv_usec / 1000)} * 1000));
        CHECK(r.data[i] == std::string(reinterpret_cast<const char*>(data), h->caplen));
        i++;
    }
    CHECK(r.records.size() == i);
    CHECK(r.ended == (rc == PCAP_ERROR_BREAK));
    if (minor == 4) {
        CHECK(i == 7);
        // The record after the one cut to 64 bytes starts where the file has it.
        REQUIRE(r.records.size() >= 5);
        CHECK(r.data[4] == frame_bytes(61, 5));
    } else {
        // 2.3: libpcap takes 200 bytes of a 50-byte packet for swapped
        // lengths, reads 50, and the next header is in the middle of data.
        CHECK(i == 4);
        CHECK(r.error.find("record 5") != std::string::npos);
    }
}
