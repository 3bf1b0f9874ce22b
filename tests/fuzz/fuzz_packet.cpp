// libFuzzer target: arbitrary bytes as one Ethernet frame, through the
// header parser (filters/packet.h) and the real classifier of eight sessions
// (rules on IPv4 and IPv6 prefixes and ranges, ports, protocols, TCP flags;
// BPF; payload patterns; match-all), on real EAL and mbufs.
//
// The frame's bytes sit in mbufs as external buffers that end exactly where
// the frame does, in memory AddressSanitizer watches: a read one byte past a
// packet is a report (in a pool mbuf it would land in the tailroom, unseen).
// The frame goes in flat, and as a chain of two segments split at a point
// the input's length chooses (first segments shorter than headers_max take
// the classifier's copy path). Checked on every input:
//   - masks have no bit of a session that does not exist, and the match-all
//     session's bit always;
//   - a frame parse_packet finds no IP in matches no session with rules or
//     payload patterns;
//   - the BPF-only session agrees with libpcap's own filter on the frame;
//   - the payload-only session ("GET /") keeps a frame only if those bytes
//     are in it at or after its payload offset, never in its L2 header;
//   - flat and chained get the same masks whenever the bytes the classifier
//     parses of each give the same header fields, and a second pass gives
//     the same masks as the first.
// Built by scripts/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <pcap/pcap.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "engine/packet_meta.h"
#include "filters/classifier.h"
#include "filters/packet.h"

namespace {

using linecap::session_mask;

// Slot i is specs[i].
const char* const specs[] = {
    R"({"match":[{"src":["10.0.0.0/8","2001:db8::/32"],"bidirectional":true}]})",
    R"({"match":[{"protocols":["udp"],"dst_ports":[53,"5000-6000"]},{"protocols":["sctp","icmp","icmpv6",47]}]})",
    R"({"match":[{"tcp_flags":{"any":["syn","rst"],"none":["ack"]},"src_ports":["0-1023"]}]})",
    // Indirect byte loads (icmp[0]) and ports: DPDK's converter once indexed
    // byte and word loads by the wrong register (filters/bpf.cpp).
    R"({"bpf":"ip6 and tcp or udp port 53 or ether[12:2] == 0x88cc or icmp[0] == 8 or tcp[4:4] == 1"})",
    R"({"payload":{"patterns":["GET /"]}})",
    R"({"match":[{"protocols":["tcp"]}],"bpf":"not port 22","payload":{"patterns":["(?i)user-agent:\\s*[a-z]+"]}})",
    R"({})",
    R"({"match":[{"dst":["192.168.0.7-192.168.3.255","fe80::/10","2001:db8:0:1::/64"],"src_ports":[80,443]}]})",
};
constexpr unsigned nb_sessions = sizeof specs / sizeof specs[0];
constexpr unsigned bpf_only_slot = 3;
constexpr unsigned payload_only_slot = 4;
constexpr unsigned match_all_slot = 6;
constexpr session_mask all_sessions = (1u << nb_sessions) - 1;
// Sessions with rules or payload patterns: they need an IP header.
constexpr session_mask needs_ip = all_sessions & ~(1u << bpf_only_slot | 1u << match_all_slot);
// rte_pktmbuf_attach_extbuf takes a 16-bit buffer length.
constexpr size_t max_frame = UINT16_MAX;

std::unique_ptr<linecap::classifier> classifier;
rte_mempool* pool = nullptr;
bpf_program bpf_only{};    // session bpf_only_slot's expression, compiled by libpcap

[[noreturn]] void fail(const char* what)
{
    fprintf(stderr, "fuzz-packet: %s\n", what);
    std::abort();
}

// An mbuf whose data is exactly `bytes` (its own heap copy, freed by free_frame).
rte_mbuf* segment_of(const uint8_t* bytes, size_t n)
{
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr)
        fail("mbuf pool empty");
    auto* buffer = static_cast<uint8_t*>(malloc(std::max<size_t>(n, 1)));
    auto* shinfo = static_cast<rte_mbuf_ext_shared_info*>(malloc(sizeof(rte_mbuf_ext_shared_info)));
    if (n != 0)
        std::memcpy(buffer, bytes, n);
    shinfo->free_cb = [](void*, void*) {};   // freed by free_frame, after the mbuf
    shinfo->fcb_opaque = nullptr;
    rte_mbuf_ext_refcnt_set(shinfo, 1);
    rte_pktmbuf_attach_extbuf(m, buffer, 0, static_cast<uint16_t>(n), shinfo);
    if (n != 0 && rte_pktmbuf_append(m, static_cast<uint16_t>(n)) == nullptr)
        fail("rte_pktmbuf_append refused an external buffer's own length");
    return m;
}

void free_frame(rte_mbuf* m)
{
    std::vector<void*> owned;
    for (rte_mbuf* seg = m; seg != nullptr; seg = seg->next) {
        owned.push_back(seg->buf_addr);
        owned.push_back(seg->shinfo);
    }
    rte_pktmbuf_free(m);
    for (void* p : owned)
        free(p);
}

// Do two parses give the classifier the same fields?
bool same_fields(const linecap::packet_fields& a, const linecap::packet_fields& b)
{
    using namespace linecap;
    if (a.family != b.family || a.present != b.present || a.address_words != b.address_words ||
        a.l3_offset != b.l3_offset || a.payload_offset != b.payload_offset)
        return false;
    if ((a.present & have_proto) && a.proto != b.proto)
        return false;
    if ((a.present & have_src_port) && a.src_port != b.src_port)
        return false;
    if ((a.present & have_dst_port) && a.dst_port != b.dst_port)
        return false;
    if ((a.present & have_tcp_flags) && a.tcp_flags != b.tcp_flags)
        return false;
    const size_t address = a.family == 6 ? 16 : 4;
    return std::memcmp(a.src, b.src, address) == 0 && std::memcmp(a.dst, b.dst, address) == 0;
}

// The header fields the classifier parses of `m`'s frame (the same rule as
// classifier.cpp: a first segment shorter than headers_max is copied out).
linecap::packet_fields classifier_view(const rte_mbuf* m, const uint8_t* frame, size_t size)
{
    linecap::packet_fields f;
    std::memset(f.src, 0, sizeof f.src);
    std::memset(f.dst, 0, sizeof f.dst);
    const uint32_t parsed = m->data_len >= linecap::headers_max || m->data_len == m->pkt_len
                                ? m->data_len
                                : std::min<uint32_t>(static_cast<uint32_t>(size), linecap::headers_max);
    linecap::parse_packet(frame, parsed, f);
    return f;
}

void check_mask(session_mask mask, const uint8_t* frame, size_t size, const linecap::packet_fields& f,
                bool libpcap_keeps)
{
    if ((mask & ~all_sessions) != 0)
        fail("a mask names a session that does not exist");
    if (!(mask & 1u << match_all_slot))
        fail("the match-all session missed a frame");
    if (f.family == 0 && (mask & needs_ip) != 0)
        fail("a frame with no IP header matched a session that needs one");
    if (static_cast<bool>(mask & 1u << bpf_only_slot) != libpcap_keeps)
        fail("the BPF session and libpcap disagree");
    if (mask & 1u << payload_only_slot) {
        static constexpr char pattern[] = "GET /";
        const size_t n = sizeof pattern - 1;
        if (f.payload_offset < f.l3_offset || f.payload_offset > size ||
            memmem(frame + f.payload_offset, size - f.payload_offset, pattern, n) == nullptr)
            fail("the payload session kept a frame without \"GET /\" in its payload");
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    // EAL without hugepages, PCI, shared files or telemetry: rte_acl and
    // mbufs need it; nothing else of it is used.
    const char* eal_argv[] = {"fuzz-packet", "--no-huge", "-m", "512", "--no-pci", "--no-shconf",
                              "--no-telemetry", "-l", "0", "--log-level=lib.eal:error", nullptr};
    int eal_argc = static_cast<int>(sizeof eal_argv / sizeof eal_argv[0]) - 1;
    if (rte_eal_init(eal_argc, const_cast<char**>(eal_argv)) < 0)
        fail(rte_strerror(rte_errno));
    if (linecap::register_packet_meta() != 0)
        fail("cannot register packet_meta");
    pool = rte_pktmbuf_pool_create("fuzz_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    if (pool == nullptr)
        fail(rte_strerror(rte_errno));

    std::vector<linecap::classifier::entry> entries;
    std::string error;
    for (unsigned slot = 0; slot < nb_sessions; slot++) {
        linecap::session_spec spec;
        error = linecap::parse_session_spec_text(specs[slot], spec);
        if (error.empty())
            error = linecap::check_session_filter(spec);
        std::shared_ptr<const linecap::session_filter> filter;
        if (error.empty())
            filter = linecap::session_filter::compile(spec, error);
        if (filter == nullptr) {
            fprintf(stderr, "fuzz-packet: %s: %s\n", specs[slot], error.c_str());
            std::abort();
        }
        entries.push_back({slot, filter});
        if (slot == bpf_only_slot) {
            pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
            if (pcap_compile(dead, &bpf_only, spec.bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
                fail(pcap_geterr(dead));
            pcap_close(dead);
        }
    }
    classifier = linecap::classifier::build(entries, 1, SOCKET_ID_ANY, error);
    if (classifier == nullptr)
        fail(error.c_str());
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size > max_frame)
        return 0;
    // The parser alone, on the fuzzer's own buffer: exactly `size` bytes.
    linecap::packet_fields whole;
    const bool has_ip = linecap::parse_packet(data, static_cast<uint32_t>(size), whole);
    if (has_ip != (whole.family != 0) || (has_ip && whole.l3_offset > size))
        fail("parse_packet's verdict and its fields disagree");

    pcap_pkthdr header{};
    header.caplen = header.len = static_cast<bpf_u_int32>(size);
    const bool libpcap_keeps = pcap_offline_filter(&bpf_only, &header, data) != 0;

    // One burst: flat, then two segments (the first 1 to 600 bytes long).
    rte_mbuf* burst[2];
    unsigned n = 0;
    burst[n++] = segment_of(data, size);
    if (size >= 2) {
        const size_t split = std::min(size - 1, 1 + size % 600);
        rte_mbuf* chain = segment_of(data, split);
        if (rte_pktmbuf_chain(chain, segment_of(data + split, size - split)) != 0)
            fail("rte_pktmbuf_chain refused two segments");
        burst[n++] = chain;
    }
    session_mask masks[2];
    classifier->classify(0, burst, n, masks);
    for (unsigned i = 0; i < n; i++)
        check_mask(masks[i], data, size, classifier_view(burst[i], data, size), libpcap_keeps);
    if (n == 2 && same_fields(classifier_view(burst[0], data, size), classifier_view(burst[1], data, size)) &&
        masks[0] != masks[1])
        fail("the same frame, flat and in two segments, matched different sessions");

    session_mask again;
    classifier->classify(0, &burst[n - 1], 1, &again);
    if (again != masks[n - 1])
        fail("a second classification of the same frame differs");
    for (unsigned i = 0; i < n; i++)
        free_frame(burst[i]);
    return 0;
}
