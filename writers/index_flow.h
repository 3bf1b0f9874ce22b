// Flows as the index sees them (writers/capture_index.h), for the two
// places that skip a packet whose keys its flow has already given:
//
//  - the index builder's flow cache, on the writer (index_builder);
//  - a worker's marks (index_flow_marks): the worker remembers the flows
//    it has lately passed to its writer for indexed sessions, and marks a
//    packet of such a flow with the writer's index epoch in which the
//    flow was passed; the writer moves its epoch on at every index chunk
//    and block it starts. A writer that finds a packet marked with its
//    epoch now adds none of its keys (a compare instead of a lookup; a
//    record that starts no block is written as an unindexed session's,
//    capture_file_indexer::path_of); a packet of a flow passed in an
//    older block of the same chunk is marked with the epoch and
//    index_mark_older, and its writer adds only its IPv4 addresses (the
//    block's keys). A frame
//    that gives no key at all is marked with the epoch read, whatever
//    its flow (it has none): a writer finds no key in it by any path. A
//    packet of an ICMP flow is marked too, with index_mark_words: the
//    writer adds its own type, code and checksum half-words, which change
//    from packet to packet, besides what its mark asks for.
//
// Why a mark is never wrong. A worker marks packet P with epoch E only if
// it passed, to the same writer on the same ring and after reading E, a
// packet P0 of P's flow wanted by the same sessions, unmarked or marked
// index_mark_older; the ring keeps order, so the writer took P0 before
// P. The writer's epoch only grows, and was at least E when it took P0
// (the worker read E from it before sending P0). If it is E when it takes
// P, it was E at P0 as well: no chunk started in between, nor any block
// that did not wait (below), so P0's keys (all of them, or, marked
// index_mark_older, its IPv4 addresses; the rest were in the chunk
// already) are in the open block and chunk of every session that indexed
// it. If only blocks started (the chunk part of the epoch is the same),
// P0's keys are in the chunk, and the writer adds P's IPv4 addresses to
// the open block. A session's indexer compares P's mark with the epoch
// as it last saw it rather than the epoch now
// (capture_file_indexer::path_of): that value is never older than the
// start of its own open block, since its indexer looks again each time
// it starts one, and never as new as an epoch whose block it awaits. If
// E equals it, the writer's epoch was at least E, so past that start,
// when it took P0, and this session's block is still open: P0's keys are
// in it, however far other sessions' indexers have moved the shared
// epoch on meanwhile.
// A block (or chunk) whose start waits (capture_file_indexer::add: the
// epoch moved on to E' at its place, the block starts with the first
// record that carries E' or later, whatever its flags) is no exception.
// Every packet a worker sends for an indexed session carries the epoch
// it was made in (plain, index_mark_older or index_mark_read), so a P0
// made in E' or later is the record that starts the block or comes after
// it; one that carries no epoch (index_unmarked: none from a worker) and
// comes before it is read, and the writer keeps its first bytes and
// gives the new block its flow's keys as well, so a P marked E' that
// follows finds them there. A record marked with an epoch before E' was
// made before the writer reached the block's place: its P0 is in the
// open block, as above, or, if the block has started since, P is taken
// as marked in an older block. A session
// that took P0 but did not index it (a limit reached, a file that could
// not be opened, no index for the file) indexes nothing more until a new
// file opens, whose first record starts a chunk. And P's keys are P0's,
// both cut alike: both are untagged IPv4 without options (a first
// fragment or none) or IPv6 without extension headers, neither direction
// a tunnel, each captured to its ports (five_tuple_end_ipv6 at most),
// and a writer takes marks only for a session whose records are a
// packet's first bytes cut past them or not at all
// (output_spec::index_marked): a snaplen inside them would keep one
// direction's source address or port and not the other's, though the
// flow is the same either way; and the key holds every byte of P's
// keys but the addresses' and the protocol's own: its ports, or, for a
// protocol whose first four bytes change from packet to packet (ICMP:
// index_flow_words_fixed), nothing: those two half-words are P's own, and
// its mark carries index_mark_words, for which the writer adds them from
// P's record (if the record holds them, as the index of the record would). A
// worker marks only as many of a burst's packets as its ring has room
// for; a packet it drops all the same (a worker that waits for room, for
// a replay, -r or --lossless, given up at a stop) may be a flow's P0: the
// entries it made or renewed are dropped with it (not_passed_from). And a
// worker marks only while its writer is behind (engine/worker.h's
// markable_packets): a burst that marks nothing makes no entry and sends
// every packet unmarked, which no argument above needs.
//
// Plain structs and inline functions: both callers are on the fast path.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "core/packet.h"

namespace linecap {

// The big-endian half-word and word at `p` (any alignment).
inline uint16_t load_be16(const uint8_t* p)
{
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_bswap16(v);
}
inline uint32_t load_be32(const uint8_t* p)
{
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return __builtin_bswap32(v);
}

// The UDP ports at which the index walks a tunnel: VXLAN's 4789 and Linux's
// old 8472, GENEVE's 6081 (core/tunnel.h's defaults and the old VXLAN
// port: a session's own vxlan_ports and geneve_ports are not the index's).
constexpr uint16_t index_vxlan_ports[] = {4789, 8472};
constexpr uint16_t index_geneve_ports[] = {6081};

// Is the port at `p` (network byte order) one the index walks a tunnel at?
inline bool index_tunnel_port(const uint8_t* p)
{
    const uint16_t port = load_be16(p);
    return std::find(std::begin(index_vxlan_ports), std::end(index_vxlan_ports), port) != std::end(index_vxlan_ports) ||
           std::find(std::begin(index_geneve_ports), std::end(index_geneve_ports), port) != std::end(index_geneve_ports);
}

// Could the packet be in a tunnel? The index's full walk
// (capture_index.cpp's read_tunnel_keys) only for those: never false where
// the walk could find one. Past up to two VLAN tags, as core/packet.h's
// parse_packet looks through them: an IPv4 packet carrying GRE or
// IP-in-IP, or UDP to a tunnel port (read where the walk reads it: past
// the header's IHL, in the bytes captured); an IPv6 packet carrying those,
// or an extension header core/packet.h walks (hop-by-hop, routing,
// fragment, destination options, AH). A tagged frame of plain traffic is
// not walked: the walk cost a tenth of the mixed traffic as much as the
// rest of its keys. Reads at most index_tunnel_test_bytes.
inline bool index_might_tunnel(const uint8_t* data, uint32_t caplen)
{
    if (caplen < 14)
        return false;
    uint16_t ethertype = load_be16(data + 12);
    uint32_t l3 = 14;
    for (unsigned i = 0; i < detail::max_vlan_tags && detail::is_vlan(ethertype) && l3 + 4 <= caplen; i++) {
        ethertype = load_be16(data + l3 + 2);
        l3 += 4;
    }
    const auto tunnel_port = [&](uint32_t l4) { return caplen >= l4 + 4 && index_tunnel_port(data + l4 + 2); };
    if (ethertype == ether_type_ipv4) {
        if (caplen < l3 + 10)
            return false;
        const uint8_t p = data[l3 + 9];
        return p == 47 || p == 4 || p == 41 || (p == 17 && tunnel_port(l3 + 4 * (data[l3] & 0xfu)));
    }
    if (ethertype == ether_type_ipv6) {
        if (caplen < l3 + 7)
            return false;
        const uint8_t next = data[l3 + 6];
        return next == 47 || next == 4 || next == 41 || (next == 17 && tunnel_port(l3 + 40)) || next == 0 ||
               next == 43 || next == 44 || next == 60 || next == 51;
    }
    return false;
}
constexpr uint32_t index_tunnel_test_bytes = 14 + 4 * detail::max_vlan_tags + 60 + 4;

// Do the `caplen` bytes at `data` give the index no key at all? Their
// EtherType at byte 12 is none the index reads (IPv4, ARP, RARP, IPv6:
// a tagged frame, say) and they are in no tunnel the index walks: over
// any `caplen`, index_builder::add_keys of the same bytes adds nothing
// (it asks index_might_tunnel of them too: the writer's add_read). It
// answers for the whole frame, whatever its record's cut, as a worker's
// mark needs (index_flow_marks::mark_without_entry), only when `caplen`
// is the whole frame or at least index_tunnel_test_bytes of it (a record
// cut shorter gives no more keys).
inline bool index_frame_keyless(const uint8_t* data, uint32_t caplen)
{
    if (caplen < 14)
        return false;
    const uint16_t type = load_be16(data + 12);
    return type != ether_type_ipv4 && type != ether_type_arp && type != ether_type_rarp &&
           type != ether_type_ipv6 && !index_might_tunnel(data, caplen);
}

// A flow's key, the same both ways: the sets hold addresses and ports,
// not which end sent them, so each pair is held lower first (IPv6
// addresses in an order of their own). `rest` holds the ports, the
// protocol and index_flow_mark, so that no flow's key is all zeros (an
// empty entry); bits 48-63 are the holder's own.
struct index_flow4 {
    uint64_t addresses = 0;   // bytes 26-29 and 30-33
    uint64_t rest = 0;        // bytes 34-37 (ports), byte 23 (protocol) at bit 32, the mark
};
struct index_flow6 {
    uint64_t addresses[4]{};   // bytes 22-37 and 38-53
    uint64_t rest = 0;         // bytes 54-57 (ports), byte 20 (next header) at bit 32, the mark
};
constexpr uint64_t index_flow_mark = uint64_t{1} << 40;

// Are two IPv6 flows' keys the same? Word by word: a memcmp of their 40
// bytes was a call into libc for every IPv6 packet, some 19 instructions
// more a mixed ring's IPv6 record (docs/performance.md).
static_assert(sizeof(index_flow6) == 5 * sizeof(uint64_t), "index_flow6_same compares every word of a key");
[[gnu::always_inline]] inline bool index_flow6_same(const index_flow6& a, const index_flow6& b)
{
    return ((a.addresses[0] ^ b.addresses[0]) | (a.addresses[1] ^ b.addresses[1]) | (a.addresses[2] ^ b.addresses[2]) |
            (a.addresses[3] ^ b.addresses[3]) | (a.rest ^ b.rest)) == 0;
}
// In `rest` of a flow whose transport header's first four bytes change
// from packet to packet (ICMP: type, code and checksum): its key leaves
// them out, and each of its packets' half-words at 34 and 36 (IPv6: 54,
// 56) is the index's to add.
constexpr uint64_t index_flow_words_apart = uint64_t{1} << 41;

// Is the transport header's first four bytes the same in every packet of a
// flow of this protocol? TCP, UDP, DCCP, SCTP, UDP-Lite (the ports) and
// ESP (the SPI). Only a key's width hangs on it, not what the index holds.
[[gnu::always_inline]] constexpr bool index_flow_words_fixed(uint8_t protocol)
{
    return protocol == 6 || protocol == 17 || protocol == 33 || protocol == 50 || protocol == 132 || protocol == 136;
}

enum class index_flow_kind : uint8_t { none, ipv4, ipv6 };

// Is this Ethernet frame's index keys all its flow's? Untagged; IPv4 with
// no options and not a fragment past the first, or IPv6; captured to its
// ports (`caplen` bytes: an untagged IPv4 packet's without options end at
// core/packet.h's five_tuple_end_ipv4, an IPv6 packet's at
// five_tuple_end_ipv6, the bound by which a session's records take marks:
// output_spec::index_marked). Not asked: whether it is in a tunnel
// (index_flow_tunnels).
inline index_flow_kind index_flow_of(const uint8_t* data, uint32_t caplen)
{
    if (caplen < five_tuple_end_ipv4)
        return index_flow_kind::none;
    const uint16_t type = load_be16(data + 12);
    if (type == ether_type_ipv4)
        return (data[14] & 0xfu) == 5 && ((data[20] & 0x1fu) | data[21]) == 0 ? index_flow_kind::ipv4
                                                                                : index_flow_kind::none;
    if (type == ether_type_ipv6 && caplen >= five_tuple_end_ipv6)
        return index_flow_kind::ipv6;
    return index_flow_kind::none;
}

// Could a packet of this flow, either way, be walked for a tunnel by the
// index (capture_index.cpp's might_tunnel)? GRE, IP-in-IP, UDP from or to
// a tunnel port; IPv6 extension headers (which the walk goes through).
inline bool index_flow_tunnels(const uint8_t* data, index_flow_kind kind)
{
    const bool v4 = kind == index_flow_kind::ipv4;
    const uint8_t p = v4 ? data[23] : data[20];
    const uint8_t* ports = data + (v4 ? 34 : 54);
    if (p == 17)
        return index_tunnel_port(ports) || index_tunnel_port(ports + 2);
    return p == 47 || p == 4 || p == 41 || (!v4 && (p == 0 || p == 43 || p == 44 || p == 60 || p == 51));
}

// The two ports at `p`, lower first, and the protocol, as `rest` holds them
// (a protocol whose words are not fixed: the protocol alone).
[[gnu::always_inline]] inline uint64_t index_flow_rest(const uint8_t* p, uint8_t protocol)
{
    if (!index_flow_words_fixed(protocol))
        return uint64_t{protocol} << 32 | index_flow_mark | index_flow_words_apart;
    uint16_t a, b;
    std::memcpy(&a, p, sizeof a);
    std::memcpy(&b, p + 2, sizeof b);
    return std::min(a, b) | uint64_t{std::max(a, b)} << 16 | uint64_t{protocol} << 32 | index_flow_mark;
}

[[gnu::always_inline]] inline index_flow4 index_flow4_of(const uint8_t* data)
{
    uint32_t src, dst;
    std::memcpy(&src, data + 26, sizeof src);
    std::memcpy(&dst, data + 30, sizeof dst);
    return {std::min(src, dst) | uint64_t{std::max(src, dst)} << 32, index_flow_rest(data + 34, data[23])};
}

[[gnu::always_inline]] inline index_flow6 index_flow6_of(const uint8_t* data)
{
    uint64_t a[4];
    std::memcpy(a, data + 22, sizeof a);
    const bool swap = a[0] > a[2] || (a[0] == a[2] && a[1] > a[3]);
    return {{swap ? a[2] : a[0], swap ? a[3] : a[1], swap ? a[0] : a[2], swap ? a[1] : a[3]},
            index_flow_rest(data + 54, data[20])};
}

// Multiplicative hashes into 2^bits sets (index_flow_ways).
template <unsigned bits>
size_t index_flow4_set(const index_flow4& f)
{
    return static_cast<size_t>(((f.addresses ^ (f.rest << 7)) * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}
template <unsigned bits>
size_t index_flow6_set(const index_flow6& f)
{
    const uint64_t key = f.addresses[0] ^ f.addresses[1] ^ f.addresses[2] ^ f.addresses[3] ^ (f.rest << 7);
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

// A table of flows, two ways to a set: a flow's set is picked by its hash,
// and either way may hold it; a miss fills the way met less lately. Entry:
// a plain struct, all zeros when empty. Both flow tables (the builder's,
// the worker's marks) are such. Direct-mapped, two flows that shared a slot
// took it from each other at every packet: with the benchmark's 210 flows
// of 64 B in 1024 slots, 7% of the packets went unmarked (the writer then
// reads their keys) and 5% missed the writer's table too; with 1024 sets
// of two, 0.6 and 0.8% (docs/performance.md). Entries never move: a flat
// number (entry_number) names one until it is filled again.
template <typename Entry, unsigned set_bits>
class index_flow_ways {
public:
    static constexpr size_t sets = size_t{1} << set_bits;
    static constexpr size_t entries = 2 * sets;

    // The entry of set `set` that same(entry) picks, now the set's one
    // met last; null if neither is.
    template <typename Same>
    [[gnu::always_inline]] Entry* find(size_t set, Same&& same)
    {
        Entry* ways = &_entries[2 * set];
        for (uint8_t way = 0; way < 2; way++)
            if (same(ways[way])) {
                if (_last[set] != way)
                    _last[set] = way;
                return &ways[way];
            }
        return nullptr;
    }
    // The entry to fill in set `set`: the way met less lately, now the
    // one met last.
    Entry& victim(size_t set)
    {
        const uint8_t way = _last[set] ^ 1u;
        _last[set] = way;
        return _entries[2 * set + way];
    }
    size_t entry_number(const Entry& e) const { return static_cast<size_t>(&e - _entries.data()); }
    Entry& entry(size_t number) { return _entries[number]; }
    void clear()
    {
        _entries.fill({});
        _last.fill(0);
    }

private:
    std::array<Entry, entries> _entries{};   // set s's ways at 2s and 2s + 1
    std::array<uint8_t, sets> _last{};       // the way of each set met or filled last
};

// A mark that no epoch equals: the packet's keys are to be read.
constexpr uint32_t index_unmarked = 0;
// Set in the mark of a packet of a flow whose words change (ICMP:
// index_flow_words_apart), never in an epoch's mark: its flow's keys are
// in, as the mark says, but not its own half-words at 34 and 36 (IPv6: 54
// and 56), which the writer adds if its record holds them.
constexpr uint32_t index_mark_words = uint32_t{1} << 31;
// Set in the mark of a packet of a flow passed in an older block of the
// same chunk, never in an epoch's mark: the rest of the mark is the epoch
// the packet was made in (its flow's keys are in the chunk, and the open
// block wants its IPv4 addresses). The epoch it was made in, not the
// older one, so that a writer awaiting a block's start knows the packet
// was made after the epoch moved on (capture_file_indexer::add).
constexpr uint32_t index_mark_older = uint32_t{1} << 30;
// Set in the mark of a packet whose keys are all to be read (its flow
// passed first in this epoch, or in no flow the worker keeps, or a burst
// that marks nothing), never in an epoch's mark: the rest of the mark is
// the epoch the packet was made in, for a writer awaiting a block's start.
constexpr uint32_t index_mark_read = uint32_t{1} << 29;
constexpr uint32_t index_mark_flags = index_mark_words | index_mark_older | index_mark_read;

// A writer's index epoch: moved on (by the writer's lcore only) at each
// index chunk and block its indexers start, read by its workers once per
// burst. Bits 4-63 count chunks, bits 0-3 the blocks started since the
// last chunk (a sixteenth counts as a chunk): 64 bits, so that no worker's
// entry meets its epoch again. A packet's mark is the low 32 bits
// (mark_of: never 0, index_unmarked, and never with a bit of
// index_mark_flags, 29 to 31: the epoch skips those), which the writer
// compares with its own while the packet is in flight, a ring's worth of
// records, far from the 2^25 chunks before a mark repeats. Alone in its cache line: the workers'
// reads must not share it with what the writer writes per packet.
struct alignas(64) index_epoch {
    static constexpr uint64_t block_bits = 0xf;
    std::atomic<uint64_t> now{block_bits + 1};
    // A benchmark's hook, never a capture's (scripts/bench --only index,
    // LINECAP_BENCH_INDEX_EVERY_OTHER_FILE): set while the writer writes a
    // file without its index, so that its workers mark nothing meanwhile
    // and that file is timed without any of the index's work. A worker
    // asks it only in a burst it would mark; a mark is never wrong for
    // being made or not made, so the moment it is seen does not matter.
    std::atomic<bool> marks_paused{false};

    uint64_t get() const { return now.load(std::memory_order_relaxed); }
    static uint32_t mark_of(uint64_t epoch) { return static_cast<uint32_t>(epoch); }
    uint32_t mark() const { return mark_of(get()); }
    // The mark of a packet made in `epoch` whose keys are to be read.
    static uint32_t read_mark(uint64_t epoch) { return mark_of(epoch) | index_mark_read; }
    // Of the same chunk: no chunk started between the two (both epochs, or
    // both marks; neither index_unmarked).
    static bool same_chunk(uint64_t a, uint64_t b) { return (a ^ b) <= block_bits; }
    // Relaxed is enough: a worker's read of the epoch comes before its
    // enqueue of the packets it marks, the writer's dequeue (an acquire)
    // before it reads them, so a worker never sees an epoch the writer has
    // not reached when it takes those packets.
    void next_chunk()
    {
        uint64_t next = (get() | block_bits) + 1;
        // A mark's 29 bits run over: on to the next 2^32 and past its mark
        // 0 (index_unmarked), so that no epoch's low 32 bits hold a bit of
        // index_mark_flags and mark_of is a plain cut.
        if ((mark_of(next) & index_mark_flags) != 0)
            next = (next | 0xffffffffu) + 1 + block_bits + 1;
        now.store(next, std::memory_order_relaxed);
    }
    void next_block()
    {
        if ((get() & block_bits) == block_bits)
            next_chunk();
        else
            now.store(get() + 1, std::memory_order_relaxed);
    }
};

// A worker's flows lately passed to its writer for indexed sessions, and
// the marks they give (above). Two ways to a set, like the builder's cache:
// 2048 IPv4 flows and 1024 IPv6 ones (98 KiB) and a burst's list of the
// entries it made (4 KiB), owned by the worker's lcore.
//
// A flow's entry holds the epoch in which a packet of it was last passed
// to be read, or marked index_mark_older: the epoch its next packets are
// marked with. A flow met again in a newer block of the same chunk is
// marked with the newer epoch and index_mark_older (its writer then adds
// only its IPv4 addresses, the block's keys) and its entry takes the
// newer epoch, so that the packets after it are marked with that.
class index_flow_marks {
public:
    // The most packets a burst may hold (engine/worker.h's max_burst).
    static constexpr unsigned max_places = 512;
    // The tables' sets: 1024 of IPv4 flows and 512 of IPv6 ones, two
    // entries each. A flow's set is its key's, with the sessions that
    // wanted it in bits 48-63 of `rest` (index_flow4_set).
    static constexpr unsigned flow4_set_bits = 10, flow6_set_bits = 9;

    // The mark for a packet of `length` bytes (its first `caplen` at
    // `data`) wanted by the indexed sessions `sessions`, at `place` in the
    // burst, its writer's epoch `epoch` (read this burst): `epoch`'s mark
    // (index_epoch::mark_of) if a packet of its flow wanted by the same
    // sessions was passed in it, or with index_mark_older if in an older
    // block of its chunk, and with index_mark_words for a flow whose words
    // change (ICMP: its writer adds each packet's own); `epoch`'s mark for
    // a frame that gives no key; else index_epoch::read_mark(epoch).
    uint32_t mark(const uint8_t* data, uint32_t caplen, uint32_t length, uint16_t sessions, uint64_t epoch,
                  unsigned place)
    {
        const index_flow_kind kind = index_flow_of(data, caplen);
        if (kind == index_flow_kind::none)
            return mark_without_entry(data, caplen, length, epoch);
        // A flow's entry is made only for a flow that no tunnel is walked
        // in, and its key holds all that index_flow_tunnels reads (the
        // protocol or next header, and the ports of a protocol that has
        // them): a flow found needs no asking, only one to be made.
        static_assert(sizeof sessions == 2, "the sessions fill bits 48-63 of rest");
        const uint64_t holder = uint64_t{sessions} << 48;
        if (kind == index_flow_kind::ipv4) {
            index_flow4 f = index_flow4_of(data);
            f.rest |= holder;
            const size_t set = index_flow4_set<flow4_set_bits>(f);
            if (entry4* e = _flows4.find(set, [&](const entry4& x) {
                    return x.flow.addresses == f.addresses && x.flow.rest == f.rest;
                }))
                return take(e->epoch, epoch, number(_flows4.entry_number(*e)), place, words_flag(f.rest));
            if (index_flow_tunnels(data, kind))
                return index_epoch::read_mark(epoch);
            entry4& e = _flows4.victim(set);
            e = {f, epoch};
            passed(number(_flows4.entry_number(e)), place);
            return index_epoch::read_mark(epoch);
        }
        index_flow6 f = index_flow6_of(data);
        f.rest |= holder;
        const size_t set = index_flow6_set<flow6_set_bits>(f);
        if (entry6* e = _flows6.find(set, [&](const entry6& x) { return index_flow6_same(x.flow, f); }))
            return take(e->epoch, epoch, v6_entry | number(_flows6.entry_number(*e)), place, words_flag(f.rest));
        if (index_flow_tunnels(data, kind))
            return index_epoch::read_mark(epoch);
        entry6& e = _flows6.victim(set);
        e = {f, epoch};
        passed(v6_entry | number(_flows6.entry_number(e)), place);
        return index_epoch::read_mark(epoch);
    }
    // The mark of a packet that may make no entry (its ring has no room
    // for it), its writer's epoch `epoch` (read this burst): the epoch's
    // mark for a frame that gives no key (index_frame_keyless: whatever
    // becomes of the epoch, its writer reads nothing of it), else
    // index_epoch::read_mark(epoch). mark() gives the same for a packet of
    // no flow.
    static uint32_t mark_without_entry(const uint8_t* data, uint32_t caplen, uint32_t length, uint64_t epoch)
    {
        return (caplen == length || caplen >= index_tunnel_test_bytes) && index_frame_keyless(data, caplen)
                   ? index_epoch::mark_of(epoch)
                   : index_epoch::read_mark(epoch);
    }
    // Before a burst's first mark().
    void start_burst() { _passed_count = 0; }
    // The packets from `place` on in the burst were not passed after all
    // (their ring was full: a ring takes a burst's first packets): the
    // entries they made or renewed are dropped. The list is in the order
    // of places.
    void not_passed_from(unsigned place)
    {
        for (unsigned i = _passed_count; i > 0 && _passed[i - 1].place >= place; i--)
            forget(_passed[i - 1].entry);
    }

private:
    static constexpr uint32_t v6_entry = 1u << 31;   // in an entry's number: one of _flows6
    static uint32_t number(size_t n) { return static_cast<uint32_t>(n); }
    static uint32_t words_flag(uint64_t rest) { return rest & index_flow_words_apart ? index_mark_words : 0; }
    // An entry's epoch: the writer's (never below 16), or 0: none.
    struct entry4 {
        index_flow4 flow;   // with the sessions in bits 48-63 of rest
        uint64_t epoch = 0;
    };
    struct entry6 {
        index_flow6 flow;
        uint64_t epoch = 0;
    };
    // A flow met again: its mark (with `words`: index_mark_words or 0), and
    // its entry brought to this epoch: the epoch's, or met in an older
    // block of the chunk, the epoch's with index_mark_older.
    uint32_t take(uint64_t& held, uint64_t epoch, uint32_t entry, unsigned place, uint32_t words)
    {
        const uint64_t was = held;
        if (was == epoch)
            return index_epoch::mark_of(epoch) | words;
        held = epoch;
        passed(entry, place);
        return was != 0 && index_epoch::same_chunk(was, epoch) ? index_epoch::mark_of(epoch) | index_mark_older | words
                                                                : index_epoch::read_mark(epoch);
    }
    // At most one per mark(), so a burst (at most max_places packets) fits;
    // past that the entry is not kept.
    void passed(uint32_t entry, unsigned place)
    {
        if (_passed_count < max_places)
            _passed[_passed_count++] = {entry, place};
        else
            forget(entry);
    }
    // The entry numbered `entry` gives no mark: its flow's next packet goes
    // unmarked, and brings it to its epoch.
    void forget(uint32_t entry)
    {
        if (entry & v6_entry)
            _flows6.entry(entry & ~v6_entry).epoch = 0;
        else
            _flows4.entry(entry).epoch = 0;
    }
    index_flow_ways<entry4, flow4_set_bits> _flows4;
    index_flow_ways<entry6, flow6_set_bits> _flows6;
    struct passed_entry {
        uint32_t entry;   // its number (v6_entry: of _flows6)
        uint32_t place;
    };
    std::array<passed_entry, max_places> _passed{};   // this burst's entries made or renewed, in order
    unsigned _passed_count = 0;
};

} // namespace linecap
