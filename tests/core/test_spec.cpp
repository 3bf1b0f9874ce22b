// The session spec: what it accepts, and one clear error for each kind of mistake.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/filters/filter_helpers.h"

using namespace linecap;
using namespace linecap::test;

TEST_CASE("the issue's example spec parses into the right fields")
{
    const char* text = R"({
      "name": "rst-investigation",
      "match": [
        {"src": ["10.1.0.0/24", "10.9.0.1-10.9.0.20", "2001:db8::/32"],
         "dst": ["10.4.2.50"],
         "src_ports": [500, "1000-2000"], "dst_ports": [443],
         "protocols": ["tcp", "udp", 47],
         "tcp_flags": {"any": ["syn", "fin", "rst"], "all": [], "none": ["ack"]},
         "bidirectional": true}
      ],
      "bpf": "not port 22",
      "payload": {"patterns": ["GET /api/v[0-9]+/", "(?i)authorization:"], "caseless": false},
      "snaplen": 128,
      "format": "pcap-ns"
    })";
    session_spec s;
    REQUIRE(parse_session_spec_text(text, s) == "");
    CHECK(s.output.name == "rst-investigation");
    REQUIRE(s.match.size() == 1);
    const match_rule& r = s.match[0];
    REQUIRE(r.src.size() == 3);
    CHECK(r.src[0].family == 4);
    CHECK(format_address(4, r.src[0].lo) == "10.1.0.0");
    CHECK(format_address(4, r.src[0].hi) == "10.1.0.255");
    CHECK(format_address(4, r.src[1].hi) == "10.9.0.20");
    CHECK(r.src[2].family == 6);
    CHECK(format_address(6, r.src[2].hi) == "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    CHECK(r.src_ports.size() == 2);
    CHECK(r.src_ports[1].lo == 1000);
    CHECK(r.src_ports[1].hi == 2000);
    CHECK(r.protocols == std::vector<uint8_t>{6, 17, 47});
    REQUIRE(r.tcp_flags);
    CHECK(r.tcp_flags->any == (0x02 | 0x01 | 0x04));
    CHECK(r.tcp_flags->none == 0x10);
    CHECK(r.bidirectional);
    CHECK(s.bpf == "not port 22");
    CHECK(s.payload.patterns.size() == 2);
    CHECK(s.output.snaplen == 128);
    CHECK(s.output.format == file_format::pcap_ns);
    CHECK(check_session_filter(s) == "");
}

TEST_CASE("each kind of bad spec gets its message, naming the field")
{
    CHECK(spec_error(R"({"match":[{},{},{"dst_ports":[70000]}]})") == "match[2].dst_ports[0]: 70000 is not a port");
    CHECK(spec_error(R"({"match":[{"dst_ports":[-1]}]})") == "match[0].dst_ports[0]: -1 is not a port");
    CHECK(spec_error(R"({"match":[{"dst_ports":["2000-1000"]}]})") ==
          "match[0].dst_ports[0]: 2000-1000 is a reversed range: the first port must be the lower");
    CHECK(spec_error(R"({"match":[{"dst_ports":["80x"]}]})") == "match[0].dst_ports[0]: 80x is not a port");
    CHECK(spec_error(R"({"match":[{"dst_ports":[1.5]}]})") == "match[0].dst_ports[0]: 1.5 is not a port");
    for (const char* range : {"80-", "-5-10", "1-2-3", "1-65536", "a-b"})
        CHECK(spec_error(fmt::format(R"({{"match":[{{"dst_ports":["{}"]}}]}})", range)) ==
              fmt::format("match[0].dst_ports[0]: \"{}\" is not a port range: give both ends, from 0 to 65535, e.g. "
                          "\"1024-65535\"", range));
    CHECK(spec_error(R"({"match":[{"src":["10.1.0.5/24"]}]})") ==
          "match[0].src[0]: 10.1.0.5/24 has host bits set: did you mean 10.1.0.0/24?");
    CHECK(spec_error(R"({"match":[{"src":["10.0.0.0/33"]}]})") ==
          "match[0].src[0]: 10.0.0.0/33: prefix length 33 is too long for IPv4: give 0 to 32");
    CHECK(spec_error(R"({"match":[{"src":["300.1.1.1"]}]})") ==
          "match[0].src[0]: 300.1.1.1 is not an IPv4 or IPv6 address, prefix or range");
    CHECK(spec_error(R"({"match":[{"dst":["10.0.0.9-10.0.0.1"]}]})") ==
          "match[0].dst[0]: 10.0.0.9-10.0.0.1 is a reversed range: the first address must be the lower");
    CHECK(spec_error(R"({"match":[{"dst":["10.0.0.1-::5"]}]})") == "match[0].dst[0]: 10.0.0.1-::5 mixes IPv4 and IPv6");
    CHECK(spec_error(R"({"match":[{"src":[]}]})") == "match[0].src: empty list: leave the field out to match any address");
    CHECK(spec_error(R"({"match":[{"src":"10.0.0.1"}]})") == "match[0].src: expected a list, got \"10.0.0.1\"");
    CHECK(spec_error(R"({"match":[{"protocols":["tcpp"]}]})") ==
          "match[0].protocols[0]: \"tcpp\" is not a protocol name (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah) or a number from 0 to 255: did you mean \"tcp\"?");
    CHECK(spec_error(R"({"match":[{"protocols":["icmpv7"]}]})") ==
          "match[0].protocols[0]: \"icmpv7\" is not a protocol name (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah) or a number from 0 to 255: did you mean \"icmpv6\"?");
    CHECK(spec_error(R"({"match":[{"protocols":["nfs"]}]})") ==
          "match[0].protocols[0]: \"nfs\" is not a protocol name (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah) or a number from 0 to 255");
    // tcpdump's word for ICMPv6, and icmpv4 beside icmpv6.
    {
        session_spec icmp;
        REQUIRE(parse_session_spec_text(R"({"match":[{"protocols":["icmp6", "icmpv4"]}]})", icmp) == "");
        CHECK(icmp.match.at(0).protocols == std::vector<uint8_t>{58, 1});
    }
    CHECK(spec_error(R"({"match":[{"protocols":["ICMP6"]}]})") ==
          "match[0].protocols[0]: \"ICMP6\" is not a protocol name (tcp, udp, icmp, icmpv6, sctp, gre, esp, ah) or a number from 0 to 255: did you mean \"icmp6\"?");
    // A swap of two letters, and a name in capitals, are slips too.
    CHECK(spec_error(R"({"nmae":"x"})").starts_with("nmae: unknown field: did you mean \"name\"?"));
    CHECK(spec_error(R"({"bfp":"tcp"})").starts_with("bfp: unknown field: did you mean \"bpf\"?"));
    CHECK(spec_error(R"({"SNAPLEN":64})").starts_with("SNAPLEN: unknown field: did you mean \"snaplen\"?"));
    CHECK(spec_error(R"({"match":[{"protocols":[256]}]})") == "match[0].protocols[0]: 256 is not a whole number from 0 to 255");
    CHECK(spec_error(R"({"match":[{"tcp_flags":{"any":["syn","bogus"]}}]})") ==
          "match[0].tcp_flags.any[1]: \"bogus\" is not a TCP flag (fin syn rst psh ack urg ece cwr)");
    CHECK(spec_error(R"({"match":[{"tcp_flags":{"some":["syn"]}}]})") ==
          "match[0].tcp_flags.some: unknown field (known: any, all, none)");
    CHECK(spec_error(R"({"match":[{"tcp_flags":{"all":["syn"],"none":["syn"]}}]})") ==
          "match[0].tcp_flags: a flag cannot be in both \"all\" and \"none\"");
    CHECK(spec_error(R"({"match":[{"bidirectional":"yes"}]})") == "match[0].bidirectional: expected true or false, got \"yes\"");
    CHECK(spec_error(R"({"match":[{"srcc":["10.0.0.1"]}]})") ==
          "match[0].srcc: unknown field: did you mean \"src\"? (known: src, dst, src_ports, dst_ports, protocols, tcp_flags, bidirectional)");
    CHECK(spec_error(R"({"match":[{"src":["10.0.0.1"], "dst":["::1"]}]})") ==
          "match[0]: src and dst share no address family (IPv4 with IPv6): the rule can never match");
    CHECK(spec_error(R"({"match":[{"protocols":["icmp"], "dst_ports":[80]}]})") ==
          "match[0]: ports are only read from TCP, UDP and SCTP, and \"protocols\" names none of them");
    CHECK(spec_error(R"({"matches":[]})") ==
          "matches: unknown field: did you mean \"match\"? (known: name, match, bpf, netmask, tunnel, vni, outer, decap, vxlan_ports, geneve_ports, payload, snaplen, limits, rotate, format, index)");
    // The table's option-only paths are no keys of a spec (found by fuzz-spec: a null parser).
    CHECK(spec_error(R"({"match[].src":["10.0.0.1"]})") ==
          "match[].src: unknown field (known: name, match, bpf, netmask, tunnel, vni, outer, decap, vxlan_ports, geneve_ports, payload, snaplen, limits, rotate, format, index)");
    CHECK(spec_error(R"({"match[]":{"tcp_flags":{"any":["syn"]}}})") ==
          "match[]: unknown field: did you mean \"match\"? (known: name, match, bpf, netmask, tunnel, vni, outer, decap, vxlan_ports, geneve_ports, payload, snaplen, limits, rotate, format, index)");
    CHECK(spec_error(R"({"snaplen":300000})") == "snaplen: 300000 is not a whole number from 0 to 262144");
    CHECK(spec_error(R"({"snaplen":"64"})") == "snaplen: \"64\" is not a whole number from 0 to 262144: write it as a number, without quotes: 64");
    CHECK(spec_error(R"({"limits":{"bytes":"10MiB"}})") == "limits.bytes: \"10MiB\" is not a whole number 1 or more: give a plain number, without a unit");
    CHECK(spec_error(R"({"limits":{"bytes":"10 MB"}})") == "limits.bytes: \"10 MB\" is not a whole number 1 or more: give a plain number, without a unit");
    CHECK(spec_error(R"({"limits":{"bytes":"10mb"}})") == "limits.bytes: \"10mb\" is not a whole number 1 or more: give a plain number, without a unit");
    CHECK(spec_error(R"({"limits":{"bytes":"10 "}})") == "limits.bytes: \"10 \" is not a whole number 1 or more: write it as a number, without quotes: 10");
    CHECK(spec_error(R"({"limits":{"bytes":"10 apples"}})") == "limits.bytes: \"10 apples\" is not a whole number 1 or more");
    CHECK(spec_error(R"({"limits":{"packet":5}})") == "limits.packet: unknown field: did you mean \"packets\"? (known: packets, bytes, seconds)");
    CHECK(spec_error(R"({"match":[{"src":["10.0.0.5/x"]}]})") ==
          "match[0].src[0]: 10.0.0.5/x: the prefix length after the / must be a whole number from 0 to 32 (IPv4), e.g. 10.0.0.0/24");
    CHECK(spec_error(R"({"match":[{"src":["2001:db8::1/abc"]}]})") ==
          "match[0].src[0]: 2001:db8::1/abc: the prefix length after the / must be a whole number from 0 to 128 (IPv6), e.g. 2001:db8::/64");
    CHECK(spec_error(R"({"match":[{"src":["10.0.0.0/-1"]}]})") == "match[0].src[0]: 10.0.0.0/-1: the prefix length after the / must be a whole number from 0 to 32 (IPv4), e.g. 10.0.0.0/24");
    CHECK(spec_error(R"({"format":"pcapng2"})") == "format: \"pcapng2\" is not a format (pcap, pcap-ns, pcapng)");
    CHECK(spec_error(R"({"limits":{"packets":0}})") == "limits.packets: 0 is not a whole number 1 or more");
    CHECK(spec_error(R"({"limits":{"seconds":-1}})") == "limits.seconds: -1 is not a duration above 0: give seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)");
    CHECK(spec_error(R"({"limits":{"seconds":1e10}})") == "limits.seconds: 10000000000.0 is longer than 10^9 s (some 31 years), the longest duration linecap takes: leave the limit out for none");
    CHECK(spec_error(R"({"limits":{"seconds":"100000d"}})") == "limits.seconds: \"100000d\" is longer than 10^9 s (some 31 years), the longest duration linecap takes: leave the limit out for none");
    CHECK(spec_error(R"({"limits":{"minutes":1}})") == "limits.minutes: unknown field (known: packets, bytes, seconds)");
    CHECK(spec_error(R"({"rotate":{"keep":5}})") ==
          "rotate.keep: keeps the last N files of a rotation: give bytes, seconds or packets too");
    CHECK(spec_error(R"({"rotate":{"keep_bytes":1000000}})") ==
          "rotate.keep_bytes: keeps the newest files of a rotation: give bytes, seconds or packets too");
    CHECK(spec_error(R"({"tunnel":"inner","decap":"ip","index":true})") ==
          "index: indexes Ethernet frames, and \"decap\": \"ip\" writes raw IP packets: use \"decap\": "
          "\"frame\" (the inner packets behind an Ethernet header) or no index");
    CHECK(spec_error(R"({"index":"yes"})").starts_with("index: "));
    CHECK(spec_error(R"({"rotate":{"seconds":0.5}})") == "rotate.seconds: 0.5 is not a whole number of seconds from 1 to 2678400: give whole seconds (90) or a whole number of m, h or d (5m, 1h)");
    CHECK(spec_error(R"({"name":"7"})") == "name: \"7\": a session name needs a letter or one of '.', '_', '-' (a "
                                           "number is a session id): e.g. \"sub-7\"");
    CHECK(spec_error(R"({"name":"../etc"})") ==
          "name: \"../etc\": a session name has only letters, digits, '.', '_' and '-'");
    CHECK(spec_error(R"([1,2])") == "expected an object {...}, got [1,2]");
    CHECK(spec_error(R"({"match": [})") ==
          "not valid JSON at byte 12 (line 1, column 12): syntax error while parsing value - unexpected '}'; "
          "expected '[', '{', or a literal");
    CHECK(spec_error("{\n  \"snaplen\": 96,,\n}") ==
          "not valid JSON at byte 19 (line 2, column 17): syntax error while parsing object key - unexpected ','; "
          "expected string literal");
    // "-0" (nlohmann's signed 0) where a number without a sign is asked: refused, named as written.
    CHECK(spec_error(R"({"snaplen": -0})") == "snaplen: -0 is not a whole number from 0 to 262144: write 0, without a sign");
    CHECK(spec_error(R"({"match": [{"dst_ports": [-0]}]})") == "match[0].dst_ports[0]: -0 is not a port: write 0, without a sign");
    // A field given twice: JSON's grammar allows it and nlohmann keeps the last, so a second, empty
    // "match" captured everything. Named with its place, from every entry point (they all come here).
    CHECK(spec_error(R"({"match":[{"src":["192.0.2.1"]}],"snaplen":64,"match":[]})") ==
          "\"match\" is given twice: give each field once");
    CHECK(spec_error(R"({"match":[{"src":["192.0.2.1"],"dst":["10.0.0.1"],"src":[]}]})") ==
          "match[]: \"src\" is given twice: give each field once");
    CHECK(spec_error(R"({"rotate":{"bytes":1000,"bytes":2000}})") == "rotate: \"bytes\" is given twice: give each field once");
    CHECK(spec_error(R"({"match":[{"src":["192.0.2.1"]},{"src":["192.0.2.2"]}]})").empty());   // one per object
    // Nesting past any spec's: refused before anything walks it (an error's echo of a value, dump(),
    // recursed 100 000 levels deep and overflowed the stack).
    for (const char* open : {"[", "{\"a\":"}) {
        std::string deep = "{\"snaplen\":";
        for (int i = 0; i < 100000; i++)
            deep += open;
        CHECK(spec_error(deep) == "lists and objects nested more than 32 deep: a spec needs 4 (a rule's list of "
                                  "addresses in \"match\")");
    }
    std::string nested = "{\"snaplen\":" + std::string(20, '[') + std::string(20, ']') + "}";
    CHECK(spec_error(nested) == "snaplen: [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]] is not a whole number from 0 to 262144");
    // A value echoed in an error: at most 80 bytes of it, and its length.
    CHECK(spec_error(nlohmann::json{{"snaplen", std::string(60000, 'x')}}.dump()) ==
          fmt::format("snaplen: \"{}... (60002 bytes) is not a whole number from 0 to 262144", std::string(76, 'x')));
    // Cut at a character's start: byte 77 of "\"x" and two-byte characters
    // is the second half of the 38th, which goes whole.
    std::string accents;
    for (int i = 0; i < 100; i++)
        accents += "\u00e9";
    CHECK(spec_error(nlohmann::json{{"snaplen", "x" + accents}}.dump()) ==
          fmt::format("snaplen: \"x{}... (203 bytes) is not a whole number from 0 to 262144", accents.substr(0, 74)));
    // keep_bytes below one file of the rotation would delete every file as it closed.
    CHECK(spec_error(R"({"rotate":{"bytes":2000000,"keep_bytes":1000000}})") ==
          "rotate.keep_bytes: 1000000 bytes is less than one file of the rotation (rotate.bytes 2000000): every file "
          "would be deleted as it closed; give keep_bytes room for several files (it counts bytes, where -C counts MB)");
    CHECK(spec_error(R"({"rotate":{"bytes":2000000,"keep_bytes":2000000}})").empty());
    // Found by fuzz-spec: nlohmann's out_of_range escaped parse_session_spec_text and aborted `linecap -F`.
    CHECK(spec_error(R"({"snaplen": 1e400})") == "not valid JSON: number overflow parsing '1e400'");
    // An expression's terms are bounded (libpcap's optimiser: time as their cube), said the same from every
    // entry point (the one-shot's and linecapctl's words, the socket's and HTTP's specs all come here).
    const auto hosts = [](size_t n, std::string_view op) {
        std::string e = "host 10.0.0.0";
        for (size_t i = 1; i < n; i++)
            e += fmt::format(" {} host 10.0.{}.{}", op, i / 256, i % 256);
        return e;
    };
    CHECK(spec_error(nlohmann::json{{"bpf", hosts(128, "or")}}.dump()).empty());
    CHECK(spec_error(nlohmann::json{{"bpf", hosts(129, "||")}}.dump()) ==
          "bpf: the expression has 129 terms joined by and/or, over the 128 linecap compiles (libpcap's optimiser "
          "takes time that grows with their cube: 500 took 25 s): match many addresses or ports with the rules' "
          "lists (\"src\", \"dst\", \"dst_ports\"...: docs/filters.md), or split the capture into sessions");
    CHECK_THAT(spec_error(nlohmann::json{{"bpf", "tcp and (" + std::string(9000, ' ') + "udp)"}}.dump()),
               Catch::StartsWith("bpf: the expression is 9013 bytes, over the 8192 linecap compiles: "));
    CHECK_THAT(spec_error(R"({"bpf":"tcp port"})"), Catch::StartsWith("bpf: \"tcp port\": can't parse filter expression: syntax error"));
    CHECK_THAT(spec_error(R"({"bpf":"tcp port 99999"})"), Catch::Contains("port 99999"));
    CHECK_THAT(spec_error(R"({"payload":{"patterns":["ok", "(ab"]}})"),
               Catch::StartsWith("payload.patterns[1]: \"(ab\": Missing close parenthesis"));
    CHECK(spec_error(R"({"payload":{"patterns":[""]}})") == "payload.patterns[0]: empty pattern: it would match every packet");
    CHECK(spec_error(R"({"payload":{"caseless":true}})") == "payload: \"patterns\" is missing");
}

TEST_CASE("rules that would explode the classifier are refused")
{
    std::string ports = "[";
    for (int i = 0; i < 200; i++)
        ports += std::to_string(i * 2) + (i < 199 ? "," : "]");
    std::string many = R"({"match":[{"src_ports":)" + ports + R"(, "dst_ports":)" + ports +
                       R"(, "protocols":["tcp","udp","sctp"], "bidirectional":true}]})";
    CHECK_THAT(spec_error(many), Catch::StartsWith("match[0]: expands to 480000 classifier rules, more than the 65536 allowed"));
}

TEST_CASE("ranges become the fewest covering prefixes")
{
    auto prefixes = [](const char* lo, const char* hi) {
        session_spec s;
        REQUIRE(parse_session_spec_text(std::string(R"({"match":[{"src":[")") + lo + "-" + hi + R"("]}]})", s) == "");
        std::vector<std::string> out;
        for (const ip_prefix& p : range_to_prefixes(s.match[0].src[0]))
            out.push_back(format_address(p.family, p.addr) + "/" + std::to_string(p.length));
        return out;
    };
    CHECK(prefixes("10.0.0.0", "10.0.0.255") == std::vector<std::string>{"10.0.0.0/24"});
    CHECK(prefixes("10.0.0.1", "10.0.0.6") ==
          std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"});
    CHECK(prefixes("0.0.0.0", "255.255.255.255") == std::vector<std::string>{"0.0.0.0/0"});
    CHECK(prefixes("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == std::vector<std::string>{"::/0"});
    CHECK(prefixes("2001:db8::ffff", "2001:db8::1:0") == std::vector<std::string>{"2001:db8::ffff/128", "2001:db8::1:0/128"});
}

TEST_CASE("every protocol name of the one table parses to its number")
{
    for (const auto& e : ip_protocol_names) {
        session_spec s;
        INFO(e.name);
        REQUIRE(parse_session_spec_text(fmt::format(R"({{"match": [{{"protocols": ["{}"]}}]}})", e.name), s) == "");
        REQUIRE(s.match.size() == 1);
        CHECK(s.match[0].protocols == std::vector<uint8_t>{e.number});
    }
}

TEST_CASE("durations read as people type them, as numbers of seconds or with a unit")
{
    const auto seconds = [](const char* value) {
        session_spec s;
        REQUIRE(parse_session_spec_text(fmt::format(R"({{"limits": {{"seconds": {}}}}})", value), s) == "");
        return s.output.limits.seconds;
    };
    CHECK(seconds("2.5") == 2.5);
    CHECK(seconds(R"("90s")") == 90);
    CHECK(seconds(R"("5m")") == 300);
    CHECK(seconds(R"("1.5h")") == 5400);
    CHECK(seconds(R"("1d")") == 86400);
    CHECK(seconds(R"("250ms")") == 0.25);
    session_spec s;
    REQUIRE(parse_session_spec_text(R"({"rotate": {"seconds": "1h"}})", s) == "");
    CHECK(s.output.rotate.seconds == 3600);
    CHECK(parse_session_spec_text(R"({"limits": {"seconds": "5 min"}})", s) ==
          "limits.seconds: \"5 min\" is not a duration above 0: give seconds (90, 1.5) or a number with ms, s, m, "
          "h or d (5m, 2h)");
    CHECK(parse_session_spec_text(R"({"rotate": {"seconds": "1500ms"}})", s) ==
          "rotate.seconds: \"1500ms\" is not a whole number of seconds from 1 to 2678400: give whole seconds (90) "
          "or a whole number of m, h or d (5m, 1h)");
}

TEST_CASE("rings are indexed unless the spec says otherwise; raw IP files never are")
{
    const auto indexed = [](const char* text) {
        session_spec s;
        REQUIRE(parse_session_spec_text(text, s).empty());
        return s.output.indexed();
    };
    CHECK(indexed(R"({"rotate":{"seconds":60,"keep":10}})"));
    CHECK(indexed(R"({"rotate":{"bytes":1000000,"keep_bytes":100000000}})"));
    CHECK_FALSE(indexed(R"({"rotate":{"seconds":60}})"));
    CHECK_FALSE(indexed(R"({})"));
    CHECK(indexed(R"({"index":true})"));
    CHECK_FALSE(indexed(R"({"rotate":{"seconds":60,"keep":10},"index":false})"));
    CHECK_FALSE(indexed(R"({"rotate":{"seconds":60,"keep":10},"tunnel":"inner","decap":"ip"})"));
    CHECK(indexed(R"({"rotate":{"seconds":60,"keep":10},"tunnel":"inner","decap":"frame"})"));
}

TEST_CASE("a worker's index marks speak only for records that are a packet's first bytes cut past its flow's keys")
{
    const auto marked = [](const char* text) {
        session_spec s;
        REQUIRE(parse_session_spec_text(text, s).empty());
        return s.output.index_marked();
    };
    CHECK(marked(R"({"index":true})"));
    CHECK(marked(R"({"index":true,"snaplen":58})"));   // an untagged IPv6 packet's ports end there
    CHECK(marked(R"({"index":true,"snaplen":128})"));
    // Inside the keys: one direction's source address or port kept and
    // not the other's (tests/writers/test_session_output.cpp shows what
    // such marks would do to the index).
    CHECK_FALSE(marked(R"({"index":true,"snaplen":57})"));
    CHECK_FALSE(marked(R"({"index":true,"snaplen":36})"));
    CHECK_FALSE(marked(R"({"index":false})"));
    CHECK_FALSE(marked(R"({"index":true,"tunnel":"inner","decap":"frame"})"));   // the inner packet's record
}

TEST_CASE("a NUL byte anywhere in a spec's text is refused with where it is, never cut short in a C string")
{
    // Each would have been read up to its NUL: "tcp" selects every TCP packet.
    const std::pair<const char*, const char*> cases[] = {
        {R"({"bpf": "tcp\u0000 and not tcp"})", "bpf: a NUL byte at character 4: a spec's text cannot hold one"},
        {R"({"payload": {"patterns": [".\u0000NEVER"]}})",
         "payload.patterns[0]: a NUL byte at character 2: a spec's text cannot hold one"},
        {R"({"netmask": "255.255.255.0\u0000junk"})", "netmask: a NUL byte at character 14: a spec's text cannot hold one"},
        {R"({"match": [{"src": ["10.0.0.0/8", "10.0.0.1\u0000junk"]}]})",
         "match[0].src[1]: a NUL byte at character 9: a spec's text cannot hold one"},
        {R"({"name": "a\u0000b"})", "name: a NUL byte at character 2: a spec's text cannot hold one"},
        {R"({"match": [{"sr\u0000c": ["10.0.0.1"]}]})",
         "a field's name in match[0]: a NUL byte at character 3: a spec's text cannot hold one"},
    };
    for (const auto& [text, error] : cases) {
        INFO(text);
        session_spec s;
        CHECK(parse_session_spec_text(text, s) == error);
    }
}
