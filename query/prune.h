// Which chunks of an indexed capture file may hold a packet a tcpdump
// filter accepts (docs/query.md). The filter is the BPF program libpcap
// compiles; it is run over a chunk's key sets (writers/capture_index.h)
// rather than over a packet: a load the index knows (an IPv4 or IPv6
// address word, the protocol, a port, under the EtherType the path has
// checked) is a value from a set, any other load an unknown value, and a
// comparison goes both ways unless no value of its set can make it true.
// The chunk may match when some path reaches a nonzero return.
//
// So the answer is "maybe" or "no", and "no" is only given when no packet of
// the chunk can be accepted: every packet of the chunks read is then checked
// exactly (pcap_offline_filter), and a query's result never depends on the
// index. Programs for link types other than Ethernet are not pruned.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pcap/bpf.h>

#include "writers/capture_index.h"

namespace linecap {

class chunk_filter {
public:
    // Takes a copy of `program` (compiled for Ethernet). "" or why it
    // cannot be used (a jump out of the program): may_match is then always
    // true.
    std::string load(const bpf_program& program);
    // An empty filter (no expression): every chunk.
    bool empty() const { return _program.empty(); }

    // May a packet of `chunk` be accepted by the program? Of its block
    // `block` (index_chunk::blocks), if not -1. `asked_sets`, if given: bit
    // f set when the answer compared a value of set f (index_field): its
    // blocks can tell more only when the IPv4 addresses were asked.
    bool may_match(const index_chunk& chunk, int block = -1, uint32_t* asked_sets = nullptr) const;

private:
    std::vector<bpf_insn> _program;
};

} // namespace linecap
