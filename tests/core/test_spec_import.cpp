// A VPN gateway's packet-capture filter, read as the session spec it means
// (core/spec_import.h), and its mistakes named by the gateway's field names.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/spec.h"

using namespace linecap;
using nlohmann::json;

namespace {

session_spec parsed(const std::string& text)
{
    session_spec s;
    INFO(text);
    REQUIRE(parse_session_spec_text(text, s) == "");
    return s;
}

std::string error_of(const std::string& text)
{
    session_spec s;
    return parse_session_spec_text(text, s);
}

} // namespace

TEST_CASE("the gateway's filter is the spec it means, field by field")
{
    const session_spec gateway = parsed(R"({
        "TracingFlags": 11, "MaxPacketBufferSize": 120, "MaxFileSize": 200,
        "Filters": [{"SourceSubnets": ["10.1.0.0/24", "10.9.0.7"], "DestinationSubnets": ["10.2.0.0/24"],
                     "SourcePort": [500], "DestinationPort": [4500], "Protocol": [6],
                     "TcpFlags": 18, "CaptureSingleDirectionTrafficOnly": true},
                    {"Protocol": [17], "DestinationPort": [53]}]})");
    const session_spec own = parsed(R"({
        "snaplen": 120, "rotate": {"bytes": 200000000},
        "match": [{"src": ["10.1.0.0/24", "10.9.0.7"], "dst": ["10.2.0.0/24"], "src_ports": [500],
                   "dst_ports": [4500], "protocols": ["tcp"], "tcp_flags": {"any": ["syn", "ack"]}},
                  {"protocols": ["udp"], "dst_ports": [53], "bidirectional": true}]})");
    CHECK(gateway == own);
    REQUIRE(gateway.match.size() == 2);
    CHECK(gateway.match[0].tcp_flags->any == (tcp_syn | tcp_ack));
    CHECK_FALSE(gateway.match[0].bidirectional);   // single direction asked
    CHECK(gateway.match[1].bidirectional);         // both, the gateway's default
    CHECK(gateway.output.snaplen == 120);
    CHECK(gateway.output.rotate.bytes == 200000000);
}

TEST_CASE("TcpFlags 0 and -1 set no condition; every bit maps to its flag")
{
    CHECK_FALSE(parsed(R"({"Filters": [{"TcpFlags": 0}]})").match[0].tcp_flags.has_value());
    CHECK_FALSE(parsed(R"({"Filters": [{"TcpFlags": -1}]})").match[0].tcp_flags.has_value());
    for (unsigned bit = 0; bit < 8; bit++) {
        INFO(bit);
        const session_spec s = parsed(fmt::format(R"({{"Filters": [{{"TcpFlags": {}}}]}})", 1u << bit));
        CHECK(s.match[0].tcp_flags->any == (1u << bit));
    }
}

TEST_CASE("linecap's own fields beside the gateway's: a linecap field wins")
{
    const session_spec s = parsed(R"({"MaxPacketBufferSize": 120, "snaplen": 64, "name": "vpn",
                                      "Filters": [{"Protocol": [50]}]})");
    CHECK(s.output.snaplen == 64);
    CHECK(s.output.name == "vpn");
    CHECK(error_of(R"({"Filters": [], "match": []})") ==
          "Filters: the rules are given twice, here and as \"match\" (or as options): give them once");
}

TEST_CASE("a gateway filter's mistakes are named by the gateway's fields")
{
    CHECK(error_of(R"({"Filters": [{"SourcePort": [70000]}]})") == "Filters[0].SourcePort[0]: 70000 is not a port");
    CHECK(error_of(R"({"Filters": [{}, {"DestinationSubnets": ["10.0.0.300"]}]})") ==
          "Filters[1].DestinationSubnets[0]: 10.0.0.300 is not an IPv4 or IPv6 address, prefix or range");
    CHECK(error_of(R"({"Filters": [{"Protocl": [6]}]})") ==
          "Filters[0].Protocl: unknown field: did you mean \"Protocol\"? (known: SourceSubnets, DestinationSubnets, SourcePort, DestinationPort, "
          "Protocol, TcpFlags, CaptureSingleDirectionTrafficOnly)");
    CHECK(error_of(R"({"Filters": [{"TcpFlags": 256}]})") ==
          "Filters[0].TcpFlags: 256 is not a TCP flags bitmask from 0 to 255 (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 "
          "ECE=64 CWR=128: 18 is SYN or ACK set; 0 or -1: any flags)");
    CHECK(error_of(R"({"Filters": [{"CaptureSingleDirectionTrafficOnly": "yes"}]})") ==
          "Filters[0].CaptureSingleDirectionTrafficOnly: expected true (source to destination only) or false (both "
          "directions), got \"yes\"");
    CHECK(error_of(R"({"MaxPacketBufferSize": 300000})") ==
          "MaxPacketBufferSize: 300000 is not a whole number from 0 to 262144");
    CHECK(error_of(R"({"MaxFileSize": 0})") == "MaxFileSize: 0 is not a whole number of MB, 1 or more");
    CHECK(error_of(R"({"TracingFlags": "all"})") ==
          "TracingFlags: \"all\" is not a whole number (the gateway's capture points; linecap records what the wire "
          "carries)");
    CHECK(error_of(R"({"Filters": {}})") == "Filters: expected a list of filters [{...}], got {}");
    CHECK(error_of(R"({"TracingFlags": 11, "Snaplen": 5})") ==
          "Snaplen: unknown field (the gateway's: TracingFlags, MaxPacketBufferSize, MaxFileSize, Filters; or one of "
          "linecap's spec, docs/filters.md)");
}

TEST_CASE("hostile gateway filters are refused with a message, never thrown")
{
    // Found by review: a non-object "rotate" beside MaxFileSize threw out of the
    // parser and aborted the daemon.
    CHECK(error_of(R"({"MaxFileSize": 200, "rotate": 5})") == "rotate: expected an object {\"bytes\": ...}, got 5");
    // 2^64-1 is not -1.
    CHECK_THAT(error_of(R"({"Filters": [{"TcpFlags": 18446744073709551615}]})"),
               Catch::StartsWith("Filters[0].TcpFlags: 18446744073709551615 is not a TCP flags bitmask"));
    CHECK_THAT(error_of(R"({"Filters": [{"TcpFlags": -2}]})"),
               Catch::StartsWith("Filters[0].TcpFlags: -2 is not a TCP flags bitmask"));
    // A check of the whole rule names the gateway's fields.
    CHECK(error_of(R"({"Filters": [{"Protocol": [17], "TcpFlags": 2}]})") ==
          "Filters[0]: TcpFlags only match TCP, and Protocol does not name tcp");
}

TEST_CASE("a bitmask in linecap's own tcp_flags gets the shape it should have")
{
    CHECK(error_of(R"({"match": [{"tcp_flags": 18}]})") ==
          "match[0].tcp_flags: 18 is a bitmask; write the flags by name: {\"any\": [\"syn\", \"ack\"]} (any of them "
          "set; \"all\" and \"none\" too)");
}
