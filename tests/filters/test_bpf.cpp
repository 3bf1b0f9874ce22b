// The guarded JIT (filters/bpf.h): the bound of a classic program's loads,
// from compiled expressions and hand-written programs, and the verdicts of
// bpf_expression::match_burst against libpcap's (what tcpdump -r decides)
// on packets on both sides of that bound, whole and in chains whose first
// segment is tiny, so that the JIT and the interpreter each decide some.
#include <catch2/catch.hpp>

#include <memory>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "tests/filters/filter_helpers.h"

using namespace linecap;
using namespace linecap::test;

namespace {

bpf_load_bound bound_of(const std::string& expression)
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    compiled_bpf program(dead.get(), expression);
    return compute_load_bound(program.program.bf_insns, program.program.bf_len);
}

// `bytes` in a chain whose first segment holds `first` of them and the
// second the rest (a first segment of 0 bytes is left out).
rte_mbuf* chain_split_at(const std::vector<uint8_t>& bytes, size_t first)
{
    if (first == 0 || first >= bytes.size())
        return make_chain(bytes, 2048);
    rte_mbuf* head = make_chain({bytes.begin(), bytes.begin() + static_cast<long>(first)}, 2048);
    rte_mbuf* tail = make_chain({bytes.begin() + static_cast<long>(first), bytes.end()}, 2048);
    REQUIRE(rte_pktmbuf_chain(head, tail) == 0);
    return head;
}

} // namespace

TEST_CASE("the load bound of compiled expressions")
{
    // tcpdump -d "tcp dst port 443": absolute loads up to ldh [56] (the IPv6
    // branch's port: 58), ldxb 4*([14]&0xf), then ldh [x + 16]: 60 + 18.
    const bpf_load_bound port = bound_of("tcp dst port 443");
    CHECK(port.bounded);
    CHECK(port.absolute_end == 58);
    CHECK(port.indexed_end == 18);
    CHECK(port.x_max == 60);
    CHECK(port.worst_case == 78);
    REQUIRE(port.header_lengths == 1);
    CHECK(port.header_length_offsets[0] == 14);

    // IPv4 only: ld [26] is the last absolute load.
    const bpf_load_bound host_port = bound_of("ip src host 10.1.0.1 and tcp dst port 443");
    CHECK(host_port.absolute_end == 30);
    CHECK(host_port.indexed_end == 18);
    CHECK(host_port.worst_case == 78);

    // Behind a VLAN tag: ldxb 4*([18]&0xf), ldh [x + 20]; IPv6's ldh [60].
    const bpf_load_bound vlan = bound_of("vlan and tcp port 80");
    CHECK(vlan.absolute_end == 62);
    CHECK(vlan.indexed_end == 22);
    CHECK(vlan.worst_case == 82);
    REQUIRE(vlan.header_lengths == 1);
    CHECK(vlan.header_length_offsets[0] == 18);

    CHECK(bound_of("ether[0] & 1 == 0").worst_case == 1);
    CHECK(bound_of("ether[1000] == 1").worst_case == 1001);
    CHECK(bound_of("greater 100").worst_case == 0);   // ld #pktlen reads the mbuf, not the packet

    // tcp[tcp[12]/16*4]: X = A (tax) after arithmetic on a packet byte.
    const bpf_load_bound offset = bound_of("tcp[tcp[12]/16*4] == 0x47");
    CHECK_FALSE(offset.bounded);
    CHECK(offset.worst_case == UINT64_MAX);
}

TEST_CASE("the load bound of hand-written programs: ldx #k, ldx M[k], ldx len")
{
    const bpf_insn constant_x[] = {BPF_STMT(BPF_LDX | BPF_IMM, 100), BPF_STMT(BPF_LD | BPF_H | BPF_IND, 10),
                                   BPF_STMT(BPF_LDX | BPF_IMM, 7), BPF_STMT(BPF_RET | BPF_A, 0)};
    const bpf_load_bound c = compute_load_bound(constant_x, 4);
    CHECK(c.bounded);
    CHECK(c.x_max == 100);
    CHECK(c.indexed_end == 12);
    CHECK(c.worst_case == 112);

    const bpf_insn from_memory[] = {BPF_STMT(BPF_LDX | BPF_MEM, 0), BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
                                    BPF_STMT(BPF_RET | BPF_A, 0)};
    CHECK_FALSE(compute_load_bound(from_memory, 3).bounded);
    const bpf_insn from_length[] = {BPF_STMT(BPF_LDX | BPF_W | BPF_LEN, 0), BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0),
                                    BPF_STMT(BPF_RET | BPF_A, 0)};
    CHECK_FALSE(compute_load_bound(from_length, 3).bounded);
}

TEST_CASE("the guarded JIT agrees with libpcap on both sides of the bound, whole and chained")
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    const auto https = tcp4("10.1.0.1", "10.0.0.2", 1000, 443, 0x12, 120);
    auto https_options = https;
    https_options[14] = 0x46;   // a 24-byte IPv4 header: X is 24, the port 4 bytes further
    auto vlan_frame_spec = frame4("10.1.0.1", "10.0.0.2", 6);
    vlan_frame_spec.dst_port = 80;
    vlan_frame_spec.vlans.push_back({0x8100, 5});
    vlan_frame_spec.frame_length = 120;
    const auto vlan_http = traffic::build_frame(vlan_frame_spec);
    const auto https6 = tcp6("2001:db8::1", "2001:db8::2", 1000, 443, 0x02, 120);
    const std::vector<std::vector<uint8_t>> frames = {https, https_options, vlan_http, https6};

    for (const char* expression : {"tcp dst port 443", "ip src host 10.1.0.1 and tcp dst port 443",
                                   "vlan and tcp port 80", "ether[0] & 1 == 0", "tcp[13] & 2 != 0",
                                   "icmp[0] == 8 or tcp[13] & 0x12 == 0x12", "tcp[4:4] > 100000 or udp[8] == 0",
                                   "greater 60 and tcp", "ether[100] == 0"}) {
        bpf_expression bpf;
        REQUIRE(bpf.compile(expression) == "");
        REQUIRE(bpf.jitted());
        compiled_bpf reference(dead.get(), expression);
        const uint64_t bound = bpf.load_bound().worst_case;
        // Every length from nothing to past the bound, and chains whose
        // first segment ends on each side of it.
        std::vector<std::vector<uint8_t>> cases;
        std::vector<size_t> first_segment;
        for (const auto& frame : frames) {
            for (size_t len = 0; len <= std::min<size_t>(frame.size(), bound + 3); len++) {
                cases.emplace_back(frame.begin(), frame.begin() + static_cast<long>(len));
                first_segment.push_back(0);
            }
            for (size_t first : {size_t{1}, size_t{2}, size_t{14}, size_t{37}, size_t{38}, size_t{42},
                                 static_cast<size_t>(bound) - 1, static_cast<size_t>(bound)}) {
                cases.push_back(frame);
                first_segment.push_back(first);
            }
        }
        std::vector<rte_mbuf*> mbufs;
        for (size_t i = 0; i < cases.size(); i++)
            mbufs.push_back(chain_split_at(cases[i], first_segment[i]));
        std::vector<uint64_t> kept(mbufs.size());
        bpf.match_burst(mbufs.data(), static_cast<unsigned>(mbufs.size()), kept.data());
        unsigned by_jit = 0, by_interpreter = 0;
        for (size_t i = 0; i < cases.size(); i++) {
            INFO(expression << ": " << cases[i].size() << " bytes, first segment " << mbufs[i]->data_len
                            << " (bound " << bound << ")");
            const bool fits = bpf.load_bound().fits(mbufs[i]);
            // Safe by construction: what fits has every load in its first segment.
            if (mbufs[i]->data_len >= bound)
                CHECK(fits);
            if (mbufs[i]->data_len < bpf.load_bound().absolute_end)
                CHECK_FALSE(fits);
            (fits ? by_jit : by_interpreter)++;
            CHECK((kept[i] != 0) == reference.matches(cases[i]));
            CHECK(bpf.matches(mbufs[i]) == reference.matches(cases[i]));
        }
        INFO(expression << ": " << by_jit << " packets by the JIT, " << by_interpreter << " by the interpreter");
        CHECK(by_jit > 0);
        if (bound > 0)
            CHECK(by_interpreter > 0);
        for (rte_mbuf* m : mbufs)
            rte_pktmbuf_free(m);
    }
}

TEST_CASE("a short packet's own header length lets the JIT take it below the worst case")
{
    // 64-byte TCP frames (IHL 5) hold "ip src host ... and tcp dst port 443"'s
    // 38 bytes though the worst case is 78: the JIT runs them.
    bpf_expression bpf;
    REQUIRE(bpf.compile("ip src host 10.1.0.1 and tcp dst port 443") == "");
    REQUIRE(bpf.jitted());
    for (unsigned len : {60u, 64u}) {
        auto frame = tcp4("10.1.0.1", "10.0.0.2", 1000, 443, 0x10, len);
        rte_mbuf* m = make_chain(frame, 2048);
        CHECK(bpf.load_bound().fits(m));
        CHECK(bpf.matches(m));
        rte_pktmbuf_free(m);
        frame.resize(37);   // one byte short of the port's end
        m = make_chain(frame, 2048);
        CHECK_FALSE(bpf.load_bound().fits(m));
        CHECK_FALSE(bpf.matches(m));
        rte_pktmbuf_free(m);
    }
}

TEST_CASE("an unbounded program and --bpf-interpreter run in DPDK's interpreter and agree with libpcap")
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    auto frame = tcp4("10.1.0.1", "10.0.0.2", 1000, 443, 0x18, 120);
    frame[14 + 20 + 20] = 0x47;   // the first payload byte, at tcp[tcp[12]/16*4]
    auto other = frame;
    other[14 + 20 + 20] = 0x48;
    const std::vector<std::vector<uint8_t>> frames = {frame, other, {frame.begin(), frame.begin() + 54},
                                                      {frame.begin(), frame.begin() + 1}};

    struct setup {
        const char* expression;
        bpf_runner runner;
    };
    for (const setup& s : {setup{"tcp[tcp[12]/16*4] == 0x47", bpf_runner::guarded_jit},
                           setup{"tcp dst port 443 and tcp[20] == 0x47", bpf_runner::interpreter}}) {
        bpf_expression bpf;
        REQUIRE(bpf.compile(s.expression, s.runner) == "");
        CHECK_FALSE(bpf.jitted());
        compiled_bpf reference(dead.get(), s.expression);
        for (uint16_t segment : {2048, 7, 1}) {
            std::vector<rte_mbuf*> mbufs;
            for (const auto& f : frames)
                mbufs.push_back(make_chain(f, segment));
            uint64_t kept[4];
            bpf.match_burst(mbufs.data(), 4, kept);
            for (size_t i = 0; i < frames.size(); i++) {
                INFO(s.expression << ", frame " << i << " in segments of " << segment);
                CHECK((kept[i] != 0) == reference.matches(frames[i]));
            }
            for (rte_mbuf* m : mbufs)
                rte_pktmbuf_free(m);
        }
        CHECK(reference.matches(frame));
        CHECK_FALSE(reference.matches(other));
    }
}

TEST_CASE("an expression with a NUL byte is refused, not cut short where libpcap's C string ends")
{
    bpf_program program{};
    const std::string expression("tcp\0and udp", 11);
    CHECK(compile_tcpdump_filter(expression, DLT_EN10MB, 0, program) ==
          "\"tcp\": a NUL byte at character 4: an expression is text");
    REQUIRE(compile_tcpdump_filter("tcp and udp", DLT_EN10MB, 0, program) ==
            "\"tcp and udp\": expression rejects all packets");
}

TEST_CASE("inbound, outbound and ifindex are refused on every path, as tcpdump -r refuses them")
{
    // libpcap compiles them into loads of the Linux socket's metadata, which
    // its interpreter fails on every packet here: "not inbound" matched
    // nothing, silently, where tcpdump -r refuses the expression.
    for (const char* expression : {"inbound", "not outbound", "tcp and inbound", "geneve and inbound"}) {
        bpf_program program{};
        const std::string e = compile_tcpdump_filter(expression, DLT_EN10MB, 0, program);
        CHECK_THAT(e, Catch::StartsWith(fmt::format("\"{}\": asks for the Linux socket's metadata", expression)));
        CHECK_THAT(e, Catch::Contains("select a direction by its addresses or ports instead"));
        CHECK(program.bf_insns == nullptr);   // freed
        CHECK(bpf_expression::check_syntax(expression) == e);
    }
    bpf_program program{};
    REQUIRE(compile_tcpdump_filter("tcp and src net 10.0.0.0/8", DLT_EN10MB, 0, program).empty());
    pcap_freecode(&program);
    // A program that decides no packet (a query's pruning) may ask; so may
    // a Linux cooked capture's, where libpcap reads the direction from the
    // packet's own header.
    REQUIRE(compile_tcpdump_filter("inbound", DLT_EN10MB, 0, program, true).empty());
    pcap_freecode(&program);
    REQUIRE(compile_tcpdump_filter("inbound", DLT_LINUX_SLL, 0, program).empty());
    pcap_freecode(&program);
}
