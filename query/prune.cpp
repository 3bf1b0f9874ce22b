#include "query/prune.h"

#include <map>
#include <tuple>

#include <fmt/format.h>

#include "core/packet.h"

namespace linecap {

namespace {

// What a register holds, as far as the index can tell.
struct abstract_value {
    enum kind_t : uint8_t {
        unknown,
        constant,    // k
        field,       // a value of set `field`, & mask
        ethertype,   // the half-word at 12, & mask
        fragment,    // IPv4's flags and fragment offset (the half-word at 20), & mask
        ipv4_header_length,   // X = 4 * (byte 14 & 0xf), under EtherType 0x0800
    } kind = unknown;
    index_field set = index_field::ipv4_address;
    uint32_t mask = UINT32_MAX;
    uint32_t k = 0;

    auto tie() const { return std::tie(kind, set, mask, k); }
    bool operator<(const abstract_value& o) const { return tie() < o.tie(); }

    static abstract_value of_constant(uint32_t k) { return {constant, index_field::ipv4_address, UINT32_MAX, k}; }
    static abstract_value of_field(index_field f) { return {field, f, UINT32_MAX, 0}; }
    static abstract_value of_kind(kind_t kind) { return {kind, index_field::ipv4_address, UINT32_MAX, 0}; }
};

// What the path to an instruction has established about the packet.
struct path_facts {
    uint16_t ethertype = 0;      // the half-word at 12 (0: not known)
    bool unfragmented = false;   // IPv4, (half-word at 20 & 0x1fff) == 0

    auto tie() const { return std::tie(ethertype, unfragmented); }
    bool operator<(const path_facts& o) const { return tie() < o.tie(); }
};

struct state {
    uint32_t pc;
    abstract_value a, x;
    path_facts facts;

    auto tie() const { return std::tie(pc, a, x, facts); }
    bool operator<(const state& o) const { return tie() < o.tie(); }
};

// A load of `size` bytes (1, 2, 4) at absolute offset `k`, under `facts`.
abstract_value absolute_load(uint32_t size, uint32_t k, const path_facts& facts)
{
    if (size == 2 && k == 12)
        return abstract_value::of_kind(abstract_value::ethertype);
    if (facts.ethertype == ether_type_ipv4) {
        if (size == 1 && k == 23)
            return abstract_value::of_field(index_field::protocol);
        if (size == 4 && (k == 26 || k == 30))
            return abstract_value::of_field(index_field::ipv4_address);
        if (size == 2 && k == 20)
            return abstract_value::of_kind(abstract_value::fragment);
    }
    if ((facts.ethertype == ether_type_arp || facts.ethertype == ether_type_rarp) && size == 4 && (k == 28 || k == 38))
        return abstract_value::of_field(index_field::ipv4_address);   // ARP's and RARP's sender and target
    if (facts.ethertype == ether_type_ipv6) {
        if (size == 1 && k == 20)
            return abstract_value::of_field(index_field::protocol);
        if (size == 4 && k >= 22 && k < 54 && (k - 22) % 4 == 0)
            return abstract_value::of_field(
                static_cast<index_field>(static_cast<uint8_t>(index_field::ipv6_word0) + ((k - 22) / 4) % 4));
        if (size == 2 && (k == 54 || k == 56))
            return abstract_value::of_field(index_field::l4_word);
    }
    return {};
}

uint32_t load_size(uint16_t code)
{
    switch (BPF_SIZE(code)) {
    case BPF_W:
        return 4;
    case BPF_H:
        return 2;
    default:
        return 1;
    }
}

// A on the ALU: constants fold; a masked value stays one under AND; the
// rest is unknown.
abstract_value alu(uint16_t op, const abstract_value& a, const abstract_value& operand)
{
    if (a.kind == abstract_value::constant && (op == BPF_NEG || operand.kind == abstract_value::constant)) {
        const uint32_t v = a.k, k = operand.k;
        switch (op) {
        case BPF_ADD: return abstract_value::of_constant(v + k);
        case BPF_SUB: return abstract_value::of_constant(v - k);
        case BPF_MUL: return abstract_value::of_constant(v * k);
        case BPF_DIV: return k == 0 ? abstract_value{} : abstract_value::of_constant(v / k);
        case BPF_MOD: return k == 0 ? abstract_value{} : abstract_value::of_constant(v % k);
        case BPF_OR: return abstract_value::of_constant(v | k);
        case BPF_AND: return abstract_value::of_constant(v & k);
        case BPF_XOR: return abstract_value::of_constant(v ^ k);
        case BPF_LSH: return abstract_value::of_constant(k >= 32 ? 0 : v << k);
        case BPF_RSH: return abstract_value::of_constant(k >= 32 ? 0 : v >> k);
        case BPF_NEG: return abstract_value::of_constant(0u - v);
        default: return {};
        }
    }
    if (op == BPF_AND && operand.kind == abstract_value::constant &&
        (a.kind == abstract_value::field || a.kind == abstract_value::ethertype ||
         a.kind == abstract_value::fragment)) {
        abstract_value r = a;
        r.mask &= operand.k;
        return r;
    }
    return {};
}

bool compare(uint16_t op, uint32_t v, uint32_t k)
{
    switch (op) {
    case BPF_JEQ: return v == k;
    case BPF_JGT: return v > k;
    case BPF_JGE: return v >= k;
    default: return (v & k) != 0;   // BPF_JSET
    }
}

class evaluator {
public:
    evaluator(const std::vector<bpf_insn>& program, const index_chunk& chunk, int block)
        : _program(program), _chunk(chunk), _block(block)
    {
    }
    uint32_t asked = 0;   // bit f: a path compared a value of set f

    // May a path from `s` return nonzero?
    bool accepts(const state& s)
    {
        if (const auto it = _memo.find(s); it != _memo.end())
            return it->second;
        const bool r = step(s);
        _memo.emplace(s, r);
        return r;
    }

private:
    bool step(state s)
    {
        const bpf_insn& i = _program[s.pc];
        const uint16_t code = i.code;
        switch (BPF_CLASS(code)) {
        case BPF_RET:
            if (BPF_RVAL(code) == BPF_A)
                return s.a.kind != abstract_value::constant || s.a.k != 0;
            return i.k != 0;
        case BPF_LD:
            switch (BPF_MODE(code)) {
            case BPF_IMM: s.a = abstract_value::of_constant(i.k); break;
            case BPF_ABS: s.a = absolute_load(load_size(code), i.k, s.facts); break;
            case BPF_IND:
                // The ports: [x + 14] and [x + 16] past an IPv4 header, of a
                // packet that is no later fragment.
                s.a = s.x.kind == abstract_value::ipv4_header_length && s.facts.ethertype == ether_type_ipv4 &&
                              s.facts.unfragmented && load_size(code) == 2 && (i.k == 14 || i.k == 16)
                          ? abstract_value::of_field(index_field::l4_word)
                          : abstract_value{};
                break;
            default: s.a = {}; break;   // the length, scratch memory
            }
            break;
        case BPF_LDX:
            if (BPF_MODE(code) == BPF_IMM)
                s.x = abstract_value::of_constant(i.k);
            else if (BPF_MODE(code) == BPF_MSH && i.k == 14 && s.facts.ethertype == ether_type_ipv4)
                s.x = abstract_value::of_kind(abstract_value::ipv4_header_length);
            else
                s.x = {};
            break;
        case BPF_ST:
        case BPF_STX:
            break;   // scratch memory: loads from it are unknown
        case BPF_ALU:
            s.a = alu(BPF_OP(code), s.a, BPF_SRC(code) == BPF_X ? s.x : abstract_value::of_constant(i.k));
            break;
        case BPF_MISC:
            if (BPF_MISCOP(code) == BPF_TAX)
                s.x = s.a;
            else
                s.a = s.x;
            break;
        case BPF_JMP: {
            if (BPF_OP(code) == BPF_JA) {
                s.pc += 1 + i.k;
                return accepts(s);
            }
            const uint16_t op = BPF_OP(code);
            const abstract_value operand =
                BPF_SRC(code) == BPF_X ? s.x : abstract_value::of_constant(i.k);
            bool can_be_true = true, can_be_false = true;
            state taken = s, not_taken = s;
            taken.pc = s.pc + 1 + i.jt;
            not_taken.pc = s.pc + 1 + i.jf;
            if (operand.kind == abstract_value::constant) {
                const uint32_t k = operand.k;
                const abstract_value& a = s.a;
                if (a.kind == abstract_value::constant) {
                    can_be_true = compare(op, a.k, k);
                    can_be_false = !can_be_true;
                } else if (a.kind == abstract_value::field) {
                    const char how = op == BPF_JEQ ? '=' : op == BPF_JGT ? '>' : op == BPF_JGE ? '}' : '&';
                    can_be_true = _chunk.holds(a.set, how, a.mask, k, _block);
                    asked |= 1u << static_cast<unsigned>(a.set);
                } else if (a.kind == abstract_value::ethertype && op == BPF_JEQ && a.mask == UINT32_MAX) {
                    taken.facts.ethertype = static_cast<uint16_t>(k);
                } else if (a.kind == abstract_value::fragment && op == BPF_JSET && (a.mask & k & 0x1fff) == 0x1fff) {
                    not_taken.facts.unfragmented = true;
                }
            }
            return (can_be_true && accepts(taken)) || (can_be_false && accepts(not_taken));
        }
        default:
            s.a = {};
            break;
        }
        s.pc++;
        return accepts(s);
    }

    const std::vector<bpf_insn>& _program;
    const index_chunk& _chunk;
    const int _block;
    std::map<state, bool> _memo;
};

} // namespace

std::string chunk_filter::load(const bpf_program& program)
{
    _program.assign(program.bf_insns, program.bf_insns + program.bf_len);
    // Every path must end in a return inside the program (libpcap's do).
    for (size_t pc = 0; pc < _program.size(); pc++) {
        const bpf_insn& i = _program[pc];
        const uint16_t code = i.code;
        size_t far = pc + 1;
        if (BPF_CLASS(code) == BPF_JMP)
            far = BPF_OP(code) == BPF_JA ? pc + 1 + i.k : pc + 1 + std::max(i.jt, i.jf);
        const bool ends = BPF_CLASS(code) == BPF_RET;
        if ((!ends && far >= _program.size()) || far < pc) {
            _program.clear();
            return fmt::format("instruction {} of the filter's program jumps out of it", pc);
        }
    }
    return {};
}

bool chunk_filter::may_match(const index_chunk& chunk, int block, uint32_t* asked_sets) const
{
    if (_program.empty())
        return true;
    evaluator e(_program, chunk, block);
    const bool may = e.accepts(state{0, {}, {}, {}});
    if (asked_sets != nullptr)
        *asked_sets = e.asked;
    return may;
}

} // namespace linecap
