#include "filters/classifier.h"

#include <algorithm>

#include <fmt/format.h>
#include <rte_branch_prediction.h>
#include <rte_prefetch.h>

namespace linecap {

namespace {

// Packets ahead whose data is prefetched while one is parsed (l3fwd's choice).
constexpr unsigned prefetch_ahead = 3;

// Packets classified per pass: the keys and results of one pass stay in L1.
constexpr unsigned chunk = 64;
static_assert(chunk <= 64, "classify_inner keeps one bit per packet of a chunk in a uint64_t");
static_assert(chunk <= bpf_burst_max, "run_late_stages hands a session's packets of a chunk to BPF in one call");

// Where a payload scan stops: the end the IP header declares, and for UDP
// the datagram's (the parse leaves the UDP length to the readers of UDP
// payloads: packet.h, udp_payload_end). Paid only by packets a session
// with payload patterns still wants.
uint32_t scan_end(const rte_mbuf* m, const packet_fields& f)
{
    if (f.proto != 17 || !(f.present & have_transport))
        return f.payload_end;
    uint8_t copy[2];
    const auto* length = static_cast<const uint8_t*>(rte_pktmbuf_read(m, f.payload_offset - 4, 2, copy));
    return length != nullptr ? udp_payload_end(f, static_cast<uint32_t>(length[0] << 8 | length[1])) : f.payload_end;
}

// Keeps, of the packets `list[0..count)` whose IP header of version
// Family starts at their fields' l3_offset, those whose addresses `filter`
// lets through, and those whose fixed header is cut short (their keys hold
// what is there: they are parsed whole); returns how many are kept. With no
// branch on the filter's answer, which on mixed traffic the CPU cannot
// foresee.
template <int Family>
unsigned keep_addresses_that_may_match(rte_mbuf* const* pkts, const packet_fields* fields, uint16_t* list,
                                       unsigned count, const address_prefilter& filter)
{
    constexpr uint32_t header = Family == 4 ? ipv4_header_min : ipv6_header_len;
    constexpr uint32_t src_at = Family == 4 ? ipv4_src_at : ipv6_src_at;
    constexpr uint32_t dst_at = Family == 4 ? ipv4_dst_at : ipv6_dst_at;
    return filter.with_marks([&](auto marks) {
        unsigned kept = 0;
        for (unsigned j = 0; j < count; j++) {
            const unsigned i = list[j];
            const uint8_t* ip = rte_pktmbuf_mtod(pkts[i], const uint8_t*) + fields[i].l3_offset;
            const bool cut = fields[i].l3_offset + header > pkts[i]->data_len;
            list[kept] = static_cast<uint16_t>(i);
            if constexpr (Family == 4)
                kept += cut || filter.template may_match_v4<marks.value>(ip + src_at, ip + dst_at);
            else
                kept += cut || filter.template may_match_v6<marks.value>(ip + src_at, ip + dst_at);
        }
        return kept;
    });
}

// What keep_untagged_that_may_match asks of one family's IP headers:
// nothing (no prefilter: the family is not parsed, its frames are no key),
// or their addresses, of the family's prefilter, whose marks
// (address_prefilter::marks_kind) are the mode.
constexpr uint8_t skip_family = 0;

template <typename Body>
[[gnu::always_inline]] inline void with_family_check(const address_prefilter* filter, Body&& body)
{
    if (filter != nullptr)
        filter->with_marks([&](auto marks) { body(marks); });
    else
        body(std::integral_constant<uint8_t, skip_family>{});
}

// The most marks (address_prefilter::marked_buckets) a family's prefilter
// may have for the classifier to ask untagged frames first: 64 hosts one
// way (32 both ways), or one side's /24s of a /18.
constexpr uint32_t untagged_first_most_marks = 64;

// The bytes of a frame keep_untagged_that_may_match reads: its Ethernet
// header, then an IPv6 header up to its destination's first 8 bytes.
// Within the mbuf's buffer, though not always within the frame: what lies
// past the frame is read only where the frame's length decides the answer.
constexpr uint32_t untagged_reads = 14 + ipv6_dst_at + 8;

// The frames of pkts[0..n) the parse must go on with, in two lists:
// `asked` gets the untagged frames with an IP header of a family asked
// (Check4, Check6: skip_family or the prefilter's marks) whose addresses its prefilter
// lets through or whose fixed header is cut short; `walk` every frame of 18
// bytes or more whose Ethernet type is a VLAN tag's (the parse looks past
// it, and asks the prefilter there; a shorter one has no IP header the
// parse would find) and those this does not read (a chain whose first
// segment is shorter than its headers, a buffer shorter than
// untagged_reads). Their counts go to n_asked and n_walk. A frame in
// neither matches no rule. It reads a frame's type and its addresses where
// an untagged IP header has them, both before it knows the type, as the
// expressions' address filter does (bpf.h), and gathers the frames with no
// branch on either, which on mixed traffic the CPU cannot foresee.
template <uint8_t Check4, uint8_t Check6>
void keep_untagged_that_may_match(rte_mbuf* const* pkts, unsigned n, const address_prefilter* v4,
                                  const address_prefilter* v6, uint16_t* asked, unsigned& n_asked,
                                  uint16_t* walk, unsigned& n_walk)
{
    unsigned kept = 0, walked = 0;
    for (unsigned i = 0; i < n; i++) {
        const rte_mbuf* m = pkts[i];
        const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
        const uint32_t len = m->data_len;
        asked[kept] = static_cast<uint16_t>(i);
        walk[walked] = static_cast<uint16_t>(i);
        if (unlikely((len < headers_max && len != m->pkt_len) ||
                     static_cast<uint32_t>(m->buf_len - m->data_off) < untagged_reads)) {
            walked++;
            continue;
        }
        const uint16_t type = detail::load16(frame + 12);
        const uint8_t* ip = frame + 14;
        walked += detail::is_vlan(type) & (len >= 18);
        bool keep = false;
        if constexpr (Check4 != skip_family) {
            const bool passes =
                (14 + ipv4_header_min > len) | v4->may_match_v4<Check4>(ip + ipv4_src_at, ip + ipv4_dst_at);
            keep |= (type == ether_type_ipv4) & (len >= 14) & passes;
        }
        if constexpr (Check6 != skip_family) {
            const bool passes =
                (14 + ipv6_header_len > len) | v6->may_match_v6<Check6>(ip + ipv6_src_at, ip + ipv6_dst_at);
            keep |= (type == ether_type_ipv6) & (len >= 14) & passes;
        }
        kept += keep;
    }
    n_asked = kept;
    n_walk = walked;
}

} // namespace

std::string check_session_filter(const session_spec& spec)
{
    if (!spec.bpf.empty())
        if (std::string e = bpf_expression::check_syntax(spec.bpf, spec.netmask); !e.empty())
            return "bpf: " + e;
    if (!spec.payload.patterns.empty()) {
        payload_scanner trial;
        if (std::string e = trial.compile(spec.payload); !e.empty())
            return e;
    }
    acl_classifier trial;
    if (std::string e = trial.add_session(0, spec.match); !e.empty())
        return e;
    if (spec.tunnel.outer) {
        acl_classifier outer;
        if (std::string e = outer.add_session(0, {*spec.tunnel.outer}); !e.empty())
            return "outer: " + e.substr(e.find(':') + 2);
    }
    return {};
}

std::shared_ptr<const session_filter> session_filter::compile(const session_spec& spec, std::string& error,
                                                              bpf_runner bpf, int wire_len_offset)
{
    std::shared_ptr<session_filter> f = prepare(spec, error);
    if (!f)
        return nullptr;
    if (std::string e = f->load_bpf(bpf, wire_len_offset); !e.empty()) {
        error = e;
        return nullptr;
    }
    return f;
}

std::string session_filter::load_bpf(bpf_runner runner, int wire_len_offset)
{
    if (!bpf)
        return {};
    const std::string e = bpf->load(runner, wire_len_offset);
    return e.empty() ? e : "bpf: " + e;
}

std::shared_ptr<session_filter> session_filter::prepare(const session_spec& spec, std::string& error)
{
    auto f = std::make_shared<session_filter>();
    f->rules = spec.match;
    f->match_all = spec.match.empty() ||
                   std::any_of(spec.match.begin(), spec.match.end(),
                               [](const match_rule& r) { return r.matches_everything(); });
    if (!spec.bpf.empty()) {
        f->bpf = std::make_unique<bpf_expression>();
        if (std::string e = f->bpf->parse(spec.bpf, spec.netmask); !e.empty()) {
            error = "bpf: " + e;
            return nullptr;
        }
    }
    if (!spec.payload.patterns.empty()) {
        f->payload = std::make_unique<payload_scanner>();
        if (std::string e = f->payload->compile(spec.payload); !e.empty()) {
            error = e;
            return nullptr;
        }
    }
    f->inner = spec.tunnel.inner;
    f->ports = spec.tunnel.ports;
    f->ids = spec.tunnel.ids;
    f->inner_ip_only = spec.output.decap == decap_mode::ip;
    f->index_marks = spec.output.index_marked();
    if (spec.tunnel.outer && !spec.tunnel.outer->matches_everything())
        f->outer = spec.tunnel.outer;
    // The rules are compiled into a trie when a classifier is built;
    // check_session_filter has already checked their size.
    return f;
}

std::unique_ptr<classifier> classifier::build(const std::vector<entry>& sessions, unsigned nb_workers,
                                              int socket, std::string& error)
{
    std::unique_ptr<classifier> c(new classifier());
    c->_sessions = sessions;
    hs_scratch_t* prototype = nullptr;
    for (const entry& e : sessions) {
        const session_mask bit = static_cast<session_mask>(1u << e.slot);
        const session_filter& f = *e.filter;
        if (f.index_marks)
            c->_index_marked |= bit;
        if (f.inner) {
            auto g = std::find_if(c->_groups.begin(), c->_groups.end(),
                                  [&](const inner_group& x) { return x.ports == f.ports; });
            if (g == c->_groups.end()) {
                c->_groups.push_back({});
                g = c->_groups.end() - 1;
                g->ports = f.ports;
            }
            g->sessions |= bit;
            (f.match_all ? g->any_inner : g->by_rules) |= bit;
            if (f.bpf || f.payload)
                g->late |= bit;
            if (f.inner_ip_only)
                g->ip_only |= bit;
            c->_inner_sessions |= bit;
            if (!f.ids.empty())
                c->_id_sessions |= bit;
            if (f.outer) {
                c->_outer_rule_sessions |= bit;
                if (std::string err = c->_outer_rules.add_session(e.slot, {*f.outer}); !err.empty()) {
                    error = "outer: " + err;
                    return nullptr;
                }
            }
        } else if (f.match_all) {
            c->_match_all |= bit;
        } else {
            c->_acl_sessions |= bit;
        }
        if (!f.match_all)
            if (std::string err = c->_acl.add_session(e.slot, f.rules); !err.empty()) {
                error = err;
                return nullptr;
            }
        if (e.filter->payload && !e.filter->payload->reserve_scratch(prototype)) {
            error = "payload: cannot allocate Hyperscan scratch space";
            return nullptr;
        }
        c->_needs_parse |= !e.filter->match_all || e.filter->payload != nullptr || e.filter->inner;
        c->_late_stages |= e.filter->bpf != nullptr || e.filter->payload != nullptr;
    }
    const bool fields_are_keys_only =
        c->_groups.empty() && std::none_of(sessions.begin(), sessions.end(),
                                           [](const entry& e) { return e.filter->payload != nullptr; });
    if (fields_are_keys_only) {
        c->_parse_v4 = c->_acl.has_rules(4);
        c->_parse_v6 = c->_acl.has_rules(6);
    }
    if (std::string err = c->_acl.build(socket); !err.empty()) {
        error = err;
        return nullptr;
    }
    if (fields_are_keys_only) {
        c->_address_first4 = c->_acl.prefilter(4);
        c->_address_first6 = c->_acl.prefilter(6);
        // The untagged frames asked before their link layer is walked when
        // that turns most of them away: every family parsed has a
        // prefilter of a few marks (a capture of some hosts or subscribers).
        // With more, as in a rule set of 256 prefixes whose traffic the
        // mix holds, the walk's second look costs more than the first
        // spares (docs/performance.md).
        const auto few_marks = [](bool parsed, const address_prefilter* f) {
            return !parsed || (f != nullptr && f->marked_buckets <= untagged_first_most_marks);
        };
        c->_untagged_first = (c->_address_first4 != nullptr || c->_address_first6 != nullptr) &&
                             few_marks(c->_parse_v4, c->_address_first4) &&
                             few_marks(c->_parse_v6, c->_address_first6);
    }
    if (c->_outer_rule_sessions != 0)
        if (std::string err = c->_outer_rules.build(socket); !err.empty()) {
            error = "outer: " + err;
            return nullptr;
        }
    for (unsigned w = 0; w < nb_workers && prototype != nullptr; w++) {
        hs_scratch_t* copy = nullptr;
        if (hs_clone_scratch(prototype, &copy) != HS_SUCCESS) {
            hs_free_scratch(prototype);
            error = "payload: cannot allocate Hyperscan scratch space";
            return nullptr;
        }
        c->_scratch.push_back(copy);
    }
    hs_free_scratch(prototype);
    return c;
}

classifier::~classifier()
{
    for (hs_scratch_t* s : _scratch)
        hs_free_scratch(s);
}

void classifier::classify(unsigned worker, rte_mbuf* const* pkts, unsigned n, session_mask* masks) const
{
    for (unsigned done = 0; done < n; done += chunk)
        classify_chunk(worker, pkts + done, std::min(chunk, n - done), masks + done);
}

void classifier::classify_chunk(unsigned worker, rte_mbuf* const* pkts, unsigned n, session_mask* masks) const
{
    if (!_needs_parse) {
        // No rules and no payload patterns: at most BPF, which reads the mbuf itself.
        for (unsigned i = 0; i < n; i++)
            masks[i] = _match_all;
        if (_late_stages)
            run_late_stages(worker, pkts, n, nullptr, masks, static_cast<session_mask>(~_inner_sessions));
        return;
    }

    // 1. Parse each packet once and sort it into the IPv4 or IPv6 batch; the
    //    parsed fields are the keys rte_acl reads. In two passes: each
    //    packet's link layer first, then the IP headers a family at a time,
    //    so that the parse has no branch on the family of each packet, which
    //    on mixed traffic the CPU cannot foresee (docs/performance.md). When
    //    the fields are only keys, a packet whose addresses no rule can
    //    match is parsed no further than them, and keeps the fields of a
    //    frame with no IP header: it is no family's key. Then too, the
    //    untagged frames (most of them) are asked first where their
    //    addresses are, and the link layer of only those that may match is
    //    walked: the others are not parsed at all (their fields are never
    //    read).
    packet_fields fields[chunk];
    const uint8_t* keys4[chunk];
    const uint8_t* keys6[chunk];
    uint16_t index4[chunk];
    uint16_t index6[chunk];
    uint16_t ip4[chunk];   // packets whose IPv4 header is still to parse
    uint16_t ip6[chunk];
    unsigned n4 = 0, n6 = 0, to_parse4 = 0, to_parse6 = 0;
    // The link layer of pkts[i], and the batch it joins: an IP family's (its
    // header parsed below), or its key's, for a chain copied out.
    const auto walk_link_layer = [&](unsigned i) __attribute__((always_inline)) {
        const rte_mbuf* m = pkts[i];
        // Headers are read from the first segment, where drivers put at least
        // 2 KiB. A chain whose first segment is shorter than the headers may
        // be (a tiny first segment from a virtual device) is copied out and
        // parsed whole here.
        if (likely(m->data_len >= headers_max || m->data_len == m->pkt_len)) {
            const uint8_t family = parse_link_layer(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, _parse_v4,
                                                    _parse_v6, fields[i]);
            ip4[to_parse4] = static_cast<uint16_t>(i);
            ip6[to_parse6] = static_cast<uint16_t>(i);
            to_parse4 += family == 4;
            to_parse6 += family == 6;
            return;
        }
        uint8_t copy[headers_max];
        const uint32_t len = std::min<uint32_t>(m->pkt_len, headers_max);
        parse_packet_families(static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, copy)), len, _parse_v4,
                              _parse_v6, fields[i]);
        const uint8_t* key = reinterpret_cast<const uint8_t*>(&fields[i]);
        if (fields[i].family == 4) {
            keys4[n4] = key;
            index4[n4++] = static_cast<uint16_t>(i);
        } else if (fields[i].family == 6) {
            keys6[n6] = key;
            index6[n6++] = static_cast<uint16_t>(i);
        }
    };
    uint16_t asked[chunk];   // untagged IP packets the prefilter let through
    unsigned n_asked = 0;
    if (_untagged_first) {
        uint16_t walk[chunk];   // the tagged ones, and those it could not read
        unsigned n_walk = 0;
        for (unsigned i = 0; i < n; i++)
            masks[i] = _match_all;
        with_family_check(_address_first4, [&](auto check4) {
            with_family_check(_address_first6, [&](auto check6) {
                keep_untagged_that_may_match<check4.value, check6.value>(pkts, n, _address_first4, _address_first6,
                                                                         asked, n_asked, walk, n_walk);
            });
        });
        for (unsigned j = 0; j < n_walk; j++)
            walk_link_layer(walk[j]);
    } else {
        for (unsigned i = 0; i < n && i < prefetch_ahead; i++)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
        for (unsigned i = 0; i < n; i++) {
            if (i + prefetch_ahead < n)
                rte_prefetch0(rte_pktmbuf_mtod(pkts[i + prefetch_ahead], void*));
            masks[i] = _match_all;
            walk_link_layer(i);
        }
    }
    if (_address_first4 != nullptr)
        to_parse4 = keep_addresses_that_may_match<4>(pkts, fields, ip4, to_parse4, *_address_first4);
    if (_address_first6 != nullptr)
        to_parse6 = keep_addresses_that_may_match<6>(pkts, fields, ip6, to_parse6, *_address_first6);
    // The untagged packets asked already: their link layer, then their IP headers.
    for (unsigned j = 0; j < n_asked; j++) {
        const unsigned i = asked[j];
        const uint8_t family = parse_link_layer(rte_pktmbuf_mtod(pkts[i], const uint8_t*), pkts[i]->data_len,
                                                _parse_v4, _parse_v6, fields[i]);
        ip4[to_parse4] = static_cast<uint16_t>(i);
        ip6[to_parse6] = static_cast<uint16_t>(i);
        to_parse4 += family == 4;
        to_parse6 += family == 6;
    }
    for (unsigned j = 0; j < to_parse4; j++) {
        const unsigned i = ip4[j];
        parse_ipv4_of_frame(rte_pktmbuf_mtod(pkts[i], const uint8_t*), pkts[i]->data_len, fields[i]);
        keys4[n4] = reinterpret_cast<const uint8_t*>(&fields[i]);
        index4[n4++] = static_cast<uint16_t>(i);
    }
    for (unsigned j = 0; j < to_parse6; j++) {
        const unsigned i = ip6[j];
        parse_ipv6_of_frame(rte_pktmbuf_mtod(pkts[i], const uint8_t*), pkts[i]->data_len, fields[i]);
        keys6[n6] = reinterpret_cast<const uint8_t*>(&fields[i]);
        index6[n6++] = static_cast<uint16_t>(i);
    }

    // 2. Every session's rules in one pass per family (a scan, or rte_acl's trie).
    if (_acl_sessions != 0) {
        uint32_t bits[chunk];
        // The rules hold inner sessions' too: those bits are not for the outer keys.
        const session_mask wanted = _acl_sessions;
        auto collect = [&](const uint16_t* index, unsigned count) {
            for (unsigned j = 0; j < count; j++)
                masks[index[j]] |= static_cast<session_mask>(bits[j]) & wanted;
        };
        _acl.classify_v4(keys4, bits, n4);
        collect(index4, n4);
        _acl.classify_v6(keys6, bits, n6);
        collect(index6, n6);
    }

    if (unlikely(!_groups.empty()))
        classify_inner(worker, pkts, n, fields, masks);
    if (_late_stages)
        run_late_stages(worker, pkts, n, fields, masks, static_cast<session_mask>(~_inner_sessions));
}

// The inner pass: for each set of tunnel ports, walk each IP packet's
// tunnels, classify the innermost packets with the same tries, then apply
// the inner sessions' other conditions. Only the inner sessions' bits are
// set here.
void classifier::classify_inner(unsigned worker, rte_mbuf* const* pkts, unsigned n, const packet_fields* outer,
                                session_mask* masks) const
{
    packet_fields inner[chunk];
    tunnel_view views[chunk];
    session_mask bits[chunk];
    const uint8_t* keys4[chunk];
    const uint8_t* keys6[chunk];
    uint16_t index4[chunk], index6[chunk], tunneled[chunk];
    uint32_t results[chunk];   // per key: the categories matched

    for (const inner_group& g : _groups) {
        unsigned n4 = 0, n6 = 0, nt = 0;
        uint64_t not_raw_ip = 0;   // packet i's bit: its inner packet is not raw IP
        for (unsigned i = 0; i < n; i++) {
            if (outer[i].family == 0)
                continue;
            uint8_t copy[tunnel_headers_max];
            uint32_t len;
            const uint8_t* data = tunnel_headers(pkts[i], copy, len);
            if (!find_inner(data, len, outer[i], g.ports, views[i], inner[i]))
                continue;
            bits[i] = g.any_inner;
            // "decap": "ip" sessions take only what a raw IP file can hold.
            if (unlikely(g.ip_only != 0) && !raw_ip_inner(data, len, views[i], inner[i]))
                not_raw_ip |= static_cast<uint64_t>(1) << i;
            tunneled[nt++] = static_cast<uint16_t>(i);
            const uint8_t* key = reinterpret_cast<const uint8_t*>(&inner[i]);
            if (inner[i].family == 4) {
                keys4[n4] = key;
                index4[n4++] = static_cast<uint16_t>(i);
            } else if (inner[i].family == 6) {
                keys6[n6] = key;
                index6[n6++] = static_cast<uint16_t>(i);
            }
        }
        if (nt == 0)
            continue;

        if (g.by_rules != 0) {
            auto collect = [&](const uint16_t* index, unsigned count) {
                for (unsigned j = 0; j < count; j++)
                    bits[index[j]] |= static_cast<session_mask>(results[j]) & g.by_rules;
            };
            _acl.classify_v4(keys4, results, n4);
            collect(index4, n4);
            _acl.classify_v6(keys6, results, n6);
            collect(index6, n6);
        }

        // "outer": the outer keys of the tunneled packets through the outer-rule trie.
        if (const session_mask checked = g.sessions & _outer_rule_sessions; checked != 0) {
            n4 = n6 = 0;
            for (unsigned j = 0; j < nt; j++) {
                const unsigned i = tunneled[j];
                const uint8_t* key = reinterpret_cast<const uint8_t*>(&outer[i]);
                if (outer[i].family == 4) {
                    keys4[n4] = key;
                    index4[n4++] = static_cast<uint16_t>(i);
                } else {
                    keys6[n6] = key;
                    index6[n6++] = static_cast<uint16_t>(i);
                }
            }
            auto keep = [&](const uint16_t* index, unsigned count) {
                for (unsigned j = 0; j < count; j++) {
                    const auto b = static_cast<session_mask>(results[j]);
                    bits[index[j]] &= static_cast<session_mask>(~(checked & ~b));
                }
            };
            _outer_rules.classify_v4(keys4, results, n4);
            keep(index4, n4);
            _outer_rules.classify_v6(keys6, results, n6);
            keep(index6, n6);
        }

        // "vni": the first tunnel id on the way in.
        if (g.sessions & _id_sessions)
            for (const entry& e : _sessions) {
                const session_mask bit = static_cast<session_mask>(1u << e.slot);
                if (!(g.sessions & _id_sessions & bit))
                    continue;
                for (unsigned j = 0; j < nt; j++) {
                    const unsigned i = tunneled[j];
                    if (!(bits[i] & bit))
                        continue;
                    const tunnel_view& t = views[i];
                    const bool in_range = t.has_id && std::any_of(e.filter->ids.begin(), e.filter->ids.end(),
                        [&](const tunnel_id_range& r) { return t.id >= r.lo && t.id <= r.hi; });
                    if (!in_range)
                        bits[i] &= static_cast<session_mask>(~bit);
                }
            }

        if (g.late != 0) {
            // BPF and payload for the tunneled packets only, with the inner fields.
            session_mask sub[chunk];
            rte_mbuf* subset[chunk];
            for (unsigned j = 0; j < nt; j++) {
                subset[j] = pkts[tunneled[j]];
                sub[j] = bits[tunneled[j]];
            }
            packet_fields inner_subset[chunk];
            for (unsigned j = 0; j < nt; j++)
                inner_subset[j] = inner[tunneled[j]];
            run_late_stages(worker, subset, nt, inner_subset, sub, g.late);
            for (unsigned j = 0; j < nt; j++)
                bits[tunneled[j]] = sub[j];
        }
        for (unsigned j = 0; j < nt; j++) {
            const unsigned i = tunneled[j];
            if (unlikely(not_raw_ip >> i & 1))
                bits[i] &= static_cast<session_mask>(~g.ip_only);
            masks[i] |= bits[i];
        }
    }
}

// BPF, then payload, each only for the packets still wanted by that session,
// for the sessions in `which`. BPF takes a session's wanted packets of the
// chunk in one call (bpf_expression::match_burst). `n` is at most a chunk.
void classifier::run_late_stages(unsigned worker, rte_mbuf* const* pkts, unsigned n,
                                 const packet_fields* fields, session_mask* masks, session_mask which) const
{
    for (const entry& e : _sessions) {
        const session_filter& f = *e.filter;
        if (!f.bpf && !f.payload)
            continue;
        const session_mask bit = static_cast<session_mask>(1u << e.slot);
        if (!(which & bit))
            continue;
        if (f.bpf) {
            rte_mbuf* wanted[chunk];
            uint16_t where[chunk];
            uint64_t kept[chunk];
            unsigned n_wanted = 0;
            for (unsigned i = 0; i < n; i++) {
                if (masks[i] & bit) {
                    wanted[n_wanted] = pkts[i];
                    where[n_wanted++] = static_cast<uint16_t>(i);
                }
            }
            f.bpf->match_burst(wanted, n_wanted, kept);
            for (unsigned j = 0; j < n_wanted; j++)
                if (kept[j] == 0)
                    masks[where[j]] &= static_cast<session_mask>(~bit);
        }
        if (!f.payload)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (!(masks[i] & bit))
                continue;
            const bool keep = fields[i].family != 0 &&
                              f.payload->matches(pkts[i], fields[i].payload_offset, scan_end(pkts[i], fields[i]),
                                                 _scratch[worker]);
            if (!keep)
                masks[i] &= static_cast<session_mask>(~bit);
        }
    }
}

} // namespace linecap
