// A check of DPDK's x86-64 JIT output before linecap runs it: every branch
// of the machine code must land where the eBPF program it came from says.
//
// Why: DPDK 22.11's JIT (lib/bpf/bpf_jit_x86.c) sizes its jumps (2 bytes, or
// 5-6 with a 32-bit displacement) in passes that stop when the code's total
// size stops changing, not when every instruction's place has: a jump aimed
// with the previous pass's places can land a few bytes from its target,
// inside another instruction (a crash) or on the wrong one (a wrong verdict).
// Upstream has the same loop as of 2026. It also gives a jump back by 127 or
// 128 bytes a one-byte displacement of -129 or -130, which wraps to a jump
// forward (emit_abs_jmp, emit_abs_jcc: the size is chosen before the jump's
// own length is taken off). Whether a given program came out
// right is decided here from the code itself, with Capstone's x86 decoder
// (Debian's libcapstone-dev), so the JIT can run every program it laid out
// right and the interpreter the rest.
//
// What the check knows of the JIT (22.11's emitters, which a wrong guess
// only makes refuse code, never accept it):
//  - the code is laid out in the program's order, a prologue first;
//  - each conditional jump and `ja` ends in one x86 jcc/jmp to its target;
//  - the first `exit` is the epilogue itself (it ends in `ret`), each later
//    one a jmp to that epilogue;
//  - each packet load (BPF_LD | BPF_ABS/BPF_IND) emits three branches: a jcc
//    to its own slow path (which starts after its second branch), a jmp to
//    its own final part (which starts after its third), and a jcc to the
//    epilogue when __rte_pktmbuf_read finds no data;
//  - each division or modulo by a register emits one jcc to the epilogue;
//  - nothing else branches (calls are `call rax`, not checked);
//  - the prologue saves the callee-saved registers the program uses
//    (`sub rsp, 8n`, n stores, then `mov rbp, rsp` and `sub rsp, <stack>`
//    if RBP is one of them),
//    and the epilogue undoes it (`mov rsp, rbp` if so, n loads, `add rsp,
//    8n`, `ret`), so the epilogue's place is read back from its `ret`.
// An instruction whose code ends in a branch fixes where the next one
// starts, so a target is checked exactly when the instruction before it
// ends in a branch, as every target of a program rte_bpf_convert makes from
// libpcap's code does (a block starts after a jump or a `ret`). Code the
// check cannot place is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <rte_bpf.h>

namespace linecap {

// Checks `size` bytes of x86-64 code at `code`, which DPDK's JIT made from
// the `count` eBPF instructions at `program` (the program as given to
// rte_bpf_load). Returns "" when every branch lands where the program says,
// else what is wrong, naming the eBPF instruction ("the jump at byte 110
// (instruction 3) lands at byte 753, not at byte 757"). Only reads.
std::string check_jit_layout(const ebpf_insn* program, uint32_t count, const void* code, size_t size);

// True when `in` jumps to another instruction of its program (a conditional
// jump or `ja`), whose index is then the jump's own plus 1 plus in.off.
inline bool jumps_within_program(const ebpf_insn& in)
{
    const uint8_t op = BPF_OP(in.code);
    return BPF_CLASS(in.code) == BPF_JMP && op != EBPF_CALL && op != EBPF_EXIT;
}

} // namespace linecap
