// The five-tuple, subnet, range and TCP-flag rules of every session, compiled
// into DPDK's rte_acl: one multi-field trie per address family, searched with
// SIMD a burst at a time. Each session is an ACL category, so one pass over a
// burst says which of up to 16 sessions want each packet, and the cost per
// packet grows with the trie's depth, not with the number of rules.
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

class acl_classifier {
public:
    acl_classifier() = default;
    ~acl_classifier();
    acl_classifier(const acl_classifier&) = delete;
    acl_classifier& operator=(const acl_classifier&) = delete;

    // Adds a session's rules as category `slot`. Returns an empty string, or
    // the error with the rule named ("match[3]: expands to ...").
    std::string add_session(unsigned slot, const std::vector<match_rule>& rules);

    // Builds the tries for categories 0..highest slot. Returns an empty string or the error.
    std::string build(int socket);

    bool empty() const { return _v4 == nullptr && _v6 == nullptr; }
    unsigned categories() const { return _categories; }
    size_t rule_count() const;

    // Results: `categories()` words per packet, non-zero where the category
    // matched. The keys are packet_fields (core/packet.h) of that family.
    void classify_v4(const uint8_t** keys, uint32_t* results, uint32_t n) const
    {
        if (_v4 != nullptr && n != 0)
            rte_acl_classify(_v4, keys, results, n, _categories);
        else
            std::memset(results, 0, sizeof(uint32_t) * n * _categories);
    }
    void classify_v6(const uint8_t** keys, uint32_t* results, uint32_t n) const
    {
        if (_v6 != nullptr && n != 0)
            rte_acl_classify(_v6, keys, results, n, _categories);
        else
            std::memset(results, 0, sizeof(uint32_t) * n * _categories);
    }

    // The categories packet `j` of a classify_v4/v6 call matched, one bit each.
    uint32_t matched(const uint32_t* results, unsigned j) const
    {
        const unsigned categories = _categories;
        uint32_t bits = 0;
        for (unsigned c = 0; c < categories; c++)
            bits |= static_cast<uint32_t>(results[j * categories + c] != 0) << c;
        return bits;
    }

private:
    std::vector<uint8_t> _rules_v4;   // packed rte_acl rules, built by add_session
    std::vector<uint8_t> _rules_v6;
    unsigned _highest_slot = 0;
    unsigned _categories = 1;
    rte_acl_ctx* _v4 = nullptr;
    rte_acl_ctx* _v6 = nullptr;
};

} // namespace linecap
