// A necessary condition on a packet's addresses, asked before a filter that
// costs more: on traffic that mostly matches nothing (a gateway's
// subscribers, a collector's few hosts of interest) most packets then skip
// that filter. Two filters are made of it: the rules' (filters/acl.cpp,
// before the trie walk and the parse past the addresses) and a tcpdump
// expression's (filters/bpf.cpp, before DPDK's JIT).
//
// Each condition of the filter it stands for compares the leading bits of a
// source or a destination with a prefix or a range: the buckets those bits
// can fall in (an IPv4 address's /24, an IPv6 address's /48, hashed to 2^15
// buckets) are marked on that side, and a packet whose source bucket and
// destination bucket are both unmarked meets no condition. A condition is
// marked on the side whose addresses fall in fewer buckets (at most 256:
// IPv4 addresses within 256 /24s, such as a /16; an IPv6 /40 or narrower).
// A condition with neither, or conditions that mark more than an eighth of
// the buckets (more than an eighth of random packets would pass), leave the
// filter off. The filter it stands for decides every packet let through, so
// it never changes a result, only how much work a packet costs
// (tests/filters/test_differential.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include <rte_byteorder.h>

namespace linecap {

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
    // False: no condition holds for the packet. Only for a filter that is on.
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

// One side of a condition: the leading bits (an IPv4 address's top 24, an
// IPv6 address's top 48) its addresses can start with, as the range
// [first, first + count). count 0: more than 256 of them, too many to mark
// (or no condition on that side).
struct prefilter_side {
    uint64_t first = 0, count = 0;
};

// IPv4 addresses lo..hi (host order).
prefilter_side prefilter_side_v4(uint32_t lo, uint32_t hi);
// IPv6 addresses whose first 48 bits are lo48..hi48.
prefilter_side prefilter_side_v6(uint64_t lo48, uint64_t hi48);

// Makes an address_prefilter of one family (4 or 6) from its conditions.
class address_prefilter_builder {
public:
    explicit address_prefilter_builder(int family);

    // A condition: the source is on `src`'s side or the destination on
    // `dst`'s (either will do). Marks the side that holds fewer leading
    // bits; false, and finish() gives a filter that is off, when neither
    // can be marked.
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
};

} // namespace linecap
