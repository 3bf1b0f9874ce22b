#include "tests/filters/filter_helpers.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace linecap::test {

std::unique_ptr<classifier> build_classifier(const std::vector<std::string>& specs_json, bpf_runner bpf)
{
    std::vector<classifier::entry> entries;
    for (unsigned slot = 0; slot < specs_json.size(); slot++) {
        session_spec spec;
        const std::string parse_error = parse_session_spec_text(specs_json[slot], spec);
        INFO(specs_json[slot]);
        REQUIRE(parse_error == "");
        std::string error;
        auto filter = session_filter::compile(spec, error, bpf);
        INFO(error);
        REQUIRE(filter != nullptr);
        entries.push_back({slot, filter});
    }
    std::string error;
    auto c = classifier::build(entries, 1, SOCKET_ID_ANY, error);
    INFO(error);
    REQUIRE(c != nullptr);
    return c;
}

std::vector<session_mask> classify_frames(const classifier& c, const std::vector<std::vector<uint8_t>>& frames,
                                          unsigned short_first_every)
{
    std::vector<session_mask> masks(frames.size());
    // Bursts of at most 512, as a worker sees them.
    for (size_t done = 0; done < frames.size(); done += 512) {
        const unsigned n = static_cast<unsigned>(std::min<size_t>(512, frames.size() - done));
        std::vector<rte_mbuf*> mbufs;
        for (unsigned i = 0; i < n; i++)
            mbufs.push_back(make_chain(frames[done + i],
                                       short_first_every != 0 && (done + i) % short_first_every == 0 ? 20 : 2048));
        c.classify(0, mbufs.data(), n, masks.data() + done);
        for (rte_mbuf* m : mbufs)
            rte_pktmbuf_free(m);
    }
    return masks;
}

bool keeps(const std::string& spec_json, const std::vector<uint8_t>& frame)
{
    auto c = build_classifier({spec_json});
    return classify_frames(*c, {frame})[0] & 1;
}

std::string spec_error(const std::string& spec_json)
{
    session_spec spec;
    if (std::string e = parse_session_spec_text(spec_json, spec); !e.empty())
        return e;
    return check_session_filter(spec);
}

std::vector<std::vector<uint8_t>> read_pcap(const std::string& path)
{
    std::vector<std::vector<uint8_t>> frames;
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (p == nullptr)
        return frames;
    pcap_pkthdr* h;
    const u_char* d;
    while (pcap_next_ex(p, &h, &d) == 1)
        frames.emplace_back(d, d + h->caplen);
    pcap_close(p);
    return frames;
}

namespace {

std::array<uint8_t, 16> address(const char* text)
{
    std::array<uint8_t, 16> a{};
    if (inet_pton(AF_INET, text, a.data()) != 1)
        REQUIRE(inet_pton(AF_INET6, text, a.data()) == 1);
    return a;
}

} // namespace

traffic::frame_spec frame4(const char* src, const char* dst, uint8_t protocol)
{
    traffic::frame_spec f;
    f.ip_version = 4;
    f.src = address(src);
    f.dst = address(dst);
    f.protocol = protocol;
    return f;
}

traffic::frame_spec frame6(const char* src, const char* dst, uint8_t protocol)
{
    traffic::frame_spec f = frame4("0.0.0.0", "0.0.0.0", protocol);
    f.ip_version = 6;
    f.src = address(src);
    f.dst = address(dst);
    return f;
}

std::vector<uint8_t> tcp4(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags,
                          unsigned length)
{
    traffic::frame_spec f = frame4(src, dst, 6);
    f.src_port = sport;
    f.dst_port = dport;
    f.tcp_flags = flags;
    f.frame_length = length;
    return traffic::build_frame(f);
}

std::vector<uint8_t> udp4(const char* src, const char* dst, uint16_t sport, uint16_t dport, unsigned length)
{
    traffic::frame_spec f = frame4(src, dst, 17);
    f.src_port = sport;
    f.dst_port = dport;
    f.frame_length = length;
    return traffic::build_frame(f);
}

std::vector<uint8_t> tcp6(const char* src, const char* dst, uint16_t sport, uint16_t dport, uint8_t flags,
                          unsigned length)
{
    traffic::frame_spec f = frame6(src, dst, 6);
    f.src_port = sport;
    f.dst_port = dport;
    f.tcp_flags = flags;
    f.frame_length = length;
    return traffic::build_frame(f);
}

compiled_bpf::compiled_bpf(pcap_t* dead, const std::string& expression) : text(expression)
{
    INFO(expression);
    REQUIRE(pcap_compile(dead, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0);
}

bool compiled_bpf::matches(const std::vector<uint8_t>& bytes) const
{
    pcap_pkthdr h{};
    h.caplen = h.len = static_cast<bpf_u_int32>(bytes.size());
    return pcap_offline_filter(&program, &h, bytes.data()) != 0;
}

} // namespace linecap::test
