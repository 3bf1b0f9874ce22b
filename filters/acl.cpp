#include "filters/acl.h"
#include "core/error_text.h"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>
#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>

namespace linecap {

namespace {

constexpr unsigned fields_v4 = 6;
constexpr unsigned fields_v6 = 12;
RTE_ACL_RULE_DEF(acl_rule_v4, fields_v4);
RTE_ACL_RULE_DEF(acl_rule_v6, fields_v6);

// The keys are packet_fields, of either family. Field order: proto, src,
// dst, ports, then the presence bits and TCP flags as one 4-byte bitmask: rte_acl reads its inputs in groups of exactly four
// bytes, and two 1-byte fields in one group with two bytes of padding never
// match (measured with DPDK 22.11).
constexpr rte_acl_field_def defs_v4[fields_v4] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(packet_fields, proto)},
    {RTE_ACL_FIELD_TYPE_RANGE, 4, 1, 1, offsetof(packet_fields, src)},
    {RTE_ACL_FIELD_TYPE_RANGE, 4, 2, 2, offsetof(packet_fields, dst)},
    {RTE_ACL_FIELD_TYPE_RANGE, 2, 3, 3, offsetof(packet_fields, src_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, 2, 4, 3, offsetof(packet_fields, dst_port)},
    {RTE_ACL_FIELD_TYPE_BITMASK, 4, 5, 4, offsetof(packet_fields, present)},
};

// IPv6 addresses are four 32-bit MASK fields each: ranges become prefixes.
constexpr rte_acl_field_def defs_v6[fields_v6] = {
    {RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, 0, offsetof(packet_fields, proto)},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 1, 1, offsetof(packet_fields, src) + 0},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 2, 2, offsetof(packet_fields, src) + 4},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 3, 3, offsetof(packet_fields, src) + 8},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 4, 4, offsetof(packet_fields, src) + 12},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 5, 5, offsetof(packet_fields, dst) + 0},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 6, 6, offsetof(packet_fields, dst) + 4},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 7, 7, offsetof(packet_fields, dst) + 8},
    {RTE_ACL_FIELD_TYPE_MASK, 4, 8, 8, offsetof(packet_fields, dst) + 12},
    {RTE_ACL_FIELD_TYPE_RANGE, 2, 9, 9, offsetof(packet_fields, src_port)},
    {RTE_ACL_FIELD_TYPE_RANGE, 2, 10, 9, offsetof(packet_fields, dst_port)},
    {RTE_ACL_FIELD_TYPE_BITMASK, 4, 11, 10, offsetof(packet_fields, present)},
};

uint32_t host32(const uint8_t* p)
{
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// The key's [present, tcp_flags, address_words, 0] bytes as the host-order
// word a rule holds.
uint32_t meta_word(uint8_t present, uint8_t tcp_flags, uint8_t address_words)
{
    return static_cast<uint32_t>(present) << 24 | static_cast<uint32_t>(tcp_flags) << 16 |
           static_cast<uint32_t>(address_words) << 8;
}

// The 32-bit words of an IPv6 address a prefix reads, as libpcap loads them:
// none for ::/0, word 0 for /1 to /32, and so on.
uint8_t prefix_words(const ip_prefix* p)
{
    return p == nullptr ? 0 : static_cast<uint8_t>((1u << ((p->length + 31) / 32)) - 1);
}

bool is_everything(const ip_range& r)
{
    return host32(r.lo.data()) == 0 && host32(r.hi.data()) == UINT32_MAX;
}


// One direction of a rule, in trie terms: every alternative of every field.
struct rule_shape {
    std::vector<ip_prefix> src6, dst6;    // IPv6: prefixes
    std::vector<ip_range> src4, dst4;     // IPv4: ranges (rte_acl ranges are 32-bit)
    bool any_src = true, any_dst = true;
    std::vector<port_range> src_ports, dst_ports;   // {0,65535} when absent
    std::vector<std::pair<uint8_t, uint8_t>> protos;  // (value, mask)
    std::vector<std::pair<uint8_t, uint8_t>> flags;   // (value, mask)
    uint8_t required = 0;                  // field_bits the packet must have
};

// "tcp_flags": {} only says "TCP": it needs the protocol, not the flags byte.
bool needs_flags_byte(const match_rule& r)
{
    return r.tcp_flags && (r.tcp_flags->any | r.tcp_flags->all | r.tcp_flags->none) != 0;
}

rule_shape shape_of(const match_rule& r, bool reversed)
{
    const auto& src = reversed ? r.dst : r.src;
    const auto& dst = reversed ? r.src : r.dst;
    rule_shape s;
    s.any_src = src.empty();
    s.any_dst = dst.empty();
    for (const ip_range& a : src) {
        if (a.family == 4)
            s.src4.push_back(a);
        else
            for (const ip_prefix& p : range_to_prefixes(a))
                s.src6.push_back(p);
    }
    for (const ip_range& a : dst) {
        if (a.family == 4)
            s.dst4.push_back(a);
        else
            for (const ip_prefix& p : range_to_prefixes(a))
                s.dst6.push_back(p);
    }
    s.src_ports = reversed ? r.dst_ports : r.src_ports;
    s.dst_ports = reversed ? r.src_ports : r.dst_ports;
    const uint8_t port_bits = static_cast<uint8_t>((s.src_ports.empty() ? 0 : have_src_port) |
                                                   (s.dst_ports.empty() ? 0 : have_dst_port));
    if (s.src_ports.empty())
        s.src_ports.push_back({0, 65535});
    if (s.dst_ports.empty())
        s.dst_ports.push_back({0, 65535});

    if (r.tcp_flags) {
        s.protos.push_back({6, 0xff});   // flags are TCP's
        const tcp_flags_match& m = *r.tcp_flags;
        const uint8_t mask = m.all | m.none;
        if (m.any == 0) {
            s.flags.push_back({m.all, mask});
        } else {
            // "at least one of" is not one bitmask: one alternative per flag.
            for (unsigned bit = 0; bit < 8; bit++) {
                const uint8_t b = static_cast<uint8_t>(1u << bit);
                if ((m.any & b) && !(m.none & b))
                    s.flags.push_back({static_cast<uint8_t>(m.all | b), static_cast<uint8_t>(mask | b)});
            }
        }
    } else {
        for (uint8_t p : r.protocols)
            s.protos.push_back({p, 0xff});
        if (s.protos.empty())
            s.protos.push_back({0, 0});
        s.flags.push_back({0, 0});
    }
    s.required = static_cast<uint8_t>((src.empty() ? 0 : have_src) | (dst.empty() ? 0 : have_dst) |
                                      (r.protocols.empty() && !r.tcp_flags ? 0 : have_proto) |
                                      port_bits | (needs_flags_byte(r) ? have_tcp_flags : 0));
    return s;
}

void set_mask_fields(rte_acl_field* fields, const ip_prefix* prefix)
{
    for (unsigned k = 0; k < 4; k++) {
        if (prefix == nullptr) {
            fields[k].value.u32 = 0;
            fields[k].mask_range.u32 = 0;
            continue;
        }
        const int bits = std::clamp(static_cast<int>(prefix->length) - static_cast<int>(32 * k), 0, 32);
        fields[k].value.u32 = host32(prefix->addr.data() + 4 * k);
        fields[k].mask_range.u32 = static_cast<uint32_t>(bits);
    }
}

template <typename Rule>
void append_rule(std::vector<uint8_t>& out, const Rule& rule)
{
    const auto* bytes = reinterpret_cast<const uint8_t*>(&rule);
    out.insert(out.end(), bytes, bytes + sizeof rule);
}

// Emits every combination of one shape's alternatives for one family.
// Returns the number of rules emitted.
size_t emit(const rule_shape& s, uint8_t family, unsigned slot, std::vector<uint8_t>& out)
{
    size_t emitted = 0;
    const size_t n_src = s.any_src ? 1 : family == 4 ? s.src4.size() : s.src6.size();
    const size_t n_dst = s.any_dst ? 1 : family == 4 ? s.dst4.size() : s.dst6.size();
    for (size_t si = 0; si < n_src; si++)
        for (size_t di = 0; di < n_dst; di++)
            for (const auto& [proto, proto_mask] : s.protos)
                for (const port_range& sp : s.src_ports)
                    for (const port_range& dp : s.dst_ports)
                        for (const auto& [flags, flags_mask] : s.flags) {
                            rte_acl_rule_data data{};
                            data.category_mask = 1u << slot;
                            data.priority = 1;
                            data.userdata = slot + 1;   // non-zero: "matched"
                            if (family == 4) {
                                acl_rule_v4 r{};
                                r.data = data;
                                r.field[0].value.u8 = proto;
                                r.field[0].mask_range.u8 = proto_mask;
                                r.field[1].value.u32 = s.any_src ? 0 : host32(s.src4[si].lo.data());
                                r.field[1].mask_range.u32 = s.any_src ? UINT32_MAX : host32(s.src4[si].hi.data());
                                r.field[2].value.u32 = s.any_dst ? 0 : host32(s.dst4[di].lo.data());
                                r.field[2].mask_range.u32 = s.any_dst ? UINT32_MAX : host32(s.dst4[di].hi.data());
                                r.field[3].value.u16 = sp.lo;
                                r.field[3].mask_range.u16 = sp.hi;
                                r.field[4].value.u16 = dp.lo;
                                r.field[4].mask_range.u16 = dp.hi;
                                // A range over all of IPv4 is a /0: libpcap loads nothing for it.
                                uint8_t required = s.required;
                                if (!s.any_src && is_everything(s.src4[si]))
                                    required &= static_cast<uint8_t>(~have_src);
                                if (!s.any_dst && is_everything(s.dst4[di]))
                                    required &= static_cast<uint8_t>(~have_dst);
                                r.field[5].value.u32 = meta_word(required, flags, 0);
                                r.field[5].mask_range.u32 = meta_word(required, flags_mask, 0);
                                append_rule(out, r);
                            } else {
                                acl_rule_v6 r{};
                                r.data = data;
                                r.field[0].value.u8 = proto;
                                r.field[0].mask_range.u8 = proto_mask;
                                set_mask_fields(&r.field[1], s.any_src ? nullptr : &s.src6[si]);
                                set_mask_fields(&r.field[5], s.any_dst ? nullptr : &s.dst6[di]);
                                r.field[9].value.u16 = sp.lo;
                                r.field[9].mask_range.u16 = sp.hi;
                                r.field[10].value.u16 = dp.lo;
                                r.field[10].mask_range.u16 = dp.hi;
                                // IPv6 addresses need only the words their prefix covers.
                                const uint8_t required = s.required & static_cast<uint8_t>(~(have_src | have_dst));
                                const uint8_t words = static_cast<uint8_t>(
                                    prefix_words(s.any_src ? nullptr : &s.src6[si]) |
                                    prefix_words(s.any_dst ? nullptr : &s.dst6[di]) << 4);
                                r.field[11].value.u32 = meta_word(required, flags, words);
                                r.field[11].mask_range.u32 = meta_word(required, flags_mask, words);
                                append_rule(out, r);
                            }
                            emitted++;
                        }
    return emitted;
}

size_t combinations(const rule_shape& s, uint8_t family)
{
    const size_t n_src = s.any_src ? 1 : family == 4 ? s.src4.size() : s.src6.size();
    const size_t n_dst = s.any_dst ? 1 : family == 4 ? s.dst4.size() : s.dst6.size();
    return n_src * n_dst * s.protos.size() * s.src_ports.size() * s.dst_ports.size() * s.flags.size();
}

std::string unique_name(const char* prefix)
{
    static std::atomic<unsigned> serial{0};
    return fmt::format("{}{}", prefix, serial.fetch_add(1));
}

std::string build_context(rte_acl_ctx*& ctx, const char* what, int socket, const std::vector<uint8_t>& rules,
                          size_t rule_size, const rte_acl_field_def* defs, unsigned nb_defs, unsigned categories)
{
    if (rules.empty())
        return {};
    const std::string name = unique_name(what);
    rte_acl_param param{};
    param.name = name.c_str();
    param.socket_id = socket;
    param.rule_size = static_cast<uint32_t>(rule_size);
    param.max_rule_num = static_cast<uint32_t>(rules.size() / rule_size);
    ctx = rte_acl_create(&param);
    if (ctx == nullptr)
        return fmt::format("classifier: cannot create the {} trie: {}", what, rte_error_text(rte_errno));
    if (int rc = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(rules.data()),
                                   param.max_rule_num);
        rc != 0)
        return fmt::format("classifier: cannot add {} {} rules: {}", param.max_rule_num, what, rte_error_text(rc));
    rte_acl_config config{};
    config.num_categories = categories;
    config.num_fields = nb_defs;
    std::copy(defs, defs + nb_defs, config.defs);
    if (int rc = rte_acl_build(ctx, &config); rc != 0)
        return fmt::format("classifier: building the {} trie of {} rules failed: {}", what,
                           param.max_rule_num, rte_error_text(rc));
    return {};
}

// rte_acl's MASK field: a prefix length, as the mask of the bits it covers.
uint32_t prefix_mask(uint32_t bits)
{
    return bits == 0 ? 0 : ~0u << (32 - std::min(bits, 32u));
}

// The key's fields as rte_acl reads them: bytes in network order, compared
// with the rules' host-order values. (The scan's helpers are inlined by
// force: GCC 12 left rest_of_key a call, a fifth of the scan's time.)
[[gnu::always_inline]] inline uint32_t key32(const uint8_t* key, size_t offset)
{
    uint32_t v;
    std::memcpy(&v, key + offset, 4);
    return rte_be_to_cpu_32(v);
}

[[gnu::always_inline]] inline uint16_t key16(const uint8_t* key, size_t offset)
{
    uint16_t v;
    std::memcpy(&v, key + offset, 2);
    return rte_be_to_cpu_16(v);
}

// A rule as the scan reads it: rte_acl's fields, host order. Ranges as
// (lo, hi - lo) so one unsigned compare tests both ends; bitmask fields
// (proto, the presence/flags word, IPv6 address words) as (value, mask).
// What both families' rules hold:
struct scan_rest {
    uint16_t src_port_lo, src_port_span, dst_port_lo, dst_port_span;
    uint32_t meta_value, meta_mask;
    uint8_t proto_value, proto_mask;
    uint32_t categories;   // one bit per category the rule belongs to
};

// ... and the key's fields they are compared with.
struct key_rest {
    uint8_t proto;
    uint16_t src_port, dst_port;
    uint32_t meta;
};

// `ports` and `meta`: the indexes of the source port's and the meta word's
// fields in the family's rule.
template <typename AclRule>
scan_rest rest_of(const AclRule& r, unsigned ports, unsigned meta)
{
    scan_rest s{};
    s.proto_value = static_cast<uint8_t>(r.field[0].value.u8 & r.field[0].mask_range.u8);
    s.proto_mask = r.field[0].mask_range.u8;
    s.src_port_lo = r.field[ports].value.u16;
    s.src_port_span = static_cast<uint16_t>(r.field[ports].mask_range.u16 - r.field[ports].value.u16);
    s.dst_port_lo = r.field[ports + 1].value.u16;
    s.dst_port_span = static_cast<uint16_t>(r.field[ports + 1].mask_range.u16 - r.field[ports + 1].value.u16);
    s.meta_value = r.field[meta].value.u32 & r.field[meta].mask_range.u32;
    s.meta_mask = r.field[meta].mask_range.u32;
    s.categories = r.data.category_mask;
    return s;
}

[[gnu::always_inline]] inline key_rest rest_of_key(const uint8_t* key)
{
    return {key[offsetof(packet_fields, proto)], key16(key, offsetof(packet_fields, src_port)),
            key16(key, offsetof(packet_fields, dst_port)), key32(key, offsetof(packet_fields, present))};
}

// No branch on the packet: a mixed burst costs what a uniform one does.
[[gnu::always_inline]] inline bool rest_matches(const scan_rest& r, const key_rest& k)
{
    return ((k.proto & r.proto_mask) == r.proto_value) &
           (static_cast<uint16_t>(k.src_port - r.src_port_lo) <= r.src_port_span) &
           (static_cast<uint16_t>(k.dst_port - r.dst_port_lo) <= r.dst_port_span) &
           ((k.meta & r.meta_mask) == r.meta_value);
}

// IPv4: addresses as ranges.
struct scan_rule_v4 {
    uint32_t src_lo, src_span, dst_lo, dst_span;
    scan_rest rest;

    explicit scan_rule_v4(const acl_rule_v4& r)
        : src_lo(r.field[1].value.u32), src_span(r.field[1].mask_range.u32 - r.field[1].value.u32),
          dst_lo(r.field[2].value.u32), dst_span(r.field[2].mask_range.u32 - r.field[2].value.u32),
          rest(rest_of(r, 3, 5))
    {
    }
};

// IPv6: each address as four masked words.
struct scan_rule_v6 {
    uint32_t src_value[4], src_mask[4], dst_value[4], dst_mask[4];
    scan_rest rest;

    explicit scan_rule_v6(const acl_rule_v6& r) : rest(rest_of(r, 9, 11))
    {
        for (unsigned k = 0; k < 4; k++) {
            src_mask[k] = prefix_mask(r.field[1 + k].mask_range.u32);
            src_value[k] = r.field[1 + k].value.u32 & src_mask[k];
            dst_mask[k] = prefix_mask(r.field[5 + k].mask_range.u32);
            dst_value[k] = r.field[5 + k].value.u32 & dst_mask[k];
        }
    }
};

// Every rule is tested, with no branch on the packet.
[[gnu::always_inline]] inline uint32_t scan(const uint8_t* key, const std::vector<scan_rule_v4>& rules)
{
    const uint32_t src = key32(key, offsetof(packet_fields, src));
    const uint32_t dst = key32(key, offsetof(packet_fields, dst));
    const key_rest rest = rest_of_key(key);
    uint32_t bits = 0;
    for (const scan_rule_v4& r : rules) {
        const bool match = (src - r.src_lo <= r.src_span) & (dst - r.dst_lo <= r.dst_span) & rest_matches(r.rest, rest);
        bits |= r.rest.categories & (0u - static_cast<uint32_t>(match));
    }
    return bits;
}

[[gnu::always_inline]] inline uint32_t scan(const uint8_t* key, const std::vector<scan_rule_v6>& rules)
{
    uint32_t src[4], dst[4];
    for (unsigned k = 0; k < 4; k++) {
        src[k] = key32(key, offsetof(packet_fields, src) + 4 * k);
        dst[k] = key32(key, offsetof(packet_fields, dst) + 4 * k);
    }
    const key_rest rest = rest_of_key(key);
    uint32_t bits = 0;
    for (const scan_rule_v6& r : rules) {
        uint32_t differ = 0;
        for (unsigned k = 0; k < 4; k++)
            differ |= ((src[k] & r.src_mask[k]) ^ r.src_value[k]) | ((dst[k] & r.dst_mask[k]) ^ r.dst_value[k]);
        const bool match = (differ == 0) & rest_matches(r.rest, rest);
        bits |= r.rest.categories & (0u - static_cast<uint32_t>(match));
    }
    return bits;
}

// rte_acl's MASK fields of one IPv6 address (four words of value and
// prefix length): the prefilter's side of it, from its first 64 bits.
prefilter_side side_of_prefix_v6(const rte_acl_field* words)
{
    const uint32_t high = words[0].value.u32 & prefix_mask(words[0].mask_range.u32);
    const uint32_t low = words[1].value.u32 & prefix_mask(words[1].mask_range.u32);
    const uint64_t first = static_cast<uint64_t>(high) << 32 | low;
    // One prefix over the words (set_mask_fields): word 1's length is 0
    // unless word 0's is 32.
    const uint32_t length = words[0].mask_range.u32 + words[1].mask_range.u32;
    const uint32_t free_bits = 64 - length;   // length: 0 to 64
    const uint64_t span = free_bits == 64 ? ~0ull : (1ull << free_bits) - 1;
    return prefilter_side_v6(first, first + span);
}

// The address prefilter (filters/address_prefilter.h) of a family's packed
// rules (Rule: acl_rule_v4 or _v6): each rule is a condition on its source
// and destination ranges. Off when there is no rule, when some rule cannot
// be marked, or when too many buckets are.
template <typename Rule>
address_prefilter make_prefilter(const std::vector<uint8_t>& rules, int family)
{
    address_prefilter_builder builder(family);
    for (size_t at = 0; at < rules.size() && builder.usable(); at += sizeof(Rule)) {
        Rule r;
        std::memcpy(&r, rules.data() + at, sizeof r);
        if (family == 4)
            builder.add(prefilter_side_v4(r.field[1].value.u32, r.field[1].mask_range.u32),
                        prefilter_side_v4(r.field[2].value.u32, r.field[2].mask_range.u32));
        else
            builder.add(side_of_prefix_v6(&r.field[1]), side_of_prefix_v6(&r.field[5]));
    }
    if (rules.empty())
        return {};
    return builder.finish();
}

// What differs between the families, for acl_classifier::family.
template <int Family>
struct family_traits;

template <>
struct family_traits<4> {
    using acl_rule = acl_rule_v4;
    using scan_rule = scan_rule_v4;
    static constexpr const rte_acl_field_def* defs = defs_v4;
    static constexpr unsigned nb_defs = fields_v4;
    static constexpr const char* trie_name = "linecap_acl4_";
};

template <>
struct family_traits<6> {
    using acl_rule = acl_rule_v6;
    using scan_rule = scan_rule_v6;
    static constexpr const rte_acl_field_def* defs = defs_v6;
    static constexpr unsigned nb_defs = fields_v6;
    static constexpr const char* trie_name = "linecap_acl6_";
};

} // namespace

template <int Family>
struct acl_classifier::family {
    using traits = family_traits<Family>;

    std::vector<uint8_t> rules;   // packed rte_acl rules, appended by add_session
    rte_acl_ctx* trie = nullptr;  // null: scanned, or no rules
    std::vector<typename traits::scan_rule> scanned;
    address_prefilter prefilter;  // asked before the trie; off (empty) when it would pass too much

    family() = default;
    ~family() { rte_acl_free(trie); }
    family(const family&) = delete;
    family& operator=(const family&) = delete;

    size_t rule_count() const { return rules.size() / sizeof(typename traits::acl_rule); }

    std::string build(int socket, size_t scan_max, unsigned categories)
    {
        prefilter = make_prefilter<typename traits::acl_rule>(rules, Family);
        if (rule_count() > scan_max) {
            return build_context(trie, traits::trie_name, socket, rules, sizeof(typename traits::acl_rule),
                                 traits::defs, traits::nb_defs, categories);
        }
        for (size_t at = 0; at < rules.size(); at += sizeof(typename traits::acl_rule)) {
            typename traits::acl_rule r;
            std::memcpy(&r, rules.data() + at, sizeof r);
            scanned.emplace_back(r);
        }
        return {};
    }

    void classify(const uint8_t** keys, uint32_t* bits, uint32_t n, unsigned categories) const
    {
        if (trie != nullptr) {
            classify_trie(keys, bits, n, categories);
            return;
        }
        if (scanned.empty())
            std::fill(bits, bits + n, 0u);
        else
            for (uint32_t j = 0; j < n; j++)
                bits[j] = scan(keys[j], scanned);
    }

    void classify_trie(const uint8_t** keys, uint32_t* bits, uint32_t n, unsigned categories) const
    {
        // rte_acl writes one result per category: a piece of the keys at a time.
        constexpr uint32_t piece = 64;
        uint32_t results[piece * RTE_ACL_MAX_CATEGORIES];
        const uint8_t* walked[piece];   // the piece's keys the prefilter lets through
        uint32_t where[piece];          // their places in the piece
        for (uint32_t done = 0; done < n; done += piece) {
            const uint32_t count = std::min(piece, n - done);
            const uint8_t* const* piece_keys = keys + done;
            uint32_t to_walk = count;
            if (prefilter.on()) {
                // Compacted with no branch on the filter's answer (mixed traffic).
                to_walk = prefilter.with_marks([&](auto marks) {
                    uint32_t kept = 0;
                    for (uint32_t j = 0; j < count; j++) {
                        bits[done + j] = 0;
                        walked[kept] = piece_keys[j];
                        where[kept] = j;
                        const uint8_t* key = piece_keys[j];
                        const uint8_t* src = key + offsetof(packet_fields, src);
                        const uint8_t* dst = key + offsetof(packet_fields, dst);
                        if constexpr (Family == 4)
                            kept += prefilter.template may_match_v4<marks.value>(src, dst);
                        else
                            kept += prefilter.template may_match_v6<marks.value>(src, dst);
                    }
                    return kept;
                });
                piece_keys = walked;
            }
            if (to_walk == 0)
                continue;
            rte_acl_classify(trie, const_cast<const uint8_t**>(piece_keys), results, to_walk, categories);
            for (uint32_t j = 0; j < to_walk; j++) {
                uint32_t b = 0;
                for (unsigned c = 0; c < categories; c++)
                    b |= static_cast<uint32_t>(results[j * categories + c] != 0) << c;
                bits[done + (prefilter.on() ? where[j] : j)] = b;
            }
        }
    }
};

acl_classifier::acl_classifier() : _v4(std::make_unique<family<4>>()), _v6(std::make_unique<family<6>>()) {}

acl_classifier::~acl_classifier() = default;

size_t acl_classifier::rule_count() const
{
    return _v4->rule_count() + _v6->rule_count();
}

bool acl_classifier::has_rules(int family) const
{
    return (family == 4 ? _v4->rule_count() : _v6->rule_count()) != 0;
}

const address_prefilter* acl_classifier::prefilter(int family) const
{
    const address_prefilter& f = family == 4 ? _v4->prefilter : _v6->prefilter;
    return f.on() ? &f : nullptr;
}

std::string acl_classifier::add_session(unsigned slot, const std::vector<match_rule>& rules)
{
    _highest_slot = std::max(_highest_slot, slot);
    for (size_t i = 0; i < rules.size(); i++) {
        const match_rule& r = rules[i];
        // Both directions of a bidirectional rule, each in the families it names.
        std::vector<std::pair<rule_shape, uint8_t>> parts;
        size_t count = 0;
        for (bool reversed : {false, true}) {
            if (reversed && !r.bidirectional)
                break;
            const rule_shape s = shape_of(r, reversed);
            for (uint8_t family : {4, 6}) {
                const bool src_ok = s.any_src || (family == 4 ? !s.src4.empty() : !s.src6.empty());
                const bool dst_ok = s.any_dst || (family == 4 ? !s.dst4.empty() : !s.dst6.empty());
                if (!src_ok || !dst_ok)
                    continue;   // the rule names no address of this family
                count += combinations(s, family);
                parts.emplace_back(s, family);
            }
        }
        if (rule_count() + count > max_acl_rules)
            return fmt::format("match[{}]: expands to {} classifier rules, {}more than the {} allowed: use "
                               "wider ranges or prefixes, or fewer list elements",
                               i, count, rule_count() ? "with the others " : "", max_acl_rules);
        for (const auto& [s, family] : parts)
            emit(s, family, slot, family == 4 ? _v4->rules : _v6->rules);
    }
    return {};
}

std::string acl_classifier::build(int socket, size_t scan_max)
{
    // rte_acl returns results in multiples of 4 categories (one SIMD word), or 1.
    _categories = _highest_slot == 0 ? 1 : (_highest_slot + 1 + 3) / 4 * 4;
    if (std::string e = _v4->build(socket, scan_max, _categories); !e.empty())
        return e;
    return _v6->build(socket, scan_max, _categories);
}

void acl_classifier::classify_v4(const uint8_t** keys, uint32_t* bits, uint32_t n) const
{
    _v4->classify(keys, bits, n, _categories);
}

void acl_classifier::classify_v6(const uint8_t** keys, uint32_t* bits, uint32_t n) const
{
    _v6->classify(keys, bits, n, _categories);
}

} // namespace linecap
