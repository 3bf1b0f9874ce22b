// Differential test: linecap's classifier against libpcap's own filter
// (pcap_offline_filter, what tcpdump -r runs) on seeded random packets and
// random specs, each spec translated into the equivalent BPF expression.
//
// Where the semantics differ on purpose the test accounts for it:
//  - linecap looks through VLAN tags; BPF needs "vlan and ..." once per tag,
//    so a packet with k tags is judged by the expression prefixed k times;
//  - IPv6 extension headers are walked by linecap and not by libpcap's
//    port and flag primitives: the random IPv6 packets carry none (those are
//    covered by test_classifier.cpp);
//  - a BPF program rejects the whole packet when it loads a byte the packet
//    does not have, even inside an "or" whose other branch matched (an IPv6
//    /128 next to a /56 on a packet cut inside the address); linecap treats
//    the missing bytes as "this alternative does not match". So the
//    reference compiles every alternative of every field as its own program
//    and combines the verdicts in C++: any alternative of a field, every
//    field of a rule, any rule (and direction).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pcap/pcap.h>

#include "filters/acl.h"
#include "tests/filters/filter_helpers.h"

using namespace linecap;
using namespace linecap::test;
using json = nlohmann::json;

namespace {

// A fixed seed, so a failure reproduces; LINECAP_DIFF_SEED explores others.
uint64_t test_seed(uint64_t fixed)
{
    const char* text = std::getenv("LINECAP_DIFF_SEED");
    return text ? std::strtoull(text, nullptr, 10) : fixed;
}

struct random_source {
    std::mt19937_64 rng;
    explicit random_source(uint64_t seed) : rng(seed) {}
    unsigned below(unsigned n) { return static_cast<unsigned>(rng() % n); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <typename T>
    const T& pick(const std::vector<T>& v) { return v[below(static_cast<unsigned>(v.size()))]; }
};

// Small pools, so random rules and random packets meet often.
const std::vector<std::string> v4_hosts = {"10.0.0.1", "10.0.0.2", "10.0.0.7", "10.0.1.1", "10.0.1.9",
                                           "192.168.0.1", "192.168.1.200", "172.16.5.5"};
const std::vector<std::string> v6_hosts = {"2001:db8::1", "2001:db8::2", "2001:db8::7", "2001:db8:0:1::1",
                                           "2001:db8:1::9", "fe80::1"};
const std::vector<uint16_t> port_pool = {0, 1, 22, 53, 79, 80, 81, 443, 1023, 1024, 1025, 8080, 65534, 65535};
const std::vector<uint8_t> proto_pool = {6, 6, 6, 6, 17, 17, 17, 132, 1, 58, 47, 50, 51, 0, 200};

struct test_packet {
    std::vector<uint8_t> bytes;
    unsigned vlan_tags = 0;
};

test_packet random_packet(random_source& r)
{
    traffic::frame_spec f;
    test_packet p;
    const unsigned kind = r.below(100);
    if (kind < 4) {
        f.ip_version = 0;   // ARP
    } else {
        f.ip_version = kind < 60 ? 4 : 6;
        const auto& hosts = f.ip_version == 4 ? v4_hosts : v6_hosts;
        uint8_t proto = r.pick(proto_pool);
        // For IPv6, 0 (hop-by-hop) and 51 (AH) are extension headers, walked by
        // linecap and not by libpcap: left to test_classifier.cpp.
        while (f.ip_version == 6 && (proto == 0 || proto == 51))
            proto = r.pick(proto_pool);
        f = f.ip_version == 4 ? frame4(r.pick(hosts).c_str(), r.pick(hosts).c_str(), proto)
                              : frame6(r.pick(hosts).c_str(), r.pick(hosts).c_str(), proto);
        f.src_port = r.chance(80) ? r.pick(port_pool) : static_cast<uint16_t>(r.below(65536));
        f.dst_port = r.chance(80) ? r.pick(port_pool) : static_cast<uint16_t>(r.below(65536));
        f.tcp_flags = static_cast<uint8_t>(r.below(256));
        if (f.ip_version == 4 && r.chance(15)) {
            f.more_fragments = r.chance(60);
            f.fragment_offset = r.chance(50) ? 0 : static_cast<uint16_t>(1 + r.below(200));
        }
        f.frame_length = 60 + r.below(200);
    }
    if (r.chance(25)) {
        static const std::vector<uint16_t> tpids = {0x8100, 0x88a8, 0x9100};
        f.vlans.push_back({r.pick(tpids), static_cast<uint16_t>(r.below(4096))});
        if (r.chance(25))
            f.vlans.push_back({0x8100, static_cast<uint16_t>(r.below(4096))});
    }
    p.vlan_tags = static_cast<unsigned>(f.vlans.size());
    p.bytes = traffic::build_frame(f);
    if (r.chance(12)) {
        // Cut somewhere in the headers: fields vanish one by one. Now and
        // then inside the link layer (a frame under 14 bytes, a tag cut
        // short): no IP header is left, and libpcap's reference for it is
        // the one without "vlan and", which a frame too short to show its
        // tags' types would fail even for a rule that names nothing.
        const size_t l3 = 14 + 4 * f.vlans.size();
        if (r.chance(20)) {
            p.bytes.resize(1 + r.below(static_cast<unsigned>(l3 - 1)));
            p.vlan_tags = 0;
        } else {
            p.bytes.resize(std::min(p.bytes.size(), l3 + r.below(f.ip_version == 6 ? 64 : 44)));
        }
    }
    return p;
}

json random_address_list(random_source& r, int family)
{
    json list = json::array();
    const unsigned n = 1 + r.below(3);
    for (unsigned i = 0; i < n; i++) {
        const int fam = family ? family : (r.chance(50) ? 4 : 6);
        const auto& hosts = fam == 4 ? v4_hosts : v6_hosts;
        const std::string host = r.pick(hosts);
        switch (r.below(3)) {
        case 0:
            list.push_back(host);
            break;
        case 1: {   // the prefix that holds the host
            session_spec probe;
            REQUIRE(parse_session_spec_text(R"({"match":[{"src":[")" + host + R"("]}]})", probe) == "");
            const unsigned len = fam == 4 ? 16 + r.below(17) : 32 + r.below(97);
            ip_range range = probe.match[0].src[0];
            const unsigned width = fam == 4 ? 32 : 128;
            for (unsigned bit = len; bit < width; bit++)
                range.lo[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
            list.push_back(format_address(static_cast<uint8_t>(fam), range.lo) + "/" + std::to_string(len));
            break;
        }
        default: {
            // A range: mostly a short one around a pool host; now and then one
            // between two pool hosts, which for IPv6 decomposes into up to a
            // few hundred prefixes (tens of thousands of ACL rules once
            // multiplied: seconds to build, so kept rare).
            std::string a = r.pick(hosts), b = r.pick(hosts);
            if (fam == 6 && !r.chance(5)) {
                a = host;
                b = host.substr(0, host.rfind(':') + 1) + fmt::format("{:x}", 0x10 + r.below(0x100));
            }
            session_spec probe;
            REQUIRE(parse_session_spec_text(R"({"match":[{"src":[")" + a + R"(", ")" + b + R"("]}]})", probe) == "");
            if (probe.match[0].src[0].lo > probe.match[0].src[1].lo)
                std::swap(a, b);
            list.push_back(a + "-" + b);
        }
        }
    }
    return list;
}

json random_ports(random_source& r)
{
    json list = json::array();
    const unsigned n = 1 + r.below(3);
    for (unsigned i = 0; i < n; i++) {
        if (r.chance(60)) {
            list.push_back(r.pick(port_pool));
        } else {
            uint16_t a = r.pick(port_pool), b = r.pick(port_pool);
            if (a > b)
                std::swap(a, b);
            list.push_back(fmt::format("{}-{}", a, b));
        }
    }
    return list;
}

json random_flags(random_source& r)
{
    static const std::vector<std::string> names = {"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"};
    json m = json::object();
    std::vector<int> role(8, -1);   // -1 unused, 0 any, 1 all, 2 none
    for (int& x : role)
        x = r.chance(30) ? static_cast<int>(r.below(3)) : -1;
    json any = json::array(), all = json::array(), none = json::array();
    for (unsigned i = 0; i < 8; i++) {
        if (role[i] == 0) any.push_back(names[i]);
        if (role[i] == 1) all.push_back(names[i]);
        if (role[i] == 2) none.push_back(names[i]);
    }
    if (!any.empty()) m["any"] = any;
    if (!all.empty()) m["all"] = all;
    if (!none.empty()) m["none"] = none;
    return m;
}

json random_rule(random_source& r)
{
    json rule = json::object();
    const int family = r.chance(70) ? (r.chance(55) ? 4 : 6) : 0;
    if (r.chance(45)) rule["src"] = random_address_list(r, family);
    if (r.chance(45)) rule["dst"] = random_address_list(r, family);
    if (r.chance(35)) rule["src_ports"] = random_ports(r);
    if (r.chance(40)) rule["dst_ports"] = random_ports(r);
    if (r.chance(35)) {
        static const std::vector<json> protos = {"tcp", "udp", "sctp", "icmp", "icmpv6", "gre", "esp", "ah", 0, 6, 17, 200};
        json list = json::array();
        for (unsigned i = 0, n = 1 + r.below(3); i < n; i++)
            list.push_back(r.pick(protos));
        rule["protocols"] = list;
    }
    if (r.chance(25)) rule["tcp_flags"] = random_flags(r);
    if (r.chance(30)) rule["bidirectional"] = true;
    return rule;
}

// --- the reference: a rule as a BPF expression --------------------------------

using alternatives = std::vector<std::string>;   // any may hold
using conjunction = std::vector<alternatives>;   // every field must hold

alternatives addresses_bpf(const std::vector<ip_range>& list, const char* dir)
{
    alternatives out;
    for (const ip_range& range : list)
        for (const ip_prefix& p : range_to_prefixes(range))
            out.push_back(fmt::format("{} {} net {}/{}", p.family == 4 ? "ip" : "ip6", dir,
                                      format_address(p.family, p.addr), p.length));
    return out;
}

alternatives ports_bpf(const std::vector<port_range>& list, const char* dir)
{
    alternatives out;
    for (const port_range& p : list)
        out.push_back(p.lo == p.hi ? fmt::format("{} port {}", dir, p.lo)
                                   : fmt::format("{} portrange {}-{}", dir, p.lo, p.hi));
    return out;
}

std::string flags_test(const char* byte, const tcp_flags_match& m)
{
    std::vector<std::string> parts;
    if (m.any)
        parts.push_back(fmt::format("{} & {} != 0", byte, m.any & ~m.none));
    if (m.all | m.none)
        parts.push_back(fmt::format("{} & {} == {}", byte, m.all | m.none, m.all));
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : " and ") + p;
    return out;
}

conjunction rule_bpf(const match_rule& rule, bool reversed)
{
    const auto& src = reversed ? rule.dst : rule.src;
    const auto& dst = reversed ? rule.src : rule.dst;
    const auto& sports = reversed ? rule.dst_ports : rule.src_ports;
    const auto& dports = reversed ? rule.src_ports : rule.dst_ports;
    conjunction fields;
    if (!src.empty()) fields.push_back(addresses_bpf(src, "src"));
    if (!dst.empty()) fields.push_back(addresses_bpf(dst, "dst"));
    if (!rule.protocols.empty()) {
        alternatives protos;
        for (uint8_t p : rule.protocols)
            protos.push_back(fmt::format("ip proto {} or ip6 proto {}", p, p));
        fields.push_back(protos);
    }
    if (!sports.empty()) fields.push_back(ports_bpf(sports, "src"));
    if (!dports.empty()) fields.push_back(ports_bpf(dports, "dst"));
    if (rule.tcp_flags && (rule.tcp_flags->any | rule.tcp_flags->all | rule.tcp_flags->none) == 0) {
        fields.push_back({"ip proto 6 or ip6 proto 6"});   // no condition on the flags: TCP
    } else if (rule.tcp_flags) {
        // tcp[] is IPv4-only in libpcap 1.10; IPv6 without extension headers has TCP at ip6[40].
        fields.push_back({fmt::format("ip and {}", flags_test("tcp[13]", *rule.tcp_flags)),
                          fmt::format("ip6 and ip6[6] == 6 and {}", flags_test("ip6[53]", *rule.tcp_flags))});
    }
    if (fields.empty())
        fields.push_back({"len >= 0"});
    return fields;
}

std::string hex(const std::vector<uint8_t>& bytes)
{
    std::string out;
    for (uint8_t b : bytes)
        out += fmt::format("{:02x}", b);
    return out;
}

} // namespace

TEST_CASE("the classifier agrees with libpcap on random packets and random specs")
{
    const uint64_t seed = test_seed(20261122);
    INFO("seed " << seed);
    random_source r(seed);
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    // Indirect byte and word loads (icmp[0], tcp[13], tcp[4:4]) once went to the
    // wrong register in DPDK's converter (filters/bpf.cpp).
    static const std::vector<std::string> extra_bpf = {"not port 22", "tcp or udp", "greater 120", "ip",
                                                       "not (ip6 and udp)", "ether[0] & 1 == 0",
                                                       "icmp[0] == 8 or tcp[13] & 2 != 0",
                                                       "tcp[4:4] > 100000 or udp[8] == 0",
                                                       // runs in libpcap's interpreter (a loop DPDK refuses)
                                                       "ip6 protochain 17 or ip protochain 6"};
    std::vector<test_packet> packets;
    for (int i = 0; i < 3000; i++)
        packets.push_back(random_packet(r));
    std::vector<std::vector<uint8_t>> frames;
    for (const auto& p : packets)
        frames.push_back(p.bytes);

    unsigned specs_tested = 0, kept_total = 0, addresses_first = 0, kept_addresses_first = 0;
    unsigned untagged_first = 0, kept_untagged_first = 0;
    for (int round = 0; round < 400; round++) {
        json spec = json::object();
        json rules = json::array();
        // From round 300 every rule names an address, so that the classifier
        // asks the rules' address prefilter before parsing the rest of a
        // packet's headers (unless a rule's addresses are too wide).
        for (unsigned i = 0, n = 1 + r.below(3); i < n; i++) {
            json rule = random_rule(r);
            while (round >= 300 && !rule.contains("src") && !rule.contains("dst"))
                rule = random_rule(r);
            rules.push_back(rule);
        }
        spec["match"] = rules;
        if (r.chance(20))
            spec["bpf"] = r.pick(extra_bpf);
        const std::string text = spec.dump();
        if (!spec_error(text).empty())
            continue;   // a rule that can never match (IPv4 src with IPv6 dst...) is refused, fine
        session_spec parsed;
        REQUIRE(parse_session_spec_text(text, parsed) == "");
        specs_tested++;

        // The reference: one program per alternative of each field of each
        // rule (and direction), per number of VLAN tags.
        struct reference_field {
            std::vector<std::array<std::unique_ptr<compiled_bpf>, 3>> alternatives;
        };
        std::vector<std::vector<reference_field>> programs;   // rules -> fields -> alternatives
        for (const match_rule& rule : parsed.match) {
            for (bool reversed : {false, true}) {
                if (reversed && !rule.bidirectional)
                    break;
                std::vector<reference_field> fields;
                for (const alternatives& alts : rule_bpf(rule, reversed)) {
                    reference_field field;
                    for (const std::string& alt : alts) {
                        std::array<std::unique_ptr<compiled_bpf>, 3> per_tags;
                        std::string prefix;
                        for (unsigned tags = 0; tags < 3; tags++) {
                            per_tags[tags] = std::make_unique<compiled_bpf>(dead.get(), prefix + "(" + alt + ")");
                            prefix += "vlan and ";
                        }
                        field.alternatives.push_back(std::move(per_tags));
                    }
                    fields.push_back(std::move(field));
                }
                programs.push_back(std::move(fields));
            }
        }
        std::unique_ptr<compiled_bpf> extra;
        if (!parsed.bpf.empty())
            extra = std::make_unique<compiled_bpf>(dead.get(), parsed.bpf);

        const auto t0 = std::chrono::steady_clock::now();
        auto c = build_classifier({text});
        if (std::getenv("LINECAP_DIFF_VERBOSE"))
            fprintf(stderr, "%.3f s, %zu ACL rules: %s\n",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), c->acl_rules(),
                    text.c_str());
        // Every third frame chained, so that a burst mixes headers copied out
        // of a chain with headers parsed in place (and asked the prefilter first).
        const auto masks = classify_frames(*c, frames, 3);
        const bool first = c->addresses_first(4) || c->addresses_first(6);
        addresses_first += first;
        untagged_first += c->untagged_first();
        for (size_t i = 0; i < packets.size(); i++) {
            const test_packet& pkt = packets[i];
            bool want = parsed.match.empty();
            for (const auto& rule : programs) {
                bool all = true;
                for (const auto& field : rule) {
                    bool any = false;
                    for (const auto& alt : field.alternatives)
                        any = any || alt[pkt.vlan_tags]->matches(pkt.bytes);
                    all = all && any;
                }
                want = want || all;
            }
            if (extra)
                want = want && extra->matches(packets[i].bytes);
            const bool got = masks[i] & 1;
            kept_total += got;
            kept_addresses_first += got && first;
            kept_untagged_first += got && c->untagged_first();
            if (got != want) {
                (void)pkt;
                std::string reference;
                for (const auto& rule : programs) {
                    for (const auto& field : rule) {
                        reference += "  any of:";
                        for (const auto& alt : field.alternatives)
                            reference += " [" + alt[pkt.vlan_tags]->text + ": " +
                                         (alt[pkt.vlan_tags]->matches(pkt.bytes) ? "yes" : "no") + "]";
                        reference += "\n";
                    }
                    reference += "or\n";
                }
                FAIL("spec " << text << "\npacket " << i << " (" << packets[i].vlan_tags << " VLAN tags): "
                             << hex(packets[i].bytes) << "\nlinecap " << (got ? "keeps" : "drops")
                             << " it, libpcap " << (want ? "keeps" : "drops") << " it with\n"
                             << reference << (extra ? "and " + extra->text : ""));
            }
        }
    }
    INFO(specs_tested << " specs, " << kept_total << " packets kept in all; " << addresses_first
                      << " specs' addresses asked first, " << kept_addresses_first
                      << " packets kept by them; " << untagged_first << " specs' untagged frames asked first, "
                      << kept_untagged_first << " packets kept by them");
    CHECK(specs_tested > 250);
    CHECK(kept_total > 10000);   // the specs do select: neither all nor nothing
    CHECK(addresses_first > 150);
    CHECK(kept_addresses_first > 40000);
    CHECK(untagged_first > 100);
    CHECK(kept_untagged_first > 20000);
}

namespace {

// The `n` keys of IP version `family`, by the scanned rules into `a` and by
// the trie into `b`.
void classify_both(const acl_classifier& scanned, const acl_classifier& trie, int family, const uint8_t** k,
                   uint32_t n, uint32_t* a, uint32_t* b)
{
    if (family == 4) {
        scanned.classify_v4(k, a, n);
        trie.classify_v4(k, b, n);
    } else {
        scanned.classify_v6(k, a, n);
        trie.classify_v6(k, b, n);
    }
}

} // namespace

TEST_CASE("the rule scan and rte_acl's trie give every key the same sessions")
{
    // The same rules, of several sessions at once, scanned and in a trie
    // (filters/acl.h): real parses of random packets, and keys whose every
    // field is random (presence bits, flags and address words included).
    random_source r(20261130);
    std::vector<test_packet> packets;
    for (int i = 0; i < 2000; i++)
        packets.push_back(random_packet(r));
    std::vector<packet_fields> keys;
    for (const test_packet& p : packets) {
        packet_fields f{};
        if (parse_packet(p.bytes.data(), static_cast<uint32_t>(p.bytes.size()), f))
            keys.push_back(f);
    }
    for (int i = 0; i < 2000; i++) {
        packet_fields f{};
        auto* bytes = reinterpret_cast<uint8_t*>(&f);
        for (size_t b = 0; b < sizeof f; b++)
            bytes[b] = static_cast<uint8_t>(r.below(256));
        f.family = r.chance(50) ? 4 : 6;
        keys.push_back(f);
    }
    const auto of_family = [&](uint8_t family) {
        std::vector<const packet_fields*> out;
        for (const packet_fields& f : keys)
            if (f.family == family)
                out.push_back(&f);
        return out;
    };
    const std::vector<const packet_fields*> v4 = of_family(4), v6 = of_family(6);
    REQUIRE(v4.size() > 1000);
    REQUIRE(v6.size() > 1000);

    unsigned rule_sets = 0, matches = 0, partial = 0, prefiltered = 0, matches_prefiltered = 0;
    for (int round = 0; round < 160; round++) {
        acl_classifier scanned, trie;
        // Up to 16 sessions: every category rte_acl has.
        const unsigned sessions = round % 10 == 0 ? max_sessions : 1 + r.below(6);
        // From round 100 every rule names an address, so that the trie's
        // address prefilter is on (unless a rule's addresses are too wide).
        const bool addressed = round >= 100;
        unsigned added = 0;
        for (unsigned slot = 0; slot < sessions; slot++) {
            std::vector<match_rule> rules;
            for (unsigned i = 0, n = 1 + r.below(4); i < n; i++) {
                json rule = random_rule(r);
                while (addressed && !rule.contains("src") && !rule.contains("dst"))
                    rule = random_rule(r);
                session_spec spec;
                if (parse_session_spec_text(json{{"match", json::array({rule})}}.dump(), spec) != "")
                    continue;
                rules.push_back(spec.match[0]);
            }
            if (rules.empty() || scanned.add_session(slot, rules) != "")
                continue;
            REQUIRE(trie.add_session(slot, rules) == "");
            added++;
        }
        if (added == 0)
            continue;
        REQUIRE(scanned.build(0, SIZE_MAX) == "");
        REQUIRE(trie.build(0, 0) == "");
        rule_sets++;
        for (const auto* family : {&v4, &v6}) {
            const bool filtered = trie.prefilter(family == &v4 ? 4 : 6) != nullptr;
            prefiltered += filtered;
            for (size_t at = 0; at < family->size(); at += 64) {
                const auto n = static_cast<uint32_t>(std::min<size_t>(64, family->size() - at));
                const uint8_t* k[64];
                for (uint32_t j = 0; j < n; j++)
                    k[j] = reinterpret_cast<const uint8_t*>((*family)[at + j]);
                uint32_t a[64], b[64];
                classify_both(scanned, trie, family == &v4 ? 4 : 6, k, n, a, b);
                for (uint32_t j = 0; j < n; j++) {
                    matches += a[j] != 0;
                    matches_prefiltered += filtered && a[j] != 0;
                    // Some sessions and not others: the bits are not all or nothing.
                    partial += a[j] != 0 && b[j] != 0 && (a[j] & (a[j] - 1)) == 0 && added > 1;
                    if (a[j] != b[j])
                        FAIL("round " << round << ", IPv" << (family == &v4 ? 4 : 6) << " key "
                                      << hex(std::vector<uint8_t>(k[j], k[j] + sizeof(packet_fields)))
                                      << ": the scan gives sessions " << a[j] << ", the trie " << b[j]);
                }
            }
        }
    }
    INFO(rule_sets << " rule sets, " << matches << " keys matched, " << partial
                   << " by one session of several; " << prefiltered << " tries prefiltered, "
                   << matches_prefiltered << " keys matched through them");
    CHECK(rule_sets > 100);
    CHECK(matches > 1000);
    CHECK(partial > 100);
    CHECK(prefiltered > 60);
    CHECK(matches_prefiltered > 15000);
}

namespace {

// `a` plus `delta` (+1 or -1), as a number of `bytes` bytes, wrapping.
std::array<uint8_t, 16> step(std::array<uint8_t, 16> a, unsigned bytes, int delta)
{
    for (unsigned i = bytes; i-- > 0;) {
        const uint8_t before = a[i];
        a[i] = static_cast<uint8_t>(a[i] + delta);
        if ((delta > 0 && before != 0xff) || (delta < 0 && before != 0))
            break;
    }
    return a;
}

} // namespace

TEST_CASE("the address prefilter lets through every key a rule matches, at the edges of each rule's addresses")
{
    // Hand-picked rules at the prefilter's limits (filters/acl.h): ranges
    // across a /24 boundary, exactly 256 /24s, one side any, bidirectional,
    // IPv6 prefixes around /40 and /48; keys at each range's first and last
    // address and one past each, in either place, IPv6 ones cut short too.
    // Every key a rule matches (the scan says) must pass the prefilter, the
    // trie must agree with the scan, and keys must be turned away too.
    struct rule_set {
        std::vector<std::string> rules;   // JSON, one session each
        bool on[2];                       // the prefilter of IPv4, of IPv6: on?
    };
    const std::vector<rule_set> sets = {
        {{R"({"src": ["10.0.0.255-10.0.1.0"]})", R"({"dst": ["10.2.0.0-10.2.255.255"], "protocols": ["udp"]})",
          R"({"src": ["0.0.0.0/0"], "dst": ["192.0.2.0/24"]})", R"({"src": ["198.51.100.7"], "bidirectional": true})",
          R"({"src": ["203.0.113.0/25"], "dst_ports": [80]})", R"({"src": ["10.9.0.0/16"], "dst": ["10.8.7.6"]})",
          // 16 addresses across a /24 boundary (each marked), 17 (their /24s).
          R"({"src": ["10.20.0.250-10.20.1.9"]})", R"({"dst": ["10.30.0.250-10.30.1.10"], "protocols": ["tcp"]})"},
         {true, false}},
        {{R"({"src": ["10.0.0.1-10.1.0.0"]})"}, {false, false}},   // 257 /24s
        {{R"({"src": ["10.0.0.0/8"], "dst": ["192.0.2.1"]})", R"({"dst": ["10.0.0.0/15"]})"}, {false, false}},
        {{R"({"dst": ["2001:db8:aa00::/40"]})", R"({"src": ["2001:db8:bb00::/44"], "protocols": ["tcp"]})",
          R"({"dst": ["2001:db8:cc00::/47"]})", R"({"src": ["2001:db8:dd::/48"], "bidirectional": true})",
          R"({"dst": ["2001:db8:ee:ff00::/56"]})", R"({"src": ["2001:db8:ff:1::/64"]})",
          R"({"src": ["2001:db8:1:2::3"], "dst": ["::/0"]})", R"({"dst": ["2001:db8:1:2::10-2001:db8:1:2::2f"]})",
          // 16 /64s (each marked), 32 (their /48).
          R"({"dst": ["2001:db8:77:10::/60"]})", R"({"src": ["2001:db8:78:20::/59"], "protocols": ["udp"]})"},
         {false, true}},
        {{R"({"dst": ["2001:db8::/39"]})", R"({"dst": ["2001:db8:1::/48"]})"}, {false, false}},
    };
    random_source r(20261204);
    unsigned matched = 0, turned_away = 0, sets_on = 0;
    for (const rule_set& set : sets) {
        acl_classifier scanned, trie;
        std::vector<ip_range> edges_of[2];   // each family's ranges, src and dst alike
        for (unsigned slot = 0; slot < set.rules.size(); slot++) {
            session_spec spec;
            INFO(set.rules[slot]);
            REQUIRE(parse_session_spec_text(R"({"match": [)" + set.rules[slot] + "]}", spec) == "");
            REQUIRE(scanned.add_session(slot, spec.match) == "");
            REQUIRE(trie.add_session(slot, spec.match) == "");
            for (const auto* side : {&spec.match[0].src, &spec.match[0].dst})
                for (const ip_range& range : *side)
                    edges_of[range.family == 4 ? 0 : 1].push_back(range);
        }
        REQUIRE(scanned.build(0, SIZE_MAX) == "");
        REQUIRE(trie.build(0, 0) == "");
        for (unsigned fi = 0; fi < 2; fi++) {
            const uint8_t family = fi == 0 ? 4 : 6;
            const unsigned bytes = family == 4 ? 4 : 16;
            INFO("rule set " << (&set - sets.data()) << ", IPv" << unsigned{family});
            const address_prefilter* filter = trie.prefilter(family);
            CHECK((filter != nullptr) == set.on[fi]);
            sets_on += filter != nullptr;
            // Addresses at and around every range's ends, and random ones.
            std::vector<std::array<uint8_t, 16>> addresses;
            for (const ip_range& range : edges_of[fi])
                for (const auto& a : {range.lo, range.hi})
                    for (int delta : {-1, 0, 1})
                        addresses.push_back(delta == 0 ? a : step(a, bytes, delta));
            for (int i = 0; i < 40; i++) {
                std::array<uint8_t, 16> a{};
                for (unsigned b = 0; b < bytes; b++)
                    a[b] = static_cast<uint8_t>(r.below(256));
                addresses.push_back(a);
            }
            std::vector<packet_fields> keys;
            for (const auto& a : addresses)
                for (const auto& b : addresses) {
                    packet_fields f{};
                    f.family = family;
                    f.proto = r.chance(50) ? 6 : 17;
                    std::memcpy(f.src, a.data(), bytes);
                    std::memcpy(f.dst, b.data(), bytes);
                    f.src_port = htons(static_cast<uint16_t>(r.chance(50) ? 80 : r.below(65536)));
                    f.dst_port = htons(static_cast<uint16_t>(r.chance(50) ? 80 : r.below(65536)));
                    f.present = have_proto | have_src | have_dst | have_transport | have_src_port | have_dst_port;
                    f.address_words = 0xff;
                    if (family == 6 && r.chance(20)) {
                        // Cut inside the addresses: the words past the cut are
                        // zero and absent, as parse_ipv6 leaves them.
                        const unsigned src_words = r.below(5), dst_words = src_words == 4 ? r.below(5) : 0;
                        f.address_words = static_cast<uint8_t>(((1u << src_words) - 1) | ((1u << dst_words) - 1) << 4);
                        std::memset(f.src + 4 * src_words, 0, 16 - 4 * src_words);
                        std::memset(f.dst + 4 * dst_words, 0, 16 - 4 * dst_words);
                        f.present = static_cast<uint8_t>(have_proto | (src_words == 4 ? have_src : 0) |
                                                         (dst_words == 4 ? have_dst : 0));
                    }
                    keys.push_back(f);
                }
            for (size_t at = 0; at < keys.size(); at += 64) {
                const auto n = static_cast<uint32_t>(std::min<size_t>(64, keys.size() - at));
                const uint8_t* k[64];
                for (uint32_t j = 0; j < n; j++)
                    k[j] = reinterpret_cast<const uint8_t*>(&keys[at + j]);
                uint32_t want[64], got[64];
                classify_both(scanned, trie, family, k, n, want, got);
                for (uint32_t j = 0; j < n; j++) {
                    const packet_fields& f = keys[at + j];
                    const bool passes = filter == nullptr ||
                                        (family == 4 ? filter->may_match_v4(f.src, f.dst)
                                                     : filter->may_match_v6(f.src, f.dst));
                    matched += want[j] != 0;
                    turned_away += !passes;
                    INFO("key " << hex(std::vector<uint8_t>(k[j], k[j] + sizeof(packet_fields))));
                    if (want[j] != 0)
                        REQUIRE(passes);
                    REQUIRE(got[j] == want[j]);
                }
            }
        }
    }
    INFO(matched << " keys matched, " << turned_away << " turned away");
    CHECK(sets_on == 2);
    CHECK(matched > 2000);
    CHECK(turned_away > 5000);
}

TEST_CASE("the address prefilter marks a host's address (IPv6: its /64), not its /24 or /48, and a subnet's /24s")
{
    // A gateway's capture of one subscriber: its neighbours in the /24 are
    // turned away before the parse and the trie, the subscriber's packets
    // go on, and a subnet's rule still lets its whole /24 through.
    // One session per rule; the family's prefilter, which must be on.
    const auto prefilter_of = [](const std::vector<std::string>& rules, acl_classifier& trie, int family = 4) {
        for (unsigned slot = 0; slot < rules.size(); slot++) {
            session_spec spec;
            REQUIRE(parse_session_spec_text(R"({"match": [)" + rules[slot] + "]}", spec) == "");
            REQUIRE(trie.add_session(slot, spec.match) == "");
        }
        REQUIRE(trie.build(0, 0) == "");
        const address_prefilter* filter = trie.prefilter(family);
        REQUIRE(filter != nullptr);
        return filter;
    };
    const auto through = [](const address_prefilter& f, const char* src, const char* dst) {
        uint8_t s[4], d[4];
        REQUIRE(inet_pton(AF_INET, src, s) == 1);
        REQUIRE(inet_pton(AF_INET, dst, d) == 1);
        return f.may_match_v4(s, d);
    };
    const auto neighbours_through = [&](const address_prefilter& f, const char* net, bool as_src) {
        unsigned n = 0;
        for (unsigned last = 0; last < 256; last++) {
            const std::string a = fmt::format("{}.{}", net, last);
            n += as_src ? through(f, a.c_str(), "192.0.2.200") : through(f, "192.0.2.200", a.c_str());
        }
        return n;
    };

    acl_classifier host_trie;
    const address_prefilter& host = *prefilter_of({R"({"src": ["10.1.0.1"], "protocols": ["tcp"], "dst_ports": [443]})"},
                                                  host_trie);
    CHECK(host.marks == address_prefilter::address_marks);
    CHECK(host.marked_buckets == 1);   // the source's set only
    CHECK(through(host, "10.1.0.1", "192.0.2.200"));
    CHECK(neighbours_through(host, "10.1.0", true) == 1);    // 10.1.0.1 alone
    CHECK(neighbours_through(host, "10.1.0", false) == 0);   // the rule asks the source

    acl_classifier mixed_trie;
    const address_prefilter& mixed =
        *prefilter_of({R"({"src": ["10.1.0.1"], "bidirectional": true})", R"({"dst": ["10.2.0.0/24"]})",
                       R"({"src": ["10.3.0.0/16"], "dst": ["10.4.0.16-10.4.0.31"]})"},
                      mixed_trie);
    CHECK(mixed.marks == address_prefilter::both_marks);
    // The host both ways marks a bucket in each set; the /24 one; the
    // range's 16 addresses one each (the narrower side of the third rule).
    CHECK(mixed.marked_buckets == 2 + 1 + 16);
    CHECK(neighbours_through(mixed, "10.1.0", true) == 1);
    CHECK(neighbours_through(mixed, "10.1.0", false) == 1);
    CHECK(neighbours_through(mixed, "10.2.0", false) == 256);
    CHECK(neighbours_through(mixed, "10.4.0", false) == 16);   // 16 addresses: each marked, not the /16
    CHECK(through(mixed, "10.3.9.9", "192.0.2.200") == false);

    // 17 addresses mark their /24s: all of each goes on to the trie.
    acl_classifier wider_trie;
    const address_prefilter& wider = *prefilter_of({R"({"dst": ["10.5.0.250-10.5.1.10"]})"}, wider_trie);
    CHECK(wider.marks == address_prefilter::prefix_marks);
    CHECK(neighbours_through(wider, "10.5.0", false) == 256);
    CHECK(neighbours_through(wider, "10.5.1", false) == 256);
    CHECK(neighbours_through(wider, "10.5.2", false) == 0);

    // IPv6: a host's /64 is marked, not its /48; a /48 rule marks the /48.
    const auto through6 = [](const address_prefilter& f, const char* src, const char* dst) {
        uint8_t s[16], d[16];
        REQUIRE(inet_pton(AF_INET6, src, s) == 1);
        REQUIRE(inet_pton(AF_INET6, dst, d) == 1);
        return f.may_match_v6(s, d);
    };
    acl_classifier v6_trie;
    const address_prefilter& v6 =
        *prefilter_of({R"({"src": ["2001:db8:1:2::5"], "bidirectional": true})", R"({"dst": ["2001:db8:9::/48"]})"},
                      v6_trie, 6);
    CHECK(v6.marks == address_prefilter::both_marks);
    CHECK(through6(v6, "2001:db8:1:2::5", "2001:db8:ff::1"));
    CHECK(through6(v6, "2001:db8:ff::1", "2001:db8:1:2::5"));
    CHECK(through6(v6, "2001:db8:1:2::77", "2001:db8:ff::1"));        // the same /64: let through, the trie decides
    CHECK_FALSE(through6(v6, "2001:db8:1:3::5", "2001:db8:ff::1"));   // the same /48, another /64
    CHECK_FALSE(through6(v6, "2001:db8:1:ffff::5", "2001:db8:1:3::1"));
    CHECK(through6(v6, "2001:db8:ff::1", "2001:db8:9:abcd::1"));       // anywhere in the /48

    // A /60 is 16 /64s, each marked; a /59, 32, marks its /48.
    acl_classifier narrow_trie, wide_trie;
    const address_prefilter& narrow = *prefilter_of({R"({"dst": ["2001:db8:77:10::/60"]})"}, narrow_trie, 6);
    const address_prefilter& wide = *prefilter_of({R"({"dst": ["2001:db8:78:20::/59"]})"}, wide_trie, 6);
    CHECK(narrow.marks == address_prefilter::address_marks);
    CHECK(wide.marks == address_prefilter::prefix_marks);
    CHECK(through6(narrow, "2001:db8:ff::1", "2001:db8:77:1f::1"));
    CHECK_FALSE(through6(narrow, "2001:db8:ff::1", "2001:db8:77:20::1"));
    CHECK_FALSE(through6(narrow, "2001:db8:ff::1", "2001:db8:77:f::1"));
    CHECK(through6(wide, "2001:db8:ff::1", "2001:db8:78:ffff::1"));
}

TEST_CASE("the transport header's branch-free reading is the careful one")
{
    // parse_l4 reads ports, flags and the payload's start with masks when
    // the 14 bytes are there, parse_l4_careful field by field: every
    // protocol, every length around 14, fragments and unknown protocols.
    random_source r(20261203);
    unsigned fast = 0;
    for (unsigned proto = 0; proto < 256; proto++)
        for (int round = 0; round < 40; round++) {
            std::vector<uint8_t> bytes(96);
            for (uint8_t& b : bytes)
                b = static_cast<uint8_t>(r.below(256));
            const uint32_t l4 = r.below(40);
            const auto len = static_cast<uint32_t>(l4 + r.below(30));
            const bool first_fragment = !r.chance(10);
            const auto present = static_cast<uint8_t>(have_src | have_dst | (r.chance(90) ? have_proto : 0));
            const uint32_t ip_end = r.chance(50) ? no_declared_end : len;
            const auto a = detail::parse_l4(bytes.data(), len, l4, first_fragment, static_cast<uint8_t>(proto),
                                            present, ip_end);
            const auto b = detail::parse_l4_careful(bytes.data(), len, l4, first_fragment,
                                                    static_cast<uint8_t>(proto), present, ip_end);
            INFO("protocol " << proto << ", l4 " << l4 << ", len " << len << ", first fragment " << first_fragment
                             << ", present " << int(present) << ", bytes " << hex(bytes));
            CHECK(a.ports == b.ports);
            CHECK(int(a.present) == int(b.present));
            CHECK(int(a.tcp_flags) == int(b.tcp_flags));
            CHECK(a.payload_offset == b.payload_offset);
            CHECK(a.payload_end == b.payload_end);
            fast += first_fragment && (present & have_proto) && l4 + 14 <= len;
        }
    CHECK(fast > 3000);   // the branch-free path was taken, for every protocol
}

TEST_CASE("a parse of only some families parses those as the whole parse does, and no others, in one step or two")
{
    // The classifier parses only the families its rules name
    // (parse_packet_families): what it parses must be what the whole
    // parse gives, field for field; a frame of another family reads as one
    // with no IP header. Random packets, their cuts, and both orders.
    random_source r(20261201);
    unsigned of_family[7] = {};
    for (int i = 0; i < 3000; i++) {
        test_packet p = random_packet(r);
        const auto len = static_cast<uint32_t>(r.chance(20) ? r.below(static_cast<unsigned>(p.bytes.size()) + 1)
                                                            : p.bytes.size());
        packet_fields whole{};
        const bool ip = parse_packet(p.bytes.data(), len, whole);
        of_family[whole.family]++;
        for (const auto& [v4, v6] : {std::pair{true, false}, std::pair{false, true}, std::pair{false, false},
                                     std::pair{true, true}}) {
            const bool asked = (whole.family == 4 && v4) || (whole.family == 6 && v6);
            INFO("packet " << hex(p.bytes) << " cut to " << len << ", v4 " << v4 << ", v6 " << v6);
            packet_fields some{};
            CHECK(parse_packet_families(p.bytes.data(), len, v4, v6, some) == (ip && asked));
            if (asked)
                CHECK(std::memcmp(&some, &whole, sizeof some) == 0);
            packet_fields reused;
            std::memset(&reused, 0xa5, sizeof reused);   // a previous packet's leftovers
            parse_packet_families(p.bytes.data(), len, v4, v6, reused);
            CHECK(reused.family == (asked ? whole.family : 0));
            // The classifier's two steps (link layer, then a family's IP
            // headers) write the same bytes over the same leftovers.
            packet_fields stepped;
            std::memset(&stepped, 0xa5, sizeof stepped);
            const uint8_t family = parse_link_layer(p.bytes.data(), len, v4, v6, stepped);
            CHECK(family == (asked ? whole.family : 0));
            if (family == 4)
                parse_ipv4_of_frame(p.bytes.data(), len, stepped);
            else if (family == 6)
                parse_ipv6_of_frame(p.bytes.data(), len, stepped);
            CHECK(std::memcmp(&stepped, &reused, sizeof stepped) == 0);
        }
    }
    CHECK(of_family[4] > 500);
    CHECK(of_family[6] > 500);
    CHECK(of_family[0] > 50);
}

namespace {

// A random tcpdump expression of address terms (host, net, src/dst, ip,
// ip6, arp) mixed with protocol and port terms, joined by and/or/not.
std::string random_expression(random_source& r, unsigned depth)
{
    if (depth == 0 || r.chance(35)) {
        static const std::vector<std::string> directions = {"", "src ", "dst ", "src or dst ", "src and dst "};
        switch (r.below(8)) {
        case 0:
        case 1:
        case 2:
            return r.pick(directions) + "host " + r.pick(v4_hosts);
        case 3:
            return r.pick(directions) + "host " + r.pick(v6_hosts);
        case 4: {
            static const std::vector<std::string> nets = {"10.0.0.0/24", "10.0.0.0/16", "10.0.1.0/24",
                                                          "192.168.0.0/23", "10.0.0.0/8", "2001:db8::/48",
                                                          "2001:db8::/40", "2001:db8::/32", "2001:db8:0:1::/64",
                                                          "2001:db8::/62", "2001:db8::/60", "2001:db8::/56"};
            return r.pick(directions) + "net " + r.pick(nets);
        }
        case 5:
            return "arp " + r.pick(directions) + "host " + r.pick(v4_hosts);
        case 6: {
            // Kinds, and tests the address walk must not take for an address
            // (byte loads, other sizes, masks, ranges, no type, RARP).
            static const std::vector<std::string> kinds = {
                "ip", "ip6", "arp", "tcp", "udp", "icmp", "ether proto 0x0806",
                "rarp host 10.0.0.1", "net 10.0.0.1 mask 255.255.0.255", "ip[12:4] & 0xffff00ff = 0x0a000001",
                "ip[12:2] = 0x0a00 and host 10.0.0.1", "ip[16:4] > 0x0a000001", "ether[26:4] = 0x0a000001",
                "ip[12] = 10"};
            return r.pick(kinds);
        }
        default: {
            static const std::vector<std::string> kinds = {"", "tcp ", "udp "};
            return r.pick(kinds) + r.pick(directions) + "port " + std::to_string(r.pick(port_pool));
        }
        }
    }
    const std::string a = random_expression(r, depth - 1);
    switch (r.below(10)) {
    case 0:
        return "not (" + a + ")";
    case 1:
    case 2:
    case 3:
        return "(" + a + ") or (" + random_expression(r, depth - 1) + ")";
    default:
        return "(" + a + ") and (" + random_expression(r, depth - 1) + ")";
    }
}

} // namespace

TEST_CASE("a tcpdump expression's address filter turns away no packet libpcap keeps")
{
    // Random expressions over random packets, each judged by
    // bpf_expression::match_burst (the address filter, then DPDK's checked
    // JIT, the default, with its interpreter for the packets whose first
    // segment is short of what the program can read) and by libpcap. ARP packets carry the pool's
    // addresses, as "host" asks of them too.
    const uint64_t seed = test_seed(20261203);
    INFO("seed " << seed);
    random_source r(seed);
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144), &pcap_close);
    std::vector<std::vector<uint8_t>> frames;
    for (int i = 0; i < 2000; i++) {
        test_packet p = random_packet(r);
        const size_t type_at = 12 + 4 * p.vlan_tags;
        const size_t sender_at = type_at + 2 + 14, target_at = type_at + 2 + 24;   // RFC 826, for IPv4
        const bool arp = p.bytes.size() >= target_at + 4 && p.bytes[type_at] == 0x08 && p.bytes[type_at + 1] == 0x06;
        for (size_t at : {sender_at, target_at})
            if (arp)
                REQUIRE(inet_pton(AF_INET, r.pick(v4_hosts).c_str(), p.bytes.data() + at) == 1);
        if (arp && r.chance(40)) {   // RARP, which "host" asks of too
            p.bytes[type_at] = 0x80;
            p.bytes[type_at + 1] = 0x35;
        }
        frames.push_back(p.bytes);
    }
    // A third whole, a third in chains whose first segment (48 bytes) holds
    // what the filter reads and not what the program may, a third in chains
    // of 20-byte segments (the filter lets those through).
    std::vector<rte_mbuf*> mbufs;
    for (size_t i = 0; i < frames.size(); i++)
        mbufs.push_back(make_chain(frames[i], i % 3 == 0 ? 2048 : i % 3 == 1 ? 48 : 20));
    unsigned tested = 0, on = 0, kept_on = 0, turned_away = 0, jitted = 0;
    std::vector<uint64_t> kept(frames.size());
    for (int round = 0; round < 400; round++) {
        const std::string expression = random_expression(r, 1 + r.below(3));
        bpf_program probe{};
        if (!compile_tcpdump_filter(expression, DLT_EN10MB, 0, probe).empty())
            continue;   // "expression rejects all packets", and the like
        pcap_freecode(&probe);
        bpf_expression bpf;
        REQUIRE(bpf.compile(expression) == "");
        compiled_bpf reference(dead.get(), expression);
        if (std::getenv("LINECAP_DIFF_VERBOSE"))
            fprintf(stderr, "%s\n", expression.c_str());
        tested++;
        jitted += bpf.jitted();
        if (!bpf.jitted())
            UNSCOPED_INFO("not JIT-run: " << expression << ": " << bpf.jit_refusal());
        const bool filtered = bpf.address_filter().on();
        on += filtered;
        bpf.match_burst(mbufs.data(), static_cast<unsigned>(mbufs.size()), kept.data());
        for (size_t i = 0; i < frames.size(); i++) {
            const bool want = reference.matches(frames[i]);
            // One packet at a time too (linecap -r's prefilter).
            if (bpf.matches(mbufs[i]) != want)
                FAIL("expression " << expression << ": matches() on packet " << i << ": " << hex(frames[i]));
            if ((kept[i] != 0) != want)
                FAIL("expression " << expression << " (address filter " << (filtered ? "on" : "off")
                                   << ")\npacket " << i << ": " << hex(frames[i]) << "\nlinecap "
                                   << (kept[i] ? "keeps" : "drops") << " it, libpcap "
                                   << (want ? "keeps" : "drops") << " it");
            if (filtered) {
                kept_on += want;
                turned_away += !bpf.address_filter().may_match(mbufs[i]);
            }
        }
    }
    for (rte_mbuf* m : mbufs)
        rte_pktmbuf_free(m);
    INFO(tested << " expressions, " << on << " with the address filter on, " << jitted
                << " JIT-run; they keep " << kept_on << " packets and the filter turns away " << turned_away);
    CHECK(tested > 250);
    CHECK(on > 100);
    CHECK(kept_on > 5000);
    CHECK(turned_away > 50000);
    // DPDK's JIT lays out about one program in 3 000 of these wrong (its
    // check refuses those: filters/bpf_jit_check.h): nearly all are JIT-run.
    CHECK(jitted >= tested - tested / 50);
}
