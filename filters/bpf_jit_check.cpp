#include "filters/bpf_jit_check.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <capstone/capstone.h>
#include <fmt/format.h>

namespace linecap {

namespace {

// Where a branch of the JIT's code should land.
enum class aim : uint8_t {
    instruction,        // the start of eBPF instruction `target`
    epilogue,           // the first `exit`'s code
    own_slow_path,      // a packet load's slow path: right after the load's next branch
    own_final_part,     // a packet load's final part: right after the load's next branch
    ret,                // not a jump: the epilogue's `ret`
};

struct expected_branch {
    aim to;
    uint32_t from;      // the eBPF instruction that emits it
    uint32_t target;    // for aim::instruction
};

// The branches a program's code must hold, in order (see the header).
struct program_branches {
    std::vector<expected_branch> branches;
    std::vector<bool> ends_in_branch;   // [i]: instruction i's code ends in its last branch
    std::string error;                  // a jump out of the program
};

program_branches expected_branches(const ebpf_insn* program, uint32_t count)
{
    program_branches want;
    want.ends_in_branch.assign(count, false);
    bool exited = false;
    for (uint32_t i = 0; i < count; i++) {
        const ebpf_insn& in = program[i];
        const uint8_t op_class = BPF_CLASS(in.code);
        if (in.code == (BPF_LD | BPF_IMM | EBPF_DW)) {
            i++;    // two instructions' slots, one x86 instruction, no branch
        } else if (jumps_within_program(in)) {
            const int64_t target = int64_t{i} + 1 + in.off;
            if (target < 0 || target >= int64_t{count}) {
                want.error = fmt::format("instruction {} jumps to {}, outside the program's {} instructions", i,
                                         target, count);
                return want;
            }
            want.branches.push_back({aim::instruction, i, static_cast<uint32_t>(target)});
            want.ends_in_branch[i] = true;
        } else if (in.code == (BPF_JMP | EBPF_EXIT)) {
            want.branches.push_back({exited ? aim::epilogue : aim::ret, i, 0});
            want.ends_in_branch[i] = true;
            exited = true;
        } else if (op_class == BPF_LD && (BPF_MODE(in.code) == BPF_ABS || BPF_MODE(in.code) == BPF_IND)) {
            want.branches.push_back({aim::own_slow_path, i, 0});
            want.branches.push_back({aim::own_final_part, i, 0});
            want.branches.push_back({aim::epilogue, i, 0});
        } else if ((op_class == BPF_ALU || op_class == EBPF_ALU64) && BPF_SRC(in.code) == BPF_X &&
                   (BPF_OP(in.code) == BPF_DIV || BPF_OP(in.code) == BPF_MOD)) {
            want.branches.push_back({aim::epilogue, i, 0});
        }
    }
    return want;
}

// One x86 instruction as the check needs it.
struct decoded_insn {
    uint64_t at;        // bytes from the start of the code
    uint64_t end;       // one past its last byte: where the code after it starts
    unsigned id;        // Capstone's X86_INS_*
    bool is_ret;
    bool is_jump;       // a jmp or jcc with its target in `target`
    uint64_t target;
    uint8_t op_count;
    cs_x86_op ops[2];
};

struct decoded_code {
    std::vector<decoded_insn> insns;
    std::vector<size_t> branches;       // indices into insns of the rets and jumps, in order
    std::string error;
};

bool in_group(const cs_detail& detail, uint8_t group)
{
    for (uint8_t g = 0; g < detail.groups_count; g++)
        if (detail.groups[g] == group)
            return true;
    return false;
}

// Decodes all of the code with Capstone.
decoded_code decode(const void* code, size_t size)
{
    decoded_code out;
    csh decoder = 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &decoder) != CS_ERR_OK) {
        out.error = "Capstone cannot decode x86-64";
        return out;
    }
    cs_option(decoder, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn* insn = cs_malloc(decoder);
    const auto* bytes = static_cast<const uint8_t*>(code);
    size_t left = size;
    uint64_t address = 0;
    while (left > 0 && cs_disasm_iter(decoder, &bytes, &left, &address, insn)) {
        const cs_detail& detail = *insn->detail;
        decoded_insn d{insn->address, address, insn->id, in_group(detail, CS_GRP_RET), in_group(detail, CS_GRP_JUMP),
                       0, detail.x86.op_count, {}};
        for (uint8_t o = 0; o < std::min<uint8_t>(d.op_count, 2); o++)
            d.ops[o] = detail.x86.operands[o];
        if (d.is_jump) {
            if (d.op_count != 1 || d.ops[0].type != X86_OP_IMM) {
                out.error = fmt::format("an indirect jump ({} {}) at byte {}", insn->mnemonic, insn->op_str, d.at);
                break;
            }
            d.target = static_cast<uint64_t>(d.ops[0].imm);
        }
        if (d.is_ret || d.is_jump)
            out.branches.push_back(out.insns.size());
        out.insns.push_back(d);
    }
    if (out.error.empty() && left != 0)
        out.error = fmt::format("the code does not decode at byte {} of {}", address, size);
    cs_free(insn, 1);
    cs_close(&decoder);
    return out;
}

bool is_register(const decoded_insn& d, unsigned o, x86_reg reg)
{
    return d.op_count > o && d.ops[o].type == X86_OP_REG && d.ops[o].reg == reg;
}

bool is_rsp_slot(const decoded_insn& d, unsigned o)
{
    return d.op_count > o && d.ops[o].type == X86_OP_MEM && d.ops[o].mem.base == X86_REG_RSP &&
           d.ops[o].mem.index == X86_REG_INVALID;
}

// Where the epilogue whose `ret` is insns[ret] starts, read from the
// prologue's shape (emit_prolog and emit_epilog); nullopt when the code is
// not of that shape.
std::optional<uint64_t> epilogue_start(const std::vector<decoded_insn>& insns, size_t ret)
{
    // The prologue: `sub rsp, 8n`, n stores of registers into [rsp + d],
    // `mov rbp, rsp` when RBP is among them. No register saved: nothing.
    const decoded_insn& first = insns.front();
    if (first.id != X86_INS_SUB || !is_register(first, 0, X86_REG_RSP) || first.op_count != 2 ||
        first.ops[1].type != X86_OP_IMM)
        return insns[ret].at;   // the epilogue is the `ret` alone
    const int64_t bytes = first.ops[1].imm;
    if (bytes <= 0 || bytes % 8 != 0 || static_cast<size_t>(bytes / 8) + 2 > insns.size())
        return std::nullopt;
    const auto saved = static_cast<size_t>(bytes / 8);
    for (size_t j = 1; j <= saved; j++)
        if (insns[j].id != X86_INS_MOV || !is_rsp_slot(insns[j], 0) || insns[j].ops[1].type != X86_OP_REG)
            return std::nullopt;
    const bool frame = insns[saved + 1].id == X86_INS_MOV && is_register(insns[saved + 1], 0, X86_REG_RBP) &&
                       is_register(insns[saved + 1], 1, X86_REG_RSP);
    // The epilogue: `mov rsp, rbp` if so, n loads from [rsp + d], `add rsp, 8n`, `ret`.
    const size_t length = (frame ? 1 : 0) + saved + 1;
    if (ret < length)
        return std::nullopt;
    const size_t start = ret - length;
    if (frame && !(insns[start].id == X86_INS_MOV && is_register(insns[start], 0, X86_REG_RSP) &&
                   is_register(insns[start], 1, X86_REG_RBP)))
        return std::nullopt;
    for (size_t j = start + (frame ? 1 : 0); j < ret - 1; j++)
        if (insns[j].id != X86_INS_MOV || insns[j].ops[0].type != X86_OP_REG || !is_rsp_slot(insns[j], 1))
            return std::nullopt;
    const decoded_insn& add = insns[ret - 1];
    if (add.id != X86_INS_ADD || !is_register(add, 0, X86_REG_RSP) || add.op_count != 2 ||
        add.ops[1].type != X86_OP_IMM || add.ops[1].imm != bytes)
        return std::nullopt;
    return insns[start].at;
}

} // namespace

std::string check_jit_layout(const ebpf_insn* program, uint32_t count, const void* code, size_t size)
{
    const program_branches want = expected_branches(program, count);
    if (!want.error.empty())
        return want.error;
    const decoded_code got = decode(code, size);
    if (!got.error.empty())
        return got.error;
    if (got.branches.size() != want.branches.size())
        return fmt::format("the code holds {} branches where the program makes {}", got.branches.size(),
                           want.branches.size());

    constexpr uint64_t unknown = UINT64_MAX;
    std::vector<uint64_t> start(count + 1, unknown);   // where each instruction's code starts, where known
    uint64_t epilogue = unknown;
    for (size_t k = 0; k < want.branches.size(); k++) {
        const expected_branch& w = want.branches[k];
        const decoded_insn& g = got.insns[got.branches[k]];
        if (g.is_ret != (w.to == aim::ret))
            return fmt::format("byte {} holds a {} where instruction {} makes a {}", g.at, g.is_ret ? "ret" : "jump",
                               w.from, w.to == aim::ret ? "ret" : "jump");
        if (want.ends_in_branch[w.from])
            start[w.from + 1] = g.end;
        if (w.to == aim::ret) {
            const std::optional<uint64_t> at = epilogue_start(got.insns, got.branches[k]);
            if (!at.has_value())
                return fmt::format("the epilogue ending at byte {} is not the one the prologue calls for", g.end);
            epilogue = *at;
            if (start[w.from] != unknown && start[w.from] != epilogue)
                return fmt::format("instruction {}, the first exit, starts at byte {}, but its epilogue at byte {}",
                                   w.from, start[w.from], epilogue);
            start[w.from] = epilogue;   // the first exit's code is the epilogue
        }
    }

    for (size_t k = 0; k < want.branches.size(); k++) {
        const expected_branch& w = want.branches[k];
        const decoded_insn& g = got.insns[got.branches[k]];
        uint64_t should = unknown;
        switch (w.to) {
        case aim::ret:
            continue;
        case aim::instruction:
            should = start[w.target];
            if (should == unknown)
                return fmt::format("instruction {} jumps to instruction {}, whose place the code does not show "
                                   "(the instruction before it ends in no branch)", w.from, w.target);
            break;
        case aim::epilogue:
            should = epilogue;
            if (should == unknown)
                return fmt::format("instruction {} jumps to an epilogue the program does not have", w.from);
            break;
        case aim::own_slow_path:
        case aim::own_final_part:
            should = got.insns[got.branches[k + 1]].end;   // the load's next branch is its own
            break;
        }
        if (g.target != should)
            return fmt::format("the jump at byte {} (instruction {}) lands at byte {}, not at byte {}", g.at, w.from,
                               g.target, should);
    }
    return {};
}

} // namespace linecap
