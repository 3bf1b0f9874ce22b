#include "writers/capture_index.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <pcap/dlt.h>
#include <roaring/roaring.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/capture_format.h"
#include "core/error_text.h"
#include "core/packet.h"
#include "core/tunnel.h"
#include "core/write_all.h"
#include "writers/capture_reader.h"
#include "writers/file_mapping.h"
#include "writers/session_output.h"

namespace linecap {

static_assert(sizeof(record_start{}.copy) == index_packet_bytes, "the writer keeps what the index reads");

void roaring_free::operator()(roaring_bitmap_s* r) const
{
    roaring_bitmap_free(r);
}

namespace {

// Reads `n` bytes at `offset`: false if fewer are there.
bool pread_all(int fd, void* to, size_t n, uint64_t offset)
{
    size_t got = 0;
    while (got < n) {
        const ssize_t r = pread(fd, static_cast<uint8_t*>(to) + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        got += static_cast<size_t>(r);
    }
    return true;
}

// The tunnel ports the index walks (index_flow.h), as the walk takes them.
const tunnel_ports index_tunnel_ports = [] {
    tunnel_ports p;
    p.vxlan_count = 0;
    for (const uint16_t port : index_vxlan_ports)
        p.vxlan[p.vxlan_count++] = to_network16(port);
    p.geneve_count = 0;
    for (const uint16_t port : index_geneve_ports)
        p.geneve[p.geneve_count++] = to_network16(port);
    return p;
}();

// Is `mask` a run of ones from the top (a prefix: 0xffffff00), or 0?
bool prefix_mask(uint32_t mask)
{
    return (~mask & (~mask + 1)) == 0;
}


} // namespace

namespace {

// index_field's sets, in words.
constexpr const char* field_names[index_field_count] = {
    "IPv4 address", "IPv6 word 0", "IPv6 word 1", "IPv6 word 2", "IPv6 word 3",
    "inner address", "tunnel id", "protocol", "port",
};

} // namespace

index_set_source::~index_set_source()
{
    if (fd >= 0)
        ::close(fd);
}

namespace {

// The bytes of `s` (in `source`'s memory, or read into `read`), checked
// against its CRC: null and `damage` in words when they cannot be had.
const uint8_t* stored_bytes(const stored_set& s, const index_set_source& source, std::vector<uint8_t>& read,
                            std::string& damage)
{
    const uint8_t* bytes = s.bytes;
    if (bytes == nullptr) {
        read.resize(s.size);
        errno = 0;   // a short file sets none
        if (!pread_all(source.fd, read.data(), read.size(), s.offset)) {
            damage = fmt::format("cannot read it: {}", errno != 0 ? error_text(errno) : "the index is shorter");
            return nullptr;
        }
        bytes = read.data();
    }
    if (index_crc(bytes, s.size) != s.crc) {
        damage = "damaged (its CRC does not match)";
        return nullptr;
    }
    return bytes;
}

constexpr unsigned blocks_unreadable = 1u << index_field_count;   // index_chunk::unreadable's bit for the block table

// A block table as index_builder serializes it (host byte order): the
// number of blocks n (2 to index_max_blocks), then per block its offset
// from the chunk's start, its packets and the CRC of its first 16 bytes
// (3 x 32 bits), then one byte per value of the chunk's IPv4 set, in the
// set's order: bit j, the value occurs in block j.
struct block_table_entry {
    uint32_t offset;
    uint32_t packets;
    uint32_t first_crc;
};

} // namespace

const roaring_bitmap_s* index_chunk::set(index_field field) const
{
    const auto f = static_cast<size_t>(field);
    const stored_set& s = stored[f];
    if (sets[f] || s.size == 0 || !source || (unreadable & (1u << f)) != 0)
        return sets[f].get();
    std::vector<uint8_t> read;
    std::string damage;
    if (const uint8_t* bytes = stored_bytes(s, *source, read, damage)) {
        sets[f].reset(roaring_bitmap_portable_deserialize_safe(reinterpret_cast<const char*>(bytes), s.size));
        if (!sets[f])
            damage = "not a set it can decode";
    }
    if (!damage.empty())
        unreadable |= static_cast<uint16_t>(1u << f);
    if (!damage.empty() && (flags & chunk_summary) != 0) {
        if (source->summary_damage.empty())
            source->summary_damage = fmt::format("its {} set, at byte {}: {}", field_names[f], s.offset, damage);
    } else if (!damage.empty() && source->damaged++ == 0) {
        source->first_damage = fmt::format("the {} set of the chunk at byte {} of the capture file, at byte {}: {}",
                                           field_names[f], offset, s.offset, damage);
    }
    return sets[f].get();
}

const index_blocks* index_chunk::blocks() const
{
    if (_blocks)
        return _blocks->places.empty() ? nullptr : &*_blocks;
    _blocks.emplace();
    if ((block_table.empty() && (stored_blocks.size == 0 || !source)) || folded(index_field::ipv4_address))
        return nullptr;
    std::vector<uint8_t> read;
    std::string damage;
    const uint8_t* bytes = block_table.data();
    size_t size = block_table.size();
    if (block_table.empty()) {
        bytes = stored_bytes(stored_blocks, *source, read, damage);
        size = stored_blocks.size;
    }
    const roaring_bitmap_t* ipv4 = bytes == nullptr ? nullptr : set(index_field::ipv4_address);
    if (bytes != nullptr && ipv4 != nullptr) {
        uint32_t n = 0;
        if (size >= sizeof n)
            std::memcpy(&n, bytes, sizeof n);
        const uint64_t values = roaring_bitmap_get_cardinality(ipv4);
        std::vector<index_block> places;
        bool ok = n >= 2 && n <= index_max_blocks && size == sizeof n + n * sizeof(block_table_entry) + values;
        uint64_t packets_sum = 0;
        for (uint32_t j = 0; ok && j < n; j++) {
            block_table_entry e;
            std::memcpy(&e, bytes + sizeof n + j * sizeof e, sizeof e);
            // Contiguous from the chunk's start, each inside it.
            ok = (j == 0 ? e.offset == 0 : e.offset > places.back().offset - offset) && e.offset < this->bytes;
            if (ok && j > 0)
                places.back().bytes = offset + e.offset - places.back().offset;
            places.push_back({offset + e.offset, this->bytes - e.offset, e.packets, e.first_crc});
            packets_sum += e.packets;
        }
        if (ok && packets_sum == packets) {
            _blocks->places = std::move(places);
            const uint8_t* masks = bytes + sizeof n + n * sizeof(block_table_entry);
            _blocks->masks.assign(masks, masks + values);
            return &*_blocks;
        }
        damage = "not a block table it can read";
    }
    if (damage.empty() || block_table.size() > 0)
        return nullptr;   // the IPv4 set itself is unreadable: counted as that
    unreadable |= static_cast<uint16_t>(blocks_unreadable);
    if (source->damaged++ == 0)
        source->first_damage = fmt::format("the block table of the chunk at byte {} of the capture file, at byte {}: {}",
                                           offset, stored_blocks.offset, damage);
    return nullptr;
}

void index_chunk::drop_read_sets() const
{
    for (size_t f = 0; f < index_field_count; f++)
        if (stored[f].size != 0 && source)
            sets[f].reset();
}

std::string capture_index::damage_note() const
{
    if (!source)
        return {};
    std::string note;
    if (source->damaged != 0)
        note = fmt::format("{}: {} set{} unreadable ({}): {} read whole", source->name, source->damaged,
                           source->damaged == 1 ? "" : "s", source->first_damage,
                           source->damaged == 1 ? "its chunk" : "the chunk of each");
    if (!source->summary_damage.empty())
        note += fmt::format("{}{}: its summary unreadable ({}): each chunk asked instead", note.empty() ? "" : "; ",
                            source->name, source->summary_damage);
    return note;
}

namespace {

// Is there a value v in `r` with (v & mask) <op> k (op as index_chunk::holds)?
// Over the values from `base` to base + `span` - 1 only, less `base`.
bool any_value(const roaring_bitmap_t* r, uint64_t base, uint64_t span, char op, uint32_t mask, uint32_t k)
{
    const uint64_t last = base + span - 1;
    const auto count_between = [&](uint64_t lo, uint64_t hi) {   // values in [base + lo, base + hi]
        const uint64_t below = base + lo == 0 ? 0 : roaring_bitmap_rank(r, static_cast<uint32_t>(base + lo - 1));
        return roaring_bitmap_rank(r, static_cast<uint32_t>(base + hi)) - below;
    };
    if (count_between(0, span - 1) == 0)
        return false;
    if (op == '=' && (k & ~mask) != 0)
        return false;   // no v & mask has bits outside the mask
    const uint64_t full = span - 1;   // the mask of every bit of a value
    if (op == '=' && prefix_mask(mask | ~static_cast<uint32_t>(full)))   // v & mask == k: v in [k, k | ~mask]
        return count_between(k, k | (~mask & full)) > 0;
    if ((mask & full) == full && op == '>')
        return k < full && count_between(uint64_t{k} + 1, full) > 0;
    if ((mask & full) == full && op == '}')
        return count_between(k, full) > 0;
    // Anything else (a mask with holes, >, >= under a mask, &): every value.
    roaring_uint32_iterator_t* it = roaring_create_iterator(r);
    bool found = false;
    for (bool more = roaring_move_uint32_iterator_equalorlarger(it, static_cast<uint32_t>(base));
         more && it->current_value <= last && !found; more = roaring_advance_uint32_iterator(it)) {
        const uint32_t m = static_cast<uint32_t>(it->current_value - base) & mask;
        found = op == '=' ? m == k : op == '>' ? m > k : op == '}' ? m >= k : (m & k) != 0;
    }
    roaring_free_uint32_iterator(it);
    return found;
}

constexpr uint64_t folded_high = 0x10000;   // a folded set's high halves: 0x10000 + h

} // namespace

bool index_chunk::holds(index_field field, char op, uint32_t mask, uint32_t k, int block) const
{
    if (block >= 0 && field == index_field::ipv4_address && op == '=' && prefix_mask(mask)) {
        const index_blocks* b = blocks();
        const roaring_bitmap_t* r = set(field);
        if (b != nullptr && r != nullptr && static_cast<size_t>(block) < b->places.size()) {
            if ((k & ~mask) != 0)
                return false;
            // The values in [k, k | ~mask]: ranks lo to hi - 1.
            const uint64_t lo = k == 0 ? 0 : roaring_bitmap_rank(r, k - 1);
            const uint64_t hi = roaring_bitmap_rank(r, k | ~mask);
            const auto bit = static_cast<uint8_t>(1u << block);
            for (uint64_t i = lo; i < hi; i++)
                if ((b->masks[static_cast<size_t>(i)] & bit) != 0)
                    return true;
            return false;
        }
    }
    const roaring_bitmap_t* r = set(field);
    if (r == nullptr)
        return true;   // unreadable: the chunk is read
    if (!folded(field))
        return any_value(r, 0, uint64_t{1} << 32, op, mask, k);
    // Every v of the set has its high half among the high halves and its
    // low half among the low ones: each condition below follows from
    // (v & mask) <op> k.
    const uint32_t mh = mask >> 16, kh = k >> 16, ml = mask & 0xffff, kl = k & 0xffff;
    const auto high = [&](char o, uint32_t kk) { return any_value(r, folded_high, 0x10000, o, mh, kk); };
    const auto low = [&](char o, uint32_t kk) { return any_value(r, 0, 0x10000, o, ml, kk); };
    switch (op) {
    case '=':
        return high('=', kh) && low('=', kl);
    case '>':
    case '}':
        return high('>', kh) || (high('=', kh) && low(op, kl));
    default:   // '&'
        return high('&', kh) || low('&', kl);
    }
}

bool index_chunk::any(index_field field) const
{
    const roaring_bitmap_t* r = set(field);
    return r == nullptr || !roaring_bitmap_is_empty(r);
}

uint64_t index_chunk::set_size(index_field field) const
{
    const roaring_bitmap_t* r = set(field);
    return r == nullptr ? 0 : roaring_bitmap_get_cardinality(r);
}

index_builder::index_builder(folding fold) : _fold(fold)
{
    reset();
}

void index_builder::empty_recent(size_t f)
{
    // Empty: 0 in every slot but 0's own, which holds 1 (whose slot is another).
    static_assert(recent_slot(0) == 0 && recent_slot(1) != 0);
    _recent[f].fill(0);
    _recent[f][recent_slot(0)] = 1;
}

void index_builder::reset()
{
    for (size_t f = 0; f < wide_fields; f++) {
        _wide[f].reset(roaring_bitmap_create());
        _pending[f].clear();
        empty_recent(f);
    }
    _protocols.fill(0);
    _l4_words.fill(0);
    _flows4.clear();
    _flows6.clear();
    _packets = 0;
    _min_ns = UINT64_MAX;
    _max_ns = 0;
    _blocks.clear();
    _next_block = 0;
    _flow_block = 0;
    _block_values.clear();
    _open_block_ipv4.clear();
}

void radix_sort(std::vector<uint32_t>& v, std::vector<uint32_t>& scratch)
{
    if (v.empty())
        return;
    scratch.resize(v.size());
    for (unsigned shift = 0; shift < 32; shift += 8) {
        std::array<uint32_t, 256> at{};
        for (const uint32_t x : v)
            at[(x >> shift) & 0xff]++;
        if (at[(v.front() >> shift) & 0xff] == v.size())
            continue;
        uint32_t sum = 0;
        for (uint32_t& n : at)
            sum += std::exchange(n, sum);
        for (const uint32_t x : v)
            scratch[at[(x >> shift) & 0xff]++] = x;
        v.swap(scratch);
    }
}

// A batch of IPv4 values in a chunk with blocks goes to the open block's
// sorted values alone; the chunk's set takes every block's at its end
// (finish), once each: a value met in each of the 8 blocks was added to a
// roaring set 16 times before, and the adds were a tenth of what the index
// cost a marked 64-byte record (docs/performance.md).
void index_builder::flush(size_t f)
{
    std::vector<uint32_t>& v = _pending[f];
    if (v.empty())
        return;
    radix_sort(v, _sort_scratch);
    v.erase(std::unique(v.begin(), v.end()), v.end());
    if (f == static_cast<size_t>(index_field::ipv4_address) && !_blocks.empty()) {
        if (_open_block_ipv4.empty()) {
            _open_block_ipv4.assign(v.begin(), v.end());
        } else {
            std::vector<uint32_t>& both = _sort_scratch;
            both.clear();
            std::set_union(_open_block_ipv4.begin(), _open_block_ipv4.end(), v.begin(), v.end(),
                           std::back_inserter(both));
            _open_block_ipv4.swap(both);
        }
    } else {
        roaring_bitmap_add_many(_wide[f].get(), v.size(), v.data());
    }
    v.clear();
}

void index_builder::start_block(uint64_t offset, const uint8_t* first16)
{
    if (!_blocks.empty())
        close_block();
    _blocks.push_back({offset, _packets, index_crc(first16, index_first_bytes)});
    _next_block = _blocks.size() < index_max_blocks ? offset + _block_bytes : UINT64_MAX;
    _flow_block = uint64_t{_blocks.size()} << flow_block_shift;
}

// The open block's IPv4 values, kept sorted; the IPv4 cache, which would
// hide a value's first packet in the next block, emptied (16 KiB once per
// block: 2 MiB of file). The IPv4 flow cache keeps its flows: each entry
// says which block it was met in (met_lately, add_keys).
void index_builder::close_block()
{
    constexpr auto ipv4 = static_cast<size_t>(index_field::ipv4_address);
    flush(ipv4);
    _block_values.push_back(std::move(_open_block_ipv4));
    _open_block_ipv4 = {};
    empty_recent(ipv4);
}

// The chunk's IPv4 set takes its blocks' values: their union, sorted, in
// one add (values in order append to a roaring set's containers).
void index_builder::add_block_values()
{
    if (_block_values.empty())
        return;
    std::vector<uint32_t>& all = _halves;   // scratch
    std::vector<uint32_t>& next = _sort_scratch;
    all.clear();
    for (const std::vector<uint32_t>& block : _block_values) {
        next.clear();
        std::set_union(all.begin(), all.end(), block.begin(), block.end(), std::back_inserter(next));
        all.swap(next);
    }
    roaring_bitmap_add_many(_wide[static_cast<size_t>(index_field::ipv4_address)].get(), all.size(), all.data());
    all.clear();
}

// The block table of the chunk whose IPv4 set is `ipv4` (exact): the
// blocks' places, then each value's blocks, by one walk of each block's
// sorted values beside the set's.
std::vector<uint8_t> index_builder::block_table(uint64_t chunk_offset, uint32_t first_crc, const roaring_bitmap_s* ipv4)
{
    const auto n = static_cast<uint32_t>(_blocks.size());
    const uint64_t values = roaring_bitmap_get_cardinality(ipv4);
    std::vector<uint8_t> table(sizeof n + n * sizeof(block_table_entry) + values);
    std::memcpy(table.data(), &n, sizeof n);
    for (uint32_t j = 0; j < n; j++) {
        const uint64_t end_packets = j + 1 < n ? _blocks[j + 1].first_packet : _packets;
        // Block 0 starts with the chunk (pcapng: with the blocks before its first packet).
        block_table_entry e{j == 0 ? 0 : static_cast<uint32_t>(_blocks[j].offset - chunk_offset),
                            static_cast<uint32_t>(end_packets - _blocks[j].first_packet),
                            j == 0 ? first_crc : _blocks[j].first_crc};
        std::memcpy(table.data() + sizeof n + j * sizeof e, &e, sizeof e);
    }
    std::vector<uint32_t>& all = _halves;   // scratch
    all.resize(static_cast<size_t>(values));
    roaring_bitmap_to_uint32_array(ipv4, all.data());
    uint8_t* masks = table.data() + sizeof n + n * sizeof(block_table_entry);
    for (uint32_t j = 0; j < n; j++) {
        size_t i = 0;
        for (const uint32_t v : _block_values[j]) {   // every one is in `all`, both sorted
            while (all[i] < v)
                i++;
            masks[i] |= static_cast<uint8_t>(1u << j);
        }
    }
    all.clear();
    return table;
}

uint32_t tunnel_keys::address_key(uint8_t family, const uint8_t* address)
{
    if (family == 4)
        return load_be32(address);
    return load_be32(address) ^ load_be32(address + 4) ^ load_be32(address + 8) ^ load_be32(address + 12);
}

bool read_tunnel_keys(const uint8_t* data, uint32_t caplen, tunnel_keys& keys)
{
    keys = tunnel_keys{};
    tunnel_view t;
    packet_fields inner{};
    if (!locate_inner(data, std::min(caplen, index_packet_bytes), index_tunnel_ports, t, inner))
        return false;
    keys.has_id = t.has_id;
    keys.id = t.id;
    if (inner.family == 4 || inner.family == 6) {
        keys.family = inner.family;
        std::memcpy(keys.src, inner.src, sizeof keys.src);
        std::memcpy(keys.dst, inner.dst, sizeof keys.dst);
    }
    return true;
}

void index_builder::add_keys(const uint8_t* data, uint32_t caplen)
{
    if (caplen < 14)
        return;
    caplen = std::min(caplen, index_packet_bytes);
    const auto protocol = [this](uint8_t p) { _protocols[p >> 6] |= uint64_t{1} << (p & 63); };
    const auto l4_word = [this](uint16_t w) { _l4_words[w >> 6] |= uint64_t{1} << (w & 63); };
    // Each load as a BPF load: made only where the packet holds its bytes.
    const uint16_t ethertype = load_be16(data + 12);
    // A flow met lately is not asked here (met_lately did), but an IPv4
    // one met in an earlier block of the chunk: only its addresses are new
    // to the open block (and a changing flow's words, as ever). A flow's
    // entry is made only for a flow that index_flow_tunnels says no tunnel
    // is walked in, either way (the entry is both directions'): all
    // might_tunnel reads of an untagged packet (the protocol or next
    // header, the header's length, the ports) is in the entry or fixed by
    // index_flow_of, so a packet met_lately finds is in no tunnel.
    const index_flow_kind kind = index_flow_of(data, caplen);
    if (kind == index_flow_kind::ipv4) {
        const index_flow4 f = index_flow4_of(data);
        const size_t set = index_flow4_set<flow4_set_bits>(f);
        if (index_flow4* met = _flows4.find(set, [&](const index_flow4& e) {
                return e.addresses == f.addresses && (e.rest & ~flow_block_bits) == f.rest;
            })) {
            met->rest = f.rest | _flow_block;
            add_wide(index_field::ipv4_address, load_be32(data + 26));
            add_wide(index_field::ipv4_address, load_be32(data + 30));
            if (f.rest & index_flow_words_apart)
                add_l4_words(data + 34);
            return;
        }
        if (!index_flow_tunnels(data, kind))
            _flows4.victim(set) = {f.addresses, f.rest | _flow_block};
    } else if (kind == index_flow_kind::ipv6) {
        const index_flow6 f = index_flow6_of(data);
        if (!index_flow_tunnels(data, kind))
            _flows6.victim(index_flow6_set<flow6_set_bits>(f)) = f;
    }
    if (index_might_tunnel(data, caplen)) {
        tunnel_keys keys;
        if (read_tunnel_keys(data, caplen, keys)) {
            if (keys.family != 0) {
                add_wide(index_field::inner_address, tunnel_keys::address_key(keys.family, keys.src));
                add_wide(index_field::inner_address, tunnel_keys::address_key(keys.family, keys.dst));
            }
            if (keys.has_id)
                add_wide(index_field::tunnel_id, keys.id);
        }
    }
    if (ethertype == ether_type_ipv4) {
        if (caplen >= 24)
            protocol(data[23]);
        if (caplen >= 30)
            add_wide(index_field::ipv4_address, load_be32(data + 26));
        if (caplen >= 34)
            add_wide(index_field::ipv4_address, load_be32(data + 30));
        if (caplen >= 22 && (load_be16(data + 20) & 0x1fff) == 0) {
            const uint32_t l4 = 14 + 4 * (data[14] & 0xfu);
            if (caplen >= l4 + 2)
                l4_word(load_be16(data + l4));
            if (caplen >= l4 + 4)
                l4_word(load_be16(data + l4 + 2));
        }
    } else if (ethertype == ether_type_arp || ethertype == ether_type_rarp) {   // ARP, RARP: `host` asks their IPv4 addresses too
        if (caplen >= 32)
            add_wide(index_field::ipv4_address, load_be32(data + 28));
        if (caplen >= 42)
            add_wide(index_field::ipv4_address, load_be32(data + 38));
    } else if (ethertype == ether_type_ipv6) {
        if (caplen >= 21)
            protocol(data[20]);
        for (uint32_t i = 0; i < 4; i++) {
            const auto f = static_cast<index_field>(static_cast<uint8_t>(index_field::ipv6_word0) + i);
            if (caplen >= 26 + 4 * i)
                add_wide(f, load_be32(data + 22 + 4 * i));
            if (caplen >= 42 + 4 * i)
                add_wide(f, load_be32(data + 38 + 4 * i));
        }
        if (caplen >= 56)
            l4_word(load_be16(data + 54));
        if (caplen >= 58)
            l4_word(load_be16(data + 56));
    }
}

namespace {

// Appends base + the values whose bits are set in `words` (bit i of word
// w: the value 64w + i), in order.
void append_bits(const uint64_t* words, size_t count, uint64_t base, std::vector<uint32_t>& out)
{
    for (size_t w = 0; w < count; w++)
        for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1)
            out.push_back(static_cast<uint32_t>(base + 64 * w + static_cast<size_t>(__builtin_ctzll(bits))));
}

// The set of the bits set in `words`.
roaring_ptr set_of_bits(const uint64_t* words, size_t count)
{
    std::vector<uint32_t> values;
    append_bits(words, count, 0, values);
    roaring_ptr r(roaring_bitmap_of_ptr(values.size(), values.data()));
    roaring_bitmap_run_optimize(r.get());
    return r;
}

} // namespace

index_chunk index_builder::finish(uint64_t offset, uint64_t bytes, bool pinned, const uint8_t* first)
{
    index_chunk c;
    c.first_crc = index_crc(first, static_cast<size_t>(std::min(bytes, index_first_bytes)));
    c.offset = offset;
    c.bytes = bytes;
    c.packets = _packets;
    c.min_ns = _packets == 0 ? 0 : _min_ns;
    c.max_ns = _packets == 0 ? 0 : _max_ns;
    c.flags = pinned ? chunk_place::chunk_pinned : 0;
    if (!_blocks.empty())
        close_block();
    add_block_values();
    for (size_t f = 0; f < wide_fields; f++) {
        flush(f);
        roaring_ptr exact = std::move(_wide[f]);
        roaring_bitmap_run_optimize(exact.get());
        const auto field = static_cast<index_field>(f);
        // Folded where the values are strewn over the whole 32-bit space
        // (random IPv6 interface identifiers): a roaring container of
        // nearly one value each, over 4 bytes a value, and the halves of
        // such values are as good as independent. Addresses that share
        // their high halves (a /16 of clients) stay exact: 2 bytes a value
        // at most, and folding them would lose which low half goes with
        // which high one.
        const size_t exact_bytes = roaring_bitmap_portable_size_in_bytes(exact.get());
        const uint64_t values = roaring_bitmap_get_cardinality(exact.get());
        if (_fold == folding::always ||
            (_fold == folding::when_smaller && exact_bytes > 16384 && exact_bytes > 4 * values)) {
            // The halves as bits (no sort: a chunk's end costs no more than a batch).
            std::vector<uint32_t>& buffer = _halves;   // the exact values, then the folded ones
            buffer.resize(static_cast<size_t>(values));
            roaring_bitmap_to_uint32_array(exact.get(), buffer.data());
            std::array<uint64_t, 65536 / 64> lows{}, highs{};
            for (const uint32_t x : buffer) {
                lows[(x & 0xffff) >> 6] |= uint64_t{1} << (x & 63);
                highs[x >> 22] |= uint64_t{1} << ((x >> 16) & 63);
            }
            buffer.clear();
            append_bits(lows.data(), lows.size(), 0, buffer);
            append_bits(highs.data(), highs.size(), folded_high, buffer);
            roaring_ptr folded(roaring_bitmap_of_ptr(buffer.size(), buffer.data()));
            roaring_bitmap_run_optimize(folded.get());
            if (_fold == folding::always ||
                roaring_bitmap_portable_size_in_bytes(folded.get()) < exact_bytes) {
                exact = std::move(folded);
                c.flags |= chunk_place::chunk_folded(field);
            }
        }
        c.sets[f] = std::move(exact);
    }
    c.sets[static_cast<size_t>(index_field::protocol)] = set_of_bits(_protocols.data(), _protocols.size());
    c.sets[static_cast<size_t>(index_field::l4_word)] = set_of_bits(_l4_words.data(), _l4_words.size());
    // Blocks, where a query can use them: an exact IPv4 set (a folded one
    // has no values to give blocks to) of a chunk read apart (a pinned one
    // is read whole).
    if (_blocks.size() >= 2 && !pinned && !c.folded(index_field::ipv4_address))
        c.block_table = block_table(offset, c.first_crc, c.sets[0].get());
    reset();
    return c;
}

// --- the index file -----------------------------------------------------------
//
// Host byte order. A 32-byte header: "LCINDEX\0", the version (7), the
// capture file's link type, its head's length and CRC-32, and the
// header's own CRC-32. Then one entry per chunk, appended as chunks are
// made: its head (136 bytes: its length, its block table's length, its
// place (chunk_place: offset, bytes, packets, times, first CRC, flags),
// each set's length and CRC-32, the CRC-32 of the head, the block table's
// CRC-32), then each set's portable serialization, then the block table
// (index_builder::block_table; none for a chunk of one block).
// Then, once the file is finished, its directory: "LCIDXDIR", every
// entry's head again in order, and a 24-byte trailer (the directory's
// offset, the number of chunks, the CRC-32 of the directory from its
// magic, "LCIDXEND").
//
// A query reads the trailer and the directory (136 bytes a chunk, about
// 0.13% of a 16 MiB chunk's sets on the bench's ring), then only the sets it asks
// about, of the chunks in its time window, each checked against its own
// CRC. An index without a directory (its file still being written, or cut
// short) is read whole, entry by entry, up to the first torn or damaged
// head. Version 1 had no folded sets, 2 no tunnel sets, 3 no directory
// and one CRC over each entry; 4, read too, no block tables (its head's
// two words for them were 0); 5, read too, no summary; 6, read too, no
// stamp of the capture file (its summary's head was 80 bytes).

namespace {

constexpr char index_magic[8] = {'L', 'C', 'I', 'N', 'D', 'E', 'X', '\0'};
constexpr char directory_magic[8] = {'L', 'C', 'I', 'D', 'X', 'D', 'I', 'R'};
constexpr char trailer_magic[8] = {'L', 'C', 'I', 'D', 'X', 'E', 'N', 'D'};
// Before the summary's sets (version 6), so that a reader walking the
// entries of an index whose directory is lost stops there, as at the
// directory's own magic.
constexpr char summary_magic[8] = {'L', 'C', 'I', 'D', 'X', 'S', 'U', 'M'};
constexpr uint32_t index_version = 7;
constexpr uint32_t index_version_without_stamp = 6;     // read too: its summary's head is 80 bytes
constexpr uint32_t index_version_without_summary = 5;   // read too: its directory has no summary
constexpr uint32_t index_version_without_blocks = 4;    // read too: no summary, and its chunks have no blocks

struct index_header {
    char magic[8];
    uint32_t version;
    uint32_t linktype;
    uint64_t head_bytes;
    uint32_t head_crc;
    uint32_t header_crc;   // of the 28 bytes before it
};
static_assert(sizeof(index_header) == 32);

struct set_entry {
    uint32_t bytes;
    uint32_t crc;
};

struct entry_head {
    uint32_t entry_bytes;   // the whole entry: this head, the sets, the block table
    uint32_t blocks_bytes;  // the block table's length: 0 for none (always, in version 4)
    chunk_place place;
    std::array<set_entry, index_field_count> sets;
    uint32_t head_crc;      // of the bytes before it
    uint32_t blocks_crc;    // the block table's CRC-32 (the table is checked against it when read)
};
static_assert(sizeof(entry_head) == 136);

// The directory's last part (version 6): the file's summary sets, stored
// just before the directory (after summary_magic) in this order, each's
// length and CRC-32, and which of them there are (bit f: set f). Version 7
// adds the capture file's stamp (capture_stamp) after them.
struct summary_head {
    std::array<set_entry, index_field_count> sets;
    uint32_t present;
    uint32_t stamped;          // 1: the stamp's three fields hold the capture file's; 0: unknown
    uint64_t capture_bytes;    // its size
    int64_t capture_mtime_s;   // its modification time, in seconds and ns (st_mtim)
    int64_t capture_mtime_ns;
};
static_assert(sizeof(summary_head) == 104);
constexpr size_t summary_head_bytes_v6 = offsetof(summary_head, capture_bytes);
static_assert(summary_head_bytes_v6 == 80);

struct index_trailer {
    uint64_t directory_offset;
    uint32_t chunks;
    uint32_t directory_crc;   // of the directory: its magic and the heads
    char magic[8];
};
static_assert(sizeof(index_trailer) == 24);

} // namespace

uint32_t index_crc(const void* data, size_t n, uint32_t crc)
{
    // zlib's: DPDK's rte_hash_crc loads 8 bytes at a time from any address
    // (UBSan: misaligned loads), and an index entry sits anywhere.
    return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

std::string index_name_of(const std::string& capture_name)
{
    if (capture_name.ends_with(".part"))
        return capture_name.substr(0, capture_name.size() - 5) + ".idx.part";
    return capture_name + ".idx";
}

index_file_writer::~index_file_writer()
{
    if (_fd >= 0)
        ::close(_fd);
}

std::string index_file_writer::open(const std::string& path, uint32_t linktype, uint64_t head_bytes,
                                    uint32_t head_crc, int dir_fd)
{
    _path = path;
    _bytes = 0;
    _directory.assign(directory_magic, directory_magic + sizeof directory_magic);
    for (roaring_ptr& u : _union)
        u.reset(roaring_bitmap_create());
    _unions_dropped = 0;
    // Something other than a file at the index's name (a FIFO, a device)
    // is not opened to be emptied; O_NONBLOCK: one put there meanwhile
    // would hold the open until something read it (a regular file ignores
    // the flag).
    struct stat st{};
    const bool other = fstatat(dir_fd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
                       !S_ISLNK(st.st_mode);   // a link: O_NOFOLLOW says so
    _fd = other ? -1
                : ::openat(dir_fd, path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                           0640);
    if (other)
        errno = ENXIO;
    if (_fd >= 0 && (fstat(_fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        ::close(_fd);
        _fd = -1;
        errno = ENXIO;
    }
    if (_fd < 0 && errno == ENXIO)
        return fmt::format("{}: cannot create the index: something other than a file is there (a folder, a FIFO, "
                           "a device): remove it", path);
    if (_fd < 0)
        return fmt::format("{}: cannot create the index: {}", path, error_text(errno));
    index_header h{};
    std::memcpy(h.magic, index_magic, sizeof h.magic);
    h.version = index_version;
    h.linktype = linktype;
    h.head_bytes = head_bytes;
    h.head_crc = head_crc;
    h.header_crc = index_crc(&h, offsetof(index_header, header_crc));
    if (!write_all(_fd, &h, sizeof h))
        return fmt::format("{}: cannot write the index: {}", path, error_text(errno));
    _bytes = sizeof h;
    return {};
}

std::string index_file_writer::append(const index_chunk& chunk)
{
    std::vector<uint8_t> entry(sizeof(entry_head));
    entry_head h{};
    h.place = chunk;
    for (size_t f = 0; f < index_field_count; f++) {
        const roaring_bitmap_t* set = chunk.set(static_cast<index_field>(f));
        if (set == nullptr)
            return fmt::format("{}: chunk at byte {} has no set {}", _path, chunk.offset, f);
        const auto n = static_cast<uint32_t>(roaring_bitmap_portable_size_in_bytes(set));
        const size_t at = entry.size();
        entry.resize(at + n);
        roaring_bitmap_portable_serialize(set, reinterpret_cast<char*>(entry.data() + at));
        h.sets[f] = {n, index_crc(entry.data() + at, n)};
        // The summary: a union of exact sets (a folded one's halves are
        // not its values).
        if (chunk.folded(static_cast<index_field>(f)))
            _unions_dropped |= 1u << f;
        else if ((_unions_dropped & (1u << f)) == 0)
            roaring_bitmap_or_inplace(_union[f].get(), set);
    }
    if (!chunk.block_table.empty()) {
        h.blocks_bytes = static_cast<uint32_t>(chunk.block_table.size());
        h.blocks_crc = index_crc(chunk.block_table.data(), chunk.block_table.size());
        entry.insert(entry.end(), chunk.block_table.begin(), chunk.block_table.end());
    }
    h.entry_bytes = static_cast<uint32_t>(entry.size());
    h.head_crc = index_crc(&h, offsetof(entry_head, head_crc));
    std::memcpy(entry.data(), &h, sizeof h);
    if (!write_all(_fd, entry.data(), entry.size()))
        return fmt::format("{}: cannot write the index: {}", _path, error_text(errno));
    _bytes += entry.size();
    _directory.insert(_directory.end(), entry.begin(), entry.begin() + sizeof h);
    return {};
}

std::string index_file_writer::close(bool finished, const std::optional<capture_stamp>& stamp)
{
    if (_fd < 0)
        return {};
    const int fd = std::exchange(_fd, -1);
    std::string error;
    if (finished) {
        // The summary's sets, then its head at the directory's end.
        const auto chunks = static_cast<uint32_t>((_directory.size() - sizeof directory_magic) / sizeof(entry_head));
        summary_head sh{};
        std::vector<uint8_t> sets(summary_magic, summary_magic + sizeof summary_magic);
        for (size_t f = 0; f < index_field_count; f++) {
            if ((_unions_dropped & (1u << f)) != 0)
                continue;
            roaring_bitmap_run_optimize(_union[f].get());
            const auto n = static_cast<uint32_t>(roaring_bitmap_portable_size_in_bytes(_union[f].get()));
            const size_t at = sets.size();
            sets.resize(at + n);
            roaring_bitmap_portable_serialize(_union[f].get(), reinterpret_cast<char*>(sets.data() + at));
            sh.sets[f] = {n, index_crc(sets.data() + at, n)};
            sh.present |= 1u << f;
        }
        if (stamp) {
            sh.stamped = 1;
            sh.capture_bytes = stamp->bytes;
            sh.capture_mtime_s = stamp->mtime.tv_sec;
            sh.capture_mtime_ns = stamp->mtime.tv_nsec;
        }
        if (write_all(fd, sets.data(), sets.size()))
            _bytes += sets.size();
        else
            error = fmt::format("{}: cannot write the index's summary: {}", _path, error_text(errno));
        _directory.insert(_directory.end(), reinterpret_cast<const uint8_t*>(&sh),
                          reinterpret_cast<const uint8_t*>(&sh) + sizeof sh);
        index_trailer t{};
        t.directory_offset = _bytes;
        t.chunks = chunks;
        t.directory_crc = index_crc(_directory.data(), _directory.size());
        std::memcpy(t.magic, trailer_magic, sizeof t.magic);
        _directory.insert(_directory.end(), reinterpret_cast<const uint8_t*>(&t),
                          reinterpret_cast<const uint8_t*>(&t) + sizeof t);
        if (error.empty()) {   // else no directory: the index is read entry by entry
            if (write_all(fd, _directory.data(), _directory.size()))
                _bytes += _directory.size();
            else
                error = fmt::format("{}: cannot write the index's directory: {}", _path, error_text(errno));
        }
    }
    if (::close(fd) != 0 && error.empty())
        error = fmt::format("{}: cannot write the index: {}", _path, error_text(errno));
    return error;
}

namespace {

// The chunk of entry head `h` at `at` (in the index file), its sets'
// places from there: "" or what is wrong with it (its sets do not add up
// to its length).
std::string chunk_of_head(const entry_head& h, uint64_t at, index_chunk& c)
{
    static_cast<chunk_place&>(c) = h.place;
    uint64_t p = at + sizeof h;
    for (size_t f = 0; f < index_field_count; f++) {
        c.stored[f] = {nullptr, p, h.sets[f].bytes, h.sets[f].crc};
        p += h.sets[f].bytes;
    }
    c.stored_blocks = {nullptr, p, h.blocks_bytes, h.blocks_crc};
    p += h.blocks_bytes;
    return p == at + h.entry_bytes ? "" : "its sets do not add up to its length";
}

} // namespace

namespace {

// The summary whose head is at `head`, its sets from `at` (the end of the
// last entry) to `end` (the directory), into out.summary; none if its sets
// do not fill that span exactly.
void read_summary(const summary_head& sh, uint64_t at, uint64_t end,
                  const std::shared_ptr<const index_set_source>& source, capture_index& out)
{
    auto summary = std::make_unique<index_chunk>();
    summary->offset = out.head_bytes;
    summary->flags = chunk_place::chunk_summary;
    summary->min_ns = UINT64_MAX;
    for (const index_chunk& c : out.chunks) {
        summary->bytes += c.bytes;
        summary->packets += c.packets;
        if (c.packets != 0) {
            summary->min_ns = std::min(summary->min_ns, c.min_ns);
            summary->max_ns = std::max(summary->max_ns, c.max_ns);
        }
    }
    if (summary->packets == 0)
        summary->min_ns = 0;
    if (end - at < sizeof summary_magic)
        return;
    at += sizeof summary_magic;
    for (size_t f = 0; f < index_field_count; f++) {
        if ((sh.present & (1u << f)) == 0)
            continue;   // no summary of it: may hold anything
        if (sh.sets[f].bytes > end - at)
            return;
        summary->stored[f] = {nullptr, at, sh.sets[f].bytes, sh.sets[f].crc};
        at += sh.sets[f].bytes;
    }
    if (at != end)
        return;
    summary->source = source;
    out.summary = std::move(summary);
}

} // namespace

std::string read_capture_index(int fd, const std::string& name, capture_index& out)
{
    out = capture_index{};
    struct stat st{};
    if (fstat(fd, &st) != 0)
        return fmt::format("{}: cannot read the index: {}", name, error_text(errno));
    const auto size = static_cast<uint64_t>(st.st_size);
    out.index_bytes = size;
    index_header h{};
    if (size < sizeof h || !pread_all(fd, &h, sizeof h, 0))
        return fmt::format("{}: not a linecap index: {} bytes, less than its header", name, size);
    if (std::memcmp(h.magic, index_magic, sizeof h.magic) != 0)
        return fmt::format("{}: not a linecap index (it does not start with LCINDEX)", name);
    if (h.header_crc != index_crc(&h, offsetof(index_header, header_crc)))
        return fmt::format("{}: the index's header is damaged (its CRC does not match)", name);
    if (h.version != index_version && h.version != index_version_without_stamp &&
        h.version != index_version_without_summary && h.version != index_version_without_blocks)
        return fmt::format("{}: index version {}, where this linecap reads {}: make it again with linecap index",
                           name, h.version, index_version);
    out.linktype = h.linktype;
    out.head_bytes = h.head_bytes;
    out.head_crc = h.head_crc;
    auto source = std::make_shared<index_set_source>();
    source->name = name;
    source->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (source->fd < 0)
        return fmt::format("{}: cannot read the index: {}", name, error_text(errno));
    out.source = source;

    // A finished index: its trailer and directory.
    index_trailer t{};
    std::vector<uint8_t> directory;
    // (Each bound checked apart: a crafted trailer must not wrap a sum.)
    // Version 6's directory ends with the summary's head, version 7's with
    // a longer one.
    const uint64_t summary_bytes = h.version == index_version                ? sizeof(summary_head)
                                   : h.version == index_version_without_stamp ? summary_head_bytes_v6
                                                                              : 0;
    if (size >= sizeof h + sizeof directory_magic + summary_bytes + sizeof t &&
        pread_all(fd, &t, sizeof t, size - sizeof t) && std::memcmp(t.magic, trailer_magic, sizeof t.magic) == 0 &&
        t.directory_offset >= sizeof h && t.directory_offset <= size - sizeof t - sizeof directory_magic - summary_bytes &&
        size - sizeof t - sizeof directory_magic - summary_bytes - t.directory_offset ==
            uint64_t{t.chunks} * sizeof(entry_head)) {
        directory.resize(static_cast<size_t>(size - sizeof t - t.directory_offset));
        if (!pread_all(fd, directory.data(), directory.size(), t.directory_offset) ||
            index_crc(directory.data(), directory.size()) != t.directory_crc ||
            std::memcmp(directory.data(), directory_magic, sizeof directory_magic) != 0)
            directory.clear();   // read as one without
    }
    if (!directory.empty()) {
        out.by_directory = true;
        uint64_t at = sizeof h;            // where the next entry starts in the index
        uint64_t next = h.head_bytes;      // where the next chunk must start in the capture file
        for (size_t i = 0; i < t.chunks; i++) {
            entry_head e;
            std::memcpy(&e, directory.data() + sizeof directory_magic + i * sizeof e, sizeof e);
            index_chunk c;
            std::string wrong = chunk_of_head(e, at, c);
            if (wrong.empty() && at + e.entry_bytes > t.directory_offset)
                wrong = "it runs into the directory";
            if (wrong.empty() && e.place.offset != next)
                wrong = fmt::format("it starts at byte {} of the capture file, where the one before ended at {}",
                                    e.place.offset, next);
            if (!wrong.empty()) {
                out.note = fmt::format("{}: chunk {} ({}): the capture file from byte {} is read whole", name, i + 1,
                                       wrong, next);
                break;
            }
            c.source = source;
            next = e.place.offset + e.place.bytes;
            at += e.entry_bytes;
            out.chunks.push_back(std::move(c));
        }
        summary_head sh{};   // version 6's is shorter: no stamp
        std::memcpy(&sh, directory.data() + directory.size() - summary_bytes, summary_bytes);
        if (h.version == index_version && sh.stamped == 1)   // version 6's last word was reserved
            out.stamp = capture_stamp{sh.capture_bytes, {static_cast<time_t>(sh.capture_mtime_s),
                                                         static_cast<long>(sh.capture_mtime_ns)}};
        if (summary_bytes != 0 && out.chunks.size() == t.chunks)
            read_summary(sh, at, t.directory_offset, source, out);
        return {};
    }

    // No directory: the whole file, entry by entry.
    ::close(std::exchange(source->fd, -1));   // the sets are in `bytes`
    std::vector<uint8_t>& bytes = source->bytes;
    bytes.resize(static_cast<size_t>(size));
    size_t got = 0;
    while (got < bytes.size()) {
        const ssize_t n = pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fmt::format("{}: cannot read the index: {}", name, error_text(errno));
        if (n == 0)
            break;
        got += static_cast<size_t>(n);
    }
    bytes.resize(got);
    uint64_t next = h.head_bytes;
    for (size_t at = sizeof h; at < got;) {
        const size_t chunk_number = out.chunks.size() + 1;
        if (got - at >= sizeof directory_magic &&
            (std::memcmp(bytes.data() + at, directory_magic, sizeof directory_magic) == 0 ||
             std::memcmp(bytes.data() + at, summary_magic, sizeof summary_magic) == 0))
            break;   // a summary or directory cut short: every entry is there
        entry_head e{};
        if (got - at < sizeof e) {
            out.note = fmt::format("{}: chunk {} is torn (byte {}): the capture file from byte {} is read whole",
                                   name, chunk_number, at, next);
            break;
        }
        std::memcpy(&e, bytes.data() + at, sizeof e);
        const bool head_ok = e.head_crc == index_crc(&e, offsetof(entry_head, head_crc));
        const bool whole = head_ok && e.entry_bytes >= sizeof e && e.entry_bytes <= got - at;
        if (!whole) {
            out.note = fmt::format("{}: chunk {} is {} (byte {}): the capture file from byte {} is read whole", name,
                                   chunk_number, head_ok ? "torn" : "damaged (its CRC does not match)", at, next);
            break;
        }
        index_chunk c;
        std::string wrong = chunk_of_head(e, at, c);
        if (wrong.empty() && e.place.offset != next)
            wrong = fmt::format("it starts at byte {} of the capture file, where the one before ended at {}",
                                e.place.offset, next);
        if (!wrong.empty()) {
            out.note = fmt::format("{}: chunk {} ({}): the capture file from byte {} is read whole", name,
                                   chunk_number, wrong, next);
            break;
        }
        for (stored_set& s : c.stored)
            s.bytes = bytes.data() + s.offset;
        c.stored_blocks.bytes = bytes.data() + c.stored_blocks.offset;
        c.source = source;
        next = e.place.offset + e.place.bytes;
        out.chunks.push_back(std::move(c));
        at += e.entry_bytes;
    }
    return {};
}

// --- the writers' index -------------------------------------------------------

std::string capture_file_indexer::open(int dir_fd, const std::string& name, uint64_t head_bytes)
{
    discard();
    _error.clear();
    _name = name;
    _records_read = 0;
    _records_in_chunk = 0;
    // The header was flushed by capture_writer::open: read it back for its CRC.
    std::vector<uint8_t> head(static_cast<size_t>(head_bytes));
    const int fd = ::openat(dir_fd, (name + ".part").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fmt::format("{}.part: cannot read its header for the index: {}", name, error_text(errno));
    const ssize_t got = pread(fd, head.data(), head.size(), 0);
    const int err = errno;
    ::close(fd);
    if (got != static_cast<ssize_t>(head.size()))
        return fmt::format("{}.part: cannot read its header for the index: {}", name,
                           got < 0 ? error_text(err) : "the file is shorter");
    if (std::string e = _out.open(index_name_of(name + ".part"), linktype_ethernet, head_bytes,
                                  index_crc(head.data(), head.size()), dir_fd);
        !e.empty())
        return e;
    _dir_fd = dir_fd;
    _chunk_limit = 0;
    _next_read = 0;
    _marked_fast = index_mark_words;   // the first record starts the chunk
    end_wait();
    return {};
}

void capture_file_indexer::finish_chunk(uint64_t end)
{
    end_wait();
    const index_chunk c = _builder.finish(_chunk_offset, end - _chunk_offset, false, _first.data());
    if (_error.empty())
        _error = _out.append(c);
}

std::string capture_file_indexer::close(bool renamed, uint64_t records_end)
{
    if (_dir_fd < 0)
        return {};
    if (_builder.packets() > 0)
        finish_chunk(records_end);
    std::string error = _error;
    std::optional<capture_stamp> stamp;
    struct stat st{};
    if (fstatat(_dir_fd, (renamed ? _name : _name + ".part").c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        stamp = capture_stamp{static_cast<uint64_t>(st.st_size), st.st_mtim};
    if (std::string e = _out.close(true, stamp); error.empty())
        error = e;
    if (renamed && renameat(_dir_fd, index_name_of(_name + ".part").c_str(), _dir_fd, index_name_of(_name).c_str()) != 0) {
        // Left beside its renamed file it would be no one's (keep-N deletes
        // NAME.idx): the file is read whole instead.
        if (error.empty())
            error = fmt::format("{}: cannot rename it {}: {}; removed it", index_name_of(_name + ".part"),
                                index_name_of(_name), error_text(errno));
        unlinkat(_dir_fd, index_name_of(_name + ".part").c_str(), 0);
    }
    _dir_fd = -1;
    return error;
}

void capture_file_indexer::discard()
{
    if (_dir_fd < 0)
        return;
    _out.close(false);
    unlinkat(_dir_fd, index_name_of(_name + ".part").c_str(), 0);
    _builder.reset();
    _dir_fd = -1;
}

// --- indexing a capture file --------------------------------------------------

namespace {

// What a query does with a file of `linktype` (not Ethernet), which has no
// index: reads it whole if it is raw IP, the other kind linecap writes
// (merge.cpp); refuses it otherwise.
std::string unindexed_linktype_text(uint32_t linktype)
{
    return dlt_of_linktype(static_cast<int>(linktype)) == DLT_RAW
               ? "queries read this file whole"
               : "nor can queries read it: linecap reads Ethernet and raw IP captures";
}

// The records of a mapped capture file, as the index needs them: where each
// starts and ends, and a packet's time and bytes. pcap in either byte order
// (µs, ns), and pcapng (either byte order, per-interface resolution).
class capture_framer {
public:
    capture_framer(const uint8_t* data, size_t size, std::string name) : _data(data), _size(size), _name(std::move(name)) {}

    // Reads the file's header. "" or why it cannot be indexed.
    std::string start()
    {
        const std::optional<capture_header> h = read_capture_header(_data, std::min<size_t>(_size, 24));
        if (!h)
            return fmt::format("{}: not a pcap or pcapng file linecap can index", _name);
        _capture_header = true;
        _swapped = h->swapped;
        if (h->format == file_format::pcapng) {
            _pcapng = true;
            // The head: the blocks before the first packet.
            for (_at = 0; _at < _size;) {
                uint32_t type = 0, total = 0;
                if (!block_at(_at, type, total))
                    break;
                if (is_packet_block(type))
                    break;
                if (std::string e = note_block(type, _at, total); !e.empty())
                    return e;
                _at += total;
            }
            return {};
        }
        // Before format version 2.4 a record's two lengths may come in the
        // other order (libpcap swaps them for 2.2, and for 2.3 when the
        // captured one is the larger): such records are read whole by libpcap.
        // (libpcap refuses versions after 2.4: their chunks could not be read apart.)
        if (const uint16_t major = u16(4), minor = u16(6); major != pcap_version_major || minor != pcap_version_minor)
            return fmt::format("{}: pcap format version {}.{}, whose records linecap does not index (it indexes "
                               "version 2.4); queries read this file whole",
                               _name, major, minor);
        // The link type is the low 16 bits; the rest say FCS lengths (libpcap's LT_LINKTYPE).
        const int linktype = static_cast<int>(u32(20) & 0xffff);
        _nanosecond = h->format == file_format::pcap_ns;
        if (linktype != linktype_ethernet)
            return fmt::format("{}: link type {}, not Ethernet: linecap indexes Ethernet captures ({})", _name,
                               linktype_text(dlt_of_linktype(linktype)), unindexed_linktype_text(linktype));
        _at = sizeof(pcap_file_header);
        return {};
    }

    uint64_t offset() const { return _at; }
    // Whether start() found a pcap or pcapng header.
    bool is_capture_header() const { return _capture_header; }

    // The next record from offset(): false at the end of the file, or at
    // what is not a record (error() then says what, unless the file merely
    // ends inside a record: torn()).
    bool next(bool& packet, bool& pins, uint64_t& ts_ns, const uint8_t*& bytes, uint32_t& caplen)
    {
        packet = pins = false;
        if (_at >= _size)
            return false;
        if (!_pcapng) {
            if (_size - _at < sizeof(pcap_record_header))
                return torn_at(_at);
            const uint32_t sec = u32(_at), frac = u32(_at + 4);
            caplen = u32(_at + 8);
            if (caplen > pcap_max_caplen) {
                _error = fmt::format("{}: byte {}: a record of {} captured bytes, more than the file allows ({}): "
                                     "indexed up to there",
                                     _name, _at, caplen, pcap_max_caplen);
                return false;
            }
            if (_size - _at - sizeof(pcap_record_header) < caplen)
                return torn_at(_at);
            packet = true;
            ts_ns = uint64_t{sec} * ns_per_second + (_nanosecond ? frac : uint64_t{frac} * 1000);
            bytes = _data + _at + sizeof(pcap_record_header);
            _at += sizeof(pcap_record_header) + caplen;
            return true;
        }
        uint32_t type = 0, total = 0;
        if (!block_at(_at, type, total))
            return false;
        const uint64_t at = _at;
        _at += total;
        if (type == pcapng_enhanced_packet || type == pcapng_packet_obsolete) {
            if (total < 32)
                return bad_block(at, "a packet block too short for its header");
            const uint32_t iface = type == pcapng_packet_obsolete ? u16(at + 8) : u32(at + 8);
            caplen = u32(at + 20);
            if (caplen > total - 32)
                return bad_block(at, "a packet block whose captured length runs past its end");
            if (iface >= _interfaces.size())
                return bad_block(at, fmt::format("a packet of interface {}, which no block described", iface));
            const uint64_t units = uint64_t{u32(at + 12)} << 32 | u32(at + 16);
            const uint64_t per_second = _interfaces[iface].per_second;
            packet = true;
            ts_ns = per_second == ns_per_second ? units
                    : ns_per_second % per_second == 0
                        ? units * (ns_per_second / per_second)
                        : static_cast<uint64_t>(static_cast<unsigned __int128>(units) * ns_per_second / per_second);
            // if_tsoffset: seconds added to every time of the interface, as
            // libpcap and Wireshark add them (a time before 1970 as 0).
            if (const __int128 shifted = static_cast<__int128>(ts_ns) +
                                         static_cast<__int128>(_interfaces[iface].offset_s) * ns_per_second;
                _interfaces[iface].offset_s != 0)
                ts_ns = shifted < 0 ? 0 : shifted > static_cast<__int128>(UINT64_MAX) ? UINT64_MAX
                                                                                        : static_cast<uint64_t>(shifted);
            bytes = _data + at + 28;
            return true;
        }
        if (type == pcapng_simple_packet) {
            if (total < 16 || _interfaces.empty())
                return bad_block(at, "a simple packet block without an interface or too short");
            caplen = std::min(u32(at + 8), total - 16);
            packet = true;
            ts_ns = 0;   // it has none; libpcap reads it as the epoch
            bytes = _data + at + 12;
            return true;
        }
        if (type == pcapng_section_header || type == pcapng_interface_description) {
            pins = true;
            if (std::string e = note_block(type, at, total); !e.empty()) {
                _error = e;
                return false;
            }
        }
        return true;
    }

    const std::string& error() const { return _error; }
    // The file cannot be indexed at all (an interface that is not
    // Ethernet): no index is better than one of its first records.
    bool refused() const { return _refused; }
    bool torn() const { return _torn; }

private:
    uint32_t u32(uint64_t at) const
    {
        uint32_t v;
        std::memcpy(&v, _data + at, 4);
        return _swapped ? __builtin_bswap32(v) : v;
    }
    uint16_t u16(uint64_t at) const
    {
        uint16_t v;
        std::memcpy(&v, _data + at, 2);
        return _swapped ? __builtin_bswap16(v) : v;
    }

    bool torn_at(uint64_t at)
    {
        _torn = true;
        _error = fmt::format("{}: ends inside a record at byte {} (a file being written, or cut): indexed up to there",
                             _name, at);
        return false;
    }

    bool bad_block(uint64_t at, const std::string& what)
    {
        _error = fmt::format("{}: byte {}: {}: indexed up to there", _name, at, what);
        return false;
    }

    // The block at `at`: its type and total length, checked by the rule of
    // capture_format.h. False (with error()) where there is none.
    bool block_at(uint64_t at, uint32_t& type, uint32_t& total)
    {
        if (_size - at < 12)
            return torn_at(at);
        const pcapng_block_head head = read_pcapng_block_head(_data + at, _swapped);
        type = head.type;
        total = head.total;
        if (check_pcapng_block(type, total, UINT32_MAX, false) != record_verdict::record)
            return bad_block(at, fmt::format("not a pcapng block (type {:#x}, length {})", type, total));
        if (total > _size - at)
            return torn_at(at);
        return true;
    }

    // Section and interface blocks: the interfaces' time resolutions; every
    // interface must be Ethernet.
    std::string note_block(uint32_t type, uint64_t at, uint32_t total)
    {
        if (type == pcapng_section_header) {
            _interfaces.clear();
            return {};
        }
        if (type != pcapng_interface_description)
            return {};
        if (total < 20)
            return fmt::format("{}: byte {}: an interface block too short for its fields", _name, at);
        const uint16_t linktype = u16(at + 8);
        if (linktype != linktype_ethernet) {
            _refused = true;
            return fmt::format("{}: interface {} has link type {}, not Ethernet: linecap indexes Ethernet captures "
                               "({})",
                               _name, _interfaces.size(), linktype_text(dlt_of_linktype(linktype)),
                               unindexed_linktype_text(linktype));
        }
        uint64_t per_second = 1000000;   // if_tsresol's default: microseconds
        int64_t offset_s = 0;            // if_tsoffset's: none
        for (uint64_t o = at + 16; o + 4 <= at + total - 4;) {
            const uint16_t code = u16(o), len = u16(o + 2);
            if (code == 0)
                break;
            if (code == 9 && len >= 1 && o + 5 <= at + total - 4) {
                const uint8_t r = _data[o + 4];
                const unsigned power = r & 0x7f;
                per_second = 1;
                for (unsigned i = 0; i < power && per_second <= max_time_units_per_second; i++)
                    per_second *= (r & 0x80) != 0 ? 2 : 10;
                if (per_second > max_time_units_per_second)
                    return fmt::format("{}: byte {}: interface {}'s time resolution ({}^-{} s) is finer than linecap "
                                       "reads ({})",
                                       _name, at, _interfaces.size(), (r & 0x80) != 0 ? 2 : 10, power,
                                       resolution_text(max_time_units_per_second));
            }
            if (code == pcapng_if_tsoffset && len == 8 && o + 12 <= at + total - 4)
                offset_s = static_cast<int64_t>(uint64_t{u32(o + 4 + (_swapped ? 0 : 4))} << 32 |
                                                u32(o + 4 + (_swapped ? 4 : 0)));
            o += 4 + ((len + 3u) & ~3u);
        }
        _interfaces.push_back({per_second, offset_s});
        return {};
    }

    static bool is_packet_block(uint32_t type)
    {
        return type == pcapng_enhanced_packet || type == pcapng_simple_packet || type == pcapng_packet_obsolete;
    }

    const uint8_t* _data;
    size_t _size;
    std::string _name;
    uint64_t _at = 0;
    bool _capture_header = false;
    bool _pcapng = false;
    bool _swapped = false;
    bool _nanosecond = false;
    bool _torn = false;
    struct interface_time {
        uint64_t per_second;   // time units per second (if_tsresol)
        int64_t offset_s;      // seconds added to each time (if_tsoffset)
    };
    std::vector<interface_time> _interfaces;   // pcapng: each interface of the section
    std::string _error;
    bool _refused = false;
};

} // namespace

std::string index_capture_file(const std::string& path, const std::string& index_path, uint64_t chunk_bytes,
                               index_build_result& result, int dir_fd)
{
    result = index_build_result{};
    // O_NONBLOCK: a FIFO named like a capture file would hold the open.
    const int fd = openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fmt::format("{}: cannot open it: {}", path, error_text(errno));
    struct stat st{};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        // The words a merge's or query's folder gives it, and what an index is of.
        return fmt::format("{}: not a file (a FIFO, a device or a socket): linecap index indexes capture files "
                           "on disk (a query reads a pipe named to it as it comes, whole)",
                           path);
    }
    const auto size = static_cast<size_t>(st.st_size);
    if (size == 0) {   // in the words of a read of it (capture_reader: -r, a query, a merge)
        close(fd);
        return fmt::format("{}: not a capture file: it holds 0 bytes, less than a file header", path);
    }
    file_mapping mapping;
    const int map_error = mapping.map(fd, size, dir_fd == AT_FDCWD ? path : std::string());
    close(fd);
    if (map_error != 0)
        return fmt::format("{}: cannot read it: {}", path, error_text(map_error));
    madvise(const_cast<uint8_t*>(mapping.data()), size, MADV_SEQUENTIAL);
    const uint8_t* data = mapping.data();
    result.capture_bytes = size;
    capture_framer framer(data, size, path);
    std::string error = framer.start();
    // Another program cut the file short (the mapping read zeros from
    // there), or a page could not be read.
    const auto cut_short = [&] {
        const file_mapping::fault_cause cause = mapping.fault("indexed");
        return fmt::format("{}: {}: no index written{}", path, cause.text,
                           cause.cut_short ? "; index it again once nothing truncates it" : "");
    };
    if (!error.empty() && !mapping.holds(size))
        return cut_short();
    if (!error.empty()) {
        mapping.unmap();
        // Neither pcap nor pcapng: what a read of it says (-r, a query), or,
        // for another format Wireshark reads, that it is not indexed.
        if (!framer.is_capture_header()) {
            capture_reader reader;
            const int read_fd = openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
            if (read_fd < 0)
                return error;
            if (std::string why = reader.open_descriptor(read_fd, path, false); !why.empty())
                return why;
            return fmt::format("{}: a capture file linecap does not index (it indexes pcap and pcapng files "
                               "with the standard headers); queries read it whole",
                               path);
        }
        return error;
    }
    const uint64_t head = framer.offset();
    // A pcapng file read whole is read by Wireshark's reader
    // (capture_reader), which refuses some records libpcap takes (a block
    // whose trailing length differs, an option past its block's end, a
    // Simple Packet Block over its interface's snap length). The index
    // stops before the first: a query reads the file from there as a whole
    // read does (capture_reader::open_ranges' whole_from), so its answer,
    // and the error that ends it, never depend on what the index ruled out.
    std::unique_ptr<capture_reader> whole_read;
    if (size >= 4 && std::memcmp(data, "\x0a\x0d\x0d\x0a", 4) == 0) {   // a Section Header Block
        whole_read = std::make_unique<capture_reader>();
        const int whole_fd = openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (whole_fd < 0 || !whole_read->open_descriptor(whole_fd, path, false).empty())
            whole_read.reset();   // nor can a whole read take it: the framer's verdict stands
    }
    std::string refused_by_whole_read;
    index_file_writer out;
    error = out.open(index_path, linktype_ethernet, head, index_crc(data, head), dir_fd);
    const bool created = out.created();   // else what is at its name is not ours to remove
    index_builder builder;
    uint64_t chunk_start = head;
    bool pinned = false;
    bool packet = false, pins = false;
    uint64_t ts_ns = 0;
    const uint8_t* bytes = nullptr;
    uint32_t caplen = 0;
    // Chunks end after a packet (as the writers' do): blocks after a file's
    // last packet (pcapng's statistics) are in none, and a query reads them.
    uint64_t packets_end = chunk_start;
    builder.set_chunk_bytes(chunk_bytes);
    for (uint64_t at = framer.offset(); error.empty() && framer.next(packet, pins, ts_ns, bytes, caplen);
         at = framer.offset()) {
        pinned |= pins;
        if (!mapping.holds(framer.offset()))   // the record's bytes are still the file's
            break;
        if (!packet)
            continue;
        if (whole_read) {
            capture_record record;
            if (whole_read->next(record) != read_status::record) {
                refused_by_whole_read =
                    whole_read->error().empty()
                        ? fmt::format("{}: byte {}: Wireshark's reader sees no packet there (it ended after {} "
                                      "packets): indexed up to there; a query reads the rest whole",
                                      path, at, whole_read->packets())
                        : whole_read->error() + ": indexed up to there; a query reads the rest whole, and says so";
                break;
            }
        }
        builder.begin_record(at, data + at);
        builder.add_packet(bytes, caplen, ts_ns);
        packets_end = framer.offset();
        if (packets_end - chunk_start >= chunk_bytes) {
            result.packets += builder.packets();
            error = out.append(builder.finish(chunk_start, packets_end - chunk_start, pinned, data + chunk_start));
            result.chunks++;
            chunk_start = packets_end;
            pinned = false;
        }
    }
    const bool cut = !mapping.holds(framer.error().empty() ? framer.offset() : size);
    if (error.empty() && packets_end > chunk_start && !cut) {
        result.packets += builder.packets();
        error = out.append(builder.finish(chunk_start, packets_end - chunk_start, pinned, data + chunk_start));
        result.chunks++;
    }
    if (cut && error.empty())
        error = cut_short();
    mapping.unmap();
    // The file as it was opened: one written to while it was read gets
    // another time, and its index is then not used.
    if (std::string e = out.close(true, capture_stamp{size, st.st_mtim}); error.empty())
        error = e;
    if (error.empty() && framer.refused())
        error = framer.error();
    if (!error.empty()) {
        if (created)
            unlinkat(dir_fd, index_path.c_str(), 0);
        return error;
    }
    result.index_bytes = out.bytes();
    // What follows the last record (a damaged record, half of one) is not
    // covered: a query reads it, and says what it finds there.
    return refused_by_whole_read.empty() ? framer.error() : refused_by_whole_read;
}

} // namespace linecap
