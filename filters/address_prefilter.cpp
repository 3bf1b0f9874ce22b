#include "filters/address_prefilter.h"

namespace linecap {

namespace {

// A side that starts with more leading bits than this is not marked.
constexpr uint64_t most_buckets_per_side = 256;
// A side of at most this many IPv4 addresses or IPv6 /64s marks each.
constexpr uint64_t most_addresses_per_side = 16;

// A key passes on any of the buckets it is asked of (two, or four for a
// filter of both kinds of marks): past this many marked in the two sets,
// the filter would let through too much to pay.
constexpr size_t most_marked = address_prefilter::buckets / 8;

prefilter_side side_of(uint64_t lo, uint64_t hi)
{
    if (hi < lo)
        return {};
    const uint64_t count = hi - lo + 1;
    return {lo, count <= most_buckets_per_side ? count : 0};
}

// The side of addresses lo..hi, whose leading bits are lo >> shift..hi >> shift.
prefilter_side side_of(uint64_t lo, uint64_t hi, unsigned shift)
{
    prefilter_side side = side_of(lo >> shift, hi >> shift);
    if (hi >= lo && hi - lo < most_addresses_per_side) {
        side.first_address = lo;
        side.addresses = hi - lo + 1;
    }
    return side;
}

} // namespace

prefilter_side prefilter_side_v4(uint32_t lo, uint32_t hi)
{
    return side_of(lo, hi, 8);
}

prefilter_side prefilter_side_v6(uint64_t lo64, uint64_t hi64)
{
    return side_of(lo64, hi64, 16);
}

address_prefilter_builder::address_prefilter_builder(int family) : _family(family)
{
    _filter.src.assign(address_prefilter::buckets / 64, 0);
    _filter.dst.assign(address_prefilter::buckets / 64, 0);
}

namespace {

// How many addresses (IPv6: /64s) a side's marks let through, to compare
// the two sides: its own, or a /24's 256 or a /48's 65 536 for each.
uint64_t reach(const prefilter_side& side, int family)
{
    return side.addresses != 0 ? side.addresses : side.count << (family == 4 ? 8 : 16);
}

} // namespace

bool address_prefilter_builder::add(prefilter_side s, prefilter_side d)
{
    const bool use_src = s.count != 0 && (d.count == 0 || reach(s, _family) <= reach(d, _family));
    const prefilter_side& chosen = use_src ? s : d;
    if (chosen.count == 0) {
        _failed = true;
        return false;
    }
    std::vector<uint64_t>& set = use_src ? _filter.src : _filter.dst;
    auto mark = [&](uint32_t b) {
        _marked += address_prefilter::marked(set, b) == 0;
        set[b / 64] |= 1ull << (b % 64);
    };
    if (chosen.addresses != 0) {
        _marks |= address_prefilter::address_marks;
        for (uint64_t k = 0; k < chosen.addresses; k++) {
            const uint64_t a = chosen.first_address + k;
            mark(_family == 4 ? address_prefilter::bucket_v4_address(static_cast<uint32_t>(a))
                              : address_prefilter::bucket_v6_address(a));
        }
    } else {
        _marks |= address_prefilter::prefix_marks;
        for (uint64_t k = 0; k < chosen.count; k++) {
            const uint64_t leading = chosen.first + k;
            mark(_family == 4 ? address_prefilter::bucket_v4(static_cast<uint32_t>(leading << 8))
                              : address_prefilter::bucket_v6(leading));
        }
    }
    _failed = _failed || _marked > most_marked;
    return !_failed;
}

bool address_prefilter_builder::usable() const
{
    return !_failed;
}

address_prefilter address_prefilter_builder::finish()
{
    if (_failed)
        return {};
    _filter.marks = _marks != 0 ? _marks : uint8_t{address_prefilter::prefix_marks};   // none: empty sets, nothing passes
    _filter.marked_buckets = static_cast<uint32_t>(_marked);
    return std::move(_filter);
}

} // namespace linecap
