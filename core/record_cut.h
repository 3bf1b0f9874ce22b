// What a record holds of a packet, and the length it says the packet had:
//
//   writer: [decap_of (core/decap.h), for a decap session] -> record_cut
//           -> capture_writer::write_packet(m, ts, cut)   the record
//           -> copy_record_head(m, cut, ...)              a `watch` line's bytes
//
// Header-only, and light: core/spec.h reaches it through core/decap.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <rte_mbuf.h>

namespace linecap {

// What a record holds of a packet, and the length it gives it. By default
// the whole packet. A decap session's record (core/decap.h,
// docs/mirror.md) is its inner packet: the bytes from `skip` up to `end`,
// after `prefix_len` bytes of `prefix`, and the inner packet's own length
// as the original length when its header declares more than the bytes
// there (an inner frame cut before it was encapsulated).
//
// Scalars only: a whole packet's cut, made per packet per session, then
// stays in registers. (With the prefix's bytes held inside, the compiler
// built it on the stack and read it back in wider loads than its stores,
// which the core cannot forward: two stalls per record.)
struct record_cut {
    uint32_t skip = 0;                 // bytes left out at the start: the outer headers and the tunnel
    uint32_t end = UINT32_MAX;         // where the record's bytes end in the packet (its end, if sooner)
    uint32_t orig_len = 0;             // the original length, when more than the record's bytes (prefix included)
    uint32_t prefix_len = 0;           // 0, or 14 before an inner IP packet in a "frame" session
    const uint8_t* prefix = nullptr;   // prefix_len bytes: ethernet_prefix_ipv4 or _ipv6
};

// The made-up Ethernet headers a "frame" session puts before an inner IP
// packet: zero MACs and the inner IP's ethertype.
inline constexpr uint8_t ethernet_prefix_ipv4[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00};
inline constexpr uint8_t ethernet_prefix_ipv6[14] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd};
static_assert(sizeof ethernet_prefix_ipv4 == sizeof ethernet_prefix_ipv6);

// The bytes of `m` a record cut by `cut` holds, prefix included, before any
// snap length: its original length, unless `cut.orig_len` is more.
inline uint32_t record_bytes(const rte_mbuf* m, const record_cut& cut)
{
    const uint32_t stop = std::min(cut.end, m->pkt_len);
    return stop - std::min(cut.skip, stop) + cut.prefix_len;
}

// The original length a record cut by `cut` gives `m`: never less than its bytes.
inline uint32_t record_length(const rte_mbuf* m, const record_cut& cut)
{
    return std::max(record_bytes(m, cut), cut.orig_len);
}

// Copies the first bytes (at most `max`) of the record `cut` makes of `m`
// into `out` (for `watch`). Returns how many.
inline uint32_t copy_record_head(const rte_mbuf* m, const record_cut& cut, uint8_t* out, uint32_t max)
{
    const uint32_t head = std::min(max, cut.prefix_len);
    if (head != 0)   // no prefix: a null pointer, which memcpy may not take even for 0 bytes
        std::memcpy(out, cut.prefix, head);
    const uint32_t stop = std::min(cut.end, m->pkt_len);
    const uint32_t skip = std::min(cut.skip, stop);
    const uint32_t n = std::min(max - head, stop - skip);
    const void* bytes = n != 0 ? rte_pktmbuf_read(m, skip, n, out + head) : nullptr;
    if (bytes == nullptr)   // nothing, or a chain shorter than its pkt_len
        return head;
    if (bytes != out + head)
        std::memcpy(out + head, bytes, n);
    return head + n;
}

} // namespace linecap
