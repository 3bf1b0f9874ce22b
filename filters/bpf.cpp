#include "filters/bpf.h"
#include "core/error_text.h"
#include "filters/bpf_jit_check.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_branch_prediction.h>
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

std::string compile_classic(const std::string& expression, uint32_t netmask, bpf_program& program)
{
    return compile_tcpdump_filter(expression, DLT_EN10MB, netmask, program);
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

// DPDK's x86-64 JIT (22.11, and upstream as of 2026: emit_tst_imm) encodes
// `jset #k` with k in -128..127 as `test r/m64, imm32` followed by a
// 1-byte immediate: the CPU takes the next three bytes of code as the rest
// of the immediate and runs what follows from the middle of an instruction
// (a write through whatever RCX holds, then a fault: "ether[0] & 1 == 0"
// crashed on every packet it reached). libpcap emits such a jset for every
// flag test (tcp[13] & 2, ether[0] & 1). Each is rewritten here as the
// converter itself writes a jset whose k is negative: the constant moved
// into its scratch register (EBPF_REG_8, live only inside one classic
// instruction's expansion), then a jset on that register, which the JIT
// encodes right. Jumps are re-aimed over the inserted moves. Returns false
// (and changes nothing) when a jump would then be too long for its 16 bits.
bool fix_short_jset_immediates(rte_bpf_prm& prm, std::vector<ebpf_insn>& rewritten)
{
    constexpr uint8_t scratch_register = EBPF_REG_8;
    auto short_jset = [](const ebpf_insn& in) {
        return in.code == (BPF_JMP | BPF_JSET | BPF_K) && in.imm == static_cast<int8_t>(in.imm);
    };
    const uint32_t n = prm.nb_ins;
    if (std::none_of(prm.ins, prm.ins + n, short_jset))
        return true;
    // Where each old instruction starts in the new program; [n]: the end.
    std::vector<uint32_t> start(n + 1);
    for (uint32_t i = 0, at = 0; i <= n; i++) {
        start[i] = at;
        if (i < n)
            at += short_jset(prm.ins[i]) ? 2 : 1;
    }
    rewritten.clear();
    rewritten.reserve(start[n]);
    for (uint32_t i = 0; i < n; i++) {
        ebpf_insn in = prm.ins[i];
        if (short_jset(in)) {
            ebpf_insn move{};
            move.code = BPF_ALU | EBPF_MOV | BPF_K;
            move.dst_reg = scratch_register;
            move.imm = in.imm;
            rewritten.push_back(move);
            in.code = BPF_JMP | BPF_JSET | BPF_X;
            in.src_reg = scratch_register;
            in.imm = 0;
        }
        if (jumps_within_program(in)) {
            const int64_t target = int64_t{i} + 1 + in.off;
            if (target < 0 || target > int64_t{n})
                return false;   // the verifier refuses it anyway
            const int64_t off = int64_t{start[static_cast<uint32_t>(target)]} -
                                (int64_t{static_cast<int64_t>(rewritten.size())} + 1);
            if (off < INT16_MIN || off > INT16_MAX)
                return false;
            in.off = static_cast<int16_t>(off);
        }
        rewritten.push_back(in);
    }
    prm.ins = rewritten.data();
    prm.nb_ins = static_cast<uint32_t>(rewritten.size());
    return true;
}

// Why rte_bpf_convert will refuse a classic program, from the program
// itself (DPDK's converter says only "Operation not permitted", after a log
// line), or an empty string. Its refusals (lib/bpf/bpf_convert.c, 22.11):
// more than BPF_MAXINSNS instructions, a jump whose target is not ahead of
// it within the program (a loop: libpcap's protochain), a load of Linux
// socket metadata (SKF_AD_OFF offsets: compile_tcpdump_filter refuses
// those first), and instructions it does not know.
std::string dpdk_refusal(const std::string& expression, const bpf_program& program)
{
    const unsigned n = program.bf_len;
    if (n > bpf_max_instructions)
        return fmt::format("it compiles to {} instructions, DPDK takes at most {}; \"match\" rules for the "
                           "five-tuple part run faster (docs/filters.md)", n, bpf_max_instructions);
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

// Bytes a classic load of `code`'s size field reads.
uint64_t load_size(uint16_t code)
{
    switch (BPF_SIZE(code)) {
    case BPF_W: return 4;
    case BPF_H: return 2;
    default: return 1;
    }
}

} // namespace

bpf_load_bound compute_load_bound(const bpf_insn* instructions, unsigned count)
{
    // Flow-insensitive: the largest X any instruction can set holds at every
    // indexed load. Enough for libpcap's programs, whose only X is the IPv4
    // header length, and never too small.
    constexpr uint64_t header_length_max = 60;   // 4 * 0xf
    bpf_load_bound b;
    bool header_length_seen = false;
    bool x_unbounded = false;   // X set from A, memory or the length: only an [x + k] load makes that matter
    for (unsigned i = 0; i < count; i++) {
        const bpf_insn& in = instructions[i];
        const uint64_t k = in.k;
        switch (BPF_CLASS(in.code)) {
        case BPF_LD:
            if (BPF_MODE(in.code) == BPF_ABS)
                b.absolute_end = std::max(b.absolute_end, k + load_size(in.code));
            else if (BPF_MODE(in.code) == BPF_IND)
                b.indexed_end = std::max(b.indexed_end, k + load_size(in.code));
            break;   // BPF_IMM, BPF_LEN, BPF_MEM: no packet byte
        case BPF_LDX:
            if (BPF_MODE(in.code) == BPF_IMM) {
                b.x_constant_max = std::max(b.x_constant_max, k);
            } else if (BPF_MODE(in.code) == BPF_MSH && BPF_SIZE(in.code) == BPF_B) {
                b.absolute_end = std::max(b.absolute_end, k + 1);
                header_length_seen = true;
                const auto end = b.header_length_offsets.begin() + std::min(b.header_lengths, bpf_load_bound::max_header_lengths);
                if (std::find(b.header_length_offsets.begin(), end, in.k) == end) {
                    if (b.header_lengths < bpf_load_bound::max_header_lengths)
                        b.header_length_offsets[b.header_lengths] = in.k;
                    b.header_lengths++;
                }
            } else {
                x_unbounded = true;   // ldx M[k], ldx len: any value
            }
            break;
        case BPF_MISC:
            if (BPF_MISCOP(in.code) == BPF_TAX)
                x_unbounded = true;   // X = A: any value
            break;
        default:
            break;
        }
    }
    b.x_max = header_length_seen ? std::max(b.x_constant_max, header_length_max) : b.x_constant_max;
    b.bounded = !(x_unbounded && b.indexed_end != 0);
    if (b.bounded)
        b.worst_case = b.indexed_end == 0 ? b.absolute_end : std::max(b.absolute_end, b.x_max + b.indexed_end);
    return b;
}

namespace {

// The 4-byte words of a frame whose values a path of the program can fix
// (bpf_address_filter): where each family keeps its addresses.
enum address_word : unsigned {
    ip4_src, ip4_dst, arp_sender, arp_target, ip6_src_high, ip6_src_next, ip6_dst_high, ip6_dst_next,
    address_words
};
using address_filter = bpf_address_filter;
constexpr std::array<uint32_t, address_words> address_word_at = {
    address_filter::l3_at + ipv4_src_at,     address_filter::l3_at + ipv4_dst_at,
    address_filter::arp_sender_at,           address_filter::arp_target_at,
    address_filter::l3_at + ipv6_src_at,     address_filter::l3_at + ipv6_src_at + 4,
    address_filter::l3_at + ipv6_dst_at,     address_filter::l3_at + ipv6_dst_at + 4};

// What a path has learnt of a packet it keeps.
struct path_facts {
    int32_t ether_type = -1;   // -1: not fixed
    // Per address word, the bits fixed (mask) and their values; mask 0: none.
    std::array<uint32_t, address_words> mask{}, value{};
};

// What the accumulator holds, as far as the walk knows: the packet's
// `size` bytes at `offset` (a big-endian number, as classic loads give it)
// ANDed with `mask`; or, when !loaded, anything.
struct accumulator {
    bool loaded = false;
    uint32_t offset = 0, size = 0, mask = 0;
};

// A path's fact from a `jeq #k` it takes with `a` in the accumulator;
// false when the path is impossible (the same bytes fixed two ways).
bool learn(path_facts& facts, const accumulator& a, uint32_t k)
{
    if (!a.loaded)
        return true;
    if ((k & ~a.mask) != 0)
        return false;   // A never holds such a value
    if (a.offset == address_filter::ether_type_at && a.size == 2 && a.mask == 0xffff) {
        if (facts.ether_type >= 0 && facts.ether_type != static_cast<int32_t>(k))
            return false;
        facts.ether_type = static_cast<int32_t>(k);
        return true;
    }
    if (a.size != 4)
        return true;
    for (unsigned w = 0; w < address_words; w++) {
        if (address_word_at[w] != a.offset)
            continue;
        if (((facts.value[w] ^ k) & facts.mask[w] & a.mask) != 0)
            return false;
        facts.mask[w] |= a.mask;
        facts.value[w] |= k;
    }
    return true;
}

prefilter_side side_v4(const path_facts& f, address_word w)
{
    if (f.mask[w] == 0)
        return {};
    return prefilter_side_v4(f.value[w], f.value[w] | ~f.mask[w]);
}

// The first 64 bits of an IPv6 address from its first two words.
prefilter_side side_v6(const path_facts& f, address_word high, address_word next)
{
    if (f.mask[high] == 0)
        return {};
    const uint64_t lo = uint64_t{f.value[high]} << 32 | f.value[next];
    const uint64_t hi = uint64_t{f.value[high] | ~f.mask[high]} << 32 | (f.value[next] | ~f.mask[next]);
    return prefilter_side_v6(lo, hi);
}

// A path that keeps its packet becomes a condition of its type's filter;
// false if it cannot.
bool add_kept_path(const path_facts& f, address_prefilter_builder& v4, address_prefilter_builder& v6,
                   bpf_address_filter& kept)
{
    switch (f.ether_type) {
    case ether_type_ipv4:
        kept.keeps_ip4 = true;
        return v4.add(side_v4(f, ip4_src), side_v4(f, ip4_dst));
    case ether_type_arp:
    case ether_type_rarp:
        kept.keeps_arp = true;
        return v4.add(side_v4(f, arp_sender), side_v4(f, arp_target));
    case ether_type_ipv6:
        return v6.add(side_v6(f, ip6_src_high, ip6_src_next), side_v6(f, ip6_dst_high, ip6_dst_next));
    default:
        return false;   // no type, or one whose addresses are not looked at
    }
}

} // namespace

bpf_address_filter compute_address_filter(const bpf_insn* instructions, unsigned count)
{
    // Instructions visited over all paths: past this the program has too
    // many paths to follow (libpcap's for a few hosts and ports visit some
    // hundreds).
    constexpr unsigned most_steps = 1u << 16;
    struct branch {
        uint64_t pc;
        accumulator a;
        path_facts facts;
    };
    address_prefilter_builder v4(4), v6(6);
    bpf_address_filter f;
    std::vector<branch> pending{{0, {}, {}}};
    unsigned steps = 0;
    bool usable = true;
    while (!pending.empty() && usable) {
        branch b = pending.back();
        pending.pop_back();
        for (bool path_ended = false; !path_ended && usable;) {
            if (++steps > most_steps || b.pc >= count) {
                usable = false;   // too many paths, or off the end (DPDK refuses such a program)
                break;
            }
            const bpf_insn& in = instructions[b.pc];
            switch (BPF_CLASS(in.code)) {
            case BPF_RET:
                // ret #0 drops the packet; ret #k and ret a (anything) may keep it.
                if (BPF_RVAL(in.code) != BPF_K || in.k != 0)
                    usable = add_kept_path(b.facts, v4, v6, f);
                path_ended = true;
                break;
            case BPF_LD:
                b.a = {};
                if (BPF_MODE(in.code) == BPF_ABS) {
                    const auto size = static_cast<uint32_t>(load_size(in.code));
                    b.a = {true, in.k, size, size == 4 ? ~0u : (1u << (8 * size)) - 1};
                }
                b.pc++;
                break;
            case BPF_ALU:
                if (in.code == (BPF_ALU | BPF_AND | BPF_K) && b.a.loaded)
                    b.a.mask &= in.k;
                else
                    b.a = {};
                b.pc++;
                break;
            case BPF_MISC:
                if (BPF_MISCOP(in.code) == BPF_TXA)
                    b.a = {};
                b.pc++;
                break;
            case BPF_JMP: {
                const uint64_t next = b.pc + 1;
                if (BPF_OP(in.code) == BPF_JA) {
                    b.pc = next + in.k;
                    break;
                }
                const uint64_t taken = next + in.jt, not_taken = next + in.jf;
                if (taken == not_taken) {
                    b.pc = taken;
                    break;
                }
                pending.push_back({not_taken, b.a, b.facts});
                b.pc = taken;
                if (in.code == (BPF_JMP | BPF_JEQ | BPF_K) && !learn(b.facts, b.a, in.k))
                    path_ended = true;   // no packet takes it
                break;
            }
            default:   // ldx, st, stx: the accumulator is as it was
                b.pc++;
                break;
            }
        }
    }
    if (!usable)
        return {};
    f.v4 = v4.finish();
    f.v6 = v6.finish();
    return f;
}

std::string compile_tcpdump_filter(const std::string& expression, int linktype, uint32_t netmask,
                                   bpf_program& program, bool allow_socket_metadata)
{
    // libpcap takes a C string: what follows a NUL would go unread, and
    // "tcp\0and udp" would select every TCP packet.
    if (const size_t nul = expression.find('\0'); nul != std::string::npos)
        return fmt::format("{}: a NUL byte at character {}: an expression is text", quoted(expression.substr(0, nul)),
                           nul + 1);
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(linktype, 262144), &pcap_close);
    if (!dead)
        return "cannot open a libpcap handle to compile the filter";
    if (pcap_compile(dead.get(), &program, expression.c_str(), 1, netmask) != 0)
        return fmt::format("{}: {}", quoted(expression), pcap_geterr(dead.get()));
    // libpcap compiles "inbound", "outbound" and "ifindex" for a handle
    // that reads no file into loads of Linux socket metadata (SKF_AD_OFF
    // offsets), which no packet here has: its interpreter fails every such
    // load, so the expression would match nothing, or everything under a
    // "not". tcpdump -r refuses them; so does linecap, on every path.
    constexpr uint32_t linux_metadata_offset = 0xfffff000;   // SKF_AD_OFF: (uint32_t)-0x1000
    // (Absolute loads, and loads at X + k: "geneve and inbound" compiles to one.)
    for (unsigned i = 0; i < program.bf_len && !allow_socket_metadata; i++) {
        const bpf_insn& in = program.bf_insns[i];
        if ((BPF_CLASS(in.code) == BPF_LD || BPF_CLASS(in.code) == BPF_LDX) &&
            (BPF_MODE(in.code) == BPF_ABS || BPF_MODE(in.code) == BPF_IND) && in.k >= linux_metadata_offset) {
            pcap_freecode(&program);
            return fmt::format("{}: asks for the Linux socket's metadata (\"inbound\", \"outbound\", \"ifindex\": "
                               "instruction {} of the compiled program), which packets from a DPDK port or a "
                               "file do not carry, as tcpdump -r refuses it: select a direction by its addresses "
                               "or ports instead (\"src net 10.0.0.0/8\")",
                               quoted(expression), i);
        }
    }
    return {};
}

std::string bpf_expression::check_syntax(const std::string& expression, uint32_t netmask)
{
    bpf_program program{};
    std::string error = compile_classic(expression, netmask, program);
    if (error.empty())
        pcap_freecode(&program);
    return error;
}

std::string bpf_expression::compile(const std::string& expression, bpf_runner runner, int wire_len_offset,
                                    uint32_t netmask)
{
    if (std::string error = parse(expression, netmask); !error.empty())
        return error;
    return load(runner, wire_len_offset);
}

std::string bpf_expression::parse(const std::string& expression, uint32_t netmask)
{
    _expression = expression;
    return compile_classic(expression, netmask, _program);
}

std::string bpf_expression::load(bpf_runner runner, int wire_len_offset)
{
    const std::string& expression = _expression;
    _wire_len_offset = wire_len_offset;
    // Asked before whichever runs the program (DPDK's JIT or interpreter, or libpcap's).
    _addresses = compute_address_filter(_program.bf_insns, _program.bf_len);
    if (std::string why = dpdk_refusal(expression, _program); !why.empty()) {
        _note = fmt::format("{} runs in libpcap's interpreter, as tcpdump runs it: DPDK cannot run it ({})",
                            quoted(expression), why);
        return {};
    }
    const std::unique_ptr<rte_bpf_prm, void (*)(void*)> prm(rte_bpf_convert(&_program), rte_free);
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
    // Only a program whose every jset the JIT encodes right may be JIT-run.
    std::vector<ebpf_insn> rewritten;   // rte_bpf_load copies the program
    const bool jit_encodes_it = runner == bpf_runner::guarded_jit && fix_short_jset_immediates(*prm, rewritten);
    _bpf = rte_bpf_load(prm.get());
    if (_bpf == nullptr) {
        _note = fmt::format("{} runs in libpcap's interpreter, as tcpdump runs it: DPDK's BPF verifier refuses "
                            "the converted program ({})", quoted(expression), rte_error_text(rte_errno));
        return {};
    }
    // The bound is of the classic program; the conversion keeps every load
    // at its offset and size (and fix_indirect_loads only renames X), and
    // point_len_at's loads read the mbuf, not the packet.
    _bound = compute_load_bound(_program.bf_insns, _program.bf_len);
    rte_bpf_jit jit{};
    if (runner == bpf_runner::guarded_jit) {
        if (!jit_encodes_it)
            _jit_refusal = "a jump would not fit once its flag tests are rewritten for the JIT";
        else if (!_bound.bounded)
            _jit_refusal = "it loads at X + k with X unbounded (set by tax, ldx M[k] or ldx len)";
        else if (rte_bpf_get_jit(_bpf, &jit) != 0 || jit.func == nullptr)
            _jit_refusal = "DPDK's JIT did not compile it";
        else
            _jit_refusal = check_jit_layout(prm->ins, prm->nb_ins, reinterpret_cast<const void*>(jit.func), jit.sz);
        if (_jit_refusal.empty())
            _jit = jit.func;
    }
    return {};
}

void bpf_expression::match_burst(rte_mbuf* const* pkts, unsigned n, uint64_t* kept) const
{
    for (unsigned done = 0; done < n; done += bpf_burst_max) {
        const unsigned count = std::min(bpf_burst_max, n - done);
        if (!_addresses.on()) {
            match_slice(pkts + done, count, kept + done);
            continue;
        }
        // Only the packets the address filter lets through run the program,
        // gathered with no branch on its answer (mixed traffic).
        rte_mbuf* asked[bpf_burst_max];
        uint16_t where[bpf_burst_max];
        uint64_t verdicts[bpf_burst_max];
        const unsigned n_asked = _addresses.with_marks([&](auto marks4, auto marks6) {
            unsigned asking = 0;
            for (unsigned i = 0; i < count; i++) {
                kept[done + i] = 0;
                asked[asking] = pkts[done + i];
                where[asking] = static_cast<uint16_t>(i);
                asking += _addresses.may_match<marks4.value, marks6.value>(pkts[done + i]);
            }
            return asking;
        });
        match_slice(asked, n_asked, verdicts);
        for (unsigned j = 0; j < n_asked; j++)
            kept[done + where[j]] = verdicts[j];
    }
}

void bpf_expression::match_slice(rte_mbuf* const* pkts, unsigned n, uint64_t* kept) const
{
    if (_bpf == nullptr) {
        for (unsigned i = 0; i < n; i++)
            kept[i] = matches_in_libpcap(pkts[i]);
        return;
    }
    // rte_bpf_exec_burst takes the packets as void*: the ones for the
    // interpreter are gathered here, with where their verdicts go.
    void* slow[bpf_burst_max];
    uint16_t where[bpf_burst_max];
    unsigned n_slow = 0;
    if (_jit != nullptr) {
        for (unsigned i = 0; i < n; i++) {
            if (likely(_bound.fits(pkts[i]))) {
                kept[i] = _jit(pkts[i]);
            } else {
                slow[n_slow] = pkts[i];
                where[n_slow++] = static_cast<uint16_t>(i);
            }
        }
        if (likely(n_slow == 0))
            return;
        uint64_t verdicts[bpf_burst_max];
        rte_bpf_exec_burst(_bpf, slow, verdicts, n_slow);
        for (unsigned j = 0; j < n_slow; j++)
            kept[where[j]] = verdicts[j];
        return;
    }
    for (unsigned i = 0; i < n; i++)
        slow[i] = pkts[i];
    rte_bpf_exec_burst(_bpf, slow, kept, n);
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
