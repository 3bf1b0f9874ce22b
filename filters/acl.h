// The five-tuple, subnet, range and TCP-flag rules of every session, compiled
// into DPDK's rte_acl: one multi-field trie per address family, searched with
// SIMD a burst at a time. Each session is an ACL category, so one pass over a
// burst says which of up to 16 sessions want each packet, and the cost per
// packet grows with the trie's depth, not with the number of rules.
//
// A family with a handful of rules (one host, a host and a port: what most
// sessions hold) is matched by a plain scan of the same rules instead, a few
// compares per rule with no branch: on mixed traffic a trie walk costs more
// than the rules it holds. When every rule names a narrow enough address, a
// trie is walked only for the keys whose source or destination falls in a
// hashed bucket some rule's addresses mark (address_prefilter.h: a
// superset of the keys that match). The scan and the trie read the same
// rules with rte_acl's meaning
// (tests/filters/test_differential.cpp holds them equal).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/packet.h"
#include "core/spec.h"
#include "filters/address_prefilter.h"

namespace linecap {

// Rules expanded into more than this many ACL rules are refused: the trie's
// build time and memory grow fast past it.
constexpr size_t max_acl_rules = 65536;

// A family with at most this many rules is scanned, not put in a trie.
constexpr size_t scan_max_rules = 8;

class acl_classifier {
public:
    acl_classifier();
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
    // Whether any rule of that family (4 or 6) was added.
    bool has_rules(int family) const;
    size_t rule_count() const;
    // That family's address prefilter (above), or null when it is off.
    // A trie asks it of every key first; the classifier may ask it of a
    // frame's addresses before parsing the rest of its headers. Made by
    // build(): ask again after another build().
    const address_prefilter* prefilter(int family) const;

    // For each of the `n` keys (packet_fields of IPv4, core/packet.h), the
    // categories whose rules it matches, one bit each, into `bits[0..n)`.
    void classify_v4(const uint8_t** keys, uint32_t* bits, uint32_t n) const;
    // The same for IPv6 keys.
    void classify_v6(const uint8_t** keys, uint32_t* bits, uint32_t n) const;

private:
    // One address family's rules (rte_acl's packed rules, as add_session
    // expands them) and what build() made of them: a trie or a scan list.
    // Defined in acl.cpp, for 4 and 6.
    template <int Family>
    struct family;

    unsigned _highest_slot = 0;
    unsigned _categories = 1;
    std::unique_ptr<family<4>> _v4;
    std::unique_ptr<family<6>> _v6;
};

} // namespace linecap
