#include "filters/bpf.h"
#include "core/error_text.h"

#include <algorithm>
#include <cerrno>
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
    pcap_freecode(&_program);
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
// length and, unless told another, netmask 0, as tcpdump -r sees them.
std::string compile_classic(const std::string& expression, uint32_t netmask, bpf_program& program)
{
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    if (!dead)
        return "cannot open a libpcap handle to compile the filter";
    if (pcap_compile(dead.get(), &program, expression.c_str(), 1, netmask) != 0)
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

// Why rte_bpf_convert will refuse a classic program, from the program
// itself (DPDK's converter says only "Operation not permitted", after a log
// line), or an empty string. Its refusals (lib/bpf/bpf_convert.c, 22.11):
// more than BPF_MAXINSNS instructions, a jump whose target is not ahead of
// it within the program (a loop: libpcap's protochain), a load of Linux
// socket metadata (SKF_AD_OFF offsets), and instructions it does not know.
std::string dpdk_refusal(const std::string& expression, const bpf_program& program)
{
    const unsigned n = program.bf_len;
    if (n > bpf_max_instructions)
        return fmt::format("it compiles to {} instructions, DPDK takes at most {}; \"match\" rules for the "
                           "five-tuple part run faster (docs/filters.md)", n, bpf_max_instructions);
    constexpr uint32_t linux_metadata_offset = 0xfffff000;   // SKF_AD_OFF: (uint32_t)-0x1000
    for (unsigned i = 0; i < n; i++) {
        const bpf_insn& in = program.bf_insns[i];
        const uint64_t next = uint64_t{i} + 1;
        const bool loops = BPF_CLASS(in.code) == BPF_JMP &&
                           (BPF_OP(in.code) == BPF_JA ? next + in.k >= n : next + std::max(in.jt, in.jf) >= n);
        if (loops) {
            if (expression.find("protochain") != std::string::npos)
                return "libpcap compiles \"protochain\" to a loop over the IPv6 extension headers, and DPDK's "
                       "BPF runs no loops; linecap's \"match\" rules walk those headers themselves and run "
                       "faster: for \"ip6 protochain 17\", a rule {\"src\": [\"::/0\"], \"protocols\": "
                       "[\"udp\"]} (docs/filters.md)";
            return fmt::format("instruction {} of the compiled program jumps backwards (a loop), which DPDK's BPF "
                               "does not run", i);
        }
        if ((BPF_CLASS(in.code) == BPF_LD || BPF_CLASS(in.code) == BPF_LDX) && in.k >= linux_metadata_offset)
            return fmt::format("instruction {} reads Linux socket metadata (ancillary data), which a DPDK port "
                               "does not have", i);
    }
    return {};
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

std::string bpf_expression::check_syntax(const std::string& expression, uint32_t netmask)
{
    bpf_program program{};
    std::string error = compile_classic(expression, netmask, program);
    if (error.empty())
        pcap_freecode(&program);
    return error;
}

std::string bpf_expression::compile(const std::string& expression, bool use_jit, int wire_len_offset,
                                    uint32_t netmask)
{
    if (std::string error = compile_classic(expression, netmask, _program); !error.empty())
        return error;
    _wire_len_offset = wire_len_offset;
    if (std::string why = dpdk_refusal(expression, _program); !why.empty()) {
        _note = fmt::format("{} runs in libpcap's interpreter, as tcpdump runs it: DPDK cannot run it ({})",
                            quoted(expression), why);
        return {};
    }
    rte_bpf_prm* prm = rte_bpf_convert(&_program);
    if (prm == nullptr) {
        if (rte_errno == ENOMEM)
            return fmt::format("{}: DPDK cannot convert it: out of memory", quoted(expression));
        _note = fmt::format("{} runs in libpcap's interpreter, as tcpdump runs it: DPDK's converter refuses it "
                            "(`tcpdump -d` shows the program)", quoted(expression));
        return {};
    }
    fix_indirect_loads(*prm);
    if (wire_len_offset >= 0)
        point_len_at(*prm, wire_len_offset);
    _bpf = rte_bpf_load(prm);
    rte_free(prm);
    if (_bpf == nullptr) {
        _note = fmt::format("{} runs in libpcap's interpreter, as tcpdump runs it: DPDK's BPF verifier refuses "
                            "the converted program ({})", quoted(expression), rte_error_text(rte_errno));
        return {};
    }
    rte_bpf_jit jit{};
    if (use_jit && rte_bpf_get_jit(_bpf, &jit) == 0 && jit.func != nullptr)
        _jit = jit.func;
    return {};
}

bool bpf_expression::matches_in_libpcap(const rte_mbuf* m) const
{
    // libpcap's interpreter reads one flat buffer: a chained packet is copied
    // into one of this thread's (workers are threads; a chain is a frame over
    // 2 KiB). `len` is the packet's length on the wire (a file record's
    // original length where compile() was told where it is), the buffer what
    // the mbufs hold.
    const u_int wire_len = _wire_len_offset >= 0
                               ? *reinterpret_cast<const uint32_t*>(reinterpret_cast<const char*>(m) + _wire_len_offset)
                               : m->pkt_len;
    if (m->nb_segs == 1)
        return bpf_filter(_program.bf_insns, rte_pktmbuf_mtod(m, const u_char*), wire_len, m->data_len) != 0;
    thread_local std::vector<u_char> flat;
    flat.clear();
    for (const rte_mbuf* seg = m; seg != nullptr; seg = seg->next)
        flat.insert(flat.end(), rte_pktmbuf_mtod(seg, const u_char*), rte_pktmbuf_mtod(seg, const u_char*) + seg->data_len);
    const auto buflen = static_cast<u_int>(std::min<size_t>(flat.size(), m->pkt_len));
    return bpf_filter(_program.bf_insns, flat.data(), wire_len, buflen) != 0;
}

} // namespace linecap
