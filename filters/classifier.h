// The compiled filter of every session, as one object a worker calls once per
// burst. Three stages, each paid only by the packets the cheaper one kept:
//
//   parse (core/packet.h: link layers, then IPv4, then IPv6 headers) -> rte_acl: rules of all sessions in one pass
//        (a packet whose addresses no rule can match, as the rules' address
//        prefilter says (address_prefilter.h), is not parsed past them when the parsed
//        fields serve only as the rules' keys, and never reaches rte_acl;
//        with a prefilter of a few marks an untagged frame is asked before
//        its link layer is walked)
//        -> BPF, per session that has an expression, over the packets it still wants
//           (those its program's address filter, bpf.h, lets through)
//        -> Hyperscan payload scan, per session that has patterns
//
// Sessions with "tunnel": "inner" (docs/mirror.md) take a second pass, paid
// only when such a session exists: per set of tunnel ports, the bounded
// tunnel walk (core/tunnel.h) finds each packet's innermost packet, whose
// fields go through the same rte_acl tries; then the "outer" rules (a trie of
// their own over the outer keys), the tunnel ids, BPF and payload.
//
// A classifier is immutable once built (workers only read it), except for
// one Hyperscan scratch space per worker, which only that worker touches.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <hs/hs.h>
#include <rte_mbuf.h>

#include "core/packet_meta.h"
#include "filters/acl.h"
#include "filters/bpf.h"
#include "filters/payload.h"
#include "core/spec.h"
#include "core/tunnel.h"

namespace linecap {

// The header bytes parsed of a chain whose first segment is shorter than
// this: two VLAN tags, IPv6 and a chain of extension headers, TCP. Beyond
// this such a packet has no parsable transport. (A first segment at least
// this long is parsed whole, as drivers put 2 KiB in it.)
constexpr uint32_t headers_max = 512;

// One session's filter, compiled when the session starts, shared by every
// classifier built while it runs.
struct session_filter {
    std::vector<match_rule> rules;
    bool match_all = false;                 // no rules, or a rule that names nothing
    std::unique_ptr<bpf_expression> bpf;        // null: no expression
    std::unique_ptr<payload_scanner> payload;
    // "tunnel": "inner": rules, BPF aside, apply to the innermost packet;
    // match_all then means "every packet that has an inner packet".
    bool inner = false;
    tunnel_ports ports;
    std::vector<tunnel_id_range> ids;       // "vni"; empty: any
    std::optional<match_rule> outer;        // "outer"; absent when it names nothing
    // "decap": "ip" writes the inner IP packet: an inner frame that is not
    // IP (ARP, say), or an inner IP header of the wrong version, has
    // nothing to write in a LINKTYPE_RAW file, so it does not match.
    bool inner_ip_only = false;
    // The session's writers index its packets as received, cut past their
    // flow keys (output_spec::index_marked): its workers mark packets whose
    // flow they have passed on (writers/index_flow.h).
    bool index_marks = false;

    // Compiles the BPF expression and the payload patterns of `spec`.
    // Returns null and sets `error` (which names the field) on failure.
    // `bpf`: how DPDK runs the BPF expression (see bpf.h).
    // `wire_len_offset`: where BPF's `len` reads the wire length, if not
    // from pkt_len (packets read from a capture file; see bpf.h).
    static std::shared_ptr<const session_filter> compile(const session_spec& spec, std::string& error,
                                                         bpf_runner bpf = bpf_runner::guarded_jit,
                                                         int wire_len_offset = -1);

    // compile() in two halves. prepare() needs no DPDK (libpcap, which
    // resolves host names and can wait seconds on DNS, and Hyperscan): any
    // thread, even one still running when the process exits. load_bpf()
    // then hands the BPF program to DPDK. Each returns null or an empty
    // string on success, else the error as compile() words it.
    static std::shared_ptr<session_filter> prepare(const session_spec& spec, std::string& error);
    std::string load_bpf(bpf_runner bpf = bpf_runner::guarded_jit, int wire_len_offset = -1);
};

// Everything that can be checked of a spec's filter without DPDK running:
// BPF syntax (libpcap), payload patterns (Hyperscan), rule expansion size.
// Returns an empty string, or the error with its field named.
std::string check_session_filter(const session_spec& spec);

class classifier {
public:
    struct entry {
        unsigned slot;                              // the session's bit in packet masks
        std::shared_ptr<const session_filter> filter;
    };

    // Builds the classifier for `sessions`, with scratch for `nb_workers`.
    // Returns null and sets `error` on failure.
    static std::unique_ptr<classifier> build(const std::vector<entry>& sessions, unsigned nb_workers,
                                             int socket, std::string& error);
    ~classifier();

    // For each of the `n` packets, the sessions that want it.
    void classify(unsigned worker, rte_mbuf* const* pkts, unsigned n, session_mask* masks) const;

    // The sessions whose packets a worker marks for the index (session_filter::index_marks).
    session_mask index_marked() const { return _index_marked; }

    size_t acl_rules() const { return _acl.rule_count(); }
    // Whether packets of that IP version (4 or 6) are asked the rules'
    // address prefilter before the rest of their headers is parsed.
    bool addresses_first(int family) const
    {
        return (family == 4 ? _address_first4 : _address_first6) != nullptr;
    }
    // Whether untagged frames are asked the prefilter even before their link
    // layer is walked (every family parsed has a prefilter of a few marks).
    bool untagged_first() const { return _untagged_first; }

private:
    // Inner sessions that share tunnel ports share one tunnel walk.
    struct inner_group {
        tunnel_ports ports;
        session_mask sessions = 0;     // every inner session with these ports
        session_mask by_rules = 0;     // decided by their rules
        session_mask any_inner = 0;    // no rules: every packet with an inner packet
        session_mask late = 0;         // BPF or payload patterns
        session_mask ip_only = 0;      // "decap": "ip": only inner IP packets (raw_ip_inner)
    };

    classifier() = default;
    void classify_chunk(unsigned worker, rte_mbuf* const* pkts, unsigned n, session_mask* masks) const;
    void classify_inner(unsigned worker, rte_mbuf* const* pkts, unsigned n, const packet_fields* outer,
                        session_mask* masks) const;
    void run_late_stages(unsigned worker, rte_mbuf* const* pkts, unsigned n, const packet_fields* fields,
                         session_mask* masks, session_mask which) const;

    acl_classifier _acl;
    acl_classifier _outer_rules;       // inner sessions' "outer" rules, over the outer keys
    std::vector<entry> _sessions;
    std::vector<inner_group> _groups;
    session_mask _match_all = 0;       // sessions that take every packet
    session_mask _acl_sessions = 0;    // outer sessions decided by the rules
    session_mask _inner_sessions = 0;
    session_mask _outer_rule_sessions = 0;   // inner sessions with an "outer" rule
    session_mask _id_sessions = 0;           // inner sessions with "vni"
    session_mask _index_marked = 0;
    bool _needs_parse = false;         // rules or payload patterns: headers must be parsed
    bool _late_stages = false;         // BPF or payload patterns
    // The IP families whose headers the parse reads. When the parsed fields
    // are only rte_acl's keys (no payload patterns, no inner sessions), a
    // family no rule names is not parsed: on mixed traffic, a session of
    // IPv4 rules pays nothing for IPv6 headers.
    bool _parse_v4 = true;
    bool _parse_v6 = true;
    // Then too, a family whose rules have an address prefilter
    // (address_prefilter.h) is asked it from each frame's addresses first,
    // and only the packets it lets through are parsed further: the others
    // match no rule. Null: no such step for that family. They point into
    // _acl. _untagged_first: an untagged frame is asked before its link
    // layer is walked (classify_chunk), when every family parsed has a
    // prefilter of a few marks.
    const address_prefilter* _address_first4 = nullptr;
    const address_prefilter* _address_first6 = nullptr;
    bool _untagged_first = false;
    std::vector<hs_scratch_t*> _scratch;   // one per worker
};

} // namespace linecap
