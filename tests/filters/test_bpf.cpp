// The guarded JIT (filters/bpf.h): the bound of a classic program's loads,
// from compiled expressions and hand-written programs, and the verdicts of
// bpf_expression::match_burst against libpcap's (what tcpdump -r decides)
// on packets on both sides of that bound, whole and in chains whose first
// segment is tiny, so that the JIT and the interpreter each decide some.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fmt/format.h>
#include <pcap/pcap.h>

#include <capstone/capstone.h>
#include <rte_malloc.h>

#include "filters/bpf_jit_check.h"
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

// A classic program converted, loaded and JIT-compiled by DPDK alone (none
// of linecap's corrections), with the eBPF program the code was made from.
struct dpdk_jit {
    std::unique_ptr<rte_bpf_prm, void (*)(void*)> prm{nullptr, rte_free};
    std::unique_ptr<rte_bpf, void (*)(rte_bpf*)> bpf{nullptr, rte_bpf_destroy};
    rte_bpf_jit jit{};

    explicit dpdk_jit(bpf_program& program)
    {
        prm.reset(rte_bpf_convert(&program));
        REQUIRE(prm != nullptr);
        bpf.reset(rte_bpf_load(prm.get()));
        REQUIRE(bpf != nullptr);
        REQUIRE(rte_bpf_get_jit(bpf.get(), &jit) == 0);
        REQUIRE(jit.func != nullptr);
    }

    const uint8_t* code() const { return reinterpret_cast<const uint8_t*>(jit.func); }
    std::string check() const { return check_jit_layout(prm->ins, prm->nb_ins, code(), jit.sz); }
};

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
    // X = A (tax) as a divisor, with no load at [x + k]: X reads nothing.
    const bpf_load_bound divisor = bound_of("ip[2:2] / ip[9] > 10");
    CHECK(divisor.bounded);
    CHECK(divisor.indexed_end == 0);
    CHECK(divisor.worst_case == 24);
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
        REQUIRE(bpf.compile(expression, bpf_runner::guarded_jit) == "");
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
    REQUIRE(bpf.compile("ip src host 10.1.0.1 and tcp dst port 443", bpf_runner::guarded_jit) == "");
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

namespace {

bpf_address_filter address_filter_of(const std::string& expression)
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    compiled_bpf program(dead.get(), expression);
    return compute_address_filter(program.program.bf_insns, program.program.bf_len);
}

bool filter_lets_through(const bpf_address_filter& f, const std::vector<uint8_t>& frame)
{
    rte_mbuf* m = make_chain(frame, 2048);
    const bool through = f.may_match(m);
    rte_pktmbuf_free(m);
    return through;
}

// An ARP request from `sender` for `target` (IPv4 addresses as text).
std::vector<uint8_t> arp_request(const char* sender, const char* target)
{
    traffic::frame_spec s;
    s.ip_version = 0;
    auto frame = traffic::build_frame(s);
    REQUIRE(inet_pton(AF_INET, sender, frame.data() + bpf_address_filter::arp_sender_at) == 1);
    REQUIRE(inet_pton(AF_INET, target, frame.data() + bpf_address_filter::arp_target_at) == 1);
    return frame;
}

} // namespace

TEST_CASE("the address filter of compiled expressions: on where every kept packet has a narrow address")
{
    // Each path that keeps a packet fixes an IPv4 /24 range, an ARP address
    // or an IPv6 /48 range of 256 or fewer on one side.
    for (const char* expression : {"host 10.1.0.1", "ip src host 10.1.0.1 and tcp dst port 443", "net 10.1.0.0/16",
                                   "src net 10.1.2.0/24 and udp dst port 53", "ip6 host 2001:db8::1",
                                   "ip6 net 2001:db8:100::/40", "host 10.1.0.1 or host 2001:db8::1",
                                   "arp host 10.0.0.1", "(host 10.0.0.1 or host 10.0.0.2) and (port 22 or port 80)"}) {
        INFO(expression);
        CHECK(address_filter_of(expression).on());
    }
    // A path keeps packets of any address, or of a type whose addresses are
    // not looked at, or addresses too wide to mark.
    for (const char* expression : {"tcp port 443", "not host 10.1.0.1", "host 10.1.0.1 or port 22",
                                   "vlan and host 10.1.0.1", "net 10.0.0.0/8", "ip6 net 2001:db8::/32",
                                   "ether host 02:00:00:00:00:01", "greater 100", "ip[12:4] > 0x0a000000", "ip"}) {
        INFO(expression);
        CHECK_FALSE(address_filter_of(expression).on());
    }

    // What it lets through: only the kept type and its addresses' buckets.
    const bpf_address_filter host_port = address_filter_of("ip src host 10.1.0.1 and tcp dst port 443");
    REQUIRE(host_port.on());
    CHECK(filter_lets_through(host_port, tcp4("10.1.0.1", "10.0.0.2", 1000, 443)));
    CHECK(filter_lets_through(host_port, tcp4("10.1.0.1", "10.0.0.2", 1000, 80)));   // the program decides the port
    CHECK_FALSE(filter_lets_through(host_port, tcp4("10.9.9.9", "10.1.0.1", 1000, 443)));   // src only
    CHECK_FALSE(filter_lets_through(host_port, tcp6("2001:db8::1", "2001:db8::2", 1000, 443)));
    CHECK_FALSE(filter_lets_through(host_port, arp_request("10.1.0.1", "10.1.0.2")));

    const bpf_address_filter host = address_filter_of("host 10.0.0.7 or host 2001:db8::1");
    REQUIRE(host.on());
    CHECK(filter_lets_through(host, tcp4("10.0.0.8", "10.0.0.7", 1000, 443)));
    // The host's address is marked, not its /24: its neighbours are turned away.
    CHECK_FALSE(filter_lets_through(host, tcp4("10.0.0.8", "10.0.0.9", 1000, 443)));
    CHECK_FALSE(filter_lets_through(host, arp_request("10.0.0.8", "10.0.0.6")));
    CHECK(filter_lets_through(host, arp_request("10.0.0.7", "10.0.0.99")));      // "host" asks of ARP
    CHECK(filter_lets_through(host, arp_request("10.0.0.99", "10.0.0.7")));
    CHECK(filter_lets_through(host, tcp6("2001:db8::2", "2001:db8::1", 1000, 443)));
    CHECK_FALSE(filter_lets_through(host, tcp4("192.168.0.1", "172.16.0.1", 1000, 443)));
    CHECK_FALSE(filter_lets_through(host, tcp6("2001:db8:5::1", "2001:db8:6::2", 1000, 443)));
    CHECK_FALSE(filter_lets_through(host, tcp6("2001:db8:0:5::1", "2001:db8:0:6::1", 1000, 443)));   // its /48, not its /64
    // A subnet's /24 is marked: any of its addresses goes on to the program.
    const bpf_address_filter net = address_filter_of("src net 10.1.2.0/24 and udp dst port 53");
    REQUIRE(net.on());
    CHECK(filter_lets_through(net, tcp4("10.1.2.77", "10.0.0.1", 1000, 53)));
    CHECK_FALSE(filter_lets_through(net, tcp4("10.1.3.77", "10.1.2.77", 1000, 53)));
    // A first segment too short to hold the addresses is the program's to decide.
    auto cut = tcp4("192.168.0.1", "172.16.0.1", 1000, 443);
    cut.resize(bpf_address_filter::reads - 1);
    CHECK(filter_lets_through(host, cut));

    // Hand-written: the accumulator's value kept, with no jeq to fix it.
    const bpf_insn keep_a[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
                               BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 2),
                               BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26), BPF_STMT(BPF_RET | BPF_A, 0),
                               BPF_STMT(BPF_RET | BPF_K, 0)};
    CHECK_FALSE(compute_address_filter(keep_a, 5).on());
    // The address through M[], through X, or masked to nothing: not known.
    const bpf_insn through_memory[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
                                       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 5),
                                       BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26), BPF_STMT(BPF_ST, 0),
                                       BPF_STMT(BPF_LD | BPF_MEM, 0),
                                       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0a000001, 0, 1),
                                       BPF_STMT(BPF_RET | BPF_K, 65535), BPF_STMT(BPF_RET | BPF_K, 0)};
    CHECK_FALSE(compute_address_filter(through_memory, 8).on());
    const bpf_insn through_x[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
                                  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 5),
                                  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26), BPF_STMT(BPF_MISC | BPF_TAX, 0),
                                  BPF_STMT(BPF_MISC | BPF_TXA, 0),
                                  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0a000001, 0, 1),
                                  BPF_STMT(BPF_RET | BPF_K, 65535), BPF_STMT(BPF_RET | BPF_K, 0)};
    CHECK_FALSE(compute_address_filter(through_x, 8).on());
    const bpf_insn masked_to_nothing[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
                                          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 4),
                                          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26),
                                          BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0),
                                          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
                                          BPF_STMT(BPF_RET | BPF_K, 65535), BPF_STMT(BPF_RET | BPF_K, 0)};
    CHECK_FALSE(compute_address_filter(masked_to_nothing, 7).on());
    // Two compares of the same address that cannot both hold: no packet
    // takes the keeping path, so the filter is on and lets nothing through.
    const bpf_insn contradiction[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
                                      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, 5),
                                      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26),
                                      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0a000001, 0, 3),
                                      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26),
                                      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0a000002, 0, 1),
                                      BPF_STMT(BPF_RET | BPF_K, 65535), BPF_STMT(BPF_RET | BPF_K, 0)};
    const bpf_address_filter never = compute_address_filter(contradiction, 8);
    CHECK(never.on());
    CHECK_FALSE(filter_lets_through(never, tcp4("10.0.0.1", "10.0.0.2", 1, 2)));
    CHECK_FALSE(filter_lets_through(never, tcp4("10.0.0.2", "10.0.0.1", 1, 2)));
    // A jump off the end of the program.
    const bpf_insn off_the_end[] = {BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0), BPF_STMT(BPF_RET | BPF_K, 0)};
    CHECK_FALSE(compute_address_filter(off_the_end, 2).on());
    // A program that keeps nothing: on, and lets nothing through.
    const bpf_insn nothing[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    const bpf_address_filter none = compute_address_filter(nothing, 1);
    CHECK(none.on());
    CHECK_FALSE(filter_lets_through(none, tcp4("10.0.0.1", "10.0.0.2", 1, 2)));
}

TEST_CASE("DPDK 22.11's JIT lays out some programs' jumps wrong: the check refuses their code, which would crash")
{
    // Found by the address filter's differential test among random
    // expressions: the JIT's last pass puts the program's final jumps 4 bytes
    // short of their targets, so an ARP packet that reaches the last compare
    // jumps into the middle of the epilogue and the process dies
    // (filters/bpf_jit_check.h).
    const std::string expression = "(((udp) and (src or dst host 2001:db8::2)) or ((host 192.168.1.200) and "
                                   "(src host 10.0.0.1))) or ((not (icmp)) and (not (arp host 172.16.5.5)))";
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    compiled_bpf reference(dead.get(), expression);
    const std::vector<std::vector<uint8_t>> frames = {
        arp_request("10.9.9.9", "10.0.0.9"), arp_request("172.16.5.5", "10.0.0.9"),
        tcp4("192.168.1.200", "10.0.0.2", 1000, 443), udp4("10.0.0.1", "10.0.0.2", 53, 53),
        tcp6("2001:db8::2", "2001:db8::7", 1000, 443)};
    std::vector<rte_mbuf*> mbufs;
    for (const auto& f : frames)
        mbufs.push_back(make_chain(f, 2048));

    // The default (the checked JIT) refuses it, says where, and runs it in
    // the interpreter, which agrees with libpcap on every frame.
    bpf_expression checked;
    REQUIRE(checked.compile(expression) == "");
    CHECK_FALSE(checked.jitted());
    CHECK_THAT(checked.jit_refusal(), Catch::Matches("the jump at byte \\d+ \\(instruction \\d+\\) lands at byte "
                                                     "\\d+, not at byte \\d+"));
    REQUIRE_FALSE(checked.address_filter().on());   // every frame reaches the program
    for (size_t i = 0; i < frames.size(); i++) {
        INFO("frame " << i);
        CHECK(checked.matches(mbufs[i]) == reference.matches(frames[i]));
    }

    // The same program loaded by DPDK alone (it has no load at X + k and no
    // flag test, which linecap rewrites): the check refuses that code too,
    // and the code, run in a child process, faults or decides wrong.
    const dpdk_jit raw(reference.program);
    CHECK(raw.check() == checked.jit_refusal());
    std::fflush(nullptr);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // A fault is this test's finding, not the sanitizers': the child
        // leaves quietly. A jump that loops instead ends by the alarm.
        for (int signal : {SIGSEGV, SIGBUS, SIGILL})
            std::signal(signal, [](int) { _exit(3); });
        alarm(10);
        bool agrees = true;
        for (size_t i = 0; i < frames.size(); i++)
            agrees = agrees && (raw.jit.func(mbufs[i]) != 0) == reference.matches(frames[i]);
        _exit(agrees ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    // Should this fail, the JIT ran the program right: see whether Debian's
    // DPDK now converges its jump layout (and why the check refused it).
    INFO("the child " << (WIFEXITED(status) ? fmt::format("exited {}", WEXITSTATUS(status))
                                            : fmt::format("died of signal {}", WTERMSIG(status))));
    CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    for (rte_mbuf* m : mbufs)
        rte_pktmbuf_free(m);
}

TEST_CASE("the JIT's layout check refuses every jump moved off its target, and a program that is not the code's")
{
    // Programs with every kind of branch the check knows: packet loads (three
    // each), jumps to blocks, jumps to the epilogue, a division by X (whose
    // converted check exits); and one whose only jump to the epilogue comes
    // after it (`greater 100` loads no packet byte).
    for (const char* expression : {"ip src host 10.1.0.1 and tcp dst port 443", "ip[2:2] / ip[9] > 10 or ip[2:2] % ip[8] = 3",
                                   "vlan and (udp port 53 or ip6 host 2001:db8::1)", "greater 100"}) {
        INFO(expression);
        std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
        compiled_bpf reference(dead.get(), expression);
        bpf_expression checked;
        REQUIRE(checked.compile(expression) == "");
        INFO(checked.jit_refusal());
        REQUIRE(checked.jitted());
        // DPDK's own load of the same program (no flag test rewritten: the
        // check looks at branches, not at what the JIT encodes them from).
        const dpdk_jit raw(reference.program);
        REQUIRE(raw.check() == "");
        const uint8_t* code = raw.code();
        const size_t size = raw.jit.sz;
        const ebpf_insn* program = raw.prm->ins;
        const uint32_t count = raw.prm->nb_ins;

        // Each jump's displacement moved as the JIT's bug moves it (4 bytes:
        // a jcc's two encodings; 3: a jmp's), and by one byte either way.
        csh decoder = 0;
        REQUIRE(cs_open(CS_ARCH_X86, CS_MODE_64, &decoder) == CS_ERR_OK);
        cs_insn* insns = nullptr;
        const size_t decoded = cs_disasm(decoder, code, size, 0, 0, &insns);
        REQUIRE(decoded > 0);
        unsigned moved = 0;
        for (size_t k = 0; k < decoded; k++) {
            const cs_insn& in = insns[k];
            const bool rel8 = in.size == 2 && (in.bytes[0] == 0xeb || (in.bytes[0] & 0xf0) == 0x70);   // jmp, jcc
            const bool jcc32 = in.size == 6 && in.bytes[0] == 0x0f && (in.bytes[1] & 0xf0) == 0x80;
            const bool jmp32 = in.size == 5 && in.bytes[0] == 0xe9;
            if (!rel8 && !jcc32 && !jmp32)
                continue;
            for (int by : {-4, -3, -1, 1, 3, 4}) {
                std::vector<uint8_t> copy(code, code + size);
                uint8_t* displacement = copy.data() + in.address + (jcc32 ? 2 : 1);
                if (rel8) {
                    *displacement = static_cast<uint8_t>(*displacement + by);
                } else {
                    int32_t d;
                    std::memcpy(&d, displacement, 4);
                    d += by;
                    std::memcpy(displacement, &d, 4);
                }
                INFO("the jump at byte " << in.address << " moved by " << by);
                CHECK_FALSE(check_jit_layout(program, count, copy.data(), copy.size()).empty());
                moved++;
            }
        }
        cs_free(insns, decoded);
        cs_close(&decoder);
        CHECK(moved >= 6 * 3);

        // A program one of whose jumps goes to another placed instruction (one
        // after a jump or an exit) is not this code's: the jump is found
        // landing where the old target starts.
        std::vector<ebpf_insn> other(program, program + count);
        bool retargeted = false;
        for (uint32_t a = 0; a < count && !retargeted; a++) {
            if (!jumps_within_program(other[a]))
                continue;
            const int64_t target_a = int64_t{a} + 1 + other[a].off;
            for (uint32_t b = a + 1; b + 1 < count && !retargeted; b++) {
                const bool ends_in_branch = jumps_within_program(other[b]) || other[b].code == (BPF_JMP | EBPF_EXIT);
                if (ends_in_branch && int64_t{b} + 1 != target_a) {
                    other[a].off = static_cast<int16_t>(b - a);   // to b + 1
                    retargeted = true;
                }
            }
        }
        REQUIRE(retargeted);
        CHECK_THAT(check_jit_layout(other.data(), count, code, size), Catch::Contains("lands at byte"));
    }

    // A flag test as DPDK's JIT encodes it (`test r/m64, imm32` with a 1-byte
    // immediate, filters/bpf.cpp) makes code that decodes into other
    // instructions. The check is not made for that (the rewrite is what
    // makes such code right), but here those instructions hold another count
    // of branches, and it is refused; linecap's rewritten program is JIT-run.
    const std::string flags = "tcp[13] & 2 != 0 and port 22";
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    compiled_bpf reference(dead.get(), flags);
    CHECK_FALSE(dpdk_jit(reference.program).check().empty());
    bpf_expression rewritten;
    REQUIRE(rewritten.compile(flags) == "");
    CHECK(rewritten.jitted());
}
