// The table of session fields (core/spec.h) through its three entry points:
// a JSON spec, linecap's one-shot options and `linecapctl start`'s options
// (both control/session_options.h) give the same session_spec, and a bad
// value gets the validator's words with the option the user typed.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "control/options.h"
#include "control/session_options.h"
#include "tests/support/dpdk_env.h"

using namespace linecap;
using nlohmann::json;

namespace {

std::vector<char*> argv_of(std::vector<std::string>& words)
{
    std::vector<char*> argv;
    for (auto& w : words)
        argv.push_back(w.data());
    return argv;
}

// As a spec file's text would be: a positive number is unsigned in JSON read
// from text, and the validator wants ports and counts unsigned.
json as_read(const json& spec)
{
    return json::parse(spec.dump());
}

// linecap -- -w DIR WORDS...: the one-shot's session.
session_spec through_linecap(std::vector<std::string> words, const std::string& dir)
{
    words.insert(words.begin(), {"linecap", "-w", dir});
    engine_options o;
    auto argv = argv_of(words);
    REQUIRE(parse_options(static_cast<int>(argv.size()), argv.data(), o) == parse_result::run);
    // What the one-shot adds of its own (the folder, O_DIRECT) is not a session field.
    o.session.output.dir.clear();
    o.session.output.direct_io = output_spec{}.direct_io;
    return o.session;
}

// linecapctl start WORDS...: the spec sent to the daemon, over base; and the
// error, named by option, if the daemon's parser refuses it.
struct start_result {
    json spec;
    session_spec parsed;
    std::string error;
};

start_result through_linecapctl(std::vector<std::string> words, json base = json::object())
{
    words.insert(words.begin(), "start");
    CLI::App app;
    session_arguments session;
    session.add_to(app, "Session");
    auto argv = argv_of(words);
    app.parse(static_cast<int>(argv.size()), argv.data());
    start_result r{as_read(base), {}, {}};
    r.error = session.lay_over(r.spec);
    if (r.error.empty())
        if (std::string e = parse_session_spec(r.spec, r.parsed); !e.empty())
            r.error = session.explain(e);
    return r;
}

session_spec through_json(const json& spec)
{
    session_spec parsed;
    REQUIRE(parse_session_spec(as_read(spec), parsed) == "");
    return parsed;
}

// One example per option of the table: the words, and the spec they mean.
const std::map<std::string, std::pair<std::vector<std::string>, json>> examples = {
    {"--name", {{"--name", "edge-1"}, {{"name", "edge-1"}}}},
    {"--src", {{"--src", "10.0.0.0/8", "--src", "10.9.0.1-10.9.0.20"},
               {{"match", {{{"src", {"10.0.0.0/8", "10.9.0.1-10.9.0.20"}}}}}}}},
    {"--dst", {{"--dst", "2001:db8::/32"}, {{"match", {{{"dst", {"2001:db8::/32"}}}}}}}},
    {"--host", {{"--host", "192.0.2.7"},
                {{"match", {{{"src", {"192.0.2.7"}}}, {{"dst", {"192.0.2.7"}}}}}}}},
    {"--src-port", {{"--src-port", "1000-2000"}, {{"match", {{{"src_ports", {"1000-2000"}}}}}}}},
    {"--dst-port", {{"--dst-port", "443,8443"}, {{"match", {{{"dst_ports", {443, 8443}}}}}}}},
    {"--port", {{"--port", "53"}, {{"match", {{{"src_ports", {53}}}, {{"dst_ports", {53}}}}}}}},
    {"--proto", {{"--proto", "tcp", "--proto", "47"}, {{"match", {{{"protocols", {"tcp", 47}}}}}}}},
    {"--tcp-flags", {{"--tcp-flags", "syn,rst"}, {{"match", {{{"tcp_flags", {{"any", {"syn", "rst"}}}}}}}}}},
    {"--tcp-flags-all", {{"--tcp-flags-all", "syn,ack"}, {{"match", {{{"tcp_flags", {{"all", {"syn", "ack"}}}}}}}}}},
    {"--tcp-flags-none", {{"--tcp-flags-none", "ack"}, {{"match", {{{"tcp_flags", {{"none", {"ack"}}}}}}}}}},
    {"--bidirectional", {{"--bidirectional", "--src", "10.1.2.3"},
                         {{"match", {{{"src", {"10.1.2.3"}}, {"bidirectional", true}}}}}}},
    {"--bpf", {{"--bpf", "not port 22"}, {{"bpf", "not port 22"}}}},
    {"--netmask", {{"--bpf", "ip broadcast", "--netmask", "255.255.255.0"},
                   {{"bpf", "ip broadcast"}, {"netmask", "255.255.255.0"}}}},
    {"--tunnel", {{"--tunnel", "inner"}, {{"tunnel", "inner"}}}},
    {"--vni", {{"--tunnel", "inner", "--vni", "5000", "--vni", "6000-6010"},
               {{"tunnel", "inner"}, {"vni", {5000, "6000-6010"}}}}},
    {"--decap", {{"--tunnel", "inner", "--decap", "ip"}, {{"tunnel", "inner"}, {"decap", "ip"}}}},
    {"--vxlan-port", {{"--tunnel", "inner", "--vxlan-port", "8472"}, {{"tunnel", "inner"}, {"vxlan_ports", {8472}}}}},
    {"--geneve-port", {{"--tunnel", "inner", "--geneve-port", "6082"},
                       {{"tunnel", "inner"}, {"geneve_ports", {6082}}}}},
    {"--payload", {{"--payload", "GET /api"}, {{"payload", {{"patterns", {"GET /api"}}}}}}},
    {"--payload-caseless", {{"--payload", "host:", "--payload-caseless"},
                            {{"payload", {{"patterns", {"host:"}}, {"caseless", true}}}}}},
    {"--snaplen", {{"-s", "96"}, {{"snaplen", 96}}}},
    {"--count", {{"-c", "1000"}, {{"limits", {{"packets", 1000}}}}}},
    {"--max-bytes", {{"--max-bytes", "5000000"}, {{"limits", {{"bytes", 5000000}}}}}},
    {"--duration", {{"--duration", "2.5"}, {{"limits", {{"seconds", 2.5}}}}}},
    {"--rotate-mb", {{"-C", "50"}, {{"rotate", {{"bytes", 50000000}}}}}},
    {"--rotate-seconds", {{"-G", "60"}, {{"rotate", {{"seconds", 60}}}}}},
    {"--rotate-packets", {{"--rotate-packets", "100000"}, {{"rotate", {{"packets", 100000}}}}}},
    {"--keep", {{"-C", "50", "-W", "20"}, {{"rotate", {{"bytes", 50000000}, {"keep", 20}}}}}},
    {"--keep-bytes", {{"-C", "50", "--keep-bytes", "1000000000"},
                      {{"rotate", {{"bytes", 50000000}, {"keep_bytes", 1000000000}}}}}},
    {"--format", {{"--format", "pcapng"}, {{"format", "pcapng"}}}},
    {"--index", {{"--index"}, {{"index", true}}}},
};

std::string long_name(std::string_view flags)
{
    return std::string(flags.substr(flags.rfind(',') == std::string_view::npos ? 0 : flags.rfind(',') + 1));
}

} // namespace

TEST_CASE("every session field gives the same spec through JSON, linecap's options and linecapctl's")
{
    const std::string dir = test::temp_dir();
    size_t options = 0;
    for (const session_field& field : session_fields()) {
        if (field.flags.empty())
            continue;
        options++;
        const std::string name = long_name(field.flags);
        INFO(name);
        const auto example = examples.find(name);
        REQUIRE(example != examples.end());   // a new option needs its example here
        const auto& [words, spec] = example->second;
        const session_spec from_json = through_json(spec);
        CHECK(from_json != session_spec{});
        CHECK(through_linecap(words, dir) == from_json);
        const start_result from_ctl = through_linecapctl(words);
        REQUIRE(from_ctl.error == "");
        CHECK(from_ctl.spec == spec);
        CHECK(from_ctl.parsed == from_json);
    }
    CHECK(options == examples.size());
}

TEST_CASE("the options are laid over a spec file: a field given wins, bpf is ANDed, rules come from one side")
{
    const json file = {{"name", "from-file"}, {"snaplen", 64}, {"limits", {{"bytes", 1000000}}}, {"bpf", "tcp"}};
    const start_result r = through_linecapctl({"-s", "128", "-c", "5", "--bpf", "port 443"}, file);
    REQUIRE(r.error == "");
    CHECK(r.parsed.output.name == "from-file");
    CHECK(r.parsed.output.snaplen == 128);
    CHECK(r.parsed.output.limits.packets == 5);
    CHECK(r.parsed.output.limits.bytes == 1000000);
    CHECK(r.parsed.bpf == "(tcp) and (port 443)");

    // The one-shot's -F goes the same way.
    const std::string dir = test::temp_dir();
    const std::string spec_file = dir + "/spec.json";
    std::ofstream(spec_file) << file.dump();
    session_spec one_shot = through_linecap({"-F", spec_file, "-s", "128", "-c", "5", "--bpf", "port 443"}, dir + "/out");
    CHECK(one_shot == r.parsed);
    // ... and the trailing expression is ANDed as --bpf is.
    CHECK(through_linecap({"-F", spec_file, "port", "443"}, dir + "/out").bpf == "(tcp) and (port 443)");
    // --bpf '' adds nothing to the file's (not "(tcp) and ()").
    CHECK(through_linecapctl({"--bpf", ""}, file).parsed.bpf == "tcp");
    // A part that would close the AND's parentheses (an OR with everything after).
    CHECK(through_linecapctl({"--bpf", "udp) or (icmp"}, file).error ==
          "--bpf \"udp) or (icmp\": the \")\" at byte 3 closes no \"(\" (each part of the ANDed bpf must stand alone)");

    CHECK(through_linecapctl({"--port", "80"}, {{"match", json::array({json::object()})}}).error ==
          "the spec file has a \"match\" already: give the rules either there or with --port");
    CHECK(through_linecapctl({"--host", "10.0.0.1", "--src", "10.0.0.2"}).error ==
          "--host cannot be combined with the src or dst it stands for");
}

TEST_CASE("tcpdump's host and port: one rule each way, and both give four")
{
    const start_result r = through_linecapctl({"--host", "10.0.0.1", "--port", "443", "--proto", "tcp"});
    REQUIRE(r.error == "");
    REQUIRE(r.parsed.match.size() == 4);
    for (const match_rule& rule : r.parsed.match) {
        CHECK(rule.protocols == std::vector<uint8_t>{6});
        CHECK(rule.src.size() + rule.dst.size() == 1);
        CHECK(rule.src_ports.size() + rule.dst_ports.size() == 1);
    }
}

TEST_CASE("a bad value gets the validator's words, named by the option typed")
{
    const auto error = [](std::vector<std::string> words) { return through_linecapctl(std::move(words)).error; };
    CHECK(error({"-s", "300000"}) == "--snaplen: 300000 is not a whole number from 0 to 262144");
    CHECK(error({"-c", "12abc"}) == "--count: 12abc is not a whole number 1 or more");
    CHECK(through_linecapctl({"--duration", "5m"}).parsed.output.limits.seconds == 300);
    CHECK(error({"--duration", "5 min"}) == "--duration: 5 min is not a duration above 0: give seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)");
    CHECK(error({"--duration", "-3"}) == "--duration: -3 is not a duration above 0: give seconds (90, 1.5) or a number with ms, s, m, h or d (5m, 2h)");
    CHECK(error({"-C", "0"}) == "--rotate-mb: 0 is not a whole number 1 or more");
    CHECK(error({"-W", "3"}) == "--keep: keeps the last N files of a rotation: give bytes, seconds or packets too");
    CHECK(error({"--format", "pcapx"}) == "--format: pcapx is not a format (pcap, pcap-ns, pcapng)");
    CHECK(error({"--name", "a/b"}) ==
          "--name \"a/b\": a session name has only letters, digits, '.', '_' and '-'");
    // Every refusal of a name in one shape: the option, the name quoted as
    // the message shows it (escaped where it must be), what is wrong.
    CHECK(error({"--name", ""}) == "--name \"\": a session name has 1 to 64 characters");
    CHECK(error({"--name", ".."}) == "--name \"..\": a session name is not \".\" or \"..\" (they name folders)");
    CHECK(error({"--name", "a\tb"}) == "--name \"a\\x09b\": a session name has only letters, digits, '.', '_' and '-'");
    CHECK(error({"--dst-port", "70000"}) == "--dst-port: 70000 is not a port");
    CHECK(error({"--host", "10.0.0.300"}) == "--host: 10.0.0.300 is not an IPv4 or IPv6 address, prefix or range");
    CHECK(error({"--proto", "bogus"}).starts_with("--proto: bogus is not a protocol name (tcp, udp"));
    CHECK(error({"--tcp-flags", "syn,bogus"}) == "--tcp-flags: bogus is not a TCP flag (fin syn rst psh ack urg ece cwr)");
    CHECK(error({"--vni", "5"}).starts_with("--vni: needs \"tunnel\": \"inner\""));
    CHECK(error({"--netmask", "255.0.255.0"}) ==
          "--netmask: 255.0.255.0 is not an IPv4 netmask: A.B.C.D with its ones first, e.g. 255.255.255.0");
    CHECK(error({"--netmask", "/24"}) ==
          "--netmask: /24 is not an IPv4 netmask: A.B.C.D with its ones first, e.g. 255.255.255.0");
    CHECK(error({"--tunnel", "sideways"}).starts_with("--tunnel \"sideways\": expected \"outer\""));
    // A rule the options make that can never match names the options that made it.
    CHECK(error({"--proto", "udp", "--tcp-flags", "syn"}) ==
          "--proto, --tcp-flags: tcp_flags only match TCP, and \"protocols\" does not name tcp");

    // A spec file's own mistake keeps its JSON path.
    const start_result file = through_linecapctl({"-s", "64"}, {{"limits", {{"packets", 0}}}});
    CHECK(file.error == "limits.packets: 0 is not a whole number 1 or more");
}
