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
// hashed bucket some rule's addresses mark (address_prefilter, below: a
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

#include <rte_byteorder.h>

namespace linecap {

// Rules expanded into more than this many ACL rules are refused: the trie's
// build time and memory grow fast past it.
constexpr size_t max_acl_rules = 65536;

// A family with at most this many rules is scanned, not put in a trie.
constexpr size_t scan_max_rules = 8;

// A necessary condition for a family's rules, asked of a key before the
// rules: on traffic that mostly matches nothing (a gateway's subscribers, a
// collector's few hosts of interest) most keys then skip the trie walk, some
// 25 ns a key on mixed traffic (docs/performance.md), and the classifier may
// skip their parse past the addresses. Each rule compares the leading bits
// of a source or a destination with a prefix or a range: the buckets those
// bits can fall in (an IPv4 address's /24, an IPv6 address's /48, hashed to
// 2^15 buckets) are marked on that side, and a key whose source bucket and
// destination bucket are both unmarked matches no rule. A rule is marked on
// the side whose addresses fall in fewer buckets (at most 256: IPv4
// addresses within 256 /24s, such as a /16; an IPv6 /40 or narrower). A
// rule with neither, or rules that mark more than an eighth of the buckets
// (more than an eighth of random keys would pass), leave the filter off:
// empty. The rules decide every key the filter lets through, so it never
// changes a result, only how much work a key costs
// (tests/filters/test_differential.cpp).
struct address_prefilter {
    static constexpr unsigned bucket_bits = 15;
    static constexpr uint32_t buckets = 1u << bucket_bits;

    std::vector<uint64_t> src, dst;   // one bit per bucket; empty: off

    bool on() const { return !src.empty(); }

    // An IPv4 address's /24: the top 24 bits of `address` (host order).
    static uint32_t bucket_v4(uint32_t address)
    {
        return ((address >> 8) * 0x9E3779B1u) >> (32 - bucket_bits);
    }
    // An IPv6 address's /48: its first 48 bits as a number.
    static uint32_t bucket_v6(uint64_t top48)
    {
        return static_cast<uint32_t>((top48 * 0x9E3779B97F4A7C15ull) >> (64 - bucket_bits));
    }
    // 1 if `bucket` is marked in `set`, else 0: a number, so that a key's
    // buckets are combined with no branch.
    static uint64_t marked(const std::vector<uint64_t>& set, uint32_t bucket)
    {
        return set[bucket / 64] >> (bucket % 64) & 1;
    }

    // `src`, `dst`: the packet's addresses, network byte order (IPv4: 4
    // bytes each; IPv6: 8 bytes of each are loaded, the first 6 used).
    // False: no rule of the family matches the packet. Only for a filter
    // that is on (acl_classifier::prefilter gives null for one that is off).
    [[gnu::always_inline]] bool may_match_v4(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        return (marked(src, bucket_v4(rte_be_to_cpu_32(load32(src_address)))) |
                marked(dst, bucket_v4(rte_be_to_cpu_32(load32(dst_address))))) != 0;
    }
    [[gnu::always_inline]] bool may_match_v6(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        return (marked(src, bucket_v6(top48(src_address))) | marked(dst, bucket_v6(top48(dst_address)))) != 0;
    }

private:
    static uint32_t load32(const uint8_t* p)
    {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    }
    static uint64_t top48(const uint8_t* address)
    {
        return static_cast<uint64_t>(rte_be_to_cpu_32(load32(address))) << 16 |
               rte_be_to_cpu_32(load32(address + 4)) >> 16;
    }
};

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
