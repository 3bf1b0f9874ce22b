#include "filters/bpf_jit_check.h"

#include <optional>
#include <vector>

#include <capstone/capstone.h>
#include <fmt/format.h>
#include <bpf_def.h>

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

struct decoded_branch {
    bool is_ret;
    uint64_t at;        // bytes from the start of the code
    uint64_t end;       // one past its last byte: where the code after it starts
    uint64_t target;    // where it jumps (not for a ret)
};

// The branches the program's code must hold, in order (see the header), and
// which instructions' code ends in their last branch.
std::string expected_branches(const ebpf_insn* program, uint32_t count, std::vector<expected_branch>& expected,
                              std::vector<bool>& ends_in_branch, std::optional<uint32_t>& first_exit)
{
    ends_in_branch.assign(count, false);
    for (uint32_t i = 0; i < count; i++) {
        const ebpf_insn& in = program[i];
        const uint8_t op_class = BPF_CLASS(in.code);
        if (in.code == (BPF_LD | BPF_IMM | EBPF_DW)) {
            i++;    // two instructions' slots, one x86 instruction, no branch
            continue;
        }
        if (op_class == BPF_JMP) {
            const uint8_t op = BPF_OP(in.code);
            if (op == EBPF_CALL)
                continue;
            if (op == EBPF_EXIT) {
                if (!first_exit.has_value()) {
                    first_exit = i;
                    expected.push_back({aim::ret, i, 0});
                } else {
                    expected.push_back({aim::epilogue, i, 0});
                }
            } else {
                const int64_t target = int64_t{i} + 1 + in.off;
                if (target < 0 || target >= int64_t{count})
                    return fmt::format("instruction {} jumps to {}, outside the program's {} instructions", i,
                                       target, count);
                expected.push_back({aim::instruction, i, static_cast<uint32_t>(target)});
            }
            ends_in_branch[i] = true;
        } else if (op_class == BPF_LD && (BPF_MODE(in.code) == BPF_ABS || BPF_MODE(in.code) == BPF_IND)) {
            expected.push_back({aim::own_slow_path, i, 0});
            expected.push_back({aim::own_final_part, i, 0});
            expected.push_back({aim::epilogue, i, 0});
        } else if ((op_class == BPF_ALU || op_class == EBPF_ALU64) && BPF_SRC(in.code) == BPF_X &&
                   (BPF_OP(in.code) == BPF_DIV || BPF_OP(in.code) == BPF_MOD)) {
            expected.push_back({aim::epilogue, i, 0});
        }
    }
    return {};
}

bool in_group(const cs_detail& detail, uint8_t group)
{
    for (uint8_t g = 0; g < detail.groups_count; g++)
        if (detail.groups[g] == group)
            return true;
    return false;
}

// Decodes all of the code with Capstone; the branches in order.
std::string decoded_branches(const void* code, size_t size, std::vector<decoded_branch>& branches)
{
    csh decoder = 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &decoder) != CS_ERR_OK)
        return "Capstone cannot decode x86-64";
    cs_option(decoder, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn* insn = cs_malloc(decoder);
    std::string error;
    const auto* bytes = static_cast<const uint8_t*>(code);
    size_t left = size;
    uint64_t address = 0;
    while (left > 0 && cs_disasm_iter(decoder, &bytes, &left, &address, insn)) {
        const cs_detail& detail = *insn->detail;
        if (in_group(detail, CS_GRP_RET)) {
            branches.push_back({true, insn->address, address, 0});
        } else if (in_group(detail, CS_GRP_JUMP)) {
            if (detail.x86.op_count != 1 || detail.x86.operands[0].type != X86_OP_IMM) {
                error = fmt::format("an indirect jump ({} {}) at byte {}", insn->mnemonic, insn->op_str,
                                    insn->address);
                break;
            }
            branches.push_back({false, insn->address, address, static_cast<uint64_t>(detail.x86.operands[0].imm)});
        }
    }
    if (error.empty() && left != 0)
        error = fmt::format("the code does not decode at byte {} of {}", address, size);
    cs_free(insn, 1);
    cs_close(&decoder);
    return error;
}

} // namespace

std::string check_jit_layout(const ebpf_insn* program, uint32_t count, const void* code, size_t size)
{
    std::vector<expected_branch> expected;
    std::vector<bool> ends_in_branch;
    std::optional<uint32_t> first_exit;
    if (std::string error = expected_branches(program, count, expected, ends_in_branch, first_exit); !error.empty())
        return error;
    std::vector<decoded_branch> branches;
    if (std::string error = decoded_branches(code, size, branches); !error.empty())
        return error;
    if (branches.size() != expected.size())
        return fmt::format("the code holds {} branches where the program makes {}", branches.size(), expected.size());

    constexpr uint64_t unknown = UINT64_MAX;
    std::vector<uint64_t> start(count + 1, unknown);   // where each instruction's code starts, where known
    for (size_t k = 0; k < branches.size(); k++) {
        if (branches[k].is_ret != (expected[k].to == aim::ret))
            return fmt::format("byte {} holds a {} where instruction {} makes a {}", branches[k].at,
                               branches[k].is_ret ? "ret" : "jump", expected[k].from,
                               expected[k].to == aim::ret ? "ret" : "jump");
        if (ends_in_branch[expected[k].from])
            start[expected[k].from + 1] = branches[k].end;
    }

    // The epilogue: where the first exit starts, or where a jump emitted
    // after it lands (aimed in the same pass that placed it).
    uint64_t epilogue = first_exit.has_value() ? start[*first_exit] : unknown;
    bool past_ret = false;
    for (size_t k = 0; k < branches.size() && epilogue == unknown; k++) {
        past_ret = past_ret || branches[k].is_ret;
        if (past_ret && expected[k].to == aim::epilogue)
            epilogue = branches[k].target;
    }

    for (size_t k = 0; k < branches.size(); k++) {
        const expected_branch& want = expected[k];
        const decoded_branch& got = branches[k];
        uint64_t should = unknown;
        switch (want.to) {
        case aim::ret:
            continue;
        case aim::instruction:
            should = start[want.target];
            if (should == unknown)
                return fmt::format("instruction {} jumps to instruction {}, whose place the code does not show "
                                   "(the instruction before it ends in no branch)", want.from, want.target);
            break;
        case aim::epilogue:
            should = epilogue;
            if (should == unknown)
                return fmt::format("instruction {} jumps to the epilogue, whose place the code does not show",
                                   want.from);
            break;
        case aim::own_slow_path:
        case aim::own_final_part:
            should = branches[k + 1].end;   // the load's next branch is its own (expected_branches)
            break;
        }
        if (got.target != should)
            return fmt::format("the jump at byte {} (instruction {}) lands at byte {}, not at byte {}", got.at,
                               want.from, got.target, should);
    }
    return {};
}

} // namespace linecap
