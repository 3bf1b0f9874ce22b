// The five-tuple, subnet, range and TCP-flag rules of every session, compiled
// into DPDK's rte_acl: one multi-field trie per address family, searched with
// SIMD a burst at a time. Each session is an ACL category, so one pass over a
// burst says which of up to 16 sessions want each packet, and the cost per
// packet grows with the trie's depth, not with the number of rules.
//
// A family with a handful of rules (one host, a host and a port: what most
// sessions hold) is matched by a plain scan of the same rules instead, a few
// compares per rule with no branch: on mixed traffic a trie walk costs more
// than the rules it holds. Both read the same rules with rte_acl's meaning
// (tests/filters/test_differential.cpp holds them equal).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <rte_acl.h>

#include "core/packet.h"
#include "core/spec.h"

namespace linecap {

// Rules expanded into more than this many ACL rules are refused: the trie's
// build time and memory grow fast past it.
constexpr size_t max_acl_rules = 65536;

// A family with at most this many rules is scanned, not put in a trie.
constexpr size_t scan_max_rules = 8;

namespace detail {

// One rule as the scan reads it: rte_acl's fields, host order. Ranges as
// (lo, hi - lo) so one unsigned compare tests both ends; bitmask fields
// (proto, the presence/flags word, IPv6 address words) as (value, mask).
struct scan_rule_v4 {
    uint32_t src_lo, src_span, dst_lo, dst_span;
    uint16_t src_port_lo, src_port_span, dst_port_lo, dst_port_span;
    uint32_t meta_value, meta_mask;
    uint8_t proto_value, proto_mask;
    uint32_t categories;   // one bit per category the rule belongs to
};

struct scan_rule_v6 {
    uint32_t src_value[4], src_mask[4], dst_value[4], dst_mask[4];
    uint16_t src_port_lo, src_port_span, dst_port_lo, dst_port_span;
    uint32_t meta_value, meta_mask;
    uint8_t proto_value, proto_mask;
    uint32_t categories;
};

} // namespace detail

class acl_classifier {
public:
    acl_classifier() = default;
    ~acl_classifier();
    acl_classifier(const acl_classifier&) = delete;
    acl_classifier& operator=(const acl_classifier&) = delete;

    // Adds a session's rules as category `slot`. Returns an empty string, or
    // the error with the rule named ("match[3]: expands to ...").
    std::string add_session(unsigned slot, const std::vector<match_rule>& rules);

    // Builds the matchers for categories 0..highest slot: a family with at
    // most `scan_max` rules is scanned, a larger one goes into a trie.
    // Returns an empty string or the error.
    std::string build(int socket, size_t scan_max = scan_max_rules);

    unsigned categories() const { return _categories; }
    size_t rule_count() const;

    // For each of the `n` keys (packet_fields of IPv4, core/packet.h), the
    // categories whose rules it matches, one bit each, into `bits[0..n)`.
    void classify_v4(const uint8_t** keys, uint32_t* bits, uint32_t n) const;
    // The same for IPv6 keys.
    void classify_v6(const uint8_t** keys, uint32_t* bits, uint32_t n) const;

private:
    void classify_trie(rte_acl_ctx* ctx, const uint8_t** keys, uint32_t* bits, uint32_t n) const;

    std::vector<uint8_t> _rules_v4;   // packed rte_acl rules, built by add_session
    std::vector<uint8_t> _rules_v6;
    unsigned _highest_slot = 0;
    unsigned _categories = 1;
    rte_acl_ctx* _v4 = nullptr;       // null: no trie for the family (scanned, or no rules)
    rte_acl_ctx* _v6 = nullptr;
    std::vector<detail::scan_rule_v4> _scan_v4;
    std::vector<detail::scan_rule_v6> _scan_v6;
};

} // namespace linecap
