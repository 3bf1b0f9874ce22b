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

} // namespace

std::string check_session_filter(const session_spec& spec)
{
    if (!spec.bpf.empty())
        if (std::string e = bpf_expression::check_syntax(spec.bpf); !e.empty())
            return "bpf: " + e;
    if (!spec.payload.patterns.empty()) {
        payload_scanner trial;
        if (std::string e = trial.compile(spec.payload); !e.empty())
            return e;
    }
    acl_classifier trial;
    return trial.add_session(0, spec.match);
}

std::shared_ptr<const session_filter> session_filter::compile(const session_spec& spec, std::string& error,
                                                              bool bpf_jit)
{
    auto f = std::make_shared<session_filter>();
    f->rules = spec.match;
    f->match_all = spec.match.empty() ||
                   std::any_of(spec.match.begin(), spec.match.end(),
                               [](const match_rule& r) { return r.matches_everything(); });
    if (!spec.bpf.empty()) {
        f->bpf = std::make_unique<bpf_expression>();
        if (std::string e = f->bpf->compile(spec.bpf, bpf_jit); !e.empty()) {
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
        if (e.filter->match_all) {
            c->_match_all |= bit;
        } else {
            c->_acl_sessions |= bit;
            if (std::string err = c->_acl.add_session(e.slot, e.filter->rules); !err.empty()) {
                error = err;
                return nullptr;
            }
        }
        if (e.filter->payload && !e.filter->payload->reserve_scratch(prototype)) {
            error = "payload: cannot allocate Hyperscan scratch space";
            return nullptr;
        }
        c->_needs_parse |= !e.filter->match_all || e.filter->payload != nullptr;
        c->_late_stages |= e.filter->bpf != nullptr || e.filter->payload != nullptr;
    }
    if (std::string err = c->_acl.build(socket); !err.empty()) {
        error = err;
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
            run_late_stages(worker, pkts, n, nullptr, masks);
        return;
    }

    // 1. Parse each packet once and sort it into the IPv4 or IPv6 batch; the
    //    parsed fields are the keys rte_acl reads.
    packet_fields fields[chunk];
    const uint8_t* keys4[chunk];
    const uint8_t* keys6[chunk];
    uint16_t index4[chunk];
    uint16_t index6[chunk];
    unsigned n4 = 0, n6 = 0;
    for (unsigned i = 0; i < n && i < prefetch_ahead; i++)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (unsigned i = 0; i < n; i++) {
        if (i + prefetch_ahead < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + prefetch_ahead], void*));
        const rte_mbuf* m = pkts[i];
        // Headers are read from the first segment, where drivers put at least
        // 2 KiB. A chain whose first segment is shorter than the headers may
        // be (a tiny first segment from a virtual device) is copied out first.
        if (likely(m->data_len >= headers_max || m->data_len == m->pkt_len)) {
            parse_packet(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, fields[i]);
        } else {
            uint8_t copy[headers_max];
            const uint32_t len = std::min<uint32_t>(m->pkt_len, headers_max);
            parse_packet(static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, copy)), len, fields[i]);
        }
        masks[i] = _match_all;
        const uint8_t* key = reinterpret_cast<const uint8_t*>(&fields[i]);
        if (fields[i].family == 4) {
            keys4[n4] = key;
            index4[n4++] = static_cast<uint16_t>(i);
        } else if (fields[i].family == 6) {
            keys6[n6] = key;
            index6[n6++] = static_cast<uint16_t>(i);
        }
    }

    // 2. Every session's rules in one rte_acl pass per family.
    if (_acl_sessions != 0) {
        const unsigned categories = _acl.categories();
        uint32_t results[chunk * RTE_ACL_MAX_CATEGORIES];
        auto collect = [&](const uint16_t* index, unsigned count) {
            for (unsigned j = 0; j < count; j++) {
                session_mask bits = 0;
                for (unsigned c = 0; c < categories; c++)
                    bits |= static_cast<session_mask>((results[j * categories + c] != 0) << c);
                masks[index[j]] |= bits;
            }
        };
        _acl.classify_v4(keys4, results, n4);
        collect(index4, n4);
        _acl.classify_v6(keys6, results, n6);
        collect(index6, n6);
    }

    if (_late_stages)
        run_late_stages(worker, pkts, n, fields, masks);
}

// BPF, then payload, each only for the packets still wanted by that session.
void classifier::run_late_stages(unsigned worker, rte_mbuf* const* pkts, unsigned n,
                                 const packet_fields* fields, session_mask* masks) const
{
    for (const entry& e : _sessions) {
        const session_filter& f = *e.filter;
        if (!f.bpf && !f.payload)
            continue;
        const session_mask bit = static_cast<session_mask>(1u << e.slot);
        for (unsigned i = 0; i < n; i++) {
            if (!(masks[i] & bit))
                continue;
            bool keep = !f.bpf || f.bpf->matches(pkts[i]);
            if (keep && f.payload)
                keep = fields[i].family != 0 &&
                       f.payload->matches(pkts[i], fields[i].payload_offset, _scratch[worker]);
            if (!keep)
                masks[i] &= static_cast<session_mask>(~bit);
        }
    }
}

} // namespace linecap
