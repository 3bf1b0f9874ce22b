// The index of a capture file (docs/query.md), in a sidecar file beside it
// (FILE.idx): for each chunk of the file (a byte range of whole records), the
// times and the keys of its packets, so that a query reads only the chunks
// that may hold a match (query/prune.h), and checks each of their packets
// exactly.
//
// The keys are the bytes a tcpdump filter compares, at the offsets libpcap's
// code loads them from (Ethernet, untagged):
//
//  - EtherType 0x0800 at byte 12: the 32-bit words at 26 and 30 (the
//    addresses), the byte at 23 (the protocol) and, when the fragment offset
//    (the low 13 bits of the half-word at 20) is 0, the half-words at
//    14 + 4 * (byte 14 & 0xf) and 2 bytes on (the ports: of TCP, UDP and
//    SCTP, and the first four bytes of any other protocol);
//  - EtherType 0x0806 or 0x8035 (ARP, RARP, which `host` asks too): the
//    words at 28 and 38 (sender and target protocol addresses), in the
//    IPv4 address set;
//  - EtherType 0x86dd: the 32-bit words of the addresses at 22 and 38 (word
//    i of either address in set i), the byte at 20 (the next header) and the
//    half-words at 54 and 56.
//
// And, for a packet in a tunnel (VXLAN on UDP port 4789 or 8472, GENEVE on
// 6081, GRE with ERSPAN, IP-in-IP: core/tunnel.h's walk over the packet's
// first index_packet_bytes bytes, as a worker walks it), the innermost
// packet's addresses (an IPv6 address as the XOR of its four words) and the
// outermost tunnel id (the VNI, GRE key or ERSPAN session id): what a query
// with --inner-host or --vni asks (query/query.h), checked per packet by the
// same walk (read_tunnel_keys).
//
// Each value is recorded only when the packet holds its bytes (a filter's
// load past the captured bytes rejects the packet), and nothing is
// checked for being a well-formed header: the index records what a filter
// would read, so "no packet of this chunk can make this comparison true"
// is a fact the query may act on. Addresses of both directions share a set
// (source and destination), as do the protocols of IPv4 and IPv6, and the
// ports: fewer sets, the same answers for `host`, `port` and `proto`
// (which ask either direction), a superset for `src`/`dst`.
//
// Sets are CRoaring bitmaps (libroaring), in its portable serialization.
#pragma once

#include <algorithm>
#include <array>
#include <cstring>
#include <fcntl.h>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <time.h>
#include <vector>

#include "writers/index_flow.h"

struct roaring_bitmap_s;

namespace linecap {

// The sets of keys a chunk's packets hold, as listed above. The 32-bit ones
// first (index_builder keeps them alike).
enum class index_field : uint8_t {
    ipv4_address,   // words at 26, 30 under 0x0800; at 28, 38 under 0x0806 and 0x8035
    ipv6_word0,     // word i of the addresses at 22 and 38 under 0x86dd (bytes 22+4i, 38+4i)
    ipv6_word1,
    ipv6_word2,
    ipv6_word3,
    inner_address,  // a tunnel's innermost packet's source and destination (tunnel_keys::address_key)
    tunnel_id,      // a tunnel's outermost id: VNI, GRE key, ERSPAN session id
    protocol,       // byte 23 under 0x0800, byte 20 under 0x86dd
    l4_word,        // the half-words at the transport header's 0 and 2 (IPv4 unfragmented, IPv6 at 54, 56)
};
constexpr size_t index_field_count = 9;

// The bytes of a packet the index reads (and a query's tunnel check): as
// many as a worker's tunnel walk reads (core/tunnel.h, tunnel_headers_max).
constexpr uint32_t index_packet_bytes = 1024;

// A packet's tunnel, as the index keeps it. The walk of core/tunnel.h over
// the first index_packet_bytes bytes, with VXLAN on UDP ports 4789 and 8472
// and GENEVE on 6081 (the default ports and Linux's old VXLAN port: a
// session's own vxlan_ports and geneve_ports are not the index's).
struct tunnel_keys {
    uint8_t family = 0;          // of the innermost IP packet: 4 or 6; 0: none found
    uint8_t src[16]{}, dst[16]{};   // its addresses, network byte order (IPv4: the first 4 bytes)
    bool has_id = false;
    uint32_t id = 0;
    // An IPv4 address as its 32-bit value; an IPv6 address as the XOR of
    // its four words (a query for one reads every chunk holding any address
    // with the same key: more, never less).
    static uint32_t address_key(uint8_t family, const uint8_t* address);
};

// The tunnel keys of the Ethernet packet whose first `caplen` bytes are
// at `data`. False (and `keys` empty) when it is in no tunnel.
bool read_tunnel_keys(const uint8_t* data, uint32_t caplen, tunnel_keys& keys);

struct roaring_free {
    void operator()(roaring_bitmap_s* r) const;
};
using roaring_ptr = std::unique_ptr<roaring_bitmap_s, roaring_free>;

// Where a chunk is in its capture file and what it spans: an index entry's
// fixed part, stored as is (host byte order, 48 bytes).
struct chunk_place {
    uint64_t offset = 0;     // of its first record in the capture file
    uint64_t bytes = 0;      // whole records (pcapng: blocks) from there
    uint64_t packets = 0;
    uint64_t min_ns = 0;     // earliest and latest packet times (records need not be in order)
    uint64_t max_ns = 0;
    // CRC-32 of the chunk's first 16 bytes (a record header: its time and
    // lengths): an index is checked against its capture file with it.
    uint32_t first_crc = 0;
    uint32_t flags = 0;      // chunk_pinned | chunk_folded(field)...

    // It holds blocks a reader needs for the records after it (pcapng:
    // another section, or interfaces described after the first packet):
    // always read.
    bool pinned() const { return (flags & chunk_pinned) != 0; }
    static constexpr uint32_t chunk_pinned = 1;
    // The file's summary (capture_index::summary), not a chunk of it.
    static constexpr uint32_t chunk_summary = 2;
    // Set `field` is folded: it holds the high and low 16-bit halves of the
    // values, not the values (index_chunk::holds).
    static constexpr uint32_t chunk_folded(index_field field) { return 0x100u << static_cast<unsigned>(field); }
};
static_assert(sizeof(chunk_place) == 48);

// Where an index file's sets are read from on demand (capture_index):
// its descriptor, and what was found damaged while reading them.
struct index_set_source {
    int fd = -1;                 // owned, while the index is read by its directory; else -1
    std::vector<uint8_t> bytes;  // the whole file, when it is read without a directory
    std::string name;            // of the index file, for notes
    mutable uint64_t damaged = 0;        // sets whose bytes did not match their CRC or did not decode
    mutable std::string first_damage;    // the first of them, in words
    mutable std::string summary_damage;  // the first set of the file's summary that could not be read, in words
    ~index_set_source();
};

// Where one set of a chunk is stored in its index file.
struct stored_set {
    const uint8_t* bytes = nullptr;   // in memory (index_set_source::bytes), or null: read at `offset`
    uint64_t offset = 0;              // in the index file
    uint32_t size = 0;                // 0: none
    uint32_t crc = 0;                 // CRC-32 of its bytes
};

// A chunk's blocks (index version 5): up to index_max_blocks byte ranges of
// whole records, each starting at a packet's record at least
// chunk_bytes / index_max_blocks after the one before, and for each value
// of the chunk's IPv4 address set (when it is exact, not folded), which
// blocks hold it. A query for a host reads the blocks that hold it rather
// than the whole chunk (docs/query.md has the figures).
struct index_block {
    uint64_t offset = 0;     // in the capture file
    uint64_t bytes = 0;
    uint64_t packets = 0;    // its records
    uint32_t first_crc = 0;  // CRC-32 of its first 16 bytes (as chunk_place::first_crc)
};
constexpr size_t index_max_blocks = 8;   // a value's blocks: one byte

struct index_blocks {
    std::vector<index_block> places;   // in file order, contiguous, covering the chunk
    // Bit j of masks[i]: the i-th smallest value of the chunk's IPv4
    // address set occurs in block j (as an address word, at the places
    // the set's values are read from).
    std::vector<uint8_t> masks;
};

// One chunk: its place, and its sets of keys.
//
// A set of 32-bit values (addresses) is stored as is, or "folded" when that
// is smaller: the high halves (v >> 16) as values 0x10000 + h and the low
// halves as values l, in one bitmap of at most two full 8 KiB containers.
// A folded set answers "is there a value v with ..." with "there are halves
// that could make one": a superset, so a query reads more, never less.
// Random address words (IPv6 privacy addresses, IPv4 clients from all over
// the Internet) are what it is for: each such value costs about 10 bytes
// exact. Values that share their high halves (a /16 of clients) cost 2
// bytes or less exact and stay exact (docs/query.md has the figures).
struct index_chunk : chunk_place {
    // The sets: made by index_builder, or read from an index file on first
    // use (`stored`, checked against its CRC then): a query reads only the
    // sets its expression asks about, of the chunks in its time window.
    mutable std::array<roaring_ptr, index_field_count> sets;
    std::array<stored_set, index_field_count> stored{};
    std::shared_ptr<const index_set_source> source;   // of `stored`
    mutable uint16_t unreadable = 0;                  // a bit per set found damaged (counted once); bit 9: the block table
    // The block table (index version 5; none for a chunk of one block, a
    // folded IPv4 set, an older index): made by index_builder
    // (`block_table`, serialized as in the index file), or read on first
    // use (`stored_blocks`).
    std::vector<uint8_t> block_table;
    stored_set stored_blocks{};
    // Its blocks, or null when it has none or its table cannot be read
    // (damage counted as a set's is): a query then reads the whole chunk.
    const index_blocks* blocks() const;
    // The sets one query has asked about, dropped: a query asks each
    // chunk once, and a set kept costs its memory (a 16 MiB chunk's IPv4
    // set is some 40 KB; a ring of 650 chunks, 26 MB) and the page faults
    // of taking it. Sets made by index_builder (not read) are kept.
    void drop_read_sets() const;

private:
    mutable std::optional<index_blocks> _blocks;   // blocks() once asked: empty places if none

public:
    // Set `field`, or null if it cannot be read (a query then reads the
    // chunk; a damaged set is counted in source->damaged).
    const roaring_bitmap_s* set(index_field field) const;
    bool folded(index_field field) const { return (flags & chunk_folded(field)) != 0; }

    // Does set `field` hold a value v with (v & mask) <op> k? op: '=', '>',
    // '}' (>=), '&' ((v & mask & k) != 0). Exact over an unfolded set; over
    // a folded one, true whenever some high half and some low half could
    // make such a v.
    // With `block` (0 to blocks()->places.size() - 1): the same question of
    // that block's packets, as far as the block table can tell (an IPv4
    // address compared with `=` under a prefix mask; else the chunk's
    // answer).
    bool holds(index_field field, char op, uint32_t mask, uint32_t k, int block = -1) const;
    // The values in set `field` (a folded set: its halves); 0 if it cannot be read.
    uint64_t set_size(index_field field) const;
    // Does set `field` hold any value, or can it not be read (the chunk
    // may then hold anything)?
    bool any(index_field field) const;
};

// Bytes of capture file per index chunk, by default: 16 MiB keeps the
// index under 1% of the file with tens of thousands of hosts in every
// chunk, and a chunk is read in tens of milliseconds (docs/query.md).
constexpr uint64_t index_chunk_bytes = 16 << 20;

// Sorts `v` in place, least significant byte first: four passes of
// counting, a pass whose byte every value shares skipped; `scratch` is its
// room (its contents and buffer may be swapped with v's). The index's
// batches sort so in a fifth to a tenth of std::sort's time here (287
// addresses 2.0 against 9.0 µs, 8192 of them 32 against 392 µs: its
// compares are branches that random values mispredict half the time).
void radix_sort(std::vector<uint32_t>& v, std::vector<uint32_t>& scratch);

// Gathers a chunk's keys from its packets, then makes its sets.
class index_builder {
public:
    // How a 32-bit set is stored: folded when that is smaller (the
    // default), never, or always (tests).
    enum class folding { when_smaller, never, always };
    explicit index_builder(folding fold = folding::when_smaller);

    // Where the next packet's record starts in the capture file, and its
    // first 16 bytes: called before add_packet, it divides the chunk into
    // blocks (index_blocks). Without it a chunk has no blocks. Whether a
    // block starts with this record (every chunk's first record starts one).
    bool begin_record(uint64_t offset, const uint8_t* first16)
    {
        if (starts_block(offset)) {
            start_block(offset, first16);
            return true;
        }
        return false;
    }
    // Would a record at `offset` start a block (begin_record)?
    bool starts_block(uint64_t offset) const { return offset >= _next_block; }
    // Starts a block with the record at `offset` (its first 16 bytes at
    // `first16`), wherever the blocks before it ended: begin_record() of a
    // record that starts_block() said of, or of one after it (a block
    // whose start waits for its workers: capture_file_indexer::add).
    void begin_block(uint64_t offset, const uint8_t* first16) { start_block(offset, first16); }
    // The bytes a block spans unless its start waits (set_chunk_bytes).
    uint64_t block_bytes() const { return _block_bytes; }
    // The keys of a packet of a flow (index_flow_of: IPv4 or IPv6), its
    // first `caplen` bytes at `data`, to the open block and chunk, without
    // counting it: its packet was counted where it was written.
    void add_flow_keys(const uint8_t* data, uint32_t caplen) { add_keys(data, caplen); }
    // Where the open block ends (UINT64_MAX: the chunk's last block is open).
    uint64_t next_block() const { return _next_block; }
    // The keys of one Ethernet packet: `data` holds its first `caplen`
    // bytes (it reads no more than index_packet_bytes of them). Always
    // inlined (met_lately too): a packet of a flow met lately costs a look
    // in the flow cache, and its caller's one call (add_keys) no second
    // call's saved registers (docs/performance.md).
    [[gnu::always_inline]] void add_packet(const uint8_t* data, uint32_t caplen, uint64_t ts_ns)
    {
        _packets++;
        _min_ns = std::min(_min_ns, ts_ns);
        _max_ns = std::max(_max_ns, ts_ns);
        if (!met_lately(data, caplen))
            add_keys(data, caplen);
    }
    // add_packet() of a packet index_flow_of says is IPv4, once the chunk's
    // times are begun (begin_times): its time taken as add_marked() takes
    // it, and its flow asked of the flow cache once. A flow met in the open
    // block (met_lately) adds only a changing flow's own half-words; any
    // other goes to add_keys(), which does not ask the same again. Inline,
    // for the writer's records of a worker that marks nothing (its writer
    // keeps up: most records of a busy 64-byte ring, docs/performance.md).
    [[gnu::always_inline]] void add_packet4(const uint8_t* data, uint32_t caplen, uint64_t ts_ns)
    {
        const bool met = met_lately4(data);
        add_marked(ts_ns);
        if (!met)
            add_keys(data, caplen);
    }
    // add_packet4() of a packet index_flow_of says is IPv6: a third of a
    // mixed ring's records, which through add_keys' call and its asking
    // again cost some 125 instructions each (docs/performance.md).
    [[gnu::always_inline]] void add_packet6(const uint8_t* data, uint32_t caplen, uint64_t ts_ns)
    {
        const bool met = met_lately6(data);
        add_marked(ts_ns);
        if (!met)
            add_keys(data, caplen);
    }
    // A packet whose keys are all in the open block already (a worker
    // marked it: index_flow.h; its flow met lately: add_packet4,
    // add_packet6), or one that gives no key (add_read): only counted,
    // and its time taken.
    [[gnu::always_inline]] void add_marked(uint64_t ts_ns)
    {
        // Branches, not std::min and max: times mostly grow or repeat (a
        // worker stamps a burst's packets alike), so the first is mostly
        // taken and the second then not asked. A time at or past the
        // greatest is never below the least, once a packet has set both
        // (as add_packet does, and the indexer's add() at a chunk's start:
        // begin_times).
        _packets++;
        if (ts_ns >= _max_ns)
            _max_ns = ts_ns;
        else if (ts_ns < _min_ns)
            _min_ns = ts_ns;
    }
    // The chunk's first time, before its first add_marked().
    void begin_times(uint64_t ts_ns)
    {
        _min_ns = std::min(_min_ns, ts_ns);
        _max_ns = std::max(_max_ns, ts_ns);
    }
    // One whose keys are all in the chunk, but perhaps in an earlier block
    // (index_flow.h): the open block takes its IPv4 addresses.
    [[gnu::always_inline]] void add_marked_in_chunk(const uint8_t* data, uint32_t caplen, uint64_t ts_ns)
    {
        add_marked(ts_ns);
        if (caplen >= 30 && data[12] == 0x08 && data[13] == 0x00) {
            add_wide(index_field::ipv4_address, load_be32(data + 26));
            if (caplen >= 34)
                add_wide(index_field::ipv4_address, load_be32(data + 30));
        }
    }
    // The packet's own half-words at the transport header's start, of a
    // packet marked index_mark_words (index_flow.h: an untagged IPv4
    // packet without options or an IPv6 one, whose flow's keys are in):
    // bytes 34 and 36 (IPv6: 54 and 56), if its first `caplen` bytes, at
    // `data`, hold them.
    void add_own_words(const uint8_t* data, uint32_t caplen)
    {
        if (caplen < five_tuple_end_ipv4)
            return;
        const uint32_t at = load_be16(data + 12) == ether_type_ipv6 ? 54 : 34;
        if (caplen >= at + 4)
            add_l4_words(data + at);
    }
    // The chunk so far, made into sets, with its place and the CRC of its
    // first bytes (`first`: the first min(16, bytes) of them); the builder
    // starts the next chunk empty.
    index_chunk finish(uint64_t offset, uint64_t bytes, bool pinned, const uint8_t* first);
    uint64_t packets() const { return _packets; }
    // Drops the chunk so far: the builder starts the next chunk empty.
    void reset();
    // The chunk size the driver uses: blocks are an index_max_blocks-th of
    // it. Before the chunk's first record.
    void set_chunk_bytes(uint64_t bytes) { _block_bytes = (bytes + index_max_blocks - 1) / index_max_blocks; }

private:
    // What a writer can afford per packet: a few loads and stores, no
    // sort. The 16-bit keys (protocols, ports) set bits; a 32-bit key goes
    // through a small cache of the values met lately (packets of a flow
    // repeat their addresses), and a value new to it is kept for a batch;
    // a batch of 8192 is sorted into the chunk's set, so that no moment of
    // a chunk costs more than a batch (a writer that stalls fills its ring).
    // The cache is direct-mapped, 4096 values of 4 bytes (16 KiB: the IPv4
    // one, the ports and the protocols stay in a core's L1 together): 1024
    // slots missed one lookup in three on 256 flows, 1000 addresses
    // (bench/writer, docs/performance.md).
    static constexpr size_t wide_fields = 7;       // ipv4_address to tunnel_id: index_field 0 to 6
    static constexpr size_t recent_slots = 4096;   // per wide field
    static constexpr unsigned recent_shift = 20;   // 32 - log2(recent_slots)
    static constexpr size_t batch_values = 8192;

    static constexpr uint32_t recent_slot(uint32_t v) { return (v * 0x9e3779b1u) >> recent_shift; }   // a multiplicative hash
    [[gnu::always_inline]] void add_wide(index_field field, uint32_t v)
    {
        const auto f = static_cast<size_t>(field);
        uint32_t& slot = _recent[f][recent_slot(v)];
        if (slot == v)
            return;
        slot = v;
        _pending[f].push_back(v);
        if (_pending[f].size() >= batch_values)
            flush(f);
    }
    void flush(size_t f);
    void start_block(uint64_t offset, const uint8_t* first16);
    void close_block();
    void add_block_values();
    void empty_recent(size_t f);
    std::vector<uint8_t> block_table(uint64_t chunk_offset, uint32_t first_crc, const roaring_bitmap_s* ipv4);

    // A flow met lately in this chunk adds nothing: its packets repeat all
    // their keys (but a flow whose first four transport bytes change,
    // ICMP's: index_flow_words_apart, whose half-words each packet sets).
    // A cache of the flows (index_flow.h, two ways to a set) whose
    // packets' keys are all their flow's: untagged, in no tunnel, IPv4
    // unfragmented (or a first fragment) without options, IPv6 without
    // extension headers, their ports captured. One probe for the packet
    // instead of one per key (IPv6: eight address words). Both directions
    // of a flow share an entry. An IPv4 entry holds the block it was met
    // in, in bits 48-63 of its `rest`.
    static constexpr unsigned flow4_set_bits = 10, flow6_set_bits = 9;   // 2048 and 1024 entries
    static constexpr unsigned flow_block_shift = 48;
    static constexpr uint64_t flow_block_bits = uint64_t{0xffff} << flow_block_shift;

    // Does the flow cache hold this packet's flow (an IPv4 one met in the
    // open block)? Then its keys are all in, but for the words of a flow
    // whose words change (index_flow_words_apart), added here. Adds no
    // other key: add_keys fills the cache (and only with flows that no
    // tunnel is walked in).
    [[gnu::always_inline]] bool met_lately(const uint8_t* data, uint32_t caplen)
    {
        const index_flow_kind kind = index_flow_of(data, caplen);
        if (kind == index_flow_kind::ipv4)
            return met_lately4(data);
        if (kind == index_flow_kind::ipv6)
            return met_lately6(data);
        return false;
    }
    // met_lately() of a packet index_flow_of says is IPv6.
    [[gnu::always_inline]] bool met_lately6(const uint8_t* data)
    {
        const index_flow6 f = index_flow6_of(data);
        if (_flows6.find(index_flow6_set<flow6_set_bits>(f), [&](const index_flow6& e) {
                return index_flow6_same(e, f);
            }) == nullptr)
            return false;
        if (f.rest & index_flow_words_apart)
            add_l4_words(data + 54);
        return true;
    }
    // met_lately() of a packet index_flow_of says is IPv4.
    [[gnu::always_inline]] bool met_lately4(const uint8_t* data)
    {
        const index_flow4 f = index_flow4_of(data);
        const uint64_t rest = f.rest | _flow_block;
        if (_flows4.find(index_flow4_set<flow4_set_bits>(f), [&](const index_flow4& e) {
                return e.addresses == f.addresses && e.rest == rest;
            }) == nullptr)
            return false;
        if (f.rest & index_flow_words_apart)
            add_l4_words(data + 34);
        return true;
    }
    // The two half-words at `p` (index_flow_of has seen them captured).
    void add_l4_words(const uint8_t* p)
    {
        for (const uint16_t w : {load_be16(p), load_be16(p + 2)})
            _l4_words[w >> 6] |= uint64_t{1} << (w & 63);
    }
    // The keys of a packet whose flow is not in the cache, or an IPv4
    // flow's first packet in the open block; fills the cache.
    void add_keys(const uint8_t* data, uint32_t caplen);
    index_flow_ways<index_flow4, flow4_set_bits> _flows4;
    index_flow_ways<index_flow6, flow6_set_bits> _flows6;

    std::array<std::vector<uint32_t>, wide_fields> _pending;             // not yet in _wide
    std::array<roaring_ptr, wide_fields> _wide;                          // the chunk's values so far
    // Empty, each slot holds a value that does not hash to it (reset()):
    // no value can be found where it was never put.
    std::array<std::array<uint32_t, recent_slots>, wide_fields> _recent{};
    std::array<uint64_t, 256 / 64> _protocols{};                         // a bit per protocol number
    std::array<uint64_t, 65536 / 64> _l4_words{};                        // a bit per port (half-word)
    std::vector<uint32_t> _halves;         // a folded set's values, made in finish()
    std::vector<uint32_t> _sort_scratch;   // flush()'s room to sort a batch
    uint64_t _packets = 0;
    uint64_t _min_ns = UINT64_MAX;
    uint64_t _max_ns = 0;
    folding _fold;

    // The chunk's blocks so far (begin_record): where each starts in the
    // file, its packets and the CRC of its first bytes; the IPv4 values of
    // each closed block, sorted; the open block's (in the chunk's set only
    // at its end: flush, finish). A value's first packet
    // in each block is kept: the recent-values cache of IPv4 is emptied at
    // each block's start, and an IPv4 flow's entry in the flow cache says
    // which block it was met in.
    struct block_start {
        uint64_t offset;
        uint64_t first_packet;   // the chunk's packet count at its start
        uint32_t first_crc;
    };
    uint64_t _block_bytes = (index_chunk_bytes + index_max_blocks - 1) / index_max_blocks;
    // Where the next block starts: the open block's offset plus
    // _block_bytes; 0 in an empty chunk (its first record starts one);
    // never once the chunk has index_max_blocks.
    uint64_t _next_block = 0;
    std::vector<block_start> _blocks;
    uint64_t _flow_block = 0;   // the open block's number, as an IPv4 flow's entry holds it
    std::vector<std::vector<uint32_t>> _block_values;
    std::vector<uint32_t> _open_block_ipv4;   // sorted
};

// A capture file as it was when its index was finished: its size and its
// modification time (stat's st_size and st_mtim). A finished file whose size
// or time is another has been written to since, or copied without its times
// (cp without -p): the index no longer says what it holds.
struct capture_stamp {
    uint64_t bytes = 0;
    timespec mtime{};
};

// A capture file's index as read back.
struct capture_index {
    uint32_t linktype = 0;
    uint64_t head_bytes = 0;   // the capture file's bytes before its first record (its header; pcapng: SHB, IDBs)
    uint32_t head_crc = 0;     // CRC-32 of those bytes: the index is this file's
    std::vector<index_chunk> chunks;   // in file order, contiguous from head_bytes
    std::string note;          // a torn or damaged tail: which chunk, and why (its bytes are then not covered)
    uint64_t index_bytes = 0;  // the size of the index file
    // A finished index is read by its directory: its chunks' places now,
    // their sets when asked (from `source`). One without (being written, or
    // cut short) is read whole into source->bytes, which the sets point into.
    bool by_directory = false;
    std::shared_ptr<const index_set_source> source;
    // A finished index of version 6 or later has a summary of the whole file: each
    // set the union of its chunks' (none where a chunk's set is folded:
    // that set of the summary may then hold anything). Its place spans the
    // file's chunks; flags: chunk_place::chunk_summary. A query asks it
    // first, and reads no chunk's sets of a file it rules out.
    std::unique_ptr<index_chunk> summary;
    // A finished index of version 7: its capture file when it was
    // finished. None for an index without its directory, or of an older
    // version: the query then reads a finished file whole (it cannot tell
    // whether the file changed since).
    std::optional<capture_stamp> stamp;
    // The sets found damaged so far, in words ("" if none): a note.
    std::string damage_note() const;
};

// The name of a capture file's index: FILE.idx, and FILE.idx.part beside
// FILE.part (renamed with it).
std::string index_name_of(const std::string& capture_name);

// Writes an index file: the header, then one entry per chunk, appended as
// the chunks are made (a reader takes the entries up to the first torn or
// damaged one), then, when it is closed, a directory of the entries (a
// reader of the finished file reads the directory and only the sets it
// needs). Layout and CRCs: capture_index.cpp.
class index_file_writer {
public:
    ~index_file_writer();
    // Creates `path` (in `dir_fd`: relative to it; replacing it) and writes
    // the header. "" or what failed.
    std::string open(const std::string& path, uint32_t linktype, uint64_t head_bytes, uint32_t head_crc,
                     int dir_fd = AT_FDCWD);
    std::string append(const index_chunk& chunk);
    // Writes the file's summary and the directory (unless `finished` is
    // false: the file is being discarded), with `stamp`, the capture file
    // after its last change (none: unknown), then closes.
    std::string close(bool finished = true, const std::optional<capture_stamp>& stamp = std::nullopt);
    uint64_t bytes() const { return _bytes; }
    bool created() const { return _fd >= 0; }   // open() made the file, or emptied the one there (until close)

private:
    int _fd = -1;
    std::string _path;
    uint64_t _bytes = 0;
    std::vector<uint8_t> _directory;   // the entries' heads, as they were appended
    // The summary so far: each set's union over the chunks appended, null
    // once a chunk's set was folded (no summary of that set).
    std::array<roaring_ptr, index_field_count> _union;
    uint32_t _unions_dropped = 0;   // bit f: set f has no summary
};

// Reads the index in `fd` (not closed; `out` keeps a duplicate of it, to
// read sets from). "" with `out` filled, or why it cannot be used at all
// (not an index, another version, a damaged header), naming `name`. A
// damaged or torn entry ends the chunks there, with a note; a damaged set
// is found when it is read (capture_index::damage_note).
std::string read_capture_index(int fd, const std::string& name, capture_index& out);

// CRC-32 (zlib's) of `n` bytes, continuing `crc`.
uint32_t index_crc(const void* data, size_t n, uint32_t crc = 0);

// The bytes of a chunk's start that index_chunk::first_crc covers.
constexpr uint64_t index_first_bytes = 16;

// The index of a capture file as its writer writes it (a session with
// "index"): FILE.idx.part beside FILE.part, one entry appended per
// index_chunk_bytes of the file, renamed FILE.idx when the file is
// renamed. The writer lcore owns it. add() is per record; the rest is once
// per chunk or per file.
class capture_file_indexer {
public:
    ~capture_file_indexer() { discard(); }
    // Starts the index of the capture file `name` (its NAME.part, just
    // created in `dir_fd`, whose first `head_bytes` bytes, its header, are
    // on disk). "" or what failed (the file is then written without an
    // index).
    std::string open(int dir_fd, const std::string& name, uint64_t head_bytes);
    bool is_open() const { return _dir_fd >= 0; }
    // One record, at `offset` in the file (where the last one ended, or
    // past the file's header): its first 16 bytes and the first `len`
    // (<= index_packet_bytes) bytes of its packet, received at ts_ns. A
    // chunk's entry is appended when the record after its end comes (or
    // at close), so the records need not ask, each, whether theirs ended
    // it. A record at or past the open block's place (or the
    // chunk's limit) moves the epoch on and stays in the open block (and
    // chunk), whose successor then starts with the first record its
    // workers made in the new epoch or later (the epoch a mark carries,
    // whatever its flags), or with the first a block's bytes past that
    // place, whichever comes first. A record read meanwhile that carries
    // no epoch (index_unmarked) gives the successor its flow's keys too, as
    // its worker may have marked the flow's next packets with the new
    // epoch (index_flow.h). A record at the place that carries no epoch
    // (index_unmarked; any of a session whose records take no marks)
    // starts its block or chunk there. `mark`, the worker's
    // (index_flow.h), is asked after the record's own block or chunk has
    // started: the open block's epoch's: no key is read; an older block's
    // of this chunk, or one with index_mark_older: only the IPv4
    // addresses, for the open block; any other, index_mark_read's or
    // index_unmarked: every key. Either of the first two with
    // index_mark_words (an ICMP flow's): the packet's own half-words too.
    // Only a record that is the packet's first bytes, cut past its flow's
    // keys, may carry a mark (output_spec::index_marked, take_marks).
    void add(uint64_t offset, const uint8_t* header16, const uint8_t* packet, uint32_t len, uint64_t ts_ns,
             uint32_t mark = index_unmarked)
    {
        mark &= _mark_mask;
        bool chunk_started = false;
        if (_due != 0 &&
            ((mark != index_unmarked && mark_at_or_after(mark & ~index_mark_flags, _due)) ||
             offset >= _due_forced_at))
            chunk_started = start_due(offset, header16, ts_ns);
        // A record that carries no epoch (index_unmarked; any of a session
        // whose records take no marks) has no workers to wait for: its
        // block or chunk starts at its place.
        if (!chunk_started && offset >= _chunk_limit && _builder.packets() != 0 && !(_due != 0 && _due_chunk)) {
            if (mark != index_unmarked) {
                // A block awaited gives way: its records are the open
                // block's, whose marks now take the epoch it moved on to.
                end_wait();
                refresh_marked_as();   // the last epoch the open chunk takes marks of
                _epoch->next_chunk();
                await(true, offset);
            } else {
                finish_chunk(offset);
            }
        }
        // A record that needs neither its bytes nor its header (below) is
        // the common case of a marked flow's packets: the writer asks
        // path_of() first and then gives add_marked() no more than
        // its place and time, sparing the record's start (record_start).
        if (!chunk_started && _builder.packets() == 0) {
            start_chunk(offset, header16, ts_ns);
            _epoch->next_chunk();
        } else if (_due == 0 && _builder.starts_block(offset)) {
            if (mark != index_unmarked) {
                refresh_marked_as();   // the last epoch the open block takes marks of
                _epoch->next_block();
                await(false, offset);
            } else {
                _builder.begin_block(offset, header16);
                _epoch->next_block();
            }
        }
        // (A block's wait ends at the chunk's limit too: a chunk runs past
        // its limit by a block's bytes at most.)
        if (_due == 0)
            _next_read = std::min(_builder.next_block(), _chunk_limit);
        else if (_due_chunk)
            _next_read = _due_forced_at;
        else
            _next_read = std::min(_due_forced_at, _chunk_limit);
        refresh_marked_as();
        _marked_fast = _marked_as;   // the next record's place is asked at the burst's end (end_burst)
        // Marked with the epoch of the open block (as path_of() asks): its
        // place and time (and an ICMP flow's own half-words); else read,
        // as add_keys reads it.
        if (mark != index_unmarked && (mark & ~index_mark_words) == _marked_as) {
            if ((mark & index_mark_words) != 0)
                _builder.add_own_words(packet, len);
            add_marked(ts_ns);
        } else {
            read_keys(packet, len, ts_ns, mark);
        }
    }
    // How add() would take a record at `offset` marked `mark`: by its
    // place and time alone (`marked`), and its own half-words too
    // (`marked_words`: index_mark_words), or from its bytes (`read`). A
    // record is taken by its place when its mark is the open block's
    // epoch's (_marked_as) and no burst before it reached the block's
    // place (end_burst: such a record would start the block, and move the
    // epoch); then
    // add_own_words() for marked_words, and add_marked(), are add() for
    // it, and its start need not be kept.
    // A record marked with an older block's epoch of this chunk, or with
    // index_mark_older, is `in_chunk`: its flow's keys are in the chunk,
    // and the open block takes its IPv4 addresses (add_marked_in_chunk).
    // Any other record that starts no block is `keys`: read for its keys,
    // which add_keys() does from the packet's first bytes where the
    // record's start is those bytes, or add() from the record's start.
    // Of a session whose records take no marks (take_marks), every record
    // that starts no block is `keys`.
    // While a block's or chunk's start is awaited (add(): from the record
    // at its place until the first its workers made in the new epoch), a
    // record marked with the open block's epoch is `marked`; one made in
    // the new epoch or later, or in none known, `read` (add() starts the
    // block with it, or keeps its flow's keys for the block); the rest as
    // ever. So the records in flight at a block's place, a ring's worth
    // (4096 a worker, some 70% of an IMIX block's records), are taken by
    // their marks in the block they were marked for, not `in_chunk` in
    // the next, and those at a chunk's limit not `keys` in the next chunk
    // (docs/performance.md, "Blocks start when their workers move on").
    //
    // The common case asks one question: its mark against the epoch this
    // indexer saw last (_marked_as, as _marked_fast holds it: never older
    // than its open block's start, so that a record marked with it has its
    // keys in the open block, whatever other sessions' indexers did to the
    // epoch since: index_flow.h); an ICMP flow's mark of that epoch, a
    // second. The rest (an older block's mark, a mark newer than that:
    // another session's indexer moved the writer's epoch on; any record
    // after a burst that reached the block's place) are asked apart, the
    // place first, the epoch looked at again.
    //
    // The place is asked once a burst (end_burst), not of every record: a
    // burst whose records reach the open block's place (or the chunk's
    // limit, or an awaited start's latest place) sends the next burst's
    // first record to path_of_other(), which asks it; the records after
    // the place in the same burst stay in the open block (their marks
    // speak for it, whatever its length), so a block or chunk runs past
    // its place by a burst's records at most (docs/query.md). A record
    // with no mark (index_unmarked: a session that takes none) always
    // goes to path_of_other(), which asks its place: without marks, the
    // index is as `linecap index` makes it, record by record.
    enum class path : uint8_t { marked, marked_words, in_chunk, keys, read };
    path path_of(uint64_t offset, uint32_t mark)
    {
        if (mark == _marked_fast)
            return path::marked;
        // An ICMP flow's mark of the same epoch is as good (some 9% of a
        // mixed ring's records): asked here, not after the epoch's load
        // and store that path_of_other() makes (some 11 instructions).
        if (mark == (_marked_fast | index_mark_words))
            return path::marked_words;
        return path_of_other(offset, mark);
    }
    // After a burst of records, the next to start at `offset` (the
    // file's size): one at or past the open block's place goes to
    // path_of_other() (path_of, above). Every caller of path_of (through
    // write_indexed) calls it at the end of each burst: without it, a
    // block whose records all carry the open block's mark would never
    // end.
    void end_burst(uint64_t offset)
    {
        if (offset >= _next_read)
            _marked_fast = index_mark_words;
    }
    // Does this session's indexer take its workers' marks (true unless
    // told: output_spec::index_marked)? A mark otherwise is taken as
    // index_unmarked: every key is read. Before the file's first record.
    void take_marks(bool yes)
    {
        _mark_mask = yes ? ~uint32_t{0} : 0;
        refresh_marked_as();
        _marked_fast = index_mark_words;
    }
    // A record path_of() says keys of, received at ts_ns: its first `len`
    // (<= index_packet_bytes) bytes at `data`. add() for it, without its
    // place and header (which only a block's or chunk's start needs).
    // Inline, an unmarked record of the common kinds: an IPv4 or IPv6
    // packet of a flow (index_builder::add_packet4, add_packet6), and a
    // frame that gives no key (index_frame_keyless over the same bytes
    // add_keys would read: a tagged frame in no tunnel), only counted and
    // its time taken, as add_keys would find nothing else in it. The rest
    // (a marked record, any other frame) through add_keys().
    [[gnu::always_inline]] void add_read(const uint8_t* data, uint32_t len, uint64_t ts_ns, uint32_t mark)
    {
        if (reads_every_key(mark & _mark_mask)) {
            const index_flow_kind kind = index_flow_of(data, len);
            if (kind == index_flow_kind::ipv4)
                _builder.add_packet4(data, len, ts_ns);
            else if (kind == index_flow_kind::ipv6)
                _builder.add_packet6(data, len, ts_ns);
            else if (index_frame_keyless(data, len))
                _builder.add_marked(ts_ns);   // no key by any path: a tagged frame in no tunnel
            else {
                add_keys(data, len, ts_ns, mark);
                return;
            }
            _records_read++;
            return;
        }
        add_keys(data, len, ts_ns, mark);
    }
    // add_read() out of line, for what it does not take inline. Out of
    // line: an older chunk's questions, ARP's or a tunnel's keys would
    // crowd the writer's code.
    [[gnu::noinline]] void add_keys(const uint8_t* data, uint32_t len, uint64_t ts_ns, uint32_t mark)
    {
        read_keys(data, len, ts_ns, mark & _mark_mask);
    }
    // A record path_of() says in_chunk of, marked `mark`, received at
    // ts_ns: its first `caplen` bytes at `data`. add() for it.
    [[gnu::always_inline]] void add_marked_in_chunk(const uint8_t* data, uint32_t caplen, uint64_t ts_ns,
                                                    uint32_t mark)
    {
        _records_in_chunk++;
        _builder.add_marked_in_chunk(data, caplen, ts_ns);
        if ((mark & index_mark_words) != 0)
            _builder.add_own_words(data, caplen);
    }
    // Of a record path_of() says marked_words of: its first `caplen`
    // bytes, at `data` (index_builder::add_own_words).
    void add_own_words(const uint8_t* data, uint32_t caplen) { _builder.add_own_words(data, caplen); }
    // A record path_of() says marked or marked_words of, received at
    // ts_ns; after its add_own_words().
    [[gnu::always_inline]] void add_marked(uint64_t ts_ns) { _builder.add_marked(ts_ns); }
    // The last chunk, its records ending at `records_end` (where the file's
    // last record ends: pcapng's closing blocks come after it), then the
    // index's rename to NAME.idx when `renamed` (the capture file was
    // renamed NAME; else it stays NAME.idx.part, beside NAME.part; an
    // index that cannot be renamed is removed). Call it after the capture
    // file's last change (its close): the index records the file's size
    // and time then. "" or what failed (the session counts it:
    // index_errors).
    std::string close(bool renamed, uint64_t records_end);
    // Removes NAME.idx.part (the capture file was discarded).
    void discard();
    // Chunk size (tests make it small), before the first record.
    void set_chunk_bytes(uint64_t bytes)
    {
        _chunk_bytes = bytes;
        _builder.set_chunk_bytes(bytes);
    }
    // The records of this file whose every key was read (not marked:
    // index_mark_read's or index_unmarked; or marked from an older chunk):
    // the rest were taken by their workers'
    // marks (index_flow.h; records_in_chunk() of them by an older block's).
    // Counted off the marked records' path.
    uint64_t records_read() const { return _records_read; }
    // The records of this file marked in an older block of their chunk
    // (path::in_chunk, or add() of such a mark): only their IPv4 addresses
    // (and an ICMP flow's own half-words) were read, for the open block.
    // Each record is counted once: here, in records_read(), or in
    // neither (taken by its mark alone).
    uint64_t records_in_chunk() const { return _records_in_chunk; }
    // The first error appending an entry: the index then ends before it.
    const std::string& error() const { return _error; }
    // The epoch this indexer bumps and trusts marks of: its writer's
    // (shared by its indexers; it outlives them), else one of its own.
    void use_epoch(index_epoch* epoch)
    {
        _epoch = epoch;
        refresh_marked_as();
        _marked_fast = index_mark_words;
    }
    uint64_t epoch() const { return _epoch->get(); }
    // A benchmark's hook, never a capture's: the workers that share this
    // indexer's epoch mark nothing while `yes` (index_epoch::marks_paused).
    // With its own epoch (none given by use_epoch) the store changes
    // nothing: no worker reads that epoch.
    void pause_marks(bool yes) { _epoch->marks_paused.store(yes, std::memory_order_relaxed); }

private:
    // path_of() past its common case: the epoch now taken (if marks are),
    // then the mark asked again, an ICMP flow's, and an older block's.
    path path_of_other(uint64_t offset, uint32_t mark)
    {
        if (offset >= _next_read)
            return path::read;
        _marked_fast = _marked_as;   // the record's place is short of the next read's
        mark &= _mark_mask;
        // A start awaited, and a record made in its epoch or later (which
        // starts it), or in none known (whose flow's keys it keeps): add().
        if (_due != 0 && (mark == index_unmarked || mark_at_or_after(mark & ~index_mark_flags, _due)))
            return path::read;
        if (reads_every_key(mark))   // e.g. a worker that marks nothing (its writer keeps up): every record
            return path::keys;
        refresh_marked_as();
        _marked_fast = _marked_as;
        if (mark == _marked_as)
            return path::marked;
        if (mark == (_marked_as | index_mark_words))
            return path::marked_words;
        if (index_epoch::same_chunk(mark & ~index_mark_flags, _marked_as))
            return path::in_chunk;
        return path::keys;
    }
    // A mark that gives no key: none (index_unmarked), or index_mark_read's.
    static bool reads_every_key(uint32_t mark) { return mark == index_unmarked || (mark & index_mark_read) != 0; }
    // While a block's or chunk's start is awaited, the mark of the open
    // block stays.
    void refresh_marked_as()
    {
        if (_due == 0)
            _marked_as = _mark_mask != 0 ? _epoch->mark() : index_mark_words;
    }
    // Is the epoch whose mark is `a` the one whose mark is `b` or later?
    // Marks are an epoch's low 29 bits (index_epoch); those in flight are a
    // ring's worth of blocks apart at most, far from half the cycle.
    static bool mark_at_or_after(uint32_t a, uint32_t b) { return ((a - b) & 0x1fffffffu) < 0x10000000u; }
    // The epoch has moved on for a block (or a chunk) whose place the
    // record at `offset` has reached: the block starts with the first
    // record made in the new epoch or later, or a block's bytes on.
    void await(bool chunk, uint64_t offset)
    {
        _due = _epoch->mark();
        _due_chunk = chunk;
        _due_heads.clear();
        _due_forced_at = offset + _builder.block_bytes();
    }
    // The awaited block (or chunk) starts with the record at `offset`: the
    // flows of the records read since the epoch moved on give it their keys
    // too. Whether it was a chunk.
    bool start_due(uint64_t offset, const uint8_t* header16, uint64_t ts_ns)
    {
        const bool chunk = _due_chunk;
        if (chunk) {
            finish_chunk(offset);   // ends the wait
            start_chunk(offset, header16, ts_ns);
        } else {
            _builder.begin_block(offset, header16);
            end_wait();
        }
        for (const flow_head& h : _due_heads)
            _builder.add_flow_keys(h.bytes.data(), h.len);
        _due_heads.clear();
        return chunk;
    }
    // The wait is over; the heads kept in it stay until start_due() has
    // given them to the new block (await() drops any left).
    void end_wait() { _due = 0; }
    // A chunk's first record, at `offset`.
    void start_chunk(uint64_t offset, const uint8_t* header16, uint64_t ts_ns)
    {
        _chunk_offset = offset;
        _chunk_limit = offset + _chunk_bytes;
        std::memcpy(_first.data(), header16, _first.size());
        _builder.begin_times(ts_ns);
        _builder.begin_block(offset, header16);
    }
    // A record read while a start is awaited, made in no epoch known
    // (index_unmarked): its worker may have made it after the epoch moved
    // on, and then mark its flow's next packets with the new epoch, for
    // the block (or chunk) about to start, which takes its flow's keys too.
    // (A worker gives every packet for a session that takes marks the
    // epoch it was made in: these are a test's, or none.) Only a packet of a flow can give marks
    // (index_flow_marks), and its flow's keys are in its first
    // flow_head_bytes.
    void keep_for_due(const uint8_t* data, uint32_t len)
    {
        const index_flow_kind kind = index_flow_of(data, len);
        if (kind != index_flow_kind::ipv4 && kind != index_flow_kind::ipv6)
            return;
        flow_head& h = _due_heads.emplace_back();
        h.len = std::min<uint32_t>(len, flow_head_bytes);
        std::memcpy(h.bytes.data(), data, h.len);
    }
    // add_keys() inline, for add() too (a decap session's records, a chained
    // mbuf's, a block's first: no second call level of their own).
    [[gnu::always_inline]] void read_keys(const uint8_t* data, uint32_t len, uint64_t ts_ns, uint32_t mark)
    {
        if (!reads_every_key(mark) && index_epoch::same_chunk(mark & ~index_mark_flags, _epoch->mark())) {
            add_marked_in_chunk(data, len, ts_ns, mark);
        } else {
            _builder.add_packet(data, len, ts_ns);   // every key, its half-words with them
            _records_read++;
        }
        if (_due != 0 && mark == index_unmarked)
            keep_for_due(data, len);
    }
    // Appends the open chunk, its records ending at `end`.
    void finish_chunk(uint64_t end);

    index_epoch _own_epoch;
    index_epoch* _epoch = &_own_epoch;
    index_builder _builder;
    index_file_writer _out;
    int _dir_fd = -1;
    std::string _name;
    uint64_t _chunk_bytes = index_chunk_bytes;
    uint64_t _chunk_offset = 0;
    uint64_t _chunk_limit = 0;   // _chunk_offset + _chunk_bytes: a record that starts there ends the chunk
    // Where the next record that path_of() says `read` of may start: the
    // open block's end or the chunk's limit, whichever comes first (0: a
    // chunk's first record is next).
    uint64_t _next_read = 0;
    // The writer's epoch's mark when this indexer last looked, held while
    // a block's or chunk's start is awaited (a record's mark equal to it:
    // `marked`), or, for a session that takes no marks,
    // index_mark_words alone, which no mark equals (no epoch's mark is 0).
    uint32_t _marked_as = index_mark_words;
    // What path_of() compares a mark with: _marked_as, or, when the next
    // record may be at or past _next_read (a file's first record; a burst
    // that reached it: end_burst), index_mark_words, which no mark equals,
    // so that path_of_other() asks the record's place.
    uint32_t _marked_fast = index_mark_words;
    // A block or chunk due (its place reached) whose start awaits the
    // first record its workers made after the epoch moved on for it: the
    // new epoch's mark (0: none awaited), whether a chunk's, where it
    // starts at the latest; and the first bytes of the flows' records
    // read meanwhile (keep_for_due).
    static constexpr uint32_t flow_head_bytes = 64;   // five_tuple_end_ipv6 and more
    struct flow_head {
        std::array<uint8_t, flow_head_bytes> bytes;
        uint32_t len;
    };
    uint32_t _due = 0;
    bool _due_chunk = false;
    uint64_t _due_forced_at = 0;
    std::vector<flow_head> _due_heads;
    uint32_t _mark_mask = ~uint32_t{0};   // take_marks: all ones, or 0 (every mark index_unmarked)
    static_assert(index_unmarked == 0, "a mark masked with 0 is index_unmarked");
    uint64_t _records_read = 0;
    uint64_t _records_in_chunk = 0;
    std::array<uint8_t, 16> _first{};
    std::string _error;
};

// What indexing a capture file found.
struct index_build_result {
    uint64_t packets = 0;
    uint64_t chunks = 0;
    uint64_t capture_bytes = 0;
    uint64_t index_bytes = 0;
};

// Indexes the capture file `path` (pcap in either byte order, µs or ns, or
// pcapng) into `index_path`, in chunks of about `chunk_bytes`, as the
// writers do. Files whose packets are not Ethernet are refused (queries
// read them whole). "" or what is wrong, naming the file and the byte.
// Relative paths are in `dir_fd`'s folder.
std::string index_capture_file(const std::string& path, const std::string& index_path, uint64_t chunk_bytes,
                               index_build_result& result, int dir_fd = AT_FDCWD);

} // namespace linecap
