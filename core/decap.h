// What a "decap" session (docs/mirror.md) writes of a mirrored frame:
//
//   worker: classifier, inner pass (core/tunnel.h) -> ring
//   writer: decap_of(m) -- the same bounded walk --> record_cut (skip, end, length, prefix)
//           -> capture_writer::write_packet(m, ts, cut)
//
// Header-only: the writer lcores call it per packet, and fuzz-packet calls
// it on every frame a decap session matched, then writes the record.
#pragma once

#include <algorithm>
#include <cstdint>

#include <rte_mbuf.h>

#include "core/tunnel.h"
#include "core/capture_format.h"
#include "core/record_cut.h"

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
// (not none):
//   "frame": the inner frame, from where it starts to where the outer
//       headers say it ends (tunnel_view::end: never into the padding of a
//       short mirrored frame); an inner IP packet gets a made-up Ethernet
//       header, so the file stays DLT_EN10MB. Original length: the inner
//       IP packet's declared length plus the inner Ethernet header and VLAN
//       tags (or the made-up header), if more than the bytes there.
//   "ip": the inner IP packet, from its IP header (after any inner Ethernet
//       header and VLAN tags) to its declared end (the inner Ethernet
//       frame's padding is not the IP packet's), within the outer headers'
//       end. Original length: its declared length (declared_ip_length).
// An inner frame cut before it was encapsulated (AWS traffic mirroring's
// packet length, an outer first fragment) thus reads as a capture cut by
// its snap length. Where the inner IP length is absent or implausible, the
// bytes there are the original length. A packet without an inner packet
// (for "ip", without an inner IP header of the right version: raw_ip_inner)
// is written as it came, whole; none should come, as the classifier matched
// it through one (inner_group::ip_only in classifier.h). Reads at most
// tunnel_headers_max bytes of the packet; never fails.
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
    // The inner IP header's length field, within what the tunnel holds.
    const uint32_t ip_length =
        inner.family != 0 ? declared_ip_length(data, std::min(len, t.end), inner.l3_offset, inner.family) : 0;
    if (mode == decap_mode::ip) {
        if (!raw_ip_inner(data, len, t, inner))
            return cut;
        cut.skip = inner.l3_offset;
        cut.end = t.end;
        if (ip_length != 0) {
            cut.end = std::min(t.end, inner.l3_offset + ip_length);
            cut.orig_len = ip_length;
        }
        return cut;
    }
    cut.skip = t.inner_offset;
    cut.end = t.end;
    if (t.kind != inner_kind::ethernet) {
        cut.prefix = t.kind == inner_kind::ipv4 ? ethernet_prefix_ipv4 : ethernet_prefix_ipv6;
        cut.prefix_len = sizeof ethernet_prefix_ipv4;
    }
    if (ip_length != 0)
        cut.orig_len = cut.prefix_len + (inner.l3_offset - t.inner_offset) + ip_length;
    return cut;
}

} // namespace linecap
