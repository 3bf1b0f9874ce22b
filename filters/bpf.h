// tcpdump's filter language in the fast path: compiled by libpcap
// (pcap_compile for Ethernet), converted to eBPF by rte_bpf_convert, loaded
// by rte_bpf and run over a burst, after an address filter derived from the
// program (bpf_address_filter) has turned away the packets it cannot keep:
// DPDK's x86-64 JIT for each packet whose loads all fall inside its first
// segment (bpf_load_bound), once the JIT's code has passed linecap's check
// (bpf_jit_check.h), and DPDK's interpreter for the rest (and for every
// packet with --bpf-interpreter). The program reads the mbuf, so it sees
// every segment of a chained packet. What DPDK cannot run (a loop: libpcap's
// "protochain") runs in libpcap's own interpreter (bpf_filter), as tcpdump
// runs it.
//
// Why the JIT's code is checked: DPDK 22.11's x86-64 JIT sizes its jumps in
// passes that stop when the code's total size stops changing, not when every
// jump's target has, so some programs come out with jumps into the middle of
// an instruction (a crash) or to the wrong one. test_differential.cpp found
// one among random expressions (test_bpf.cpp keeps it); upstream has the same
// loop as of 2026. check_jit_layout decodes the code and refuses it unless
// every branch lands where the program says; a refused program runs in the
// interpreter (about one random expression in 3 000).
//
// Why the JIT is guarded: DPDK 22.11's x86-64 JIT loads a packet byte inline
// when the load lies inside the first segment (its test: data_len - offset >=
// size) and otherwise calls out to __rte_pktmbuf_read with the stack
// misaligned, and the callee's SSE code faults. Found by
// test_differential.cpp on a 1-byte packet with "ether[0] & 1 == 0"; fixed
// upstream in 2026 ("bpf: fix x86 call stack alignment for external calls"),
// not in Debian 12's 22.11.11. A packet whose first segment holds every byte
// the program can load never takes that call, so the JIT runs only those.
// The same JIT also mis-encodes `jset #k` for k in -128..127 (every TCP
// flag test): bpf.cpp rewrites those before the program is loaded.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <pcap/pcap.h>
#include <rte_branch_prediction.h>
#include <rte_bpf.h>
#include <rte_mbuf.h>

#include "core/packet.h"
#include "filters/address_prefilter.h"

namespace linecap {

// rte_bpf_convert refuses classic programs longer than the kernel's BPF_MAXINSNS.
constexpr unsigned bpf_max_instructions = 4096;

// Compiles a tcpdump expression for packets of `linktype` (a DLT_ value) as
// tcpdump -r does: optimized, libpcap's largest snap length, `netmask` for
// "ip broadcast" (tcpdump -r: 0). "" or the expression quoted and libpcap's
// words: "\"host foo\": unknown host 'foo'". The caller frees `program`
// (pcap_freecode) once compiled. An expression that asks for the Linux
// socket's metadata ("inbound", "outbound", "ifindex" on Ethernet, which no
// packet here carries) is refused, as tcpdump -r refuses it, unless
// `allow_socket_metadata` (a compile whose program only narrows a search
// and decides no packet: linecap query's pruning).
std::string compile_tcpdump_filter(const std::string& expression, int linktype, uint32_t netmask,
                                   bpf_program& program, bool allow_socket_metadata = false);

// Packets bpf_expression::match_burst takes in one call: the classifier's
// chunk (classifier.cpp), so its stack arrays stay in L1.
constexpr unsigned bpf_burst_max = 64;

// How a program DPDK loaded is run.
enum class bpf_runner {
    interpreter,    // DPDK's interpreter for every packet (--bpf-interpreter)
    guarded_jit,    // the JIT, if its code passes check_jit_layout, for packets bpf_load_bound::fits;
                    // the interpreter for the rest (the default)
};

// How far into a packet a classic program's loads can reach, from the
// program alone, so that a packet can be checked in a few instructions
// before the JIT runs it. Offsets are bytes from the start of the frame.
//
// Absolute loads (ld/ldh/ldb [k], and the byte ldxb 4*([k]&0xf) reads)
// reach k + size. Indexed loads ([x + k]) reach X + k + size, so X needs a
// bound: X starts at 0 and is set by `ldx #k` (X = k) or by
// `ldxb 4*([k]&0xf)` (X = 4 * the low nibble of byte k: at most 60, and
// for a given packet exactly that), which is all libpcap emits for port,
// flag and payload-offset tests behind an IPv4 header. Any other way to set
// X (tax, ldx M[k], ldx len) leaves it unbounded: a program that also loads
// at [x + k] is never JIT-run (one that only computes with X, as
// `ip[2:2] / ip[9]` does, is).
struct bpf_load_bound {
    // ldxb 4*([k]&0xf) sites whose byte a packet's own X is computed from;
    // a program with more uses x_max for every packet.
    static constexpr unsigned max_header_lengths = 4;

    bool bounded = true;            // false: an [x + k] load with X able to hold anything; no bound exists
    uint64_t absolute_end = 0;      // one past the last byte an absolute load can read
    uint64_t indexed_end = 0;       // largest k + size of an [x + k] load; 0: none
    uint64_t x_constant_max = 0;    // largest X from `ldx #k` (0, X's first value, if none)
    uint64_t x_max = 0;             // largest X at all: x_constant_max, or 60 with ldxb 4*([k]&0xf)
    std::array<uint32_t, max_header_lengths> header_length_offsets{};   // the k of each ldxb 4*([k]&0xf)
    unsigned header_lengths = 0;    // how many; > max_header_lengths: too many to look at per packet

    // Bytes a packet's first segment must hold for no load of the program
    // to leave it, whatever the packet: max(absolute_end, x_max +
    // indexed_end); UINT64_MAX when not bounded.
    uint64_t worst_case = UINT64_MAX;

    // True when no load of the program can leave `m`'s first segment: its
    // data_len is at least worst_case, or at least what X can be for this
    // packet (computed from its own header-length bytes) plus indexed_end.
    // Reads at most max_header_lengths bytes of the first segment.
    bool fits(const rte_mbuf* m) const
    {
        const uint32_t held = m->data_len;
        if (held >= worst_case)
            return true;
        if (!bounded || held < absolute_end || header_lengths > max_header_lengths)
            return false;
        // Every header-length byte lies below absolute_end, so inside the segment.
        const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
        uint64_t x = x_constant_max;
        for (unsigned i = 0; i < header_lengths; i++)
            x = std::max<uint64_t>(x, 4u * (data[header_length_offsets[i]] & 0xfu));
        return held >= x + indexed_end;
    }
};

// The bound of a classic program (see bpf_load_bound).
bpf_load_bound compute_load_bound(const bpf_insn* instructions, unsigned count);

// What a classic program requires of a packet's addresses, from the program
// alone, so that most packets of mixed traffic are turned away in a few
// instructions before the program runs: on such traffic the JIT's branches
// cost some 10 ns a packet, the check below 2-3 (docs/performance.md).
//
// Every path through the program (jumps only go forward) to a `ret` that
// can keep the packet is followed, learning from each `jeq #k` it takes what
// the packet holds: its Ethernet type (ldh [12]) and the 4-byte words at
// the frame offsets of the IPv4, ARP and IPv6 addresses (ld [k], or ld [k]
// then and #m: what libpcap emits for "host" and "net"). A path that keeps
// an IPv4 packet (type 0x0800) must have fixed the leading bits of its
// source or its destination, one that keeps an ARP or RARP packet (0x0806,
// 0x8035: "host" asks of those too) its sender's or target's, one that
// keeps an IPv6 packet (0x86dd) its source's or destination's first 64
// bits: each is a condition of an address_prefilter (address_prefilter.h),
// one for IPv4 and ARP (their addresses share it; a packet of a type no
// path keeps is turned away), one for IPv6. A keeping path that fixes no type, a
// type of no other kind, or no address of its type, or a program with more
// paths than are worth following, leaves the filter off: an expression
// about VLAN-tagged frames ("vlan and host ...", whose loads lie 4 bytes
// on), or with no address ("tcp port 443"). The loads are the program's
// own, at the same offsets, so the filter lets through every packet the
// program can keep (tests/filters/test_differential.cpp).
struct bpf_address_filter {
    // Frame offsets the check reads (Ethernet, RFC 826's ARP for IPv4).
    static constexpr uint32_t ether_type_at = 12;
    static constexpr uint32_t l3_at = 14;
    static constexpr uint32_t arp_sender_at = l3_at + 14;
    static constexpr uint32_t arp_target_at = l3_at + 24;
    // A first segment shorter than this (up to the first 8 bytes of an
    // IPv6 destination) is let through: the program decides.
    static constexpr uint32_t reads = l3_at + ipv6_dst_at + 8;

    address_prefilter v4;   // IPv4 and ARP addresses; nothing marked: no such packet is kept
    address_prefilter v6;
    bool keeps_ip4 = false;   // whether some path keeps an IPv4 packet; an ARP or RARP packet
    bool keeps_arp = false;

    // The walk sets both families' filters or neither.
    bool on() const { return v4.on() && v6.on(); }

    // body(marks of v4, marks of v6), each a std::integral_constant
    // (address_prefilter::with_marks): what body returns.
    template <typename Body>
    [[gnu::always_inline]] decltype(auto) with_marks(Body&& body) const
    {
        return v4.with_marks([&](auto marks4) { return v6.with_marks([&](auto marks6) { return body(marks4, marks6); }); });
    }

    // False: the program keeps no such packet. Only for a filter that is on.
    // Marks4, Marks6: v4's and v6's (with_marks).
    template <uint8_t Marks4, uint8_t Marks6>
    [[gnu::always_inline]] bool may_match(const rte_mbuf* m) const
    {
        if (unlikely(m->data_len < reads))
            return true;
        const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
        const uint32_t type = static_cast<uint32_t>(frame[ether_type_at] << 8 | frame[ether_type_at + 1]);
        const bool ip4 = type == ether_type_ipv4, ip6 = type == ether_type_ipv6;
        const bool arp = (type == ether_type_arp) | (type == ether_type_rarp);
        // Both families are asked, with no branch on the type, which on
        // mixed traffic the CPU cannot foresee.
        const uint32_t src = arp ? arp_sender_at : l3_at + ipv4_src_at;
        const uint32_t dst = arp ? arp_target_at : l3_at + ipv4_dst_at;
        const bool in4 = v4.may_match_v4<Marks4>(frame + src, frame + dst);
        const bool in6 = v6.may_match_v6<Marks6>(frame + l3_at + ipv6_src_at, frame + l3_at + ipv6_dst_at);
        return (((ip4 & keeps_ip4) | (arp & keeps_arp)) & in4) | (ip6 & in6);
    }
    bool may_match(const rte_mbuf* m) const
    {
        return with_marks([&](auto marks4, auto marks6) { return may_match<marks4.value, marks6.value>(m); });
    }
};

// The address filter of a classic program for Ethernet (see bpf_address_filter).
bpf_address_filter compute_address_filter(const bpf_insn* instructions, unsigned count);

class bpf_expression {
public:
    bpf_expression() = default;
    ~bpf_expression();
    bpf_expression(const bpf_expression&) = delete;
    bpf_expression& operator=(const bpf_expression&) = delete;

    // Compiles `expression`. Returns an empty string, or libpcap's message
    // (it names the token: "syntax error in filter expression"). What libpcap
    // compiles always runs: an expression DPDK cannot convert or verify
    // (libpcap's "protochain" is a loop, which DPDK refuses) runs in
    // libpcap's own interpreter, as tcpdump runs it, and note() says so. So
    // check_syntax before DPDK starts is the whole check.
    //
    // `len` (and `greater`, `less`) reads the mbuf's pkt_len, unless
    // `wire_len_offset` is not negative: then it reads the 32-bit length at
    // that offset in the mbuf instead (packet_meta::wire_len of packets read
    // from a capture file, whose pkt_len is only what the file captured).
    //
    // `netmask` (host order) is what "broadcast" tests the destination
    // against; 0, tcpdump -r's, makes "ip broadcast" 255.255.255.255 or 0.0.0.0.
    //
    // `runner`: bpf_runner::guarded_jit uses DPDK's JIT where its stack is
    // safe (bpf_load_bound) and the interpreter elsewhere; an expression
    // whose bound cannot be computed, or whose JIT code fails
    // check_jit_layout, runs in the interpreter (jit_refusal() says why).
    std::string compile(const std::string& expression, bpf_runner runner = bpf_runner::guarded_jit,
                        int wire_len_offset = -1, uint32_t netmask = 0);

    // compile() in its two halves. parse() is libpcap's alone (it resolves
    // host names, which can wait seconds on DNS): any thread, DPDK running
    // or not. load() is DPDK's (convert, verify, JIT), after parse()
    // succeeded; it returns an error only when DPDK is out of memory.
    std::string parse(const std::string& expression, uint32_t netmask = 0);
    std::string load(bpf_runner runner = bpf_runner::guarded_jit, int wire_len_offset = -1);

    // libpcap's verdict on the expression alone; needs no DPDK.
    static std::string check_syntax(const std::string& expression, uint32_t netmask = 0);

    // The expression's verdict on one packet (the mbuf is only read).
    bool matches(rte_mbuf* m) const
    {
        if (_addresses.on() && !_addresses.may_match(m))
            return false;
        if (_jit != nullptr && _bound.fits(m))
            return _jit(m) != 0;
        if (_bpf != nullptr)
            return rte_bpf_exec(_bpf, m) != 0;
        return matches_in_libpcap(m);
    }

    // The verdicts on `n` packets: kept[i] is nonzero when the expression
    // keeps pkts[i]. The packets the address filter lets through (all, when
    // it is off) run in one rte_bpf_exec_burst; with the guarded JIT, those
    // that fit its bound run in the JIT, the others in one
    // rte_bpf_exec_burst. No allocation; any n (work is done bpf_burst_max
    // packets at a time). The mbufs are only read.
    void match_burst(rte_mbuf* const* pkts, unsigned n, uint64_t* kept) const;

    // True when the JIT runs the packets that fit load_bound().
    bool jitted() const { return _jit != nullptr; }
    // With bpf_runner::guarded_jit, empty or why DPDK's JIT does not run the
    // program (check_jit_layout's finding, or no bound on its loads).
    const std::string& jit_refusal() const { return _jit_refusal; }
    // Empty, or why the expression runs in libpcap's interpreter (a line
    // for the operator when the session starts).
    const std::string& note() const { return _note; }
    // What the compiled classic program's loads can reach.
    const bpf_load_bound& load_bound() const { return _bound; }
    // What it requires of a packet's addresses; asked of every packet
    // before the program when on.
    const bpf_address_filter& address_filter() const { return _addresses; }

private:
    bool matches_in_libpcap(const rte_mbuf* m) const;
    void match_slice(rte_mbuf* const* pkts, unsigned n, uint64_t* kept) const;

    std::string _expression;        // as given, for messages
    bpf_program _program{};         // libpcap's; run by libpcap when DPDK cannot
    rte_bpf* _bpf = nullptr;
    uint64_t (*_jit)(void*) = nullptr;  // null: no JIT (not asked, unbounded, or DPDK gave none)
    bpf_load_bound _bound;
    bpf_address_filter _addresses;
    std::string _note;
    std::string _jit_refusal;
    int _wire_len_offset = -1;      // see compile()
};

} // namespace linecap
