// The classifier's semantics on hand-built packets (docs/filters.md).
#include <cstddef>
#include <cstring>

#include <catch2/catch.hpp>
#include <pcap/pcap.h>

#include "tests/filters/filter_helpers.h"

using namespace linecap;
using namespace linecap::test;

TEST_CASE("five-tuple rules: addresses, prefixes, ranges, ports, protocols")
{
    const auto web = tcp4("10.1.0.7", "10.4.2.50", 40000, 443);
    CHECK(keeps(R"({"match":[{"dst":["10.4.2.50"]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"dst":["10.4.2.51"]}]})", web));
    CHECK(keeps(R"({"match":[{"src":["10.1.0.0/24"]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"src":["10.1.1.0/24"]}]})", web));
    CHECK(keeps(R"({"match":[{"src":["10.1.0.5-10.1.0.7"]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"src":["10.1.0.8-10.1.0.20"]}]})", web));
    CHECK(keeps(R"({"match":[{"dst_ports":[443]}]})", web));
    CHECK(keeps(R"({"match":[{"dst_ports":["400-443"]}]})", web));
    CHECK(keeps(R"({"match":[{"dst_ports":["443-500"]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"dst_ports":["444-500"]}]})", web));
    CHECK(keeps(R"({"match":[{"src_ports":[1, "39000-40000"]}]})", web));
    CHECK(keeps(R"({"match":[{"protocols":["udp", "tcp"]}]})", web));
    CHECK(keeps(R"({"match":[{"protocols":[6]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"protocols":["udp"]}]})", web));
    CHECK(keeps(R"({"match":[{"src":["10.1.0.7"], "dst":["10.4.2.50"], "src_ports":[40000], "dst_ports":[443], "protocols":["tcp"]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"src":["10.1.0.7"], "dst":["10.4.2.50"], "src_ports":[40001], "dst_ports":[443]}]})", web));
}

TEST_CASE("any rule may match; an empty or absent match list takes everything")
{
    const auto web = tcp4("10.1.0.7", "10.4.2.50", 40000, 443);
    CHECK(keeps(R"({"match":[{"dst":["1.1.1.1"]}, {"dst_ports":[443]}]})", web));
    CHECK_FALSE(keeps(R"({"match":[{"dst":["1.1.1.1"]}, {"dst_ports":[80]}]})", web));
    CHECK(keeps(R"({})", web));
    CHECK(keeps(R"({"match":[]})", web));
    CHECK(keeps(R"({"match":[{}]})", web));
}

TEST_CASE("bidirectional rules match both directions of a flow")
{
    const auto request = tcp4("10.0.0.1", "10.0.0.2", 5555, 80);
    const auto reply = tcp4("10.0.0.2", "10.0.0.1", 80, 5555);
    const std::string one_way = R"({"match":[{"src":["10.0.0.1"], "dst_ports":[80]}]})";
    const std::string both = R"({"match":[{"src":["10.0.0.1"], "dst_ports":[80], "bidirectional":true}]})";
    CHECK(keeps(one_way, request));
    CHECK_FALSE(keeps(one_way, reply));
    CHECK(keeps(both, request));
    CHECK(keeps(both, reply));
    CHECK_FALSE(keeps(both, tcp4("10.0.0.2", "10.0.0.1", 81, 5555)));
}

TEST_CASE("TCP flags: any, all, none")
{
    const uint8_t syn = 0x02, ack = 0x10, rst = 0x04, fin = 0x01;
    const std::string control = R"({"match":[{"tcp_flags":{"any":["syn","fin","rst"]}}]})";
    CHECK(keeps(control, tcp4("1.1.1.1", "2.2.2.2", 1, 2, syn)));
    CHECK(keeps(control, tcp4("1.1.1.1", "2.2.2.2", 1, 2, rst | ack)));
    CHECK_FALSE(keeps(control, tcp4("1.1.1.1", "2.2.2.2", 1, 2, ack)));
    const std::string syn_only = R"({"match":[{"tcp_flags":{"all":["syn"], "none":["ack"]}}]})";
    CHECK(keeps(syn_only, tcp4("1.1.1.1", "2.2.2.2", 1, 2, syn)));
    CHECK_FALSE(keeps(syn_only, tcp4("1.1.1.1", "2.2.2.2", 1, 2, syn | ack)));
    const std::string fin_ack = R"({"match":[{"tcp_flags":{"all":["fin","ack"]}}]})";
    CHECK(keeps(fin_ack, tcp4("1.1.1.1", "2.2.2.2", 1, 2, fin | ack)));
    CHECK_FALSE(keeps(fin_ack, tcp4("1.1.1.1", "2.2.2.2", 1, 2, fin)));
    // A rule with tcp_flags matches TCP only, even with empty flag lists.
    CHECK_FALSE(keeps(R"({"match":[{"tcp_flags":{}}]})", udp4("1.1.1.1", "2.2.2.2", 1, 2)));
    CHECK(keeps(R"({"match":[{"tcp_flags":{"all":[]}}]})", tcp4("1.1.1.1", "2.2.2.2", 1, 2, 0)));
    CHECK(keeps(syn_only, tcp6("2001:db8::1", "2001:db8::2", 1, 2, syn)));
}

TEST_CASE("IPv6: addresses, prefixes, ranges that cross 32-bit boundaries")
{
    const auto p = tcp6("2001:db8:0:1::5", "2001:db8:ffff::1", 1000, 22);
    CHECK(keeps(R"({"match":[{"src":["2001:db8::/32"]}]})", p));
    CHECK(keeps(R"({"match":[{"src":["2001:db8:0:1::/64"], "dst_ports":[22]}]})", p));
    CHECK_FALSE(keeps(R"({"match":[{"src":["2001:db8:0:2::/64"]}]})", p));
    CHECK(keeps(R"({"match":[{"src":["2001:db8:0:0:ffff::-2001:db8:0:1::5"]}]})", p));
    CHECK_FALSE(keeps(R"({"match":[{"src":["2001:db8:0:1::6-2001:db8:0:2::"]}]})", p));
    CHECK(keeps(R"({"match":[{"dst":["2001:db8:ffff::1"]}]})", p));
    // An IPv4 rule never matches IPv6, and the other way round.
    CHECK_FALSE(keeps(R"({"match":[{"src":["0.0.0.0/0"]}]})", p));
    CHECK_FALSE(keeps(R"({"match":[{"src":["::/0"]}]})", tcp4("1.1.1.1", "2.2.2.2", 1, 2)));
    CHECK(keeps(R"({"match":[{"src":["::/0", "0.0.0.0/0"]}]})", tcp4("1.1.1.1", "2.2.2.2", 1, 2)));
}

TEST_CASE("VLAN tags are looked through, up to two")
{
    traffic::frame_spec f = frame4("10.0.0.1", "10.0.0.2", 17);
    f.src_port = 53;
    f.dst_port = 5353;
    const std::string spec = R"({"match":[{"src":["10.0.0.1"], "src_ports":[53]}]})";
    CHECK(keeps(spec, traffic::build_frame(f)));
    f.vlans = {{0x8100, 100}};
    CHECK(keeps(spec, traffic::build_frame(f)));
    f.vlans = {{0x88a8, 100}, {0x8100, 200}};
    CHECK(keeps(spec, traffic::build_frame(f)));
    f.vlans = {{0x9100, 100}, {0x8100, 200}};
    CHECK(keeps(spec, traffic::build_frame(f)));
    f.vlans = {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}};   // a third tag is not looked through
    CHECK_FALSE(keeps(spec, traffic::build_frame(f)));
}

TEST_CASE("fragments: addresses and protocol on all, ports and flags on the first only")
{
    traffic::frame_spec f = frame4("10.0.0.1", "10.0.0.2", 6);
    f.src_port = 1234;
    f.dst_port = 80;
    f.tcp_flags = 0x02;
    f.more_fragments = true;
    const auto first = traffic::build_frame(f);
    f.fragment_offset = 100;
    const auto later = traffic::build_frame(f);
    const std::string ports = R"({"match":[{"dst_ports":[80]}]})";
    const std::string proto = R"({"match":[{"protocols":["tcp"], "dst":["10.0.0.2"]}]})";
    const std::string flags = R"({"match":[{"tcp_flags":{"any":["syn"]}}]})";
    CHECK(keeps(ports, first));
    CHECK_FALSE(keeps(ports, later));
    CHECK(keeps(flags, first));
    CHECK_FALSE(keeps(flags, later));
    CHECK(keeps(proto, first));
    CHECK(keeps(proto, later));

    traffic::frame_spec g = frame6("2001:db8::1", "2001:db8::2", 6);
    g.dst_port = 80;
    g.more_fragments = true;
    CHECK(keeps(ports, traffic::build_frame(g)));
    g.fragment_offset = 10;
    CHECK_FALSE(keeps(ports, traffic::build_frame(g)));
    CHECK(keeps(R"({"match":[{"protocols":["tcp"]}]})", traffic::build_frame(g)));
}

TEST_CASE("IPv6 extension headers are walked to the transport header")
{
    traffic::frame_spec f = frame6("2001:db8::1", "2001:db8::2", 17);
    f.src_port = 500;
    f.dst_port = 4500;
    f.ipv6_extensions = {0, 60, 43, 51};   // hop-by-hop, destination, routing, AH
    const auto p = traffic::build_frame(f);
    CHECK(keeps(R"({"match":[{"protocols":["udp"], "dst_ports":[4500]}]})", p));
    CHECK_FALSE(keeps(R"({"match":[{"protocols":["ah"]}]})", p));
    // A chain cut short: the protocol is unknown, so nothing that names it matches.
    auto cut = p;
    cut.resize(14 + 40 + 12);
    CHECK_FALSE(keeps(R"({"match":[{"protocols":["udp"]}]})", cut));
    CHECK(keeps(R"({"match":[{"src":["2001:db8::1"]}]})", cut));
}

TEST_CASE("ports are TCP, UDP and SCTP only; nothing matches a packet without IP")
{
    traffic::frame_spec gre = frame4("10.0.0.1", "10.0.0.2", 47);
    CHECK_FALSE(keeps(R"({"match":[{"dst_ports":["0-65535"]}]})", traffic::build_frame(gre)));
    CHECK(keeps(R"({"match":[{"protocols":["gre"]}]})", traffic::build_frame(gre)));
    traffic::frame_spec sctp = frame4("10.0.0.1", "10.0.0.2", 132);
    sctp.dst_port = 2905;
    CHECK(keeps(R"({"match":[{"dst_ports":[2905]}]})", traffic::build_frame(sctp)));

    traffic::frame_spec arp;
    arp.ip_version = 0;
    const auto a = traffic::build_frame(arp);
    CHECK_FALSE(keeps(R"({"match":[{"src":["0.0.0.0/0"]}]})", a));
    CHECK_FALSE(keeps(R"({"match":[{"protocols":[0]}]})", a));
    CHECK(keeps(R"({"match":[{}]})", a));
    CHECK(keeps(R"({"match":[{"bidirectional":true}]})", a));
}

TEST_CASE("truncated headers make fields absent, never a wrong match")
{
    const auto full = tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, 80);
    const std::string flags = R"({"match":[{"tcp_flags":{"any":["syn"]}}]})";
    const std::string ports = R"({"match":[{"dst_ports":[80]}]})";
    const std::string dst = R"({"match":[{"dst":["10.0.0.2"]}]})";
    for (size_t len = 0; len <= full.size(); len++) {
        std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(len));
        INFO("cut at " << len);
        CHECK(keeps(flags, cut) == (len >= 14 + 20 + 14));
        CHECK(keeps(ports, cut) == (len >= 14 + 20 + 4));
        CHECK(keeps(dst, cut) == (len >= 14 + 20));
    }
}

TEST_CASE("several sessions in one pass, each with its own rules")
{
    auto c = build_classifier({R"({"match":[{"dst_ports":[80]}]})", R"({"match":[{"protocols":["udp"]}]})",
                               R"({})", R"({"match":[{"src":["10.0.0.0/8"]}]})",
                               R"({"match":[{"src":["192.168.0.0/16"]}]})"});
    const auto masks = classify_frames(*c, {tcp4("10.1.1.1", "1.1.1.1", 1, 80), udp4("192.168.1.1", "1.1.1.1", 1, 80),
                                            tcp4("172.16.0.1", "1.1.1.1", 1, 22)});
    CHECK(masks[0] == (1 | 4 | 8));
    CHECK(masks[1] == (1 | 2 | 4 | 16));   // UDP to port 80 is "dst_ports 80" too
    CHECK(masks[2] == 4);
}

TEST_CASE("BPF is ANDed with the rules")
{
    const auto web = tcp4("10.0.0.1", "10.0.0.2", 1000, 80);
    const auto ssh = tcp4("10.0.0.1", "10.0.0.2", 1000, 22);
    auto c = build_classifier({R"({"bpf":"not port 22"})", R"({"match":[{"src":["10.0.0.1"]}], "bpf":"tcp dst port 22"})",
                               R"({"match":[{"src":["10.9.9.9"]}], "bpf":"tcp"})"});
    const auto masks = classify_frames(*c, {web, ssh});
    CHECK(masks[0] == 1);
    CHECK(masks[1] == 2);
}

TEST_CASE("BPF on packets shorter than what it loads rejects them, never crashes")
{
    // The regression that kept DPDK 22.11's JIT off until it was guarded: it
    // faulted here (see filters/bpf.h). The guarded JIT, the default, runs
    // what fits; the interpreter (--bpf-interpreter) runs all.
    const bpf_runner runner = GENERATE(bpf_runner::interpreter, bpf_runner::guarded_jit);
    for (const char* expression : {"ether[0] & 1 == 0", "not port 22", "tcp[13] & 2 != 0", "ip6 and udp",
                                   "ether[1000] == 1", "len < 30"}) {
        auto c = build_classifier({std::string(R"({"bpf":")") + expression + R"("})"}, runner);
        for (unsigned len : {0u, 1u, 2u, 13u, 14u, 15u, 33u, 34u, 35u, 47u, 60u}) {
            auto frame = tcp4("10.0.0.1", "10.0.0.2", 1, 80, 0x02, 80);
            frame.resize(len);
            INFO(expression << " on " << len << " bytes");
            const bool kept = classify_frames(*c, {frame})[0] & 1;
            if (std::string(expression) == "ether[0] & 1 == 0")
                CHECK(kept == (len >= 1));
            if (std::string(expression) == "ether[1000] == 1")
                CHECK_FALSE(kept);
            if (std::string(expression) == "len < 30")
                CHECK(kept == (len < 30));
        }
    }
}

TEST_CASE("an expression DPDK cannot run (protochain) runs in libpcap's interpreter and agrees with it")
{
    // libpcap compiles protochain to a loop, which DPDK's converter refuses
    // (filters/bpf.cpp): the expression must still run, as tcpdump runs it,
    // not fail once the engine has started.
    traffic::frame_spec f = frame6("2001:db8::1", "2001:db8::2", 17);
    f.src_port = 500;
    f.dst_port = 4500;
    f.ipv6_extensions = {0, 60, 43};   // hop-by-hop, destination, routing, then UDP
    const auto udp_behind_headers = traffic::build_frame(f);
    traffic::frame_spec t = frame6("2001:db8::1", "2001:db8::2", 6);
    t.ipv6_extensions = {0};
    const auto tcp_behind_header = traffic::build_frame(t);
    const auto plain_udp6 = traffic::build_frame(frame6("2001:db8::1", "2001:db8::2", 17));
    const auto udp4 = traffic::build_frame(frame4("10.0.0.1", "10.0.0.2", 17));

    bpf_expression e;
    REQUIRE(e.compile("ip6 protochain 17") == "");
    CHECK_FALSE(e.jitted());
    CHECK_THAT(e.note(), Catch::Contains("libpcap's interpreter") && Catch::Contains("\"protocols\": [\"udp\"]"));
    bpf_expression plain;
    REQUIRE(plain.compile("ip6 and udp") == "");
    CHECK(plain.note().empty());

    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    for (const char* expression : {"ip6 protochain 17", "ip6 protochain 6 or udp", "not ip6 protochain 17"}) {
        compiled_bpf reference(dead.get(), expression);
        auto c = build_classifier({std::string(R"({"bpf":")") + expression + R"("})"});
        const std::vector<std::vector<uint8_t>> frames = {udp_behind_headers, tcp_behind_header, plain_udp6, udp4};
        const auto masks = classify_frames(*c, frames);
        for (size_t i = 0; i < frames.size(); i++) {
            INFO(expression << ", frame " << i);
            CHECK((masks[i] & 1) == reference.matches(frames[i]));
        }
        // The same frames in chains of mbufs: libpcap reads a flat copy.
        for (uint16_t segment : {40, 7}) {
            for (size_t i = 0; i < frames.size(); i++) {
                rte_mbuf* m = make_chain(frames[i], segment);
                session_mask mask = 0;
                c->classify(0, &m, 1, &mask);
                rte_pktmbuf_free(m);
                INFO(expression << ", frame " << i << " in segments of " << segment);
                CHECK((mask & 1) == reference.matches(frames[i]));
            }
        }
    }
    // The frames tcpdump selects: UDP behind three extension headers and plain UDP over IPv6.
    auto c = build_classifier({R"({"bpf":"ip6 protochain 17"})"});
    CHECK(classify_frames(*c, {udp_behind_headers, tcp_behind_header, plain_udp6, udp4}) ==
          std::vector<session_mask>{1, 0, 1, 0});
}

TEST_CASE("BPF len, greater and less test a file record's wire length (linecap -r)")
{
    // A 1500-byte frame of which a snapped file kept 96 bytes: the mbuf holds
    // 96 (pkt_len 96, so no load can step past them), packet_meta holds 1500.
    auto frame = tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x02, 1500);
    frame.resize(96);
    const int wire_len_offset = packet_meta_offset + static_cast<int>(offsetof(packet_meta, wire_len));
    // libpcap's verdict (what tcpdump -r decides) on the record, and on a
    // packet whose length is what it holds.
    const auto libpcap = [&](const char* expression, uint32_t len) {
        pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
        bpf_program program{};
        REQUIRE(pcap_compile(dead, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0);
        pcap_pkthdr h{};
        h.caplen = static_cast<uint32_t>(frame.size());
        h.len = len;
        const bool kept = pcap_offline_filter(&program, &h, frame.data()) != 0;
        pcap_freecode(&program);
        pcap_close(dead);
        return kept;
    };
    struct expectation {
        const char* expression;
        int from_file;      // 1/0: the verdict on the record; -1: libpcap's, whatever it is
        int from_pkt_len;   // the same, as a port's packet of 96 bytes
    };
    for (const expectation& e : {expectation{"greater 1000", 1, 0}, expectation{"less 100", 0, 1},
                                 expectation{"len == 1500", 1, 0}, expectation{"len == 96", 0, 1},
                                 expectation{"tcp and greater 1400", 1, 0},
                                 // a load past the 96 bytes held rejects the packet, as in libpcap
                                 expectation{"ether[200] == 0 and greater 1000", 0, 0},
                                 expectation{"ether[200] == 0 or greater 1000", -1, -1},
                                 expectation{"ether[95] == ether[95] and greater 1000", 1, 0},
                                 // libpcap's interpreter (protochain: DPDK runs no loops) too
                                 expectation{"ip protochain 6 and greater 1000", 1, 0},
                                 expectation{"ip protochain 6 and less 100", 0, 1}}) {
        for (const bool file : {true, false}) {
            INFO(e.expression << (file ? " on a file's record" : " on a port's packet"));
            const bool reference = libpcap(e.expression, file ? 1500 : 96);
            const int stated = file ? e.from_file : e.from_pkt_len;
            if (stated >= 0)
                REQUIRE(reference == (stated == 1));
            bpf_expression bpf;
            REQUIRE(bpf.compile(e.expression, bpf_runner::guarded_jit, file ? wire_len_offset : -1).empty());
            rte_mbuf* m = make_chain(frame, 2048);
            meta_of(m)->wire_len = 1500;
            CHECK(bpf.matches(m) == reference);
            rte_pktmbuf_free(m);
        }
    }
}

TEST_CASE("payload patterns: match, no match, caseless, across segments, never past the data")
{
    traffic::frame_spec f = frame4("10.0.0.1", "10.0.0.2", 6);
    f.dst_port = 80;
    const std::string request = "GET /api/v2/users HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n";
    f.payload.assign(request.begin(), request.end());
    const auto http = traffic::build_frame(f);
    CHECK(keeps(R"({"payload":{"patterns":["GET /api/v[0-9]+/"]}})", http));
    CHECK_FALSE(keeps(R"({"payload":{"patterns":["POST /api/"]}})", http));
    CHECK(keeps(R"({"payload":{"patterns":["(?i)AUTHORIZATION:"]}})", http));
    CHECK_FALSE(keeps(R"({"payload":{"patterns":["AUTHORIZATION:"]}})", http));
    CHECK(keeps(R"({"payload":{"patterns":["AUTHORIZATION:"], "caseless":true}})", http));
    CHECK(keeps(R"({"payload":{"patterns":["nomatch", "Bearer"]}})", http));
    // The pattern is in the payload, not the headers: a header byte never matches.
    CHECK_FALSE(keeps(R"({"payload":{"patterns":["\\x45\\x00"]}})", http));
    // ANDed with the rules.
    CHECK_FALSE(keeps(R"({"match":[{"dst_ports":[443]}], "payload":{"patterns":["GET"]}})", http));

    // A packet cut in the middle of the pattern does not match it.
    const size_t at = http.size() - request.size() + request.find("Authorization");
    std::vector<uint8_t> cut(http.begin(), http.begin() + static_cast<long>(at + 5));
    CHECK_FALSE(keeps(R"({"payload":{"patterns":["Authorization:"]}})", cut));
    CHECK(keeps(R"({"payload":{"patterns":["Autho"]}})", cut));

    // An IPv6 header, or an extension header, cut short has no payload: the
    // pattern in its Ethernet header or addresses is not in it (found by fuzz-packet).
    const std::string get = R"({"payload":{"patterns":["GET /"]}})";
    traffic::frame_spec v6 = frame6("2001:db8::1", "2001:db8::2", 17);
    v6.ipv6_extensions = {0};
    auto short_v6 = traffic::build_frame(v6);
    std::memcpy(short_v6.data(), "GET /", 5);                 // in the destination MAC address
    std::memcpy(short_v6.data() + 14 + 8, "GET /", 5);        // in the source address
    for (size_t len : {size_t{14 + 6}, size_t{14 + 40}, size_t{14 + 41}}) {
        INFO("cut at " << len);
        CHECK_FALSE(keeps(get, std::vector<uint8_t>(short_v6.begin(), short_v6.begin() + static_cast<long>(len))));
    }

    // The same packet in mbuf segments: the match spans segment boundaries,
    // and headers split over tiny segments are still parsed.
    auto c = build_classifier({R"({"match":[{"dst_ports":[80]}], "payload":{"patterns":["Authorization: Bearer"]}})"});
    for (uint16_t segment : {90, 7, 1}) {
        rte_mbuf* m = make_chain(http, segment);
        session_mask mask = 0;
        c->classify(0, &m, 1, &mask);
        rte_pktmbuf_free(m);
        INFO("segments of " << segment << " bytes");
        CHECK(mask == 1);
    }
}

namespace {

// `frame` (no VLAN tag) cut to the first `ip_length` bytes of its IP packet,
// its IPv4 total length or IPv6 payload length saying so, then padded to
// `size` bytes (Ethernet's 60 by default) with `padding` over and over: NICs
// pad with zeros, some with whatever was in the buffer.
std::vector<uint8_t> padded(std::vector<uint8_t> frame, unsigned ip_length, const std::string& padding,
                            size_t size = 60)
{
    const unsigned field = frame[14] >> 4 == 4 ? ip_length : ip_length - 40;
    frame[frame[14] >> 4 == 4 ? 16 : 18] = static_cast<uint8_t>(field >> 8);
    frame[frame[14] >> 4 == 4 ? 17 : 19] = static_cast<uint8_t>(field);
    frame.resize(14 + ip_length);
    for (size_t i = 0; frame.size() < size; i++)
        frame.push_back(static_cast<uint8_t>(padding[i % padding.size()]));
    return frame;
}

} // namespace

TEST_CASE("the IP and UDP lengths bound ports, flags and payload: a short packet's padding is not its own")
{
    const std::string zeros(1, '\0');
    const std::string get = R"({"payload":{"patterns":["GET /"]}})";
    const std::string zero_ports = R"({"match":[{"src_ports":[0]},{"dst_ports":[0]}]})";
    const std::string not_syn = R"({"match":[{"tcp_flags":{"none":["syn"]}}]})";

    // An IPv4 header saying TCP and nothing more, padded with zeros: no
    // port 0, no flags; the protocol is in the header.
    const auto v4_header_only = padded(tcp4("10.0.0.1", "10.0.0.2", 1000, 80), 20, zeros);
    REQUIRE(v4_header_only.size() == 60);
    CHECK(keeps(R"({"match":[{"protocols":["tcp"]}]})", v4_header_only));
    CHECK(keeps(R"({"match":[{"dst":["10.0.0.2"]}]})", v4_header_only));
    CHECK_FALSE(keeps(zero_ports, v4_header_only));
    CHECK_FALSE(keeps(not_syn, v4_header_only));
    CHECK_FALSE(keeps(R"({"payload":{"patterns":["\\x00\\x00"]}})", v4_header_only));

    // 12 bytes of TCP header: the ports are there, the flags (byte 13) are not.
    const auto v4_ports_only = padded(tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x10), 32, zeros);
    CHECK(keeps(R"({"match":[{"dst_ports":[80]}]})", v4_ports_only));
    CHECK_FALSE(keeps(not_syn, v4_ports_only));

    // A bare SYN (IP length 40) padded with stale bytes that spell a request.
    const auto syn = padded(tcp4("10.0.0.1", "10.0.0.2", 1000, 80), 40, "GET /x");
    CHECK(keeps(R"({"match":[{"tcp_flags":{"all":["syn"]}}]})", syn));
    CHECK_FALSE(keeps(get, syn));
    auto c = build_classifier({get});
    for (uint16_t segment : {uint16_t{2048}, uint16_t{55}, uint16_t{3}}) {   // the end holds across segments
        rte_mbuf* m = make_chain(syn, segment);
        session_mask mask = 1;
        c->classify(0, &m, 1, &mask);
        rte_pktmbuf_free(m);
        INFO("segments of " << segment << " bytes");
        CHECK(mask == 0);
    }

    // IPv6: the payload length bounds the same way.
    const auto v6_syn = padded(tcp6("2001:db8::1", "2001:db8::2", 1000, 80), 60, "GET /x", 90);
    CHECK(keeps(R"({"match":[{"dst_ports":[80]}]})", v6_syn));
    CHECK_FALSE(keeps(get, v6_syn));
    const auto v6_ports_only = padded(tcp6("2001:db8::1", "2001:db8::2", 1000, 80, 0x10), 48, zeros, 80);
    CHECK(keeps(R"({"match":[{"dst_ports":[80]}]})", v6_ports_only));
    CHECK_FALSE(keeps(not_syn, v6_ports_only));

    // UDP: the datagram ends where the UDP length says, even inside a longer
    // IP packet (bytes after it are not its payload).
    auto dns = udp4("10.0.0.1", "10.0.0.2", 1000, 53, 90);   // 48 bytes of payload
    std::memcpy(dns.data() + 14 + 20 + 8 + 30, "GET /", 5);
    CHECK(keeps(get, dns));
    dns[14 + 20 + 4] = 0;
    dns[14 + 20 + 5] = 8 + 20;   // the UDP length: 20 bytes of payload, the pattern after them
    CHECK(keeps(R"({"match":[{"dst_ports":[53]}]})", dns));
    CHECK_FALSE(keeps(get, dns));
    dns[14 + 20 + 5] = 0;        // 0 (as in an IPv6 jumbogram) says nothing: the IP length bounds
    CHECK(keeps(get, dns));

    // A length that cannot be (an IPv4 total length shorter than its
    // header, as captures of segmentation offload show; an IPv6 payload
    // length of 0) bounds nothing: the bytes there are the packet.
    for (unsigned total : {0u, 19u}) {
        auto tso = tcp4("10.0.0.1", "10.0.0.2", 1000, 80, 0x18, 100);
        std::memcpy(tso.data() + 14 + 40 + 10, "GET /", 5);
        tso[16] = 0;
        tso[17] = static_cast<uint8_t>(total);
        INFO("IPv4 total length " << total);
        CHECK(keeps(R"({"match":[{"dst_ports":[80]}]})", tso));
        CHECK(keeps(get, tso));
    }
    // An IPv6 payload length of 0 says nothing before TCP (BIG TCP, TSO) or
    // a hop-by-hop header (a jumbogram); before anything else, no payload.
    traffic::frame_spec empty_udp = frame6("2001:db8::1", "2001:db8::2", 17);
    auto udp6 = traffic::build_frame(empty_udp);
    udp6.resize(14 + 40);
    udp6[18] = udp6[19] = 0;
    udp6.resize(70, 0);
    CHECK(keeps(R"({"match":[{"protocols":["udp"]}]})", udp6));
    CHECK_FALSE(keeps(zero_ports, udp6));
    auto jumbo = tcp6("2001:db8::1", "2001:db8::2", 1000, 80, 0x18, 120);
    std::memcpy(jumbo.data() + 14 + 60 + 10, "GET /", 5);
    jumbo[18] = jumbo[19] = 0;
    CHECK(keeps(R"({"match":[{"dst_ports":[80]}]})", jumbo));
    CHECK(keeps(get, jumbo));
}
