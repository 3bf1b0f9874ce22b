// What a "decap" session (docs/mirror.md) writes of a mirrored frame:
//
//   worker: classifier, inner pass (filters/tunnel.h) -> ring
//   writer: decap_of(m) -- the same bounded walk --> record_cut (skip, prefix)
//           -> capture_writer::write_packet(m, ts, cut)
//
// Header-only: the writer lcores call it per packet, and fuzz-packet calls
// it on every frame a decap session matched, then writes the record.
#pragma once

#include <cstdint>

#include <rte_mbuf.h>

#include "filters/tunnel.h"
#include "writers/capture_format.h"
#include "writers/record_cut.h"

namespace linecap {

// What a session writes of each packet it matched ("decap" in its spec).
enum class decap_mode : uint8_t {
    none,    // the mirrored frame as it came
    frame,   // true: the inner Ethernet frame; an inner IP packet behind a made-up Ethernet header
    ip,      // "ip": the inner IP packet (inner Ethernet and VLAN tags left out), in a LINKTYPE_RAW file
};

// The link type of a session's files.
constexpr uint32_t linktype_of(decap_mode mode)
{
    return mode == decap_mode::ip ? linktype_raw : linktype_ethernet;
}

// The innermost packet of `m`, found with `ports` (a session's "vxlan_ports"
// and "geneve_ports", as the classifier used them), cut as `mode` says
// (not none). "frame": an inner IP packet gets a made-up Ethernet header, so
// the file stays DLT_EN10MB. "ip": the record starts at the inner IP header,
// after any inner Ethernet header and VLAN tags. A packet without an inner
// packet (for "ip", without an inner IP header of the right version:
// raw_ip_inner) is written as it came, skip 0, no prefix; none should come,
// as the classifier matched it through one (inner_group::ip_only in
// classifier.h). Reads at most tunnel_headers_max bytes of the packet; never
// fails.
inline record_cut decap_of(const rte_mbuf* m, const tunnel_ports& ports, decap_mode mode)
{
    record_cut cut;
    uint8_t copy[tunnel_headers_max];
    uint32_t len;
    const uint8_t* data = tunnel_headers(m, copy, len);
    tunnel_view t;
    packet_fields inner;
    if (data == nullptr || !locate_inner(data, len, ports, t, inner))
        return cut;
    if (mode == decap_mode::ip) {
        if (raw_ip_inner(data, len, inner))
            cut.skip = inner.l3_offset;
        return cut;
    }
    cut.skip = t.inner_offset;
    if (t.kind != inner_kind::ethernet) {
        cut.prefix_len = sizeof cut.prefix;
        cut.prefix[12] = t.kind == inner_kind::ipv4 ? 0x08 : 0x86;
        cut.prefix[13] = t.kind == inner_kind::ipv4 ? 0x00 : 0xdd;
    }
    return cut;
}

} // namespace linecap
