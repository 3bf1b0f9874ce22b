// tcpdump's filter language in the fast path: compiled by libpcap
// (pcap_compile for Ethernet), converted to eBPF by rte_bpf_convert, loaded
// by rte_bpf and run by its interpreter, or by its JIT when asked
// (--bpf-jit). The program reads the mbuf, so it sees every segment of a
// chained packet. What DPDK cannot run (a loop: libpcap's "protochain")
// runs in libpcap's own interpreter (bpf_filter), as tcpdump runs it.
//
// Why the interpreter by default: DPDK 22.11's x86-64 JIT calls out to
// __rte_pktmbuf_read (for a load past the first segment, or past the end of
// a short packet) with the stack misaligned, and the callee's SSE code
// faults. Found by test_differential.cpp on a 1-byte packet with
// "ether[0] & 1 == 0"; fixed upstream in 2026 ("bpf: fix x86 call stack
// alignment for external calls"), not in Debian 12's 22.11.11.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_mbuf.h>

namespace linecap {

// rte_bpf_convert refuses classic programs longer than the kernel's BPF_MAXINSNS.
constexpr unsigned bpf_max_instructions = 4096;

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
    std::string compile(const std::string& expression, bool use_jit = false, int wire_len_offset = -1,
                        uint32_t netmask = 0);

    // libpcap's verdict on the expression alone; needs no DPDK.
    static std::string check_syntax(const std::string& expression, uint32_t netmask = 0);

    bool matches(rte_mbuf* m) const
    {
        if (_jit != nullptr)
            return _jit(m) != 0;
        if (_bpf != nullptr)
            return rte_bpf_exec(_bpf, m) != 0;
        return matches_in_libpcap(m);
    }
    bool jitted() const { return _jit != nullptr; }
    // Empty, or why the expression runs in libpcap's interpreter (a line
    // for the operator when the session starts).
    const std::string& note() const { return _note; }

private:
    bool matches_in_libpcap(const rte_mbuf* m) const;

    bpf_program _program{};         // libpcap's; run by libpcap when DPDK cannot
    rte_bpf* _bpf = nullptr;
    uint64_t (*_jit)(void*) = nullptr;
    std::string _note;
    int _wire_len_offset = -1;      // see compile()
};

} // namespace linecap
