#include "filters/bpf.h"

#include <cstddef>
#include <memory>

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_errno.h>
#include <rte_malloc.h>

namespace linecap {

bpf_expression::~bpf_expression()
{
    if (_bpf != nullptr)
        rte_bpf_destroy(_bpf);
}

namespace {

// An expression as error messages quote it: whole if short, else its start.
std::string quoted(const std::string& expression)
{
    constexpr size_t shown = 80;
    if (expression.size() <= shown)
        return "\"" + expression + "\"";
    return fmt::format("\"{}...\" ({} characters)", expression.substr(0, shown), expression.size());
}

// Compiles for a dead handle: Ethernet frames, libpcap's largest snap
// length, as tcpdump -r sees them.
std::string compile_classic(const std::string& expression, bpf_program& program)
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    if (!dead)
        return "cannot open a libpcap handle to compile the filter";
    if (pcap_compile(dead.get(), &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
        return fmt::format("{}: {}", quoted(expression), pcap_geterr(dead.get()));
    return {};
}

// DPDK's rte_bpf_convert (22.11, and upstream as of 2026) maps a classic
// indirect load, `ld[bhw] [x + k]`, to eBPF with its index register taken
// from the load's BPF_SRC bit, which for loads is part of the size field: a
// halfword load indexes by X as it should, but byte and word loads index by
// A. So `icmp[0] == 8` (ldxb 4*([14]&0xf); ldb [x + 14]) read the wrong byte
// and never matched (found by fuzz-packet against libpcap). The converter
// keeps X in eBPF register 7 (its BPF_REG_X): every indirect load is pointed
// back at it.
void fix_indirect_loads(rte_bpf_prm& prm)
{
    constexpr uint8_t x_register = EBPF_REG_7;
    auto* ins = const_cast<ebpf_insn*>(prm.ins);
    for (uint32_t i = 0; i < prm.nb_ins; i++)
        if (BPF_CLASS(ins[i].code) == BPF_LD && BPF_MODE(ins[i].code) == BPF_IND)
            ins[i].src_reg = x_register;
}

// The converter turns classic `ld #pktlen` / `ldx #pktlen` into a 32-bit
// load from the context register (the mbuf) at pkt_len's offset. A packet
// read from a file keeps pkt_len honest (the bytes its segments hold: DPDK's
// rte_pktmbuf_read, which every packet load goes through, walks the chain
// as far as pkt_len says and would step off its end otherwise) and carries
// its wire length elsewhere in the mbuf: those loads are pointed there,
// so `len`, `greater` and `less` test the wire length as tcpdump does.
void point_len_at(rte_bpf_prm& prm, int wire_len_offset)
{
    constexpr uint8_t ctx_register = EBPF_REG_6;
    auto* ins = const_cast<ebpf_insn*>(prm.ins);
    for (uint32_t i = 0; i < prm.nb_ins; i++)
        if (ins[i].code == (BPF_LDX | BPF_MEM | BPF_W) && ins[i].src_reg == ctx_register &&
            ins[i].off == static_cast<int16_t>(offsetof(rte_mbuf, pkt_len)))
            ins[i].off = static_cast<int16_t>(wire_len_offset);
}

} // namespace

std::string bpf_expression::check_syntax(const std::string& expression)
{
    bpf_program program{};
    std::string error = compile_classic(expression, program);
    if (error.empty())
        pcap_freecode(&program);
    return error;
}

std::string bpf_expression::compile(const std::string& expression, bool use_jit, int wire_len_offset)
{
    bpf_program program{};
    if (std::string error = compile_classic(expression, program); !error.empty())
        return error;
    const unsigned instructions = program.bf_len;
    rte_bpf_prm* prm = rte_bpf_convert(&program);
    pcap_freecode(&program);
    if (prm == nullptr)
        return fmt::format("{}: DPDK cannot convert it to eBPF{}: {}", quoted(expression),
                           instructions > bpf_max_instructions
                               ? fmt::format(" (it compiles to {} instructions; DPDK takes at most {}: "
                                             "put the five-tuple part in \"match\" rules instead)",
                                             instructions, bpf_max_instructions)
                               : "",
                           rte_strerror(rte_errno));
    fix_indirect_loads(*prm);
    if (wire_len_offset >= 0)
        point_len_at(*prm, wire_len_offset);
    _bpf = rte_bpf_load(prm);
    rte_free(prm);
    if (_bpf == nullptr)
        return fmt::format("{}: DPDK cannot load the eBPF program: {}", quoted(expression), rte_strerror(rte_errno));
    rte_bpf_jit jit{};
    if (use_jit && rte_bpf_get_jit(_bpf, &jit) == 0 && jit.func != nullptr)
        _jit = jit.func;
    return {};
}

} // namespace linecap
