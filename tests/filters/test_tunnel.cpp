// Mirror mode: the bounded tunnel walk (filters/tunnel.h), the spec's tunnel
// fields, and inner matching in the classifier, on generated tunnels of
// every kind, cut at every length, and on the tcpdump corpus's tunnel files.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include <arpa/inet.h>

#include "filters/tunnel.h"
#include "tests/filters/filter_helpers.h"
#include "writers/decap.h"

using namespace linecap;
using namespace linecap::test;
using traffic::tunnel_frame;
using traffic::tunnel_kind;

namespace {

bool walk(const std::vector<uint8_t>& frame, tunnel_view& t, packet_fields& inner,
          const tunnel_ports& ports = tunnel_ports{})
{
    packet_fields outer;
    parse_packet(frame.data(), static_cast<uint32_t>(frame.size()), outer);
    return find_inner(frame.data(), static_cast<uint32_t>(frame.size()), outer, ports, t, inner);
}

tunnel_frame tunnel(tunnel_kind kind, uint32_t id = 42)
{
    tunnel_frame t;
    t.kind = kind;
    t.id = id;
    return t;
}

} // namespace

TEST_CASE("every kind of tunnel leads to the inner packet, its fields and the tunnel id")
{
    const auto inner = tcp4("10.1.2.3", "10.4.5.6", 40000, 80);
    struct expectation {
        tunnel_frame t;
        inner_kind kind;
        bool has_id;
        uint32_t id;
    };
    tunnel_frame erspan3_platform = tunnel(tunnel_kind::erspan3, 513);
    erspan3_platform.platform = true;
    tunnel_frame geneve_options = tunnel(tunnel_kind::geneve, 0xabcdef);
    geneve_options.geneve_words = 3;
    tunnel_frame vxlan6 = tunnel(tunnel_kind::vxlan, 16777215);
    vxlan6.outer_version = 6;
    vxlan6.outer_src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const expectation cases[] = {
        {tunnel(tunnel_kind::vxlan), inner_kind::ethernet, true, 42},
        {vxlan6, inner_kind::ethernet, true, 16777215},
        {geneve_options, inner_kind::ethernet, true, 0xabcdef},
        {tunnel(tunnel_kind::geneve_ip, 7), inner_kind::ipv4, true, 7},
        {tunnel(tunnel_kind::gre_ip, 0xdeadbeef), inner_kind::ipv4, true, 0xdeadbeef},
        {tunnel(tunnel_kind::gre_ethernet, 99), inner_kind::ethernet, true, 99},
        {tunnel(tunnel_kind::erspan1), inner_kind::ethernet, false, 0},
        {tunnel(tunnel_kind::erspan2, 1023), inner_kind::ethernet, true, 1023},
        {tunnel(tunnel_kind::erspan3, 5), inner_kind::ethernet, true, 5},
        {erspan3_platform, inner_kind::ethernet, true, 513},
        {tunnel(tunnel_kind::ip_in_ip), inner_kind::ipv4, false, 0},
    };
    for (const expectation& e : cases) {
        const auto frame = traffic::encapsulate(e.t, inner);
        INFO("kind " << static_cast<int>(e.t.kind) << ", " << frame.size() << " bytes");
        tunnel_view t;
        packet_fields f;
        REQUIRE(walk(frame, t, f));
        CHECK(t.kind == e.kind);
        CHECK(t.levels == 1);
        CHECK(t.has_id == e.has_id);
        CHECK(t.id == e.id);
        CHECK(f.family == 4);
        CHECK(f.proto == 6);
        CHECK(ntohs(f.dst_port) == 80);
        CHECK(ntohs(f.src_port) == 40000);
        CHECK(std::memcmp(f.src, "\x0a\x01\x02\x03", 4) == 0);
        // The inner packet is the inner frame's bytes, at the offset given.
        const size_t skip = e.kind == inner_kind::ethernet ? 0 : 14;
        REQUIRE(frame.size() - t.inner_offset == inner.size() - skip);
        CHECK(std::equal(inner.begin() + static_cast<long>(skip), inner.end(), frame.begin() + t.inner_offset));
    }

    SECTION("IPv6 in IPv4 (6in4), and two levels: VXLAN around GRE around IPv6")
    {
        const auto inner6 = tcp6("2001:db8::1", "2001:db8::2", 5000, 443);
        tunnel_view t;
        packet_fields f;
        REQUIRE(walk(traffic::encapsulate(tunnel(tunnel_kind::ip_in_ip), inner6), t, f));
        CHECK(t.kind == inner_kind::ipv6);
        CHECK(f.family == 6);
        CHECK(ntohs(f.dst_port) == 443);
        const auto two = traffic::encapsulate(tunnel(tunnel_kind::vxlan, 77),
                                              traffic::encapsulate(tunnel(tunnel_kind::gre_ip, 5), inner6));
        REQUIRE(walk(two, t, f));
        CHECK(t.levels == 2);
        CHECK(t.outer_type == tunnel_type::vxlan);
        CHECK(t.id == 77);   // the outermost id: the mirror session's
        CHECK(f.family == 6);
        CHECK(ntohs(f.dst_port) == 443);
    }
}

TEST_CASE("malformed, unknown and cut tunnel headers have no inner packet, and never a stray read")
{
    const auto inner = udp4("10.1.2.3", "10.4.5.6", 1000, 53);
    tunnel_view t;
    packet_fields f;
    tunnel_frame geneve1 = tunnel(tunnel_kind::geneve);
    geneve1.version = 1;
    CHECK_FALSE(walk(traffic::encapsulate(geneve1, inner), t, f));
    tunnel_frame erspan_bad = tunnel(tunnel_kind::erspan2);
    erspan_bad.version = 2;
    CHECK_FALSE(walk(traffic::encapsulate(erspan_bad, inner), t, f));
    tunnel_frame erspan_ft7 = tunnel(tunnel_kind::erspan3);
    erspan_ft7.erspan3_frame_type = 7;
    CHECK_FALSE(walk(traffic::encapsulate(erspan_ft7, inner), t, f));
    tunnel_frame gre_v1 = tunnel(tunnel_kind::gre_ip);
    gre_v1.version = 1;   // PPTP's enhanced GRE
    CHECK_FALSE(walk(traffic::encapsulate(gre_v1, inner), t, f));
    // A VXLAN packet on a port not listed is plain UDP; listed, it is a tunnel.
    tunnel_frame other_port = tunnel(tunnel_kind::vxlan);
    other_port.udp_port = 8472;
    const auto frame = traffic::encapsulate(other_port, inner);
    CHECK_FALSE(walk(frame, t, f));
    tunnel_ports ports;
    ports.vxlan[1] = to_network16(8472);
    ports.vxlan_count = 2;
    CHECK(walk(frame, t, f, ports));
    // I flag clear: the inner packet, without a VNI.
    tunnel_frame no_i = tunnel(tunnel_kind::vxlan);
    no_i.vxlan_flags = 0;
    REQUIRE(walk(traffic::encapsulate(no_i, inner), t, f));
    CHECK_FALSE(t.has_id);

    // Every kind cut at every length: the walk reads only what is there (run
    // under AddressSanitizer by scripts/test), and an inner packet is found
    // only once the whole tunnel header is there.
    for (tunnel_kind kind : {tunnel_kind::vxlan, tunnel_kind::geneve, tunnel_kind::geneve_ip, tunnel_kind::gre_ip,
                             tunnel_kind::gre_ethernet, tunnel_kind::erspan1, tunnel_kind::erspan2,
                             tunnel_kind::erspan3, tunnel_kind::ip_in_ip}) {
        tunnel_frame tf = tunnel(kind);
        tf.platform = true;
        tf.geneve_words = 2;
        const auto whole = traffic::encapsulate(tf, inner);
        tunnel_view full;
        REQUIRE(walk(whole, full, f));
        for (size_t len = 0; len < whole.size(); len++) {
            const std::vector<uint8_t> cut(whole.begin(), whole.begin() + static_cast<long>(len));
            // A heap copy of exactly len bytes: ASan catches any read past it.
            const bool found = walk(cut, t, f);
            INFO("kind " << static_cast<int>(kind) << " cut at " << len);
            CHECK(found == (len > full.inner_offset));
            if (found)
                CHECK(t.inner_offset == full.inner_offset);
        }
    }
}

TEST_CASE("an inner IPv6 header cut short has no payload, in an inner frame or an inner IP packet")
{
    // main's fix for outer frames (fuzz-packet found a payload pattern
    // matched in the Ethernet header of a cut IPv6 packet), through the
    // tunnel walk: parse_packet for an inner frame, parse_ip_packet for an
    // inner IP packet.
    const std::string get = R"({"tunnel":"inner","payload":{"patterns":["GET /"]}})";
    traffic::frame_spec v6 = frame6("2001:db8::1", "2001:db8::2", 17);
    v6.ipv6_extensions = {0};
    auto inner = traffic::build_frame(v6);
    std::memcpy(inner.data(), "GET /", 5);             // in the inner destination MAC address
    std::memcpy(inner.data() + 14 + 8, "GET /", 5);    // in the inner source address
    for (tunnel_kind kind : {tunnel_kind::vxlan, tunnel_kind::gre_ip, tunnel_kind::ip_in_ip}) {
        const auto whole = traffic::encapsulate(tunnel(kind), inner);
        tunnel_view t;
        packet_fields f;
        REQUIRE(walk(whole, t, f));
        const uint32_t l3 = t.kind == inner_kind::ethernet ? t.inner_offset + 14 : t.inner_offset;
        for (uint32_t cut : {6u, 40u, 41u}) {
            INFO("kind " << static_cast<int>(kind) << ", inner IPv6 cut at " << cut);
            const std::vector<uint8_t> frame(whole.begin(), whole.begin() + l3 + cut);
            REQUIRE(walk(frame, t, f));
            CHECK(f.family == 6);
            CHECK(f.payload_offset == frame.size());
            CHECK_FALSE(keeps(get, frame));
        }
    }
}

TEST_CASE("the spec's tunnel fields, and one clear error for each mistake")
{
    session_spec s;
    REQUIRE(parse_session_spec_text(R"({"tunnel":"inner","vni":[42,"100-200"],"decap":true,
        "vxlan_ports":[4789,8472],"geneve_ports":[6081],"outer":{"src":["192.0.2.0/24"]},
        "match":[{"dst_ports":[80]}]})", s) == "");
    CHECK(s.tunnel.inner);
    REQUIRE(s.tunnel.ids.size() == 2);
    CHECK(s.tunnel.ids[1].lo == 100);
    CHECK(s.tunnel.ids[1].hi == 200);
    CHECK(s.output.decap == decap_mode::frame);
    CHECK(s.output.tunnel.vxlan_count == 2);
    CHECK(s.output.tunnel.vxlan[1] == to_network16(8472));
    REQUIRE(s.tunnel.outer.has_value());

    CHECK(spec_error(R"({"tunnel":"middle"})").starts_with(R"(tunnel: "middle": expected "outer")"));
    session_spec ip;
    REQUIRE(parse_session_spec_text(R"({"tunnel":"inner","decap":"ip"})", ip) == "");
    CHECK(ip.output.decap == decap_mode::ip);
    session_spec off;
    REQUIRE(parse_session_spec_text(R"({"tunnel":"inner","decap":false})", off) == "");
    CHECK(off.output.decap == decap_mode::none);

    CHECK(spec_error(R"({"decap":true})").starts_with(R"(decap: needs "tunnel": "inner")"));
    CHECK(spec_error(R"({"decap":"ip"})").starts_with(R"(decap: needs "tunnel": "inner")"));
    CHECK(spec_error(R"({"tunnel":"inner","decap":"ethernet"})")
              .starts_with(R"(decap: expected true (the inner Ethernet frame), "ip" (the inner IP packet, in a )"
                           R"(LINKTYPE_RAW file) or false, got "ethernet")"));
    CHECK(spec_error(R"({"tunnel":"inner","decap":1})").ends_with("or false, got 1"));
    CHECK(spec_error(R"({"tunnel":"outer","vni":[1]})").starts_with(R"(vni: needs "tunnel": "inner")"));
    CHECK(spec_error(R"({"outer":{"src":["10.0.0.1"]}})").starts_with(R"(outer: needs "tunnel": "inner")"));
    CHECK(spec_error(R"({"vxlan_ports":[8472]})").starts_with(R"(vxlan_ports: needs "tunnel": "inner")"));
    CHECK(spec_error(R"({"tunnel":"inner","vni":[4294967296]})")
              .starts_with("vni[0]: 4294967296 is not a tunnel id from 0 to 4294967295"));
    CHECK(spec_error(R"({"tunnel":"inner","vni":["200-100"]})")
              .starts_with("vni[0]: 200-100 is a reversed range"));
    CHECK(spec_error(R"({"tunnel":"inner","vni":["1-x"]})").starts_with("vni[0]: x is not a tunnel id"));
    CHECK(spec_error(R"({"tunnel":"inner","vni":[]})").starts_with("vni: empty list"));
    CHECK(spec_error(R"({"tunnel":"inner","vxlan_ports":[0]})").starts_with("vxlan_ports[0]: 0 is not a whole number from 1 to 65535"));
    CHECK(spec_error(R"({"tunnel":"inner","vxlan_ports":[1,1]})").starts_with("vxlan_ports[1]: 1 is listed twice"));
    CHECK(spec_error(R"({"tunnel":"inner","vxlan_ports":[1,2,3,4,5,6,7,8,9]})").starts_with("vxlan_ports: 9 ports: at most 8"));
    CHECK(spec_error(R"({"tunnel":"inner","geneve_ports":[4789]})")
              .starts_with("geneve_ports[0]: 4789 is also a VXLAN port (vxlan_ports default)"));
    CHECK(spec_error(R"({"tunnel":"inner","outer":{"srcc":[]}})").starts_with("outer.srcc: unknown field"));
    CHECK(spec_error(R"({"tunnel":"inner","outer":{"src":["10.0.0.1"],"dst":["::1"]}})")
              .starts_with("outer: src and dst share no address family"));
}

TEST_CASE("inner sessions match the inner packet; outer sessions the outer headers, as before")
{
    const auto inner = tcp4("10.1.2.3", "10.4.5.6", 40000, 80);
    const auto vxlan = traffic::encapsulate(tunnel(tunnel_kind::vxlan, 150), inner);
    tunnel_frame other = tunnel(tunnel_kind::erspan2, 7);
    other.outer_src = {198, 51, 100, 9};
    const auto erspan = traffic::encapsulate(other, inner);
    const auto plain = inner;
    auto c = build_classifier({
        R"({"match":[{"dst_ports":[80]}]})",                                        // 0: outer
        R"({"tunnel":"inner","match":[{"dst_ports":[80]}]})",                       // 1
        R"({"tunnel":"inner","match":[{"dst_ports":[80]}],"vni":["100-200"]})",     // 2
        R"({"tunnel":"inner","outer":{"src":["198.51.100.0/24"]}})",                // 3
        R"({"tunnel":"inner","match":[{"dst_ports":[443]}]})",                      // 4
        R"({"tunnel":"inner","match":[{"src":["10.1.2.3"]}],"vni":[7]})",           // 5
        R"({"tunnel":"inner","match":[{"protocols":["udp"],"dst_ports":[4789]}]})", // 6: the outer UDP is not inner
    });
    const auto masks = classify_frames(*c, {vxlan, erspan, plain});
    CHECK(masks[0] == (1u << 1 | 1u << 2));
    CHECK(masks[1] == (1u << 1 | 1u << 3 | 1u << 5));
    CHECK(masks[2] == (1u << 0));

    // Different ports per session: each sees the tunnels it was told about.
    tunnel_frame custom = tunnel(tunnel_kind::vxlan);
    custom.udp_port = 8472;
    const auto on_8472 = traffic::encapsulate(custom, inner);
    auto d = build_classifier({R"({"tunnel":"inner"})", R"({"tunnel":"inner","vxlan_ports":[8472]})"});
    const auto m2 = classify_frames(*d, {on_8472, vxlan, plain});
    CHECK(m2[0] == 2);
    CHECK(m2[1] == 1);
    CHECK(m2[2] == 0);

    // Payload patterns of an inner session scan the inner payload.
    CHECK(keeps(R"({"tunnel":"inner","payload":{"patterns":["^\\x03\\x0a"]}})",
                traffic::encapsulate(tunnel(tunnel_kind::gre_ip), tcp4("10.0.0.1", "10.0.0.2", 1, 2, 0x10, 120))));
}

TEST_CASE("\"decap\": \"ip\" keeps inner IP packets only and cuts each at its inner IP header")
{
    // Inner frames: TCP behind a VLAN tag, and ARP.
    traffic::frame_spec tagged = frame4("10.1.2.3", "10.4.5.6", 6);
    tagged.vlans = {{0x8100, 100}};
    tagged.dst_port = 80;
    const auto inner_tcp = traffic::build_frame(tagged);
    traffic::frame_spec arp;
    arp.ip_version = 0;
    const auto inner_arp = traffic::build_frame(arp);
    const auto vxlan_tcp = traffic::encapsulate(tunnel(tunnel_kind::vxlan), inner_tcp);
    const auto vxlan_arp = traffic::encapsulate(tunnel(tunnel_kind::vxlan), inner_arp);
    const auto gre_tcp = traffic::encapsulate(tunnel(tunnel_kind::gre_ip), inner_tcp);
    // GRE says IPv4; the inner header says version 6: a raw IP reader would
    // decode it as IPv6, so "ip" leaves it out.
    auto gre_bad_version = gre_tcp;
    gre_bad_version[gre_tcp.size() - (inner_tcp.size() - 18)] = 0x65;

    auto c = build_classifier({
        R"({"tunnel":"inner","decap":true})",                              // 0: every inner packet
        R"({"tunnel":"inner","decap":"ip"})",                              // 1: inner IP packets
        R"({"tunnel":"inner","decap":"ip","bpf":"udp"})",                  // 2: BPF sees the outer frame
        R"({"tunnel":"inner","decap":"ip","match":[{"dst_ports":[80]}]})", // 3
    });
    const auto masks = classify_frames(*c, {vxlan_tcp, vxlan_arp, gre_tcp, gre_bad_version});
    CHECK(masks[0] == 0b1111);
    CHECK(masks[1] == 0b0001);
    CHECK(masks[2] == 0b1011);
    CHECK(masks[3] == 0b0001);

    // Where each mode cuts, on a flat mbuf and on one of 40-byte segments
    // (the writer's copy of the first bytes).
    const tunnel_ports ports;
    const size_t inner_frame_at = vxlan_tcp.size() - inner_tcp.size();
    const size_t inner_ip_at = inner_frame_at + 14 + 4;
    for (uint16_t segment : {uint16_t{2048}, uint16_t{40}}) {
        INFO("segments of " << segment << " bytes");
        rte_mbuf* m = make_chain(vxlan_tcp, segment);
        const record_cut frame = decap_of(m, ports, decap_mode::frame);
        CHECK(frame.skip == inner_frame_at);
        CHECK(frame.prefix_len == 0);
        const record_cut ip = decap_of(m, ports, decap_mode::ip);
        CHECK(ip.skip == inner_ip_at);
        CHECK(ip.prefix_len == 0);
        CHECK(vxlan_tcp[ip.skip] == 0x45);
        rte_pktmbuf_free(m);

        // An inner IP packet: "frame" puts a made-up Ethernet header before it, "ip" nothing.
        m = make_chain(gre_tcp, segment);
        const size_t gre_inner_at = gre_tcp.size() - (inner_tcp.size() - 18);
        const record_cut gre_frame = decap_of(m, ports, decap_mode::frame);
        CHECK(gre_frame.skip == gre_inner_at);
        CHECK(gre_frame.prefix_len == 14);
        CHECK((gre_frame.prefix[12] == 0x08 && gre_frame.prefix[13] == 0x00));
        const record_cut gre_ip = decap_of(m, ports, decap_mode::ip);
        CHECK(gre_ip.skip == gre_inner_at);
        CHECK(gre_ip.prefix_len == 0);
        rte_pktmbuf_free(m);

        // Nothing to cut: the whole frame, as the writer's last resort.
        for (const std::vector<uint8_t>& frame : {vxlan_arp, gre_bad_version}) {
            m = make_chain(frame, segment);
            CHECK(decap_of(m, ports, decap_mode::ip).skip == 0);
            rte_pktmbuf_free(m);
        }
    }
}

TEST_CASE("the corpus's tunnel captures: every packet walked, inner packets where tshark finds them")
{
    const std::string dir = LINECAP_CORPUS_DIR;
    if (!std::filesystem::is_directory(dir)) {
        WARN("the tcpdump corpus is not at " << dir << ": skipped");
        return;
    }
    // File, packets, packets with an inner packet (tshark -T fields -e frame.protocols).
    const std::tuple<const char*, size_t, size_t> files[] = {
        {"vxlan.pcap", 10, 10},
        {"geneve.pcap", 39, 39},
        {"geneve-gcp.pcap", 1, 1},
        {"erspan-type-i-1.pcap", 2, 2},
        {"erspan-type-ii-1.pcap", 1, 1},
        {"erspan-type-iii-ft-0.pcap", 9, 9},
        {"erspan-type-iii-ft-7.pcap", 58, 0},
        {"wccp_redirect_gre.pcap", 1, 0},   // GRE 0x883e (WCCP): not walked
        {"gso-ipv4-vxlan-ipv4.pcap", 1, 1},
        {"vxlan_port_8472.pcap", 10, 0},    // not on a VXLAN port by default
    };
    for (const auto& [name, packets, with_inner] : files) {
        const auto frames = read_pcap(dir + "/" + name);
        INFO(name);
        REQUIRE(frames.size() == packets);
        size_t found = 0;
        for (const auto& frame : frames) {
            tunnel_view t;
            packet_fields f;
            found += walk(frame, t, f);
        }
        CHECK(found == with_inner);
    }
    // Every packet of every tunnel file, whole and cut every 3 bytes, on
    // every port: no crash, no stray read.
    tunnel_ports any;
    any.vxlan[1] = to_network16(8472);
    any.vxlan_count = 2;
    size_t total = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string name = entry.path().filename();
        if (name.find("vxlan") == std::string::npos && name.find("geneve") == std::string::npos &&
            name.find("erspan") == std::string::npos && name.find("gre") == std::string::npos)
            continue;
        for (const auto& frame : read_pcap(entry.path())) {
            for (size_t len = 0; len <= std::min<size_t>(frame.size(), 200); len += 3) {
                const std::vector<uint8_t> cut(frame.begin(), frame.begin() + static_cast<long>(len));
                tunnel_view t;
                packet_fields f;
                walk(cut, t, f, any);
            }
            total++;
        }
    }
    CHECK(total > 200);
}
