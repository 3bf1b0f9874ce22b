// tcpdump's test captures, real and deliberately malformed, through the
// parser and every filter stage: no crash, no read out of bounds. Run under
// AddressSanitizer by scripts/test (build-sanitize/), where any stray read
// of a packet's mbuf or of the parser's stack copy is a failure.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/filters/filter_helpers.h"

using namespace linecap;
using namespace linecap::test;

namespace {

std::vector<std::vector<uint8_t>> corpus_frames(const std::string& dir)
{
    std::vector<std::vector<uint8_t>> frames;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::string path = entry.path();
        if (path.find(".pcap") == std::string::npos)
            continue;
        for (std::vector<uint8_t>& frame : read_pcap(path))
            frames.push_back(std::move(frame));
    }
    return frames;
}

} // namespace

TEST_CASE("the tcpdump corpus goes through every filter stage without a fault")
{
    const std::string dir = LINECAP_CORPUS_DIR;
    if (!std::filesystem::is_directory(dir)) {
        WARN("the tcpdump corpus is not at " << dir << ": skipped");
        return;
    }
    const auto frames = corpus_frames(dir);
    REQUIRE(frames.size() > 5000);

    auto c = build_classifier({
        R"({"match":[{"protocols":["tcp"], "tcp_flags":{"any":["syn","fin","rst"]}}]})",
        R"({"match":[{"src":["10.0.0.0/8", "2001:db8::/32"], "bidirectional":true}, {"dst_ports":["0-1023"]}]})",
        R"({"match":[{"protocols":["udp","sctp","gre","esp","ah","icmp","icmpv6"]}], "bpf":"not port 53"})",
        R"({"payload":{"patterns":["HTTP/1\\.[01]", "(?i)user-agent", "\\x00\\x00\\x00\\x00"]}})",
        R"({"match":[{"dst":["::/0"], "src_ports":[53, 123, "500-4500"]}], "payload":{"patterns":["."]}})",
        R"({"bpf":"ip6 and (tcp or udp) or vlan"})",
    });
    // Whole packets, and the same packets cut at every length up to 80 bytes
    // (the headers), through chains of 2 KiB and of 3-byte segments.
    std::vector<std::vector<uint8_t>> cut;
    for (size_t i = 0; i < frames.size(); i += 7)
        for (size_t len = 0; len < std::min<size_t>(frames[i].size(), 80); len += 3)
            cut.emplace_back(frames[i].begin(), frames[i].begin() + static_cast<long>(len));
    const auto whole = classify_frames(*c, frames);
    const auto partial = classify_frames(*c, cut);
    size_t kept = 0;
    for (session_mask m : whole)
        kept += m != 0;
    INFO(frames.size() << " frames, " << kept << " kept by some session; " << cut.size() << " cut frames");
    CHECK(kept > 0);
    CHECK(kept < frames.size());

    auto chained = build_classifier({R"({"match":[{"dst_ports":["0-1023"]}], "payload":{"patterns":["[a-z]{4}"]}})"});
    for (size_t i = 0; i < frames.size(); i += 11) {
        rte_mbuf* m = make_chain(frames[i], frames[i].size() < 3000 ? 3 : 1000);
        session_mask mask;
        chained->classify(0, &m, 1, &mask);
        rte_pktmbuf_free(m);
    }
}
