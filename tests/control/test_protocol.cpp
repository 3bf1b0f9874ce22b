// The control protocol's request parser, the `watch` line decoder and the
// session catalog on a real folder.
#include <catch2/catch.hpp>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <optional>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/catalog.h"
#include "core/capture_format.h"
#include "control/describe.h"
#include "control/fleet_merge.h"
#include "control/protocol.h"
#include "core/utc_time.h"

using namespace linecap;

namespace {

std::string error_of(std::string_view line)
{
    request r;
    return parse_request(line, r);
}

} // namespace

TEST_CASE("well-formed requests parse into their command and fields")
{
    request r;
    REQUIRE(parse_request(R"({"cmd":"list"})", r).empty());
    CHECK(r.cmd == command::list);
    REQUIRE(parse_request(R"({"cmd":"stop","id":"12"})", r).empty());
    CHECK(r.cmd == command::stop);
    CHECK(r.id == "12");
    REQUIRE(parse_request(R"({"cmd":"delete","id":7})", r).empty());
    CHECK(r.cmd == command::remove);
    CHECK(r.id == "7");
    REQUIRE(parse_request(R"({"cmd":"start","spec":{"name":"web","snaplen":128,
        "match":[{"dst_ports":[443],"protocols":["tcp"]}],"limits":{"packets":10}}})", r).empty());
    CHECK(r.cmd == command::start);
    CHECK(r.spec.output.name == "web");
    CHECK(r.spec.output.snaplen == 128);
    CHECK(r.spec.output.limits.packets == 10);
    REQUIRE(r.spec.match.size() == 1);
    CHECK(r.spec_json["name"] == "web");
    CHECK(r.fleet.empty());
    // A node's fleet agent tags what it starts with the fleet session's id.
    REQUIRE(parse_request(R"({"cmd":"start","spec":{},"fleet":"web-20261130T124800Z"})", r).empty());
    CHECK(r.fleet == "web-20261130T124800Z");
}

TEST_CASE("bad requests get one error that says what is wrong")
{
    CHECK_THAT(error_of("{"), Catch::Contains("not valid JSON"));
    CHECK_THAT(error_of("42"), Catch::Contains("expected a JSON object"));
    CHECK_THAT(error_of("{}"), Catch::Contains("\"cmd\" is missing"));
    CHECK_THAT(error_of(R"({"cmd":null})"), Catch::Contains("expected a string"));
    CHECK_THAT(error_of(R"({"cmd":"rm","id":"1"})"), Catch::Contains("unknown command"));
    CHECK_THAT(error_of(R"({"cmd":"list","id":"1"})"), Catch::Contains("unknown field \"id\""));
    // A spec's depth is counted from the spec, as an HTTP body's is: 32
    // levels inside a start request pass the shape check, 33 do not.
    const auto spec_of_depth = [](int depth) {
        return R"({"cmd":"start","spec":)" + std::string(static_cast<size_t>(depth), '[') +
               std::string(static_cast<size_t>(depth), ']') + "}";
    };
    CHECK_THAT(error_of(spec_of_depth(32)), !Catch::Contains("nested more than"));
    CHECK_THAT(error_of(spec_of_depth(33)), Catch::StartsWith("lists and objects nested more than 32 deep"));
    CHECK_THAT(error_of(R"({"cmd":"stop","spec":{}})"), Catch::Contains("unknown field \"spec\""));
    CHECK_THAT(error_of(R"({"cmd":"show"})"), Catch::Contains("\"id\" is missing"));
    CHECK_THAT(error_of(R"({"cmd":"show","id":-1})"), Catch::Contains("expected a session id"));
    CHECK_THAT(error_of(R"({"cmd":"show","id":"1/../2"})"), Catch::Contains("neither a session id"));
    CHECK_THAT(error_of(R"({"cmd":"show","id":""})"), Catch::Contains("neither a session id"));
    // Digits past the largest id: too large, not "neither" (digits fit neither rule's words otherwise).
    CHECK_THAT(error_of(R"({"cmd":"show","id":"18446744073709551616"})"),
               Catch::Contains("\"id\": \"18446744073709551616\" is larger than any session id"));
    CHECK_THAT(error_of(R"({"cmd":"show","id":"99999999999999999999999"})"),
               Catch::Contains("is larger than any session id"));
    CHECK(error_of(R"({"cmd":"show","id":"18446744073709551615"})").empty());
    CHECK_THAT(error_of(R"({"cmd":"start","spec":[]})"), Catch::Contains("expected an object"));
    CHECK_THAT(error_of(R"({"cmd":"start","spec":{"name":"a/b"}})"), Catch::Contains("name"));
    CHECK_THAT(error_of(R"({"cmd":"start","spec":{"name":""}})"), Catch::Contains("name"));
    CHECK_THAT(error_of(R"({"cmd":"start","spec":{"limits":{"packets":-5}}})"), Catch::Contains("packets"));
    CHECK(error_of(R"({"cmd":"start","spec":{},"fleet":7})") ==
          "start: \"fleet\": expected a fleet session id (a string), got 7");
    CHECK_THAT(error_of(R"({"cmd":"start","spec":{},"fleet":"../x"})"),
               Catch::StartsWith("start: \"fleet\": fleet session id ../x: "));
    CHECK(error_of(R"({"cmd":"stop","id":"1","fleet":"x"})") == "stop: unknown field \"fleet\" (expected: cmd, id)");
    // No length rule here: the socket bounds its lines (control_server; the
    // integration test control_client.py), the HTTP API its bodies. A long
    // line gets what is wrong with it.
    const std::string huge = R"({"cmd":"list","x":")" + std::string(70000, 'a') + "\"}";
    CHECK(error_of(huge) == "list: unknown field \"x\" (expected: cmd)");
}

TEST_CASE("merge takes a time window, force and the output's name; a bad one is refused with what to give")
{
    request r;
    REQUIRE(parse_request(R"({"cmd":"merge","id":"3"})", r).empty());
    CHECK(r.since_ns == 0);
    CHECK(r.until_ns == UINT64_MAX);
    CHECK_FALSE(r.force);
    REQUIRE(parse_request(R"({"cmd":"merge","id":"3","since":"2023-11-14T22:13:20Z",
        "until":"2023-11-14 22:13:21.5","force":true,"output":"/home/op/x.pcap"})", r).empty());
    CHECK(r.since_ns == 1700000000ull * 1000000000u);
    CHECK(r.until_ns == 1700000001ull * 1000000000u + 500000000u);
    CHECK(r.force);
    CHECK(r.output == "/home/op/x.pcap");
    CHECK_THAT(error_of(R"({"cmd":"merge","id":"3","since":"yesterday"})"),
               Catch::StartsWith("merge: \"since\" yesterday: not a UTC time: give 2026-11-29T18:53:45Z"));
    CHECK(error_of(R"({"cmd":"merge","id":"3","until":""})") ==
          "merge: \"until\": empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave "
          "\"until\" out for no bound");
    CHECK_THAT(error_of(R"({"cmd":"merge","id":"3","until":5})"), Catch::Contains("not a string"));
    CHECK_THAT(error_of(R"({"cmd":"merge","id":"3","since":"2023-11-14T22:13:21Z","until":"2023-11-14T22:13:20Z"})"),
               Catch::EndsWith("merge: \"since\" 2023-11-14T22:13:21Z is after \"until\" 2023-11-14T22:13:20Z: no "
                               "packet can be in between"));
    CHECK_THAT(error_of(R"({"cmd":"merge","id":"3","force":"yes"})"), Catch::Contains("expected true or false"));
    CHECK_THAT(error_of(R"({"cmd":"show","id":"3","since":"-5m"})"), Catch::Contains("unknown field \"since\""));
}

TEST_CASE("query takes merge's fields and a filter; merge takes no filter")
{
    request r;
    REQUIRE(parse_request(R"({"cmd":"query","id":"web","filter":"host 10.0.0.1","since":"2023-11-14T22:13:20Z",
                              "format":"pcap","output":"q.pcap","force":true})", r).empty());
    CHECK(r.cmd == command::query);
    CHECK(r.id == "web");
    CHECK(r.filter == "host 10.0.0.1");
    CHECK(r.since_ns == 1700000000ull * 1000000000ull);
    CHECK(r.format == file_format::pcap_us);
    CHECK(r.force);
    request none;
    REQUIRE(parse_request(R"({"cmd":"query","id":"3"})", none).empty());
    CHECK(none.filter.empty());   // every packet in the window
    CHECK(error_of(R"({"cmd":"query","id":"3","filter":["host"]})") ==
          "query: \"filter\": expected a tcpdump expression (a string), got [\"host\"]");
    CHECK(error_of(R"({"cmd":"merge","id":"3","filter":"host 10.0.0.1"})") ==
          "merge: unknown field \"filter\" (expected: cmd, id, since, until, force, output, format)");
    CHECK(error_of(R"({"cmd":"query","id":"3","filters":"x"})") ==
          "query: unknown field \"filters\": did you mean \"filter\"? (expected: cmd, id, since, until, force, output, format, filter, inner_host, vni)");
    REQUIRE(parse_request(R"({"cmd":"query","id":"3","inner_host":"10.4.2.50","vni":4294967295})", r).empty());
    REQUIRE(r.inner_host.has_value());   // parsed here, as linecap query parses --inner-host
    CHECK(r.inner_host->family == 4);
    CHECK(r.inner_host->lo == r.inner_host->hi);
    CHECK(r.vni == 4294967295u);
    CHECK(error_of(R"({"cmd":"query","id":"3","vni":4294967296})") ==
          "query: \"vni\": \"4294967296\" is not a tunnel id: a whole number from 0 to 4294967295 (a VXLAN or GENEVE "
          "VNI, a GRE key, an ERSPAN session id)");
    CHECK(error_of(R"({"cmd":"query","id":"3","vni":"42"})") ==
          "query: \"vni\": \"42\" is a string: give the number itself");
    CHECK(error_of(R"({"cmd":"query","id":"3","inner_host":"10.0.0.1/8"})") ==
          "query: \"inner_host\": 10.0.0.1/8 has host bits set: did you mean 10.0.0.0/8?");
    CHECK(error_of(R"({"cmd":"query","id":"3","inner_host":""})") ==
          "query: \"inner_host\": empty: give an address (10.4.2.50), a prefix (10.4.2.0/24) or a range "
          "(10.4.2.1-10.4.2.9), or leave \"inner_host\" out for no tunnel term");
    CHECK(error_of(R"({"cmd":"query","id":"3","vni":""})") ==
          "query: \"vni\": empty: give a tunnel id (a whole number from 0 to 4294967295), or leave \"vni\" out for "
          "no tunnel term");
    CHECK(error_of(R"({"cmd":"query","id":"3","vni":-1})") ==
          "query: \"vni\": \"-1\" is not a tunnel id: a whole number from 0 to 4294967295 (a VXLAN or GENEVE VNI, a "
          "GRE key, an ERSPAN session id)");
    CHECK(error_of(R"({"cmd":"query","id":"3","inner_host":7})") ==
          "query: \"inner_host\": expected an address, prefix or range (a string), got 7");
    CHECK(error_of(R"({"cmd":"query"})") == "query: \"id\" is missing");
}

TEST_CASE("merge takes a format, or the session's; another is refused naming the three")
{
    request r;
    REQUIRE(parse_request(R"({"cmd":"merge","id":"3"})", r).empty());
    CHECK_FALSE(r.format.has_value());
    for (const auto& [name, format] : {std::pair{"pcap", file_format::pcap_us}, std::pair{"pcap-ns", file_format::pcap_ns},
                                       std::pair{"pcapng", file_format::pcapng}}) {
        REQUIRE(parse_request(fmt::format(R"({{"cmd":"merge","id":"3","format":"{}"}})", name), r).empty());
        CHECK(r.format == format);
    }
    CHECK(error_of(R"({"cmd":"merge","id":"3","format":"pcapx"})") ==
          "merge: \"format\": \"pcapx\" is not a format (pcap, pcap-ns, pcapng)");
    CHECK(error_of(R"({"cmd":"merge","id":"3","format":""})") ==
          "merge: \"format\": empty: give pcap, pcap-ns or pcapng, or leave \"format\" out for the capture's own");
    CHECK(error_of(R"({"cmd":"merge","id":"3","format":1})") ==
          "merge: \"format\": 1 is not a string: give \"pcap\", \"pcap-ns\" or \"pcapng\"");
    CHECK_THAT(error_of(R"({"cmd":"show","id":"3","format":"pcap"})"), Catch::Contains("unknown field \"format\""));
}

TEST_CASE("fleet merge's since, until and format: merge's parse and words; no format is pcapng")
{
    constexpr uint64_t now_ns = 1700000000ull * 1000000000ull;
    using text = std::optional<std::string>;
    const auto fleet_error = [&](const text& since, const text& until, const text& format, field_spelling spelling) {
        fleet_merge_settings settings;
        return parse_fleet_merge_fields(since, until, format, spelling, now_ns, settings);
    };
    fleet_merge_settings settings;
    REQUIRE(parse_fleet_merge_fields(std::nullopt, std::nullopt, std::nullopt, field_spelling::request, now_ns, settings)
                .empty());
    CHECK(settings.format == file_format::pcapng);
    CHECK(settings.since_ns == 0);
    CHECK(settings.until_ns == UINT64_MAX);
    REQUIRE(parse_fleet_merge_fields("2023-11-14T22:13:00Z", "-5s", "pcap", field_spelling::option, now_ns, settings)
                .empty());
    CHECK(settings.since_ns == 1699999980ull * 1000000000ull);
    CHECK(settings.until_ns == now_ns - 5000000000ull);
    CHECK(settings.format == file_format::pcap_us);

    // The URL's parameters (GET /api/v1/fleet/sessions/{id}/pcap, which
    // says "fleet merge: " before them): the socket's merge's words, after
    // its "merge: ".
    for (const auto& [since, until] :
         {std::pair<text, text>{"", std::nullopt}, {std::nullopt, ""}, {"yesterday", std::nullopt},
          {"2023-11-14T22:13:21Z", "2023-11-14T22:13:20Z"}}) {
        nlohmann::json line = {{"cmd", "merge"}, {"id", "3"}};
        if (since)
            line["since"] = *since;
        if (until)
            line["until"] = *until;
        const std::string fleet = fleet_error(since, until, std::nullopt, field_spelling::request);
        CHECK_FALSE(fleet.empty());
        CHECK("merge: " + fleet == error_of(line.dump()));
    }
    CHECK(fleet_error("", std::nullopt, std::nullopt, field_spelling::request) ==
          "\"since\": empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave \"since\" "
          "out for no bound");
    CHECK(fleet_error(std::nullopt, "", std::nullopt, field_spelling::request) ==
          "\"until\": empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave \"until\" "
          "out for no bound");
    CHECK(fleet_error("-1m", "-2m", std::nullopt, field_spelling::request) ==
          "\"since\" -1m is after \"until\" -2m: no packet can be in between");
    CHECK(fleet_error(std::nullopt, std::nullopt, "pcapx", field_spelling::request) ==
          "\"format\": \"pcapx\" is not a format (pcap, pcap-ns, pcapng)");
    // Left out, the format is pcapng, not the capture's own: said so.
    CHECK(fleet_error(std::nullopt, std::nullopt, "", field_spelling::request) ==
          "\"format\": empty: give pcap, pcap-ns or pcapng, or leave \"format\" out for pcapng (one interface per "
          "node and port)");
    // linecapctl fleet merge's options: the same words, the options named.
    CHECK(fleet_error("", std::nullopt, std::nullopt, field_spelling::option) ==
          "--since: empty: give a UTC time (2026-11-29T18:53:45Z, or -15m: 15 minutes ago), or leave --since out "
          "for no bound");
    CHECK(fleet_error(std::nullopt, std::nullopt, "", field_spelling::option) ==
          "--format: empty: give pcap, pcap-ns or pcapng, or leave --format out for pcapng (one interface per node "
          "and port)");
    CHECK(fleet_error("-1m", "-2m", std::nullopt, field_spelling::option) ==
          "--since -1m is after --until -2m: no packet can be in between");
}

TEST_CASE("replies are one line of JSON")
{
    const std::string ok = ok_reply({{"id", "3"}});
    CHECK(ok == R"({"ok":true,"id":"3"})");
    const std::string err = error_reply("no session \"9\"\n");
    CHECK(err.find('\n') == std::string::npos);
    const auto parsed = nlohmann::json::parse(err);
    CHECK(parsed["ok"] == false);
    CHECK(parsed["error"] == "no session \"9\"\n");
    // Bytes that are not UTF-8 (from a client's request) do not break the reply.
    CHECK(nlohmann::json::parse(error_reply("bad \xff byte"))["ok"] == false);
}

TEST_CASE("watch lines decode the headers like tcpdump's one-liners")
{
    // Ethernet, IPv4, TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80.
    const uint8_t syn[] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
        0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0,
    };
    const uint64_t ts = 1700000000ull * 1000000000 + 123456789;   // 22:13:20 UTC
    CHECK(describe_packet(ts, syn, sizeof(syn), 60) == "22:13:20.123456789 IPv4 10.0.0.1.1234 > 10.0.0.2.80: TCP [S] length 60");
    const uint8_t arp[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06, 0, 1};
    CHECK(describe_packet(ts, arp, sizeof(arp), 42) == "22:13:20.123456789 ARP, length 42");
    CHECK(describe_packet(ts, arp, 5, 42) == "22:13:20.123456789 truncated Ethernet frame, length 42");
    // A "decap": "ip" session's record starts with the IP header; the
    // length is the record's original length (the inner packet's).
    CHECK(describe_packet(ts, syn + 14, sizeof(syn) - 14, 1440, true) ==
          "22:13:20.123456789 IPv4 10.0.0.1.1234 > 10.0.0.2.80: TCP [S] length 1440");
    CHECK(describe_packet(ts, syn, sizeof(syn), 60, true) ==
          "22:13:20.123456789 truncated or unknown IP packet (version 0), length 60");
    // The IP length bounds what is described: padding is not a port.
    uint8_t padded[60] = {};
    std::memcpy(padded, syn, 14 + 20);
    padded[14 + 3] = 20;   // IPv4 total length 20: the TCP header is not there
    CHECK(describe_packet(ts, padded, sizeof(padded), 60) == "22:13:20.123456789 IPv4 10.0.0.1 > 10.0.0.2: TCP length 60");
}

namespace {

// A nanosecond pcap file of `records` 60-byte packets, then `partial` bytes
// of one more record: what a writer killed mid-record leaves.
void write_pcap(const std::string& path, unsigned records, unsigned partial)
{
    std::ofstream out(path, std::ios::binary);
    const pcap_file_header header = make_pcap_file_header(file_format::pcap_ns, 0);
    out.write(reinterpret_cast<const char*>(&header), sizeof header);
    std::string packet(60, 'p');
    for (unsigned i = 0; i <= records; i++) {
        const pcap_record_header h = make_pcap_record_header(file_format::pcap_ns, 1000000000ull * (i + 1), 60, 60);
        std::string record(reinterpret_cast<const char*>(&h), sizeof h);
        record += packet;
        out.write(record.data(), i < records ? static_cast<std::streamsize>(record.size()) : partial);
    }
}

} // namespace

TEST_CASE("the catalog reads a session's state by name, and refuses a state no session can be in")
{
    char tmpl[] = "/tmp/linecap-catalog.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string root = tmpl;
    const auto record = [&](const std::string& id, const std::string& status, const std::string& reason) {
        std::filesystem::create_directory(root + "/" + id + "-s");
        std::ofstream(root + "/" + id + "-s/session.json")
            << nlohmann::json{{"id", id}, {"name", "s"}, {"folder", id + "-s"}, {"status", status}, {"reason", reason}}.dump();
    };
    record("1", "failed", "disk_full");
    record("2", "running", "packets");
    record("3", "finished", "bogus");
    session_catalog c;
    REQUIRE(c.open(root).empty());
    REQUIRE(c.find("1") != nullptr);
    CHECK(c.find("1")->reason == stop_reason::disk_full);
    CHECK(c.find("1")->status() == "failed");
    CHECK(c.find("2") == nullptr);
    CHECK(c.find("3") == nullptr);
    REQUIRE(c.warnings().size() == 2);
    const std::string warnings = c.warnings()[0] + "\n" + c.warnings()[1];   // in the folders' order
    CHECK_THAT(warnings, Catch::Contains("status \"running\" with reason \"packets\" is not a state of a session"));
    CHECK_THAT(warnings, Catch::Contains("status \"finished\" with reason \"bogus\" is not a state of a session"));
    std::filesystem::remove_all(root);
}

TEST_CASE("the catalog keeps sessions on disk and reads them back")
{
    char tmpl[] = "/tmp/linecap-catalog.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string root = tmpl;
    std::string id_running, id_done;
    {
        session_catalog c;
        REQUIRE(c.open(root).empty());
        session_record* r = nullptr;
        int fd = -1;
        REQUIRE(c.create("web", r, fd).empty());
        close(fd);
        r->reason = stop_reason::packets;
        r->started = utc_iso8601(1700000000ull * 1000000000);
        r->fleet = "web-1";
        REQUIRE(c.save(*r).empty());
        id_done = r->id;
        REQUIRE(c.create("dns", r, fd).empty());
        close(fd);
        REQUIRE(c.save(*r).empty());   // running when "the daemon dies"
        id_running = r->id;
        const std::string dir = root + "/" + r->folder + "/";
        write_pcap(dir + "dns-w0-000001.pcap", 1, 0);        // closed before the crash
        write_pcap(dir + "dns-w0-000002.pcap.part", 2, 10);  // being written: half a third record
        std::ofstream(dir + "dns-w0-000003.pcap.part") << "x";  // not even a header
        write_pcap(dir + "dns-w0-000004.pcap.part", 1, 0);   // valid, but its final name is taken
        write_pcap(dir + "dns-w0-000004.pcap", 1, 0);
        std::ofstream(dir + "dns-w1-000001.pcap.part");       // created; the crash came before its header
        CHECK(c.files(*r).size() == 6);

        // A start that failed gives its id back.
        REQUIRE(c.create("oops", r, fd).empty());
        close(fd);
        const std::string oops = r->id;
        c.discard_new(oops);
        CHECK(c.find(oops) == nullptr);
        CHECK_FALSE(std::filesystem::exists(root + "/" + oops + "-oops"));
    }
    std::filesystem::create_directory(root + "/not-a-session");
    std::filesystem::create_directory(root + "/77-broken");
    std::ofstream(root + "/77-broken/session.json") << "{ not json";
    {
        session_catalog c;
        REQUIRE(c.open(root).empty());
        REQUIRE(c.all().size() == 2);
        CHECK(c.find(id_done)->status() == "finished");
        CHECK(c.find(id_done)->reason == stop_reason::packets);
        CHECK(c.find(id_done)->started == "2023-11-14T22:13:20.000000000Z");
        // The record's typed state goes to disk by name, as before.
        const auto saved = nlohmann::json::parse(std::ifstream(root + "/" + c.find(id_done)->folder + "/session.json"));
        CHECK(saved["status"] == "finished");
        CHECK(saved["reason"] == "packets");
        // The fleet session it ran for, kept so that a restart never runs it twice.
        CHECK(saved["fleet"] == "web-1");
        CHECK(c.find(id_done)->fleet == "web-1");
        CHECK(c.find(id_running)->fleet.empty());
        // The crashed session: finished, reason crashed, its .part files cut
        // back and renamed (never over an existing file), its counters what
        // the files hold.
        const session_record& crashed = *c.find(id_running);
        CHECK(crashed.status() == "finished");
        CHECK(crashed.reason == stop_reason::crashed);
        CHECK(crashed.error.empty());
        CHECK_THAT(crashed.note, Catch::Contains("without closing"));
        CHECK_THAT(crashed.note, Catch::Contains("cut 1 .part file back"));
        CHECK_THAT(crashed.note, Catch::Contains("removed 1 empty .part file"));
        CHECK(crashed.counters.written_packets == 1 + 2 + 1 + 1);
        CHECK(crashed.counters.files == 5);
        const std::string dir = root + "/" + crashed.folder + "/";
        CHECK(std::filesystem::file_size(dir + "dns-w0-000002.pcap") == 24 + 2 * (16 + 60));
        CHECK_FALSE(std::filesystem::exists(dir + "dns-w0-000002.pcap.part"));
        CHECK(std::filesystem::exists(dir + "dns-w0-000003.pcap.part"));
        CHECK(std::filesystem::exists(dir + "dns-w0-000004.pcap.part"));
        CHECK_FALSE(std::filesystem::exists(dir + "dns-w1-000001.pcap.part"));   // removed, no warning
        CHECK_FALSE(std::filesystem::exists(dir + "dns-w1-000001.pcap"));
        CHECK(std::filesystem::file_size(dir + "dns-w0-000004.pcap") == 24 + 16 + 60);
        CHECK(c.warnings().size() == 3);   // 77-broken, and the two .part files left as they were
        CHECK_THAT(c.warnings()[0] + c.warnings()[1] + c.warnings()[2], Catch::Contains("File exists"));
        session_record* r = nullptr;
        int fd = -1;
        REQUIRE(c.create("next", r, fd).empty());
        close(fd);
        CHECK(r->id == "78");              // after every id on disk
        std::string trash;
        REQUIRE(c.remove(id_done, trash).empty());
        CHECK(c.find(id_done) == nullptr);
        CHECK(std::filesystem::exists(trash));     // for the caller to empty, off the control loop
        CHECK(trash.starts_with(root + "/.deleted-"));
    }
    {
        session_catalog c;                          // a trash folder left by a crash goes at open
        REQUIRE(c.open(root).empty());
        CHECK(c.find(id_done) == nullptr);
        for (const auto& entry : std::filesystem::directory_iterator(root))
            CHECK_FALSE(entry.path().filename().string().starts_with(".deleted-"));
    }
    std::filesystem::remove_all(root);
}
