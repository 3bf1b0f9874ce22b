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

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct roaring_bitmap_s;

namespace linecap {

// The sets of keys a chunk's packets hold, as listed above.
enum class index_field : uint8_t {
    ipv4_address,   // words at 26, 30 under 0x0800; at 28, 38 under 0x0806 and 0x8035
    ipv6_word0,     // word i of the addresses at 22 and 38 under 0x86dd (bytes 22+4i, 38+4i)
    ipv6_word1,
    ipv6_word2,
    ipv6_word3,
    protocol,       // byte 23 under 0x0800, byte 20 under 0x86dd
    l4_word,        // the half-words at the transport header's 0 and 2 (IPv4 unfragmented, IPv6 at 54, 56)
};
constexpr size_t index_field_count = 7;

struct roaring_free {
    void operator()(roaring_bitmap_s* r) const;
};
using roaring_ptr = std::unique_ptr<roaring_bitmap_s, roaring_free>;

// One chunk: where it is in the capture file, its times and its keys.
struct index_chunk {
    uint64_t offset = 0;     // of its first record in the capture file
    uint64_t bytes = 0;      // whole records (pcapng: blocks) from there
    uint64_t packets = 0;
    uint64_t min_ns = 0;     // earliest and latest packet times (records need not be in order)
    uint64_t max_ns = 0;
    // It holds blocks a reader needs for the records after it (pcapng:
    // another section, or interfaces described after the first packet):
    // always read.
    bool pinned = false;
    // CRC-32 of the chunk's first 16 bytes (a record header: its time and
    // lengths): an index is checked against its capture file with it.
    uint32_t first_crc = 0;
    // The sets: made by index_builder, or read from an index file on first
    // use (`serialized`, which points into capture_index::bytes): a query
    // reads only the sets its expression asks about.
    mutable std::array<roaring_ptr, index_field_count> sets;
    std::array<std::pair<const uint8_t*, uint32_t>, index_field_count> serialized{};
    // Set `field`, or null if it cannot be read (a query then reads the chunk).
    const roaring_bitmap_s* set(index_field field) const;

    // Does set `field` hold a value v with (v & mask) <op> k? op: '=', '>',
    // '}' (>=), '&' ((v & mask & k) != 0). Exact over the set.
    bool holds(index_field field, char op, uint32_t mask, uint32_t k) const;
    uint64_t set_size(index_field field) const;
};

// Gathers a chunk's keys from its packets, then makes its sets.
class index_builder {
public:
    // The keys of one Ethernet packet: `data` holds its first `caplen` bytes.
    void add_packet(const uint8_t* data, uint32_t caplen, uint64_t ts_ns);
    // The chunk so far, made into sets, with its place and the CRC of its
    // first bytes (`first`: the first min(16, bytes) of them); the builder
    // starts the next chunk empty.
    index_chunk finish(uint64_t offset, uint64_t bytes, bool pinned, const uint8_t* first);
    uint64_t packets() const { return _packets; }

private:
    std::array<std::vector<uint32_t>, index_field_count> _values;
    uint64_t _packets = 0;
    uint64_t _min_ns = UINT64_MAX;
    uint64_t _max_ns = 0;
};

// A capture file's index as read back.
struct capture_index {
    uint32_t linktype = 0;
    uint64_t head_bytes = 0;   // the capture file's bytes before its first record (its header; pcapng: SHB, IDBs)
    uint32_t head_crc = 0;     // CRC-32 of those bytes: the index is this file's
    std::vector<index_chunk> chunks;   // in file order, contiguous from head_bytes
    std::string note;          // a torn or damaged tail: which chunk, and why (its bytes are then not covered)
    uint64_t index_bytes = 0;  // the size of the index file
    std::vector<uint8_t> bytes;   // the index file, which the chunks' serialized sets point into
};

// The name of a capture file's index: FILE.idx, and FILE.idx.part beside
// FILE.part (renamed with it).
std::string index_name_of(const std::string& capture_name);

// Writes an index file: the header, then one entry per chunk, each with its
// own CRC-32, appended as the chunks are made (a reader takes the entries
// up to the first torn or damaged one).
class index_file_writer {
public:
    ~index_file_writer();
    // Creates `path` (replacing it) and writes the header. "" or what failed.
    std::string open(const std::string& path, uint32_t linktype, uint64_t head_bytes, uint32_t head_crc);
    std::string append(const index_chunk& chunk);
    std::string close();
    uint64_t bytes() const { return _bytes; }

private:
    int _fd = -1;
    std::string _path;
    uint64_t _bytes = 0;
};

// Reads the index in `fd` (not closed). "" with `out` filled, or why it
// cannot be used at all (not an index, another version, a damaged header),
// naming `name`. A damaged or torn entry ends the chunks there, with a note.
std::string read_capture_index(int fd, const std::string& name, capture_index& out);

// CRC-32 (zlib's) of `n` bytes, continuing `crc`.
uint32_t index_crc(const void* data, size_t n, uint32_t crc = 0);

// The bytes of a chunk's start that index_chunk::first_crc covers.
constexpr uint64_t index_first_bytes = 16;

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
std::string index_capture_file(const std::string& path, const std::string& index_path, uint64_t chunk_bytes,
                               index_build_result& result);

// `linecap index FILE|DIR...`: parses argv (argv[0] is "index"), indexes,
// prints a summary or one error per file. Returns the exit status.
int index_main(int argc, char** argv);

} // namespace linecap
