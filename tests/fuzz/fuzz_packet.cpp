// libFuzzer target: arbitrary bytes as one Ethernet frame, through the
// header parser (core/packet.h), the tunnel walk (core/tunnel.h) and
// the real classifier of twelve sessions (rules on IPv4 and IPv6 prefixes
// and ranges, ports, protocols, TCP flags; BPF; payload patterns;
// match-all; four "tunnel": "inner" sessions, one "decap": true and one
// "decap": "ip"), on real EAL and mbufs, and the decap sessions' records
// through the writer's code (core/decap.h, capture_writer) into a memory
// file.
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
//     are in it at or after its payload offset and before the payload's
//     declared end, never in its L2 header nor in the padding after the IP
//     packet;
//   - inner sessions keep only frames the walk finds an inner packet in
//     (with their tunnel ports), the match-all inner session every such
//     frame; the "vni" session only frames whose first tunnel id is listed;
//     the inner payload session only frames with "GET /" between the inner
//     packet's payload offset and its declared end, and an outer protocol
//     it allows; an inner packet starts and ends inside the outer IP
//     packet's declared length (read here from the frame);
//   - the "decap": "ip" session keeps exactly the frames whose inner packet
//     (with the same ports) starts with an IP header of its own version;
//   - for a frame a decap session keeps, the writer finds the same inner
//     packet as the classifier did, and the record it writes is the inner
//     frame up to the end the outer headers declare (after a made-up
//     Ethernet header for an inner IP packet), or for "ip" the inner packet
//     from its IP header to its declared end, in a LINKTYPE_RAW file, cut
//     at the snap length; its original length is the inner IP length
//     (read here from the frame) and its Ethernet header, or the bytes
//     there if more or if no plausible length is declared;
//   - flat and chained get the same masks whenever the bytes the classifier
//     parses of each give the same header fields and the same inner
//     packets, and a second pass gives the same masks as the first.
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
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "core/packet_meta.h"
#include "filters/classifier.h"
#include "core/packet.h"
#include "core/tunnel.h"
#include "writers/capture_writer.h"
#include "core/decap.h"

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
    // Mirror mode (docs/mirror.md): inner rules and tunnel ids; every inner
    // packet, written decapsulated, on more ports (a second set of ports:
    // a second walk); an inner payload pattern behind an outer rule.
    R"({"tunnel":"inner","match":[{"protocols":["tcp"],"dst_ports":[80,443]},{"src":["10.0.0.0/8","2001:db8::/32"]}],"vni":[42,"100-4095"]})",
    R"({"tunnel":"inner","decap":true,"vxlan_ports":[4789,8472],"geneve_ports":[6081,6082]})",
    R"({"tunnel":"inner","outer":{"protocols":["udp",47,4,41]},"payload":{"patterns":["GET /"]}})",
    R"({"tunnel":"inner","decap":"ip","vxlan_ports":[4789,8472],"geneve_ports":[6081,6082]})",
};
constexpr unsigned nb_sessions = sizeof specs / sizeof specs[0];
constexpr unsigned bpf_only_slot = 3;
constexpr unsigned payload_only_slot = 4;
constexpr unsigned match_all_slot = 6;
constexpr unsigned inner_vni_slot = 8;
constexpr unsigned decap_slot = 9;
constexpr unsigned inner_payload_slot = 10;
constexpr unsigned decap_ip_slot = 11;   // the ports of decap_slot
constexpr session_mask all_sessions = (1u << nb_sessions) - 1;
// Sessions with rules, payload patterns or a tunnel: they need an IP header.
constexpr session_mask needs_ip = all_sessions & ~(1u << bpf_only_slot | 1u << match_all_slot);
// rte_pktmbuf_attach_extbuf takes a 16-bit buffer length.
constexpr size_t max_frame = UINT16_MAX;

std::unique_ptr<linecap::classifier> classifier;
rte_mempool* pool = nullptr;
bpf_program bpf_only{};    // session bpf_only_slot's expression, compiled by libpcap
linecap::tunnel_ports default_ports;   // sessions inner_vni_slot and inner_payload_slot
linecap::tunnel_ports decap_ports;     // session decap_slot
constexpr uint32_t decap_snaplen = 200;
int decap_file = -1;                   // a memory file the decap session's records go to
linecap::capture_writer decap_writer;

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
        a.l3_offset != b.l3_offset || a.payload_offset != b.payload_offset || a.payload_end != b.payload_end)
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

// The length the IP header at `l3` declares, read here from the frame's
// first `size` bytes: the fuzzer's own copy of the rule in docs/mirror.md
// (IPv4 total length, if no less than 20 and the header length; IPv6
// payload length + 40, where a payload length of 0 before a hop-by-hop
// header or TCP says nothing), 0 for none.
uint32_t own_ip_length(const uint8_t* frame, size_t size, size_t l3, unsigned family)
{
    if (family == 4 && l3 + 4 <= size) {
        const uint32_t total = static_cast<uint32_t>(frame[l3 + 2] << 8 | frame[l3 + 3]);
        return total >= 20 && total >= (frame[l3] & 0x0fu) * 4 ? total : 0;
    }
    if (family == 6 && l3 + 7 <= size) {
        const uint32_t payload = static_cast<uint32_t>(frame[l3 + 4] << 8 | frame[l3 + 5]);
        if (payload == 0)
            return frame[l3 + 6] == 0 || frame[l3 + 6] == 6 ? 0 : 40;
        return payload + 40;
    }
    return 0;
}

// The inner packet the classifier's walk finds in `m` with `ports`, from
// the outer fields it parsed (the same calls as classifier.cpp).
struct inner_view {
    bool found = false;
    linecap::tunnel_view tunnel;
    linecap::packet_fields fields{};
    uint32_t walked = 0;   // bytes of the frame the walk had (tunnel_headers)
};

inner_view walk_view(const rte_mbuf* m, const linecap::packet_fields& outer, const linecap::tunnel_ports& ports)
{
    inner_view v;
    uint8_t copy[linecap::tunnel_headers_max];
    uint32_t len;
    const uint8_t* data = linecap::tunnel_headers(m, copy, len);
    if (data == nullptr)
        fail("tunnel_headers could not read a whole packet's first bytes");
    v.found = outer.family != 0 && linecap::find_inner(data, len, outer, ports, v.tunnel, v.fields);
    v.walked = len;
    // (A payload offset may be past the end: a header says where the payload
    // starts, and the packet was cut before it.)
    if (v.found && (v.tunnel.inner_offset >= std::min(len, v.tunnel.end) || v.tunnel.inner_offset == 0 ||
                    v.tunnel.levels == 0 || v.tunnel.levels > linecap::max_tunnel_levels ||
                    v.fields.l3_offset < v.tunnel.inner_offset))
        fail("find_inner's inner packet is not inside the frame");
    // Nor past the outer IP packet (the padding of a short frame is no
    // inner packet), nor does its payload run past the packet around it.
    if (v.found) {
        const uint32_t outer_ip = own_ip_length(data, len, outer.l3_offset, outer.family);
        if (outer_ip != 0 && (v.tunnel.end > outer.l3_offset + outer_ip ||
                              v.tunnel.inner_offset >= outer.l3_offset + outer_ip))
            fail("find_inner's inner packet runs past the outer IP packet's declared length");
        if (v.fields.payload_end > v.tunnel.end)
            fail("the inner payload runs past the packet around it");
        // In UDP, nor past the datagram (its length, read here).
        if (outer.proto == 17 && outer.payload_offset >= 8 && outer.payload_offset - 2 <= len) {
            const uint32_t datagram = static_cast<uint32_t>(data[outer.payload_offset - 4] << 8 |
                                                            data[outer.payload_offset - 3]);
            if (datagram >= 8 && v.tunnel.end > outer.payload_offset - 8 + datagram)
                fail("find_inner's inner packet runs past the UDP datagram's declared length");
        }
    }
    return v;
}

bool same_inner(const inner_view& a, const inner_view& b)
{
    if (a.found != b.found)
        return false;
    if (!a.found)
        return true;
    return a.tunnel.inner_offset == b.tunnel.inner_offset && a.tunnel.kind == b.tunnel.kind &&
           a.tunnel.end == b.tunnel.end &&
           (a.fields.l3_offset < a.walked) == (b.fields.l3_offset < b.walked) && a.tunnel.has_id == b.tunnel.has_id && a.tunnel.id == b.tunnel.id && same_fields(a.fields, b.fields);
}

// Is "GET /" in the frame's bytes from `offset` to `end` (or its end)?
bool has_pattern_from(const uint8_t* frame, size_t size, uint32_t offset, uint32_t end)
{
    static constexpr char pattern[] = "GET /";
    size = std::min<size_t>(size, end);
    return offset <= size && memmem(frame + offset, size - offset, pattern, sizeof pattern - 1) != nullptr;
}


// The inner sessions' bits against what the walk found.
void check_inner(session_mask mask, const uint8_t* frame, size_t size, const linecap::packet_fields& outer,
                 const inner_view& by_default, const inner_view& by_decap_ports)
{
    using namespace linecap;
    if (static_cast<bool>(mask & 1u << decap_slot) != by_decap_ports.found)
        fail("the match-all inner session and the tunnel walk disagree");
    // "decap": "ip" takes an inner IP packet whose first byte (read here from
    // the fuzzer's own copy of the frame) has its family as version.
    const packet_fields& in = by_decap_ports.fields;
    const bool raw_ip = by_decap_ports.found && in.family != 0 && in.l3_offset < by_decap_ports.walked &&
                        in.l3_offset < by_decap_ports.tunnel.end && in.l3_offset < size &&
                        (frame[in.l3_offset] >> 4) == in.family;
    if (static_cast<bool>(mask & 1u << decap_ip_slot) != raw_ip)
        fail("the \"decap\": \"ip\" session and the tunnel walk disagree on an inner IP packet");
    if (mask & 1u << inner_vni_slot) {
        const tunnel_view& t = by_default.tunnel;
        if (!by_default.found || by_default.fields.family == 0)
            fail("the inner rules session kept a frame without an inner IP packet");
        if (!t.has_id || !(t.id == 42 || (t.id >= 100 && t.id <= 4095)))
            fail("the vni session kept a frame whose tunnel id is not listed");
    }
    if (mask & 1u << inner_payload_slot) {
        const packet_fields& in = by_default.fields;
        if (!by_default.found || in.family == 0)
            fail("the inner payload session kept a frame without an inner IP packet");
        if (!(outer.present & have_proto) ||
            !(outer.proto == 17 || outer.proto == 47 || outer.proto == 4 || outer.proto == 41))
            fail("the inner payload session kept a frame its outer rule refuses");
        if (in.payload_offset < in.l3_offset || !has_pattern_from(frame, size, in.payload_offset, in.payload_end))
            fail("the inner payload session kept a frame without \"GET /\" in its inner payload");
    }
}

// A decap session's record of `m`, as a writer lcore writes it, read back
// from the memory file and checked byte by byte against the frame.
void check_decap_record(const rte_mbuf* m, const uint8_t* frame, size_t size, const inner_view& classified,
                        linecap::decap_mode mode)
{
    using namespace linecap;
    const record_cut cut = decap_of(m, decap_ports, mode);
    const tunnel_view& t = classified.tunnel;
    const packet_fields& in = classified.fields;
    // The inner IP length, as the fuzzer reads it within what the walk had.
    const uint32_t ip_length =
        in.family != 0 ? own_ip_length(frame, std::min<size_t>(classified.walked, t.end), in.l3_offset, in.family) : 0;
    uint32_t end = t.end;        // where the record's bytes must end
    uint32_t declared = 0;       // the original length the headers give it
    if (mode == decap_mode::ip) {
        if (cut.skip != in.l3_offset || cut.prefix_len != 0)
            fail("the writer cuts an \"ip\" decap record elsewhere than the classifier's inner IP header");
        if (ip_length != 0) {
            end = std::min(end, in.l3_offset + ip_length);
            declared = ip_length;
        }
    } else {
        if (cut.skip != t.inner_offset)
            fail("the writer decapsulates at another offset than the classifier's inner packet");
        const bool ip = t.kind != inner_kind::ethernet;
        if (cut.prefix_len != (ip ? 14u : 0u) ||
            (ip && cut.prefix[12] != (t.kind == inner_kind::ipv4 ? 0x08 : 0x86)))
            fail("a decapsulated inner IP packet without the right Ethernet header, or an inner frame with one");
        if (ip_length != 0)
            declared = cut.prefix_len + (in.l3_offset - t.inner_offset) + ip_length;
    }
    if (cut.end != end)
        fail("the decap record does not end where the headers declare its packet ends");

    if (ftruncate(decap_file, 0) != 0 || lseek(decap_file, 0, SEEK_SET) != 0)
        fail("cannot empty the memory file");
    capture_file_options options;
    options.format = file_format::pcap_ns;
    options.snaplen = decap_snaplen;
    options.chunk_bytes = 1 << 17;
    options.linktype = linktype_of(mode);
    if (decap_writer.attach(dup(decap_file), "decap", options) != 0)
        fail("cannot attach the capture writer");
    decap_writer.write_packet(m, 1, cut);
    if (decap_writer.close(1) != 0)
        fail("the capture writer failed on a memory file");

    const size_t stop = std::min<size_t>(size, end);
    if (cut.skip > stop)
        fail("the decap record starts past its end");
    const uint32_t bytes = static_cast<uint32_t>(stop - cut.skip) + cut.prefix_len;
    const uint32_t len = std::max(bytes, declared);
    const uint32_t caplen = std::min(bytes, decap_snaplen);
    constexpr size_t header = sizeof(linecap::pcap_file_header);
    std::vector<uint8_t> file(header + sizeof(linecap::pcap_record_header) + caplen + 1);
    if (pread(decap_file, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size() - 1))
        fail("the decap record is not one record of the inner frame's bytes");
    linecap::pcap_file_header fh;
    std::memcpy(&fh, file.data(), sizeof fh);
    if (fh.linktype != linktype_of(mode))
        fail("the decap file's link type is not the session's");
    linecap::pcap_record_header h;
    std::memcpy(&h, file.data() + header, sizeof h);
    if (h.caplen != caplen)
        fail("the decap record's captured length is not the inner packet's bytes");
    if (h.len != len)
        fail("the decap record's original length is not the inner packet's");
    std::vector<uint8_t> expected(cut.prefix, cut.prefix + cut.prefix_len);
    expected.insert(expected.end(), frame + cut.skip, frame + stop);
    expected.resize(caplen);
    if (std::memcmp(file.data() + header + sizeof h, expected.data(), caplen) != 0)
        fail("the decap record's bytes are not the inner frame's");
    // A raw IP record starts with an IP version, the one the tunnel
    // announced where it did (GRE, GENEVE, IP-in-IP: an inner IP packet).
    if (mode == decap_mode::ip && caplen != 0) {
        const unsigned version = expected[0] >> 4;
        const inner_kind kind = t.kind;
        if ((version != 4 && version != 6) || (kind == inner_kind::ipv4 && version != 4) ||
            (kind == inner_kind::ipv6 && version != 6))
            fail("an \"ip\" decap record does not start with the inner IP header");
    }
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
        if (f.payload_offset < f.l3_offset || !has_pattern_from(frame, size, f.payload_offset, f.payload_end))
            fail("the payload session kept a frame without \"GET /\" in its payload");
        // Nor in the padding after the IP packet, whose length the fuzzer reads itself.
        const uint32_t ip_length = own_ip_length(frame, size, f.l3_offset, f.family);
        if (ip_length != 0 && !has_pattern_from(frame, size, f.payload_offset, f.l3_offset + ip_length))
            fail("the payload session matched \"GET /\" past the IP packet's declared length");
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
        if (slot == inner_vni_slot)
            default_ports = spec.tunnel.ports;
        if (slot == decap_slot) {
            if (spec.output.decap != linecap::decap_mode::frame)
                fail("the decap session does not decapsulate");
            decap_ports = spec.output.tunnel;
        }
        if (slot == decap_ip_slot &&
            (spec.output.decap != linecap::decap_mode::ip || !(spec.output.tunnel == decap_ports)))
            fail("the \"ip\" decap session does not decapsulate to IP on the decap session's ports");
    }
    decap_file = memfd_create("fuzz-packet-decap", MFD_CLOEXEC);
    if (decap_file < 0)
        fail("memfd_create failed");
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
    linecap::packet_fields outer[2];
    inner_view by_default[2], by_decap_ports[2];
    for (unsigned i = 0; i < n; i++) {
        outer[i] = classifier_view(burst[i], data, size);
        by_default[i] = walk_view(burst[i], outer[i], default_ports);
        by_decap_ports[i] = walk_view(burst[i], outer[i], decap_ports);
        check_mask(masks[i], data, size, outer[i], libpcap_keeps);
        check_inner(masks[i], data, size, outer[i], by_default[i], by_decap_ports[i]);
        if (masks[i] & 1u << decap_slot)
            check_decap_record(burst[i], data, size, by_decap_ports[i], linecap::decap_mode::frame);
        if (masks[i] & 1u << decap_ip_slot)
            check_decap_record(burst[i], data, size, by_decap_ports[i], linecap::decap_mode::ip);
    }
    if (n == 2 && same_fields(outer[0], outer[1]) && same_inner(by_default[0], by_default[1]) &&
        same_inner(by_decap_ports[0], by_decap_ports[1]) && masks[0] != masks[1])
        fail("the same frame, flat and in two segments, matched different sessions");

    session_mask again;
    classifier->classify(0, &burst[n - 1], 1, &again);
    if (again != masks[n - 1])
        fail("a second classification of the same frame differs");
    for (unsigned i = 0; i < n; i++)
        free_frame(burst[i]);
    return 0;
}
