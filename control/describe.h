// `watch`: one line per packet, in the manner of tcpdump's default output.
//
//   10:15:02.123456789 IPv4 10.0.0.1.443 > 10.0.0.2.51234: TCP [S.] length 60
//
// Only the headers the classifier parses (core/packet.h), within the
// first bytes a writer copied of the record the session writes (for a
// decap session, the inner packet; `length` is the record's original
// length): it is a glance at a running session, not a dissector (open the
// files in Wireshark for that).
#pragma once

#include <cstdint>
#include <string>

namespace linecap {

// `data` starts with an Ethernet header, or with `raw_ip` an IP header (a
// "decap": "ip" session's record, LINKTYPE_RAW).
std::string describe_packet(uint64_t unix_ns, const uint8_t* data, uint32_t caplen, uint32_t wire_len,
                            bool raw_ip = false);

} // namespace linecap
