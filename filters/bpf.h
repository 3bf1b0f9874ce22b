// tcpdump's filter language in the fast path: compiled by libpcap
// (pcap_compile for Ethernet), converted to eBPF by rte_bpf_convert, loaded
// by rte_bpf and run by its interpreter, or by its JIT when asked
// (--bpf-jit). The program reads the mbuf, so it sees every segment of a
// chained packet.
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

    // Compiles `expression`. Returns an empty string, or libpcap's or DPDK's
    // own message (libpcap's names the token: "syntax error in filter expression").
    //
    // `len` (and `greater`, `less`) reads the mbuf's pkt_len, unless
    // `wire_len_offset` is not negative: then it reads the 32-bit length at
    // that offset in the mbuf instead (packet_meta::wire_len of packets read
    // from a capture file, whose pkt_len is only what the file captured).
    std::string compile(const std::string& expression, bool use_jit = false, int wire_len_offset = -1);

    // libpcap's verdict on the expression alone; needs no DPDK.
    static std::string check_syntax(const std::string& expression);

    bool matches(rte_mbuf* m) const
    {
        return (_jit != nullptr ? _jit(m) : rte_bpf_exec(_bpf, m)) != 0;
    }
    bool jitted() const { return _jit != nullptr; }

private:
    rte_bpf* _bpf = nullptr;
    uint64_t (*_jit)(void*) = nullptr;
};

} // namespace linecap
