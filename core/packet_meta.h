// What a worker learns about a packet and a writer needs: its wall-clock
// timestamp and the sessions it matched; for a packet read from a capture
// file (linecap -r), also its length on the wire. Kept in an mbuf dynamic
// field so it travels with the mbuf over the ring, with no side array and no
// copy.
#pragma once

#include <cstdint>

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

namespace linecap {

// Bit s set: the packet matched session slot s. Sixteen slots, the number of
// rte_acl categories, so one classification pass serves every session.
using session_mask = uint16_t;
constexpr unsigned max_sessions = 16;

struct packet_meta {
    uint64_t ts_ns;          // nanoseconds since the Unix epoch, UTC
    session_mask sessions;   // sessions that want this packet
    // Packets read from a capture file only (engine/file_port.h): the
    // record's original length as the file gives it, which is more than the
    // bytes the mbuf holds (its pkt_len) when the file was captured with a
    // snap length, and less in a malformed record (what libpcap hands a
    // filter; the writers raise it to the bytes written: record_length).
    // Set by the file reader; read by BPF's `len` and by the writers in a -r
    // run, and by nothing else: ports' packets leave it unwritten.
    uint32_t wire_len;
};
static_assert(sizeof(packet_meta) == 16, "the metadata fits the 16 bytes it always took");

// Offset of packet_meta in every mbuf; set once by register_packet_meta().
// Header-only, so that every stage (workers, writers, filters) can use it.
inline int packet_meta_offset = -1;

// And of the index mark: the writer's index epoch in which the worker
// passed a packet of the same flow on (with bit 31 for a flow whose
// transport words change; the epoch alone for a frame that gives the
// index no key), or 0 (writers/index_flow.h). A
// field of its own, 4 bytes aligned on 4: the mbuf's dynamic field room
// (DPDK 22.11: 36 bytes from byte 92) has 4 such bytes before its first
// 8-aligned ones, which packet_meta and a driver's RX timestamp take.
inline int index_mark_offset = -1;

// Registers the dynamic fields. Call after rte_eal_init, before any port
// starts. Returns 0, or a negative errno (-ENOSPC when the mbuf has no
// room left).
inline int register_packet_meta()
{
    static const rte_mbuf_dynfield desc = {
        "linecap_packet_meta", sizeof(packet_meta), alignof(packet_meta), 0,
    };
    static const rte_mbuf_dynfield mark = {
        "linecap_index_mark", sizeof(uint32_t), alignof(uint32_t), 0,
    };
    const int offset = rte_mbuf_dynfield_register(&desc);
    if (offset < 0)
        return -rte_errno;
    const int mark_offset = rte_mbuf_dynfield_register(&mark);
    if (mark_offset < 0)
        return -rte_errno;
    packet_meta_offset = offset;
    index_mark_offset = mark_offset;
    return 0;
}

// Calls fn(slot) for each session in `mask`, lowest slot first.
template <typename Fn>
inline void for_each_session(session_mask mask, Fn&& fn)
{
    while (mask != 0) {
        fn(static_cast<unsigned>(__builtin_ctz(mask)));
        mask &= static_cast<session_mask>(mask - 1);
    }
}

static inline packet_meta* meta_of(rte_mbuf* m)
{
    return RTE_MBUF_DYNFIELD(m, packet_meta_offset, packet_meta*);
}

static inline const packet_meta* meta_of(const rte_mbuf* m)
{
    return RTE_MBUF_DYNFIELD(m, packet_meta_offset, const packet_meta*);
}

static inline uint32_t* index_mark_of(rte_mbuf* m)
{
    return RTE_MBUF_DYNFIELD(m, index_mark_offset, uint32_t*);
}

static inline const uint32_t* index_mark_of(const rte_mbuf* m)
{
    return RTE_MBUF_DYNFIELD(m, index_mark_offset, const uint32_t*);
}

} // namespace linecap
