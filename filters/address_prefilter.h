// A necessary condition on a packet's addresses, asked before a filter that
// costs more: on traffic that mostly matches nothing (a gateway's
// subscribers, a collector's few hosts of interest) most packets then skip
// that filter. Two filters are made of it: the rules' (filters/acl.cpp,
// before the trie walk and the parse past the addresses) and a tcpdump
// expression's (filters/bpf.cpp, before DPDK's interpreter).
//
// Each condition of the filter it stands for compares the leading bits of a
// source or a destination with a prefix or a range. The condition is marked
// on the side that lets fewer addresses through, in that side's set of
// 2^15 bits:
//  - a side of a few addresses (up to 16 IPv4 addresses, a host's; up to 16
//    IPv6 /64s, a subscriber's prefix or a host's) marks each, hashed, so
//    that its neighbours in the /24 or the /48 (a gateway's other
//    subscribers) are turned away too;
//  - a wider side marks the buckets its leading bits fall in (an IPv4
//    address's /24, an IPv6 address's /48, hashed), at most 256 of them:
//    IPv4 addresses within 256 /24s, such as a /16; an IPv6 /40 or narrower.
// A packet whose source and destination hit no mark on their sides meets no
// condition. A condition with no side that can be marked, or conditions
// that mark more than 4 096 bits of the two sets together (an eighth of
// one: a random address, asked two or four times, would pass too often to
// pay), leave the filter off. The filter it stands for
// decides every packet let through, so it never changes a result, only how
// much work a packet costs (tests/filters/test_differential.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <rte_byteorder.h>

namespace linecap {

struct address_prefilter {
    static constexpr unsigned bucket_bits = 15;
    static constexpr uint32_t buckets = 1u << bucket_bits;

    std::vector<uint64_t> src, dst;   // one bit per bucket; empty: off

    // Which marks the sets hold: a packet is asked of those alone, two
    // lookups for a filter of hosts or of prefixes, four for one of both.
    enum marks_kind : uint8_t { prefix_marks = 1, address_marks = 2, both_marks = 3 };
    uint8_t marks = prefix_marks;
    // How many bits the two sets hold together: what the filter lets
    // through of addresses spread at random is about this many in 2^15.
    uint32_t marked_buckets = 0;

    bool on() const { return !src.empty(); }

    // An IPv4 address's /24: the top 24 bits of `address` (host order).
    static uint32_t bucket_v4(uint32_t address)
    {
        return ((address >> 8) * 0x9E3779B1u) >> (32 - bucket_bits);
    }
    // An IPv4 address itself (host order), with a multiplier of its own, so
    // that an address and its /24 fall in unrelated buckets.
    static uint32_t bucket_v4_address(uint32_t address)
    {
        return (address * 0x85EBCA77u) >> (32 - bucket_bits);
    }
    // An IPv6 address's /48: its first 48 bits as a number.
    static uint32_t bucket_v6(uint64_t top48)
    {
        return static_cast<uint32_t>((top48 * 0x9E3779B97F4A7C15ull) >> (64 - bucket_bits));
    }
    // An IPv6 address's /64: its first 64 bits as a number.
    static uint32_t bucket_v6_address(uint64_t top64)
    {
        return static_cast<uint32_t>((top64 * 0xC2B2AE3D27D4EB4Full) >> (64 - bucket_bits));
    }
    // 1 if `bucket` is marked in `set`, else 0: a number, so that a key's
    // buckets are combined with no branch.
    static uint64_t marked(const std::vector<uint64_t>& set, uint32_t bucket)
    {
        return set[bucket / 64] >> (bucket % 64) & 1;
    }

    // body(std::integral_constant<uint8_t, marks>{}): what body returns.
    template <typename Body>
    [[gnu::always_inline]] decltype(auto) with_marks(Body&& body) const
    {
        switch (marks) {
        case address_marks:
            return body(std::integral_constant<uint8_t, address_marks>{});
        case both_marks:
            return body(std::integral_constant<uint8_t, both_marks>{});
        default:
            return body(std::integral_constant<uint8_t, prefix_marks>{});
        }
    }

    // `src`, `dst`: the packet's addresses, network byte order (IPv4: 4
    // bytes each; IPv6: their first 8 bytes).
    // False: no condition holds for the packet. Only for a filter that is on.
    // Marks: this filter's `marks`; a loop over packets takes it from
    // with_marks, so that it asks nothing of the filter per packet.
    template <uint8_t Marks>
    [[gnu::always_inline]] bool may_match_v4(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        const uint32_t s = rte_be_to_cpu_32(load32(src_address));
        const uint32_t d = rte_be_to_cpu_32(load32(dst_address));
        uint64_t hit = 0;
        if constexpr ((Marks & prefix_marks) != 0)
            hit |= marked(src, bucket_v4(s)) | marked(dst, bucket_v4(d));
        if constexpr ((Marks & address_marks) != 0)
            hit |= marked(src, bucket_v4_address(s)) | marked(dst, bucket_v4_address(d));
        return hit != 0;
    }
    bool may_match_v4(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        return with_marks([&](auto m) { return may_match_v4<m.value>(src_address, dst_address); });
    }
    template <uint8_t Marks>
    [[gnu::always_inline]] bool may_match_v6(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        const uint64_t s = top64(src_address), d = top64(dst_address);
        uint64_t hit = 0;
        if constexpr ((Marks & prefix_marks) != 0)
            hit |= marked(src, bucket_v6(s >> 16)) | marked(dst, bucket_v6(d >> 16));
        if constexpr ((Marks & address_marks) != 0)
            hit |= marked(src, bucket_v6_address(s)) | marked(dst, bucket_v6_address(d));
        return hit != 0;
    }
    bool may_match_v6(const uint8_t* src_address, const uint8_t* dst_address) const
    {
        return with_marks([&](auto m) { return may_match_v6<m.value>(src_address, dst_address); });
    }

private:
    static uint32_t load32(const uint8_t* p)
    {
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    }
    static uint64_t top64(const uint8_t* address)
    {
        uint64_t v;
        std::memcpy(&v, address, 8);
        return rte_be_to_cpu_64(v);
    }
};

// One side of a condition: the leading bits (an IPv4 address's top 24, an
// IPv6 address's top 48) its addresses can start with, as the range
// [first, first + count). count 0: more than 256 of them, too many to mark
// (or no condition on that side). A side of at most 16 IPv4 addresses or
// IPv6 /64s has them too, as [first_address, first_address + addresses)
// (an address in host order, a /64's first 64 bits as a number);
// addresses 0: more.
struct prefilter_side {
    uint64_t first = 0, count = 0;
    uint64_t first_address = 0, addresses = 0;
};

// IPv4 addresses lo..hi (host order).
prefilter_side prefilter_side_v4(uint32_t lo, uint32_t hi);
// IPv6 addresses whose first 64 bits are lo64..hi64.
prefilter_side prefilter_side_v6(uint64_t lo64, uint64_t hi64);

// Makes an address_prefilter of one family (4 or 6) from its conditions.
class address_prefilter_builder {
public:
    explicit address_prefilter_builder(int family);

    // A condition: the source is on `src`'s side or the destination on
    // `dst`'s (either will do). Marks the side that lets fewer addresses
    // through (its addresses if it has them, else its leading bits); false,
    // and finish() gives a filter that is off, when neither can be marked.
    bool add(prefilter_side src, prefilter_side dst);
    // False once a condition could not be marked or too many buckets are.
    bool usable() const;
    // The filter: off when not usable(); with no condition added, a filter
    // that lets nothing through.
    address_prefilter finish();

private:
    int _family;
    address_prefilter _filter;
    size_t _marked = 0;
    bool _failed = false;
    uint8_t _marks = 0;   // the address_prefilter::marks_kind bits of the sides marked
};

} // namespace linecap
