// Filters people already have, read as session specs.
//
// The packet-capture filter of Azure's VPN gateways (Microsoft's "Configure
// packet capture for VPN gateways"), as a load-balancer or VPN team hands it
// over:
//
//   {"TracingFlags": 11, "MaxPacketBufferSize": 120, "MaxFileSize": 200,
//    "Filters": [{"SourceSubnets": ["10.1.0.0/24"], "DestinationSubnets": ["10.2.0.0/24"],
//                 "SourcePort": [500], "DestinationPort": [4500], "Protocol": [6],
//                 "TcpFlags": 16, "CaptureSingleDirectionTrafficOnly": true}]}
//
// is the session spec
//
//   {"snaplen": 120, "rotate": {"bytes": 200000000},
//    "match": [{"src": ["10.1.0.0/24"], "dst": ["10.2.0.0/24"], "src_ports": [500],
//               "dst_ports": [4500], "protocols": [6], "tcp_flags": {"any": ["ack"]}}]}
//
// One filter is one rule, in both directions unless
// CaptureSingleDirectionTrafficOnly is true; TcpFlags is a bitmask (FIN=1,
// SYN=2, RST=4, PSH=8, ACK=16, URG=32, ECE=64, CWR=128) meaning "any of
// these set" (0 and -1: no condition); MaxPacketBufferSize is the snap
// length in bytes; MaxFileSize, in MB (10^6 bytes, as -C), starts a new file.
// TracingFlags picks which of the gateway's own capture points record
// (inner, outer, IKE): linecap sees what the wire carries, so it is read
// (a whole number) and has no further effect. docs/filters.md.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace linecap {

// Whether a spec object is in the gateway's schema (it has one of its
// top-level keys).
bool is_gateway_capture_filter(const nlohmann::json& j);

// The session spec that `in` means. Keys of linecap's own spec may sit
// beside the gateway's (an option laid over the file): a linecap key wins
// over the gateway key that would set the same field. Returns an empty
// string, or one error naming the gateway's field ("Filters[0].TcpFlags:
// 300 is not ...").
std::string import_gateway_capture_filter(const nlohmann::json& in, nlohmann::json& out);

// A parser error about the spec import_gateway_capture_filter() made from
// `in`, with a field the gateway's keys gave named as they name it:
// "match[1].src_ports[0]: ..." -> "Filters[1].SourcePort[0]: ...".
std::string gateway_error(const nlohmann::json& in, const std::string& spec_error);

} // namespace linecap
