// The index and its pruning against libpcap: over random chunks of random
// packets (IPv4 and IPv6, TCP, UDP, ICMP, fragments, VLAN tags, packets cut
// short anywhere), a chunk holding a packet that an expression accepts
// (pcap_offline_filter, as tcpdump -r) is never pruned, and chunks without
// the host, net, port or protocol asked for are. Then the index file: a
// round trip, and a torn or damaged one read up to the damage.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <pcap/pcap.h>

#include <roaring/roaring.h>
#include <unistd.h>

#include "bench/traffic.h"
#include "filters/bpf.h"
#include "query/prune.h"
#include "query/query.h"
#include "tests/support/dpdk_env.h"
#include "writers/capture_index.h"

using namespace linecap;

namespace {

struct packet {
    std::vector<uint8_t> bytes;
    uint32_t caplen;
};

void put16(std::vector<uint8_t>& b, size_t at, uint16_t v)
{
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v)
{
    put16(b, at, static_cast<uint16_t>(v >> 16));
    put16(b, at + 2, static_cast<uint16_t>(v));
}

// An untagged Ethernet frame of `size` bytes (at least 38; zeros past its
// headers) carrying IPv4 protocol `proto` from (src, sport) to (dst, dport).
std::vector<uint8_t> ipv4_frame(size_t size, uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport = 0,
                                uint16_t dport = 0)
{
    std::vector<uint8_t> d(size, 0);
    put16(d, 12, 0x0800);
    d[14] = 0x45;
    d[23] = proto;
    put32(d, 26, src);
    put32(d, 30, dst);
    put16(d, 34, sport);
    put16(d, 36, dport);
    return d;
}

// Addresses and ports from small pools, so that expressions hit and miss.
constexpr uint32_t ipv4_pool[] = {0x0a000001, 0x0a000002, 0x0a010005, 0xc0a80101, 0x08080808, 0xac100001};
constexpr uint16_t port_pool[] = {22, 53, 80, 443, 1234, 8080, 40000};
constexpr uint8_t ipv6_last[] = {1, 2, 0x50};

packet random_packet(std::mt19937& rng)
{
    const auto pick = [&](auto& pool) { return pool[rng() % std::size(pool)]; };
    std::vector<uint8_t> b(120, 0);
    size_t l3 = 14;
    if (rng() % 8 == 0) {   // a VLAN tag
        put16(b, 12, 0x8100);
        put16(b, 14, static_cast<uint16_t>(rng() % 4095));
        l3 = 18;
    }
    const bool v6 = rng() % 3 == 0;
    put16(b, l3 - 2, v6 ? 0x86dd : 0x0800);
    const uint8_t protocols[] = {6, 17, 1, 58, 47};
    const uint8_t proto = protocols[rng() % (v6 ? 5 : 5)];
    size_t l4;
    if (!v6) {
        b[l3] = rng() % 6 == 0 ? 0x46 : 0x45;   // some with options
        b[l3 + 8] = static_cast<uint8_t>(rng());
        b[l3 + 9] = proto;
        put32(b, l3 + 12, pick(ipv4_pool));
        put32(b, l3 + 16, pick(ipv4_pool));
        if (rng() % 6 == 0)
            put16(b, l3 + 6, static_cast<uint16_t>(rng() % 2 == 0 ? 0x2000 : 0x00b9));   // MF, or a later fragment
        l4 = l3 + 4 * (b[l3] & 0xf);
    } else {
        b[l3] = 0x60;
        b[l3 + 6] = proto;
        for (size_t a : {l3 + 8, l3 + 24}) {
            put32(b, a, 0x20010db8);
            b[a + 15] = pick(ipv6_last);
        }
        l4 = l3 + 40;
    }
    put16(b, l4, pick(port_pool));
    put16(b, l4 + 2, pick(port_pool));
    b[l4 + 13] = static_cast<uint8_t>(rng());   // TCP flags
    const uint32_t caplen = rng() % 4 == 0 ? static_cast<uint32_t>(rng() % b.size()) : static_cast<uint32_t>(b.size());
    return {b, caplen};
}

bool accepts(const bpf_program& p, const packet& pkt)
{
    pcap_pkthdr h{};
    h.caplen = pkt.caplen;
    h.len = static_cast<uint32_t>(pkt.bytes.size());
    return pcap_offline_filter(&p, &h, pkt.bytes.data()) != 0;
}

// Rewrites the finished index at `path` (this version, with a summary) as
// an index of `version` 5 or 4 would have been written: no summary sets,
// a directory without the summary's head, its CRC and the trailer to
// match. (The chunks' entries are alike in 4 and 5 but for the block
// table, which a one-packet chunk has not.)
// Rewrites the finished index at `path` (version 7) as one of an older
// version: 6 (its summary's head without the capture file's stamp: 80 bytes
// of its 104), 5 or 4 (no summary).
void rewrite_as_version(const std::string& path, uint32_t version)
{
    std::vector<uint8_t> f(std::filesystem::file_size(path));
    const int fd = open(path.c_str(), O_RDWR);
    REQUIRE(pread(fd, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size()));
    uint64_t directory_offset = 0;
    uint32_t chunks = 0;
    std::memcpy(&directory_offset, f.data() + f.size() - 24, 8);
    std::memcpy(&chunks, f.data() + f.size() - 16, 4);
    // The directory: its magic, the chunks' heads, the summary's head (104
    // bytes); the summary's magic (8 bytes) and sets lie between the last
    // entry and it.
    std::vector<uint8_t> directory(f.begin() + static_cast<ptrdiff_t>(directory_offset), f.end() - 24);
    REQUIRE(directory.size() == 8 + 136 * uint64_t{chunks} + 104);
    uint32_t summary_set_bytes = 8;
    for (size_t i = 0; i < index_field_count; i++) {
        uint32_t n = 0;
        std::memcpy(&n, directory.data() + directory.size() - 104 + 8 * i, 4);
        summary_set_bytes += n;
    }
    if (version == 6) {
        directory.resize(directory.size() - 104 + 80);
        // Its last word was reserved: left as version 7 wrote it (1: a
        // stamp follows), which a reader of version 6 must not take for one.
        summary_set_bytes = 0;   // kept
    } else {
        directory.resize(directory.size() - 104);
    }
    std::vector<uint8_t> out(f.begin(), f.begin() + static_cast<ptrdiff_t>(directory_offset - summary_set_bytes));
    const uint64_t new_offset = out.size();
    out.insert(out.end(), directory.begin(), directory.end());
    const uint32_t crc = index_crc(directory.data(), directory.size());
    out.insert(out.end(), f.end() - 24, f.end());
    std::memcpy(out.data() + out.size() - 24, &new_offset, 8);
    std::memcpy(out.data() + out.size() - 12, &crc, 4);
    std::memcpy(out.data() + 8, &version, 4);
    const uint32_t header_crc = index_crc(out.data(), 28);
    std::memcpy(out.data() + 28, &header_crc, 4);
    REQUIRE(ftruncate(fd, 0) == 0);
    REQUIRE(pwrite(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
    close(fd);
}

index_chunk chunk_of(const std::vector<packet>& packets,
                     index_builder::folding fold = index_builder::folding::when_smaller)
{
    index_builder b(fold);
    for (const packet& p : packets)
        b.add_packet(p.bytes.data(), p.caplen, 1);
    return b.finish(0, 1, false, packets.front().bytes.data());
}

struct compiled {
    bpf_program program{};
    chunk_filter filter;
    bool ok = false;
    // `may_fail`: libpcap may refuse it (some random combinations, such as
    // "vlan and ... and icmp6", are beyond what libpcap 1.10 compiles).
    explicit compiled(const std::string& expression, bool may_fail = false)
    {
        const std::string e = compile_tcpdump_filter(expression, DLT_EN10MB, 0, program);
        INFO(expression << ": " << e);
        if (may_fail && !e.empty())
            return;
        REQUIRE(e.empty());
        REQUIRE(filter.load(program).empty());
        ok = true;
    }
    ~compiled()
    {
        if (ok)
            pcap_freecode(&program);
    }
};

} // namespace

TEST_CASE("prune: a chunk with a packet the expression accepts is never pruned")
{
    const std::vector<std::string> terms = {
        "host 10.0.0.1", "host 10.0.0.2", "src host 192.168.1.1", "dst host 8.8.8.8", "net 10.0.0.0/8",
        "net 10.1.0.0/16", "net 172.16.0.0/12", "port 443", "port 53", "src port 22", "dst port 8080",
        "portrange 1000-2000", "tcp", "udp", "icmp", "ip proto 47", "ip6", "ip6 host 2001:db8::1",
        "ip6 host 2001:db8::50", "host 2001:db8::2", "ip6 net 2001:db8::/32", "tcp port 80", "udp port 53",
        "tcp[13] & 2 != 0", "tcp[tcpflags] & tcp-syn != 0", "ip[8] > 64", "greater 100", "less 60",
        "vlan and host 10.0.0.1", "icmp6", "ip[6:2] & 0x1fff != 0", "ether proto 0x86dd", "udp[0:2] = 53",
        "ip host 10.1.0.5 and tcp", "host 1.2.3.4", "port 9999",
    };
    std::mt19937 rng(2026);
    std::vector<std::string> expressions = terms;
    for (int i = 0; i < 60; i++) {   // and/or/not combinations of them
        const std::string& a = terms[rng() % terms.size()];
        const std::string& b = terms[rng() % terms.size()];
        const char* op = rng() % 2 == 0 ? " and " : " or ";
        expressions.push_back((rng() % 3 == 0 ? "not (" + a + ")" : "(" + a + ")") + op + "(" + b + ")");
    }
    std::vector<std::vector<packet>> chunks;
    for (int c = 0; c < 60; c++) {
        std::vector<packet> packets;
        const int n = 1 + static_cast<int>(rng() % 12);
        for (int i = 0; i < n; i++)
            packets.push_back(random_packet(rng));
        chunks.push_back(std::move(packets));
    }
    // Each chunk indexed exactly, and with its address sets folded: the
    // folded index may answer "maybe" where the exact one says no, never
    // the other way round.
    std::vector<index_chunk> indexed, folded;
    for (const auto& packets : chunks) {
        indexed.push_back(chunk_of(packets, index_builder::folding::never));
        folded.push_back(chunk_of(packets, index_builder::folding::always));
        REQUIRE(folded.back().folded(index_field::ipv4_address));
    }
    size_t matching = 0, pruned = 0, pruned_folded = 0;
    for (const std::string& expression : expressions) {
        const bool combination = &expression - expressions.data() >= static_cast<std::ptrdiff_t>(terms.size());
        compiled c(expression, combination);
        if (!c.ok)
            continue;
        for (size_t i = 0; i < chunks.size(); i++) {
            bool any = false;
            for (const packet& p : chunks[i])
                any = any || accepts(c.program, p);
            const bool maybe = c.filter.may_match(indexed[i]);
            const bool maybe_folded = c.filter.may_match(folded[i]);
            INFO(expression << ", chunk " << i);
            if (any)
                REQUIRE(maybe);
            if (maybe)
                REQUIRE(maybe_folded);
            matching += any;
            pruned += !maybe;
            pruned_folded += !maybe_folded;
        }
    }
    CHECK(matching > 500);        // the test asks questions with answers
    CHECK(pruned > 500);          // and the index answers "no" to many
    CHECK(pruned_folded > 250);   // folded too, if less often
    CHECK(pruned_folded < pruned);
}

TEST_CASE("prune: a folded set answers from the halves of its values")
{
    // 10.0.0.1 and 192.168.1.1: halves 0a00, c0a8 and 0001, 0101.
    std::vector<packet> packets;
    for (uint32_t a : {0x0a000001u, 0xc0a80101u}) {
        std::vector<uint8_t> b(60, 0);
        put16(b, 12, 0x0800);
        b[14] = 0x45;
        b[23] = 17;
        put32(b, 26, a);
        put32(b, 30, a);
        packets.push_back({b, 60});
    }
    const index_chunk exact = chunk_of(packets, index_builder::folding::never);
    const index_chunk halves = chunk_of(packets, index_builder::folding::always);
    CHECK_FALSE(exact.folded(index_field::ipv4_address));
    CHECK(halves.folded(index_field::ipv4_address));
    CHECK(halves.set_size(index_field::ipv4_address) == 4);
    const auto both = [&](const char* expression) {
        compiled c(expression);
        return std::pair{c.filter.may_match(exact), c.filter.may_match(halves)};
    };
    CHECK(both("host 10.0.0.1") == std::pair{true, true});
    CHECK(both("host 10.0.1.1") == std::pair{false, true});      // 0a00 and 0101 are there, apart
    CHECK(both("host 10.0.0.2") == std::pair{false, false});     // no low half 0002
    CHECK(both("host 1.2.3.4") == std::pair{false, false});
    CHECK(both("net 192.168.0.0/16") == std::pair{true, true});
    CHECK(both("net 192.169.0.0/16") == std::pair{false, false});
    CHECK(both("net 10.0.0.0/24") == std::pair{true, true});
    CHECK(both("net 10.0.2.0/24") == std::pair{false, false});   // no low half 02xx
    CHECK(both("ip[12:4] > 0xc0a80101") == std::pair{false, false});
    CHECK(both("ip[12:4] > 0xc0a80100") == std::pair{true, true});
    CHECK(both("ip[12:4] >= 0xc0a80101") == std::pair{true, true});
    CHECK(both("ip[12:4] & 0x00ff0000 != 0") == std::pair{true, true});
    CHECK(both("ip[12:4] & 0x0000fe00 != 0") == std::pair{false, false});
}

TEST_CASE("prune: chunks without the host, net, port or protocol asked for are pruned")
{
    std::mt19937 rng(7);
    std::vector<packet> packets;
    for (int i = 0; i < 200; i++)
        packets.push_back(random_packet(rng));
    const index_chunk all = chunk_of(packets);
    for (const char* expression : {"host 1.2.3.4", "net 11.0.0.0/8", "port 9999", "tcp port 9999",
                                   "ip proto 89", "ip6 host 2001:db8::99", "host 1.2.3.4 or port 9999",
                                   "host 10.0.0.1 and port 9999", "portrange 50000-60000",
                                   "src host 1.2.3.4 and tcp[13] & 2 != 0"}) {
        compiled c(expression);
        INFO(expression);
        CHECK_FALSE(c.filter.may_match(all));
    }
    for (const char* expression : {"host 10.0.0.1", "net 10.0.0.0/8", "port 443", "not host 1.2.3.4", "tcp",
                                   "ip6 host 2001:db8::50", "greater 10", "ether host 00:00:00:00:00:01"}) {
        compiled c(expression);
        INFO(expression);
        CHECK(c.filter.may_match(all));
    }
    // A chunk of nothing but ARP holds no IPv4 address: any host is pruned.
    std::vector<uint8_t> arp(60, 0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    index_builder b;
    b.add_packet(arp.data(), 60, 5);
    const index_chunk arps = b.finish(0, 60, false, arp.data());
    compiled host("host 10.0.0.1");
    CHECK_FALSE(host.filter.may_match(arps));
    compiled is_arp("arp");
    CHECK(is_arp.filter.may_match(arps));
}

TEST_CASE("capture index file: a round trip, then torn and damaged entries")
{
    char dir[] = "/tmp/linecap-index-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/a.idx";
    std::mt19937 rng(11);
    index_file_writer w;
    REQUIRE(w.open(path, 1, 24, 0x1234).empty());
    uint64_t offset = 24;
    std::vector<std::vector<packet>> chunks(3);
    for (auto& packets : chunks) {
        index_builder b;
        for (int i = 0; i < 50; i++) {
            packets.push_back(random_packet(rng));
            b.add_packet(packets.back().bytes.data(), packets.back().caplen, 1000 + static_cast<uint64_t>(i));
        }
        REQUIRE(w.append(b.finish(offset, 5000, false, packets.front().bytes.data())).empty());
        offset += 5000;
    }
    REQUIRE(w.close().empty());
    const uint64_t size = w.bytes();

    int fd = open(path.c_str(), O_RDONLY);
    capture_index index;
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    CHECK(index.note.empty());
    CHECK(index.head_bytes == 24);
    CHECK(index.head_crc == 0x1234);
    REQUIRE(index.chunks.size() == 3);
    CHECK(index.chunks[1].offset == 5024);
    CHECK(index.chunks[2].packets == 50);
    CHECK(index.chunks[0].min_ns == 1000);
    CHECK(index.chunks[0].max_ns == 1049);
    for (size_t i = 0; i < 3; i++) {
        const index_chunk again = chunk_of(chunks[i]);
        for (size_t f = 0; f < index_field_count; f++)
            CHECK(index.chunks[i].set_size(static_cast<index_field>(f)) == again.set_size(static_cast<index_field>(f)));
    }

    CHECK(index.by_directory);   // finished: read by its directory
    const uint64_t second_entry = index.chunks[1].stored[0].offset - 136;
    const uint64_t entries_end = index.chunks[2].stored[index_field_count - 1].offset +
                                 index.chunks[2].stored[index_field_count - 1].size;
    // The summary's magic and sets, then the directory: its magic, 3
    // heads, the summary's head, the trailer.
    REQUIRE(index.summary != nullptr);
    uint64_t summary_sets = 0;
    for (const stored_set& s : index.summary->stored)
        summary_sets += s.size;
    CHECK(size == entries_end + 8 + summary_sets + 8 + 3 * 136 + 104 + 24);
    CHECK(index.summary->stored[0].offset == entries_end + 8);
    CHECK(index.summary->packets == 150);
    CHECK(index.summary->offset == 24);
    CHECK(index.summary->bytes == 15000);
    // Each of its sets the union of the chunks' (the packets come from
    // small pools: the chunks share most values).
    for (size_t f = 0; f < index_field_count; f++) {
        const auto field = static_cast<index_field>(f);
        roaring_ptr all(roaring_bitmap_create());
        for (size_t i = 0; i < 3; i++)
            roaring_bitmap_or_inplace(all.get(), chunk_of(chunks[i]).set(field));
        INFO("set " << f);
        CHECK(index.summary->set_size(field) == roaring_bitmap_get_cardinality(all.get()));
    }
    const auto damage = [&](uint64_t at) {
        const int rw = open(path.c_str(), O_RDWR);
        uint8_t b = 0;
        REQUIRE(pread(rw, &b, 1, static_cast<off_t>(at)) == 1);
        b ^= 0x5a;
        REQUIRE(pwrite(rw, &b, 1, static_cast<off_t>(at)) == 1);
        close(rw);
    };
    const auto read_again = [&] {
        const int rd = open(path.c_str(), O_RDONLY);
        REQUIRE(read_capture_index(rd, path, index).empty());
        close(rd);
    };

    // A set's byte changed: its chunk's other sets are read, that one is
    // not (its chunk is then read whole), and a note says which.
    damage(index.chunks[1].stored[0].offset + 3);
    read_again();
    REQUIRE(index.chunks.size() == 3);
    CHECK(index.chunks[1].set(index_field::ipv4_address) == nullptr);
    CHECK(index.chunks[1].any(index_field::ipv4_address));   // unreadable: may hold anything
    CHECK(index.chunks[1].holds(index_field::ipv4_address, '=', UINT32_MAX, 1));   // unreadable: may hold anything
    CHECK(index.chunks[1].set(index_field::l4_word) != nullptr);
    CHECK(index.damage_note() == path + ": 1 set unreadable (the IPv4 address set of the chunk at byte 5024 of the "
                                        "capture file, at byte " +
                                        std::to_string(index.chunks[1].stored[0].offset) +
                                        ": damaged (its CRC does not match)): its chunk read whole");
    damage(index.chunks[1].stored[0].offset + 3);   // back as it was

    // The directory's trailer cut short: read whole, entry by entry, all three.
    REQUIRE(truncate(path.c_str(), static_cast<off_t>(size - 10)) == 0);
    read_again();
    CHECK_FALSE(index.by_directory);
    CHECK(index.chunks.size() == 3);
    CHECK(index.note.empty());
    CHECK(index.chunks[2].set_size(index_field::l4_word) == chunk_of(chunks[2]).set_size(index_field::l4_word));
    // Cut inside the summary's sets: the same, the walk stopping at the
    // summary's magic.
    REQUIRE(truncate(path.c_str(), static_cast<off_t>(entries_end + 8 + 5)) == 0);
    read_again();
    CHECK_FALSE(index.by_directory);
    CHECK(index.chunks.size() == 3);
    CHECK(index.note.empty());
    CHECK(index.summary == nullptr);
    // The last entry cut short: the first two are read, a note names the third.
    REQUIRE(truncate(path.c_str(), static_cast<off_t>(entries_end - 10)) == 0);
    read_again();
    CHECK(index.chunks.size() == 2);
    CHECK(index.note.find("chunk 3 is torn") != std::string::npos);
    CHECK(index.note.find("from byte 10024 is read whole") != std::string::npos);
    // A byte of the second entry's head changed: its CRC says so.
    damage(second_entry + 20);
    read_again();
    CHECK(index.chunks.size() == 1);
    CHECK(index.note.find("chunk 2 is damaged (its CRC does not match)") != std::string::npos);
    // Not an index at all.
    const std::string other = std::string(dir) + "/b.idx";
    fd = open(other.c_str(), O_RDWR | O_CREAT, 0600);
    REQUIRE(write(fd, "0123456789abcdef0123456789abcdef0123", 36) == 36);
    CHECK(read_capture_index(fd, other, index) == other + ": not a linecap index (it does not start with LCINDEX)");
    close(fd);
    unlink(path.c_str());
    unlink(other.c_str());
    rmdir(dir);
}

TEST_CASE("index: every tunnel the query's walk finds is in its chunk's sets, and others are not")
{
    // Every Ethernet capture of the corpus, each file one chunk: whatever
    // read_tunnel_keys finds in a packet (the query's check), the chunk
    // holds (the builder walks only the packets that might be in a tunnel).
    const std::string dir = LINECAP_CORPUS_DIR;
    if (!std::filesystem::is_directory(dir)) {
        WARN("the tcpdump corpus is not at " << dir << ": skipped");
        return;
    }
    size_t tunnels = 0, with_id = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(entry.path().c_str(), errbuf);
        if (p == nullptr)
            continue;
        if (pcap_datalink(p) != DLT_EN10MB) {
            pcap_close(p);
            continue;
        }
        // And each frame again inside one VLAN tag, then two: the builder
        // walks a tagged frame only when what follows its tags might be a
        // tunnel.
        for (int tags = 0; tags <= 2; tags++) {
            index_builder b;
            std::vector<tunnel_keys> found;
            pcap_pkthdr* h;
            const u_char* d;
            std::vector<uint8_t> tagged;
            while (pcap_next_ex(p, &h, &d) == 1) {
                uint32_t caplen = h->caplen;
                if (tags > 0 && caplen >= 14) {
                    tagged.assign(d, d + 12);
                    for (int t = 0; t < tags; t++)
                        tagged.insert(tagged.end(), {t == 0 && tags == 2 ? uint8_t{0x88} : uint8_t{0x81},
                                                     t == 0 && tags == 2 ? uint8_t{0xa8} : uint8_t{0x00}, 0x00, 0x07});
                    tagged.insert(tagged.end(), d + 12, d + caplen);
                    d = tagged.data();
                    caplen = static_cast<uint32_t>(tagged.size());
                }
                b.add_packet(d, caplen, 1);
                if (tunnel_keys k; read_tunnel_keys(d, caplen, k))
                    found.push_back(k);
            }
            const uint8_t none[16] = {};
            const index_chunk c = b.finish(0, 1, false, none);
            INFO(entry.path().filename().string() << ", in " << tags << " VLAN tags");
            for (const tunnel_keys& k : found) {
                if (k.family != 0) {
                    tunnels++;
                    CHECK(c.holds(index_field::inner_address, '=', UINT32_MAX, tunnel_keys::address_key(k.family, k.src)));
                    CHECK(c.holds(index_field::inner_address, '=', UINT32_MAX, tunnel_keys::address_key(k.family, k.dst)));
                }
                if (k.has_id) {
                    with_id++;
                    CHECK(c.holds(index_field::tunnel_id, '=', UINT32_MAX, k.id));
                }
            }
            if (found.empty()) {   // no tunnel, no tunnel keys
                CHECK(c.set_size(index_field::inner_address) == 0);
                CHECK(c.set_size(index_field::tunnel_id) == 0);
            }
            if (tags < 2) {   // the file again, from its start
                pcap_close(p);
                p = pcap_open_offline(entry.path().c_str(), errbuf);
                REQUIRE(p != nullptr);
            }
        }
        pcap_close(p);
    }
    CHECK(tunnels > 300);   // the corpus's VXLAN, GENEVE, GRE, ERSPAN and IP-in-IP captures
    CHECK(with_id > 150);
}

TEST_CASE("query: --inner-host takes an address, a prefix or a range, in the words of a spec's \"src\"")
{
    ip_range r;
    REQUIRE(parse_inner_host("10.4.2.50", r).empty());
    CHECK(r.family == 4);
    CHECK(r.lo == r.hi);
    REQUIRE(parse_inner_host("10.4.2.0/24", r).empty());
    CHECK(format_address(4, r.lo) == "10.4.2.0");
    CHECK(format_address(4, r.hi) == "10.4.2.255");
    REQUIRE(parse_inner_host("2001:db8::/32", r).empty());
    CHECK(r.family == 6);
    CHECK(format_address(6, r.hi) == "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
    REQUIRE(parse_inner_host("10.4.2.1-10.4.2.9", r).empty());
    CHECK(format_address(4, r.hi) == "10.4.2.9");
    CHECK(parse_inner_host("10.4.2.50/24", r) == "10.4.2.50/24 has host bits set: did you mean 10.4.2.0/24?");
    CHECK(parse_inner_host("10.4.2.0/33", r) == "10.4.2.0/33: prefix length 33 is too long for IPv4: give 0 to 32");
    CHECK(parse_inner_host("10.4.2.9-10.4.2.1", r) ==
          "10.4.2.9-10.4.2.1 is a reversed range: the first address must be the lower");
    CHECK(parse_inner_host("foo", r) == "foo is not an IPv4 or IPv6 address, prefix or range");
    // A side left out is said to be missing, not named as an empty string.
    CHECK(parse_inner_host("/8", r) == "/8: the address before the / is missing: give a prefix as 10.4.2.0/24");
    CHECK(parse_inner_host("10.0.0.1-", r) ==
          "10.0.0.1-: the address after the - is missing: give a range as 10.4.2.1-10.4.2.9");
    CHECK(parse_inner_host("-10.0.0.9", r) ==
          "-10.0.0.9: the address before the - is missing: give a range as 10.4.2.1-10.4.2.9");
    CHECK(parse_inner_host("", r) ==
          "no address: give an address (10.4.2.50), a prefix (10.4.2.0/24) or a range (10.4.2.1-10.4.2.9)");
    // The same words as a spec's "src" (core/spec.h), after its field's path.
    session_spec spec;
    const std::string e = parse_session_spec_text(R"({"match": [{"src": ["10.4.2.50/24"]}]})", spec);
    CHECK(e.ends_with("10.4.2.50/24 has host bits set: did you mean 10.4.2.0/24?"));
}

TEST_CASE("index: the values an empty recent-values cache holds are found like any other")
{
    // The cache marks its empty slots with 0 and 1 (index_builder::reset):
    // the addresses 0.0.0.0 and 0.0.0.1 are kept all the same, in the
    // chunk after a finished one too.
    index_builder b;
    const std::vector<uint8_t> p = ipv4_frame(60, 17, 0, 1);
    for (int round = 0; round < 2; round++) {
        b.add_packet(p.data(), static_cast<uint32_t>(p.size()), 1);
        const index_chunk c = b.finish(0, 60, false, p.data());
        CHECK(c.holds(index_field::ipv4_address, '=', UINT32_MAX, 0));
        CHECK(c.holds(index_field::ipv4_address, '=', UINT32_MAX, 1));
        CHECK(c.set_size(index_field::ipv4_address) == 2);
    }
}

TEST_CASE("index: a flow met again adds nothing new, and the next chunk takes its keys again")
{
    // The builder skips the keys of a flow it met lately in the chunk
    // (index_builder's flow cache): each packet taken once, or three times
    // with the others in between and twice in a row, makes the same sets;
    // and so does the chunk after a finished one, whose cache starts empty.
    std::mt19937 rng(21);
    std::vector<packet> packets;
    for (int i = 0; i < 3000; i++)
        packets.push_back(random_packet(rng));
    // And flows whose keys are theirs alone: 300 of IPv4, 200 of IPv6.
    for (uint32_t i = 0; i < 500; i++) {
        std::vector<uint8_t> b(80, 0);
        const bool v6 = i >= 300;
        put16(b, 12, v6 ? 0x86dd : 0x0800);
        const size_t l4 = v6 ? 54 : 34;
        if (v6) {
            b[14] = 0x60;
            b[20] = 17;
            put32(b, 22, 0x20010db8);
            put32(b, 34, 0xa0000000 + i);
            put32(b, 38, 0x20010db8);
            put32(b, 50, 0xb0000000 + i);
        } else {
            b[14] = 0x45;
            b[23] = 6;
            put32(b, 26, 0x0b000000 + i);
            put32(b, 30, 0x0c000000 + i);
        }
        put16(b, l4, static_cast<uint16_t>(10000 + i));
        put16(b, l4 + 2, static_cast<uint16_t>(20000 + i));
        packets.push_back({b, static_cast<uint32_t>(b.size())});
    }
    index_builder once(index_builder::folding::never);
    for (const packet& p : packets)
        once.add_packet(p.bytes.data(), p.caplen, 1);
    const index_chunk reference = once.finish(0, 1, false, packets.front().bytes.data());
    CHECK(reference.set_size(index_field::ipv4_address) > 0);
    CHECK(reference.set_size(index_field::ipv6_word3) > 0);
    CHECK(reference.set_size(index_field::l4_word) > 0);
    index_builder again(index_builder::folding::never);
    for (int chunk = 0; chunk < 2; chunk++) {
        for (int round = 0; round < 3; round++)
            for (const packet& p : packets)
                for (int twice = 0; twice < 1 + (round == 1); twice++)
                    again.add_packet(p.bytes.data(), p.caplen, 1);
        const index_chunk c = again.finish(0, 1, false, packets.front().bytes.data());
        for (size_t f = 0; f < index_field_count; f++) {
            INFO("chunk " << chunk << ", set " << f);
            const roaring_bitmap_t* got = c.set(static_cast<index_field>(f));
            const roaring_bitmap_t* want = reference.set(static_cast<index_field>(f));
            REQUIRE(got != nullptr);
            REQUIRE(want != nullptr);
            CHECK(roaring_bitmap_equals(got, want));
        }
    }
}

TEST_CASE("index: an IPv4 packet taken inline (add_packet4) gives the sets, count and times add_packet gives")
{
    // The writer takes an unmarked IPv4 record through add_packet4 (the
    // flow cache asked once; its time as a marked record's, the chunk's
    // times begun), the rest through add_packet: over flows met again and
    // new ones (more than the cache holds), ICMP's changing words, IPv6,
    // and times out of order, the chunk must be add_packet's alone.
    std::mt19937 rng(33);
    std::vector<packet> packets;
    for (int i = 0; i < 3000; i++)
        packets.push_back(random_packet(rng));
    for (uint32_t i = 0; i < 6000; i++) {   // 6000 IPv4 flows: more than the cache's 2048 entries
        std::vector<uint8_t> b(80, 0);
        put16(b, 12, 0x0800);
        b[14] = 0x45;
        b[23] = i % 5 == 0 ? 1 : 6;   // ICMP: its half-words its own
        put32(b, 26, 0x0b000000 + i % 3000);
        put32(b, 30, 0x0c000000 + i);
        put16(b, 34, static_cast<uint16_t>(10000 + i));
        put16(b, 36, static_cast<uint16_t>(20000 + i));
        packets.push_back({b, static_cast<uint32_t>(b.size())});
    }
    index_builder by_packet(index_builder::folding::never), by_packet4(index_builder::folding::never);
    uint64_t inline_taken = 0;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < packets.size(); i++) {
            const packet& p = packets[i];
            // Some out of order, an IPv4 flow's packet the least of all.
            const uint64_t back = i % 7 != 3 ? 0 : i >= 3000 ? 60000 : 5000;
            const uint64_t ts = 1000000 + i * 10 - back + static_cast<uint64_t>(round);
            by_packet.add_packet(p.bytes.data(), p.caplen, ts);
            if (round == 0 && i == 0)
                by_packet4.begin_times(ts);   // as the indexer's add() does at a chunk's start
            if (index_flow_of(p.bytes.data(), p.caplen) == index_flow_kind::ipv4) {
                by_packet4.add_packet4(p.bytes.data(), p.caplen, ts);
                inline_taken++;
            } else {
                by_packet4.add_packet(p.bytes.data(), p.caplen, ts);
            }
        }
    CHECK(inline_taken > packets.size());
    const index_chunk want = by_packet.finish(0, 1, false, packets.front().bytes.data());
    const index_chunk got = by_packet4.finish(0, 1, false, packets.front().bytes.data());
    CHECK(got.packets == want.packets);
    CHECK(got.min_ns == want.min_ns);
    CHECK(got.max_ns == want.max_ns);
    CHECK(want.min_ns < 975000);   // an IPv4 flow's packet out of order was the least
    for (size_t f = 0; f < index_field_count; f++) {
        INFO("set " << f);
        const roaring_bitmap_t* g = got.set(static_cast<index_field>(f));
        const roaring_bitmap_t* w = want.set(static_cast<index_field>(f));
        REQUIRE(g != nullptr);
        REQUIRE(w != nullptr);
        CHECK(roaring_bitmap_equals(g, w));
    }
}

TEST_CASE("index: a flow's two directions share a cache entry, and a reply to a tunnel port is walked")
{
    // The flow cache holds both directions of a flow in one entry, and a
    // packet that hits it is not walked for a tunnel. A UDP flow from a
    // tunnel's port (VXLAN's 4789 and 8472, GENEVE's 6081) is plain one
    // way and a tunnel the other: the tunnel's inner addresses and its VNI
    // must be in the chunk whichever came first. IPv4 and IPv6 outer.
    traffic::frame_spec inner_spec;
    inner_spec.src = {172, 16, 0, 7};
    inner_spec.dst = {172, 16, 0, 9};
    inner_spec.src_port = 1234;
    inner_spec.dst_port = 80;
    const std::vector<uint8_t> inner = traffic::build_frame(inner_spec);
    for (const auto kind : {traffic::tunnel_kind::vxlan, traffic::tunnel_kind::geneve})
        for (const uint16_t port : {uint16_t{0}, uint16_t{8472}})
            for (const int version : {4, 6}) {
                if (kind == traffic::tunnel_kind::geneve && port != 0)
                    continue;
                traffic::tunnel_frame t;
                t.kind = kind;
                t.outer_version = version;
                t.udp_port = port;
                t.id = 4242;
                if (version == 6) {
                    t.outer_src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
                    t.outer_dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
                }
                const std::vector<uint8_t> tunnel = traffic::encapsulate(t, inner);
                // The reply: addresses and ports swapped, what follows the
                // UDP header left as it is (no tunnel is walked from a
                // source port).
                std::vector<uint8_t> reply = tunnel;
                const size_t src = version == 4 ? 26 : 22, alen = version == 4 ? 4 : 16, l4 = version == 4 ? 34 : 54;
                std::swap_ranges(reply.begin() + static_cast<long>(src), reply.begin() + static_cast<long>(src + alen),
                                 reply.begin() + static_cast<long>(src + alen));
                std::swap_ranges(reply.begin() + static_cast<long>(l4), reply.begin() + static_cast<long>(l4 + 2),
                                 reply.begin() + static_cast<long>(l4 + 2));
                tunnel_keys k;
                REQUIRE(read_tunnel_keys(tunnel.data(), static_cast<uint32_t>(tunnel.size()), k));
                REQUIRE_FALSE(read_tunnel_keys(reply.data(), static_cast<uint32_t>(reply.size()), k));
                for (const bool reply_first : {true, false}) {
                    index_builder b(index_builder::folding::never);
                    for (int i = 0; i < 3; i++) {
                        const std::vector<uint8_t>& first = reply_first ? reply : tunnel;
                        const std::vector<uint8_t>& second = reply_first ? tunnel : reply;
                        b.add_packet(first.data(), static_cast<uint32_t>(first.size()), 1);
                        b.add_packet(second.data(), static_cast<uint32_t>(second.size()), 1);
                    }
                    const index_chunk c = b.finish(0, 1, false, tunnel.data());
                    INFO("tunnel kind " << static_cast<int>(kind) << ", port " << port << ", IPv" << version
                                        << (reply_first ? ", the reply first" : ", the tunnel first"));
                    CHECK(c.holds(index_field::inner_address, '=', UINT32_MAX, tunnel_keys::address_key(4, inner.data() + 26)));
                    CHECK(c.holds(index_field::inner_address, '=', UINT32_MAX, tunnel_keys::address_key(4, inner.data() + 30)));
                    CHECK(c.holds(index_field::tunnel_id, '=', UINT32_MAX, 4242));
                    CHECK(c.set_size(index_field::inner_address) == 2);
                }
            }

    // A plain flow's two directions make the sets of the request alone:
    // the keys do not depend on the direction, which is what lets both
    // share an entry.
    for (const int version : {4, 6}) {
        traffic::frame_spec f;
        f.ip_version = version;
        f.protocol = 17;
        f.src_port = 40000;
        f.dst_port = 53;
        f.src = {10, 1, 2, 3};
        f.dst = {10, 4, 5, 6};
        if (version == 6) {
            f.src = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
            f.dst = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x56, 0x78};
        }
        const std::vector<uint8_t> request = traffic::build_frame(f);
        std::swap(f.src, f.dst);
        std::swap(f.src_port, f.dst_port);
        const std::vector<uint8_t> reply = traffic::build_frame(f);
        index_builder both(index_builder::folding::never), alone(index_builder::folding::never);
        for (int i = 0; i < 4; i++) {
            both.add_packet(request.data(), static_cast<uint32_t>(request.size()), 1);
            both.add_packet(reply.data(), static_cast<uint32_t>(reply.size()), 1);
        }
        alone.add_packet(request.data(), static_cast<uint32_t>(request.size()), 1);
        const index_chunk c = both.finish(0, 1, false, request.data()), a = alone.finish(0, 1, false, request.data());
        for (size_t field = 0; field < index_field_count; field++) {
            INFO("IPv" << version << ", set " << field);
            CHECK(roaring_bitmap_equals(c.set(static_cast<index_field>(field)), a.set(static_cast<index_field>(field))));
        }
        CHECK(c.holds(index_field::l4_word, '=', UINT32_MAX, 53));
        CHECK(c.holds(index_field::l4_word, '=', UINT32_MAX, 40000));
    }
}

TEST_CASE("capture index file: a directory whose trailer does not add up is not used")
{
    char dir[] = "/tmp/linecap-index-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/a.idx";
    std::mt19937 rng(5);
    index_file_writer w;
    REQUIRE(w.open(path, 1, 24, 0).empty());
    index_builder b;
    const packet p = random_packet(rng);
    b.add_packet(p.bytes.data(), p.caplen, 1);
    REQUIRE(w.append(b.finish(24, 1000, false, p.bytes.data())).empty());
    REQUIRE(w.close().empty());
    const uint64_t size = w.bytes();
    // A trailer whose sum wraps to the file's size (with the magic and the
    // summary's head): 2^32 - 1 chunks and an offset just short of 2^64 (read as it is, the reader would ask
    // for hundreds of GiB).
    struct {
        uint64_t directory_offset;
        uint32_t chunks;
        uint32_t crc;
        char magic[8];
    } t{size - 32 - 80 - uint64_t{0xffffffff} * 136, 0xffffffff, 0, {'L', 'C', 'I', 'D', 'X', 'E', 'N', 'D'}};
    static_assert(sizeof t == 24);
    const int fd = open(path.c_str(), O_RDWR);
    REQUIRE(pwrite(fd, &t, sizeof t, static_cast<off_t>(size - sizeof t)) == sizeof t);
    capture_index index;
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    CHECK_FALSE(index.by_directory);   // read entry by entry instead
    CHECK(index.chunks.size() == 1);
    CHECK(index.note.empty());
    CHECK(index.chunks[0].set(index_field::l4_word) != nullptr);   // its sets read from the whole file
    unlink(path.c_str());
    rmdir(dir);
}

TEST_CASE("chunk blocks: a block may match a host or net exactly when one of its packets does, through the file")
{
    // 400 records of 100 bytes from byte 24, in a chunk of 40 000 bytes:
    // 8 blocks of 50 records (a block starts at the first record 5000
    // bytes or more past the one before).
    std::mt19937 rng(21);
    index_builder b;
    b.set_chunk_bytes(40000);
    std::vector<packet> packets;
    std::vector<std::array<uint8_t, 16>> firsts;
    for (int i = 0; i < 400; i++) {
        packets.push_back(random_packet(rng));
        std::array<uint8_t, 16>& first = firsts.emplace_back();
        for (auto& x : first)
            x = static_cast<uint8_t>(rng());
        b.begin_record(24 + 100 * static_cast<uint64_t>(i), first.data());
        b.add_packet(packets.back().bytes.data(), packets.back().caplen, 1000 + static_cast<uint64_t>(i));
    }
    const index_chunk built = b.finish(24, 40000, false, firsts[0].data());

    char dir[] = "/tmp/linecap-blocks-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/a.idx";
    index_file_writer w;
    REQUIRE(w.open(path, 1, 24, 0x1234).empty());
    REQUIRE(w.append(built).empty());
    REQUIRE(w.close().empty());
    capture_index index;
    int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    REQUIRE(index.chunks.size() == 1);

    for (const index_chunk* c : {&built, static_cast<const index_chunk*>(&index.chunks[0])}) {
        const index_blocks* blocks = c->blocks();
        REQUIRE(blocks != nullptr);
        REQUIRE(blocks->places.size() == 8);
        for (size_t j = 0; j < 8; j++) {
            CHECK(blocks->places[j].offset == 24 + 5000 * j);
            CHECK(blocks->places[j].bytes == 5000);
            CHECK(blocks->places[j].packets == 50);
            CHECK(blocks->places[j].first_crc == index_crc(firsts[50 * j].data(), 16));
        }
        // Each host and net of the pool, and one nowhere: block j may
        // match exactly when libpcap accepts one of its 50 packets.
        std::vector<std::string> expressions = {"host 10.9.9.9", "net 10.0.0.0/8", "net 10.1.0.0/16",
                                                "src net 192.168.0.0/16", "host 10.0.0.1 and tcp"};
        for (const uint32_t a : ipv4_pool)
            expressions.push_back(fmt::format("host {}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255));
        size_t pruned = 0;
        for (const std::string& e : expressions) {
            compiled q(e);
            for (size_t j = 0; j < 8; j++) {
                bool accepted = false;
                for (size_t i = 50 * j; i < 50 * (j + 1); i++)
                    accepted |= accepts(q.program, packets[i]);
                INFO(e << ", block " << j);
                const bool may = q.filter.may_match(*c, static_cast<int>(j));
                CHECK((may || !accepted));   // never pruned when a packet matches
                if (e.find(" and ") == std::string::npos)
                    CHECK(may == accepted);   // and, for an address alone, exact
                pruned += may ? 0 : 1;
            }
        }
        CHECK(pruned > 8);
    }

    // The table's bytes damaged: no blocks (the chunk is read whole), and
    // a note says why.
    const uint64_t table_at = index.chunks[0].stored_blocks.offset;
    REQUIRE(index.chunks[0].stored_blocks.size == 4 + 8 * 12 + index.chunks[0].set_size(index_field::ipv4_address));
    const int rw = open(path.c_str(), O_RDWR);
    uint8_t x = 0;
    REQUIRE(pread(rw, &x, 1, static_cast<off_t>(table_at + 5)) == 1);
    x ^= 0x5a;
    REQUIRE(pwrite(rw, &x, 1, static_cast<off_t>(table_at + 5)) == 1);
    close(rw);
    fd = open(path.c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    CHECK(index.chunks[0].blocks() == nullptr);
    CHECK(index.damage_note() == path + ": 1 set unreadable (the block table of the chunk at byte 24 of the capture "
                                        "file, at byte " + std::to_string(table_at) +
                                        ": damaged (its CRC does not match)): its chunk read whole");

    // The capture file's stamp (version 7) is read back as written.
    const capture_stamp stamp{3216660, {1700000000, 123456789}};
    for (const bool stamped : {true, false}) {
        index_file_writer w;
        index_builder b;
        b.add_packet(packets[0].bytes.data(), packets[0].caplen, 1);
        REQUIRE(w.open(path, 1, 24, 0x1234).empty());
        REQUIRE(w.append(b.finish(24, 100, false, firsts[0].data())).empty());
        REQUIRE(w.close(true, stamped ? std::optional(stamp) : std::nullopt).empty());
        fd = open(path.c_str(), O_RDONLY);
        REQUIRE(read_capture_index(fd, path, index).empty());
        close(fd);
        CHECK(index.summary != nullptr);
        REQUIRE(index.stamp.has_value() == stamped);
        if (stamped) {
            CHECK(index.stamp->bytes == 3216660);
            CHECK(index.stamp->mtime.tv_sec == 1700000000);
            CHECK(index.stamp->mtime.tv_nsec == 123456789);
        }
    }

    // Indexes of version 6 (before the stamp), 5 (before the summary) and 4
    // (before blocks) are read by their directories: no stamp, in 5 and 4
    // no summary, and in 4 no blocks.
    for (const uint32_t version : {6u, 5u, 4u}) {
        INFO("version " << version);
        index_file_writer old;
        index_builder b;
        b.add_packet(packets[0].bytes.data(), packets[0].caplen, 1);
        REQUIRE(old.open(path, 1, 24, 0x1234).empty());
        REQUIRE(old.append(b.finish(24, 100, false, firsts[0].data())).empty());
        REQUIRE(old.close(true, stamp).empty());
        rewrite_as_version(path, version);
        fd = open(path.c_str(), O_RDONLY);
        CHECK(read_capture_index(fd, path, index).empty());
        close(fd);
        CHECK(index.by_directory);
        CHECK((index.summary != nullptr) == (version == 6));
        CHECK_FALSE(index.stamp.has_value());
        REQUIRE(index.chunks.size() == 1);
        CHECK(index.chunks[0].blocks() == nullptr);
        CHECK(index.chunks[0].packets == 1);
        CHECK(index.damage_note().empty());
    }
    unlink(path.c_str());
    rmdir(dir);
}

namespace {

// A packet of a small pool of flows, either way round: IPv4 (some with
// options, some fragments), IPv6 (some with an extension header), ARP and
// RARP, some behind a VLAN tag; UDP to and from the tunnel ports the index
// walks (VXLAN, GENEVE: an Ethernet frame inside), GRE, IP-in-IP; ICMP and
// ICMPv6, whose first four bytes (type, code, checksum) change from packet
// to packet. Its addresses are drawn from 4096, so that few flows share
// one: a key skipped wrongly is missed, not found in another flow's packet.
packet flow_packet(uint32_t flow, bool reply, std::mt19937& cut)
{
    std::mt19937 rng(flow);
    constexpr uint16_t ports[] = {53, 80, 4789, 6081, 8472, 40000, 1234, 1, 2, 3};
    constexpr uint8_t protocols[] = {6, 17, 17, 17, 1, 58, 47, 4, 41, 0, 44};
    std::vector<uint8_t> b(200, 0);
    for (size_t i = 38; i < b.size(); i++)
        b[i] = static_cast<uint8_t>(rng());
    size_t l3 = 14;
    if (rng() % 10 == 0) {
        put16(b, 12, 0x8100);
        put16(b, 14, 5);
        l3 = 18;
    }
    const unsigned kind = rng() % 10;
    uint16_t sport = ports[rng() % std::size(ports)], dport = ports[rng() % std::size(ports)];
    const uint8_t proto = protocols[rng() % std::size(protocols)];
    if (reply)
        std::swap(sport, dport);
    if (proto == 1 || proto == 58) {   // this packet's type and code, and its checksum
        const auto type = static_cast<uint16_t>(cut() % 4);
        sport = static_cast<uint16_t>(type << 8 | cut() % 2);
        dport = static_cast<uint16_t>(cut());
    }
    const auto inner_frame = [&](size_t l4) {   // a VXLAN or GENEVE header, then Ethernet and IPv4
        b[l4 + 8] = 0x08;
        b[l4 + 10] = 0x65;
        b[l4 + 11] = 0x58;
        const size_t in = l4 + 16;
        put16(b, in + 12, 0x0800);
        b[in + 14] = 0x45;
        b[in + 23] = 6;
        put32(b, in + 26, 0xac100000 + rng() % 3);
        put32(b, in + 30, 0xac100000 + rng() % 3);
    };
    if (kind == 0) {   // ARP, RARP
        put16(b, l3 - 2, rng() % 2 ? 0x0806 : 0x8035);
        put32(b, l3 + 14, 0x0a000000 + rng() % 4096);
        put32(b, l3 + 24, 0x0a000000 + rng() % 4096);
    } else if (kind < 6) {
        put16(b, l3 - 2, 0x0800);
        b[l3] = rng() % 6 == 0 ? 0x46 : 0x45;
        const unsigned fragment = rng() % 6;
        put16(b, l3 + 6, fragment == 0 ? 0x2000 : fragment == 1 ? 0x0001 : 0);
        b[l3 + 9] = proto;
        uint32_t src = 0x0a000000 + rng() % 4096, dst = rng() % 8 == 0 ? src : 0x0a000000 + rng() % 4096;
        if (reply)
            std::swap(src, dst);
        put32(b, l3 + 12, src);
        put32(b, l3 + 16, dst);
        const size_t l4 = l3 + 4 * (b[l3] & 0xfu);
        put16(b, l4, sport);
        put16(b, l4 + 2, dport);
        if (proto == 17)
            inner_frame(l4);
    } else {
        put16(b, l3 - 2, 0x86dd);
        b[l3] = 0x60;
        b[l3 + 6] = proto;
        size_t src = l3 + 8, dst = l3 + 24;
        if (reply)
            std::swap(src, dst);
        put32(b, src, 0x20010db8);
        put32(b, src + 4, rng() % 8);
        put16(b, src + 14, static_cast<uint16_t>(rng() % 4096));
        put32(b, dst, 0x20010db8);
        put32(b, dst + 4, rng() % 8);
        put16(b, dst + 14, static_cast<uint16_t>(rng() % 4096));
        put16(b, l3 + 40, sport);
        put16(b, l3 + 42, dport);
        if (proto == 17)
            inner_frame(l3 + 40);
    }
    const uint32_t caplen = cut() % 3 == 0 ? 30 + static_cast<uint32_t>(cut() % 40) : static_cast<uint32_t>(b.size());
    b.resize(caplen);   // no byte past caplen to read (the sanitizers see any read there)
    return {b, caplen};
}

// The keys of one packet, indexed alone by a builder of its own: a
// reference that takes no shortcut. Per set, its values.
std::array<std::vector<uint32_t>, index_field_count> keys_alone(const packet& p)
{
    const uint8_t first[16] = {};
    index_builder alone(index_builder::folding::never);
    alone.add_packet(p.bytes.data(), p.caplen, 1);
    const index_chunk c = alone.finish(0, 1, false, first);
    std::array<std::vector<uint32_t>, index_field_count> keys;
    for (size_t f = 0; f < index_field_count; f++) {
        const roaring_bitmap_t* set = c.set(static_cast<index_field>(f));
        keys[f].resize(roaring_bitmap_get_cardinality(set));
        roaring_bitmap_to_uint32_array(set, keys[f].data());
    }
    return keys;
}

} // namespace

TEST_CASE("index: every key of every packet is in its chunk and its block, whatever the flow cache skipped")
{
    // The reference takes no shortcut: each packet indexed alone, by a
    // builder of its own. The chunk built with the flow cache, in blocks,
    // must hold each of those keys, and its block each IPv4 address.
    size_t keys = 0;
    for (uint32_t round = 0; round < 300; round++) {
        std::mt19937 rng(round);
        const uint32_t n = 1 + rng() % 300, flows = 1 + rng() % 60;
        index_builder b(index_builder::folding::never);
        b.set_chunk_bytes(100 * uint64_t{n});   // blocks of n / 8 records
        const uint8_t first[16] = {};
        std::vector<std::pair<uint32_t, uint32_t>> addresses;   // (record, IPv4 address)
        std::array<std::vector<uint32_t>, index_field_count> want;
        for (uint32_t i = 0; i < n; i++) {
            const packet p = flow_packet(round * 1000 + rng() % flows, rng() % 2 == 1, rng);
            const auto alone = keys_alone(p);
            for (size_t f = 0; f < index_field_count; f++) {
                const std::vector<uint32_t>& values = alone[f];
                want[f].insert(want[f].end(), values.begin(), values.end());
                if (static_cast<index_field>(f) == index_field::ipv4_address)
                    for (const uint32_t v : values)
                        addresses.emplace_back(i, v);
            }
            b.begin_record(100 * uint64_t{i}, first);
            b.add_packet(p.bytes.data(), p.caplen, 1);
        }
        const index_chunk c = b.finish(0, 100 * uint64_t{n}, false, first);
        for (size_t f = 0; f < index_field_count; f++)
            for (const uint32_t v : want[f]) {
                INFO("round " << round << ", set " << f << ", value " << v);
                REQUIRE(c.holds(static_cast<index_field>(f), '=', UINT32_MAX, v));
                keys++;
            }
        const index_blocks* blocks = c.blocks();
        if (blocks == nullptr)
            continue;
        std::vector<uint64_t> starts;   // each block's first record
        uint64_t next = 0;
        for (const auto& place : blocks->places) {
            starts.push_back(next);
            next += place.packets;
        }
        for (const auto& [record, v] : addresses) {
            const auto block = static_cast<int>(std::upper_bound(starts.begin(), starts.end(), record) - starts.begin()) - 1;
            INFO("round " << round << ", record " << record << ", block " << block << ", address " << v);
            REQUIRE(c.holds(index_field::ipv4_address, '=', UINT32_MAX, v, block));
        }
    }
    CHECK(keys > 20000);
}

TEST_CASE("index marks: a packet is marked only when its flow, either way, was passed for the same sessions in this epoch")
{
    // An IPv4 or IPv6 packet of protocol `proto` from (a, port a) to (b, port b), 80 bytes.
    const auto make = [](bool v6, uint8_t proto, uint32_t a, uint16_t pa, uint32_t b, uint16_t pb) {
        if (!v6)
            return ipv4_frame(80, proto, a, b, pa, pb);
        std::vector<uint8_t> d(80, 0);
        put16(d, 12, 0x86dd);
        d[14] = 0x60;
        d[20] = proto;
        put32(d, 22, 0x20010db8);
        put32(d, 34, a);
        put32(d, 38, 0x20010db8);
        put32(d, 50, b);
        put16(d, 54, pa);
        put16(d, 56, pb);
        return d;
    };
    auto marks = std::make_unique<index_flow_marks>();
    index_epoch writer;
    uint64_t epoch = writer.get();
    unsigned place = 0;   // in the burst
    const auto mark = [&](const std::vector<uint8_t>& d, uint16_t sessions = 1, uint32_t caplen = 0) {
        return marks->mark(d.data(), caplen != 0 ? caplen : static_cast<uint32_t>(d.size()),
                           static_cast<uint32_t>(d.size()), sessions, epoch, place++);
    };
    // Not marked: the epoch it was made in, its keys to be read.
    const auto unmarked = [&] { return index_epoch::read_mark(epoch); };
    const auto next_burst = [&] {
        marks->start_burst();
        place = 0;
        epoch = writer.get();
    };
    next_burst();
    // Passed in the first epoch, then not met again (below: when the
    // epoch's mark runs over 31 bits).
    const auto early = make(false, 6, 0x0a000007, 1000, 0x0a000008, 80);
    CHECK(mark(early) == unmarked());
    CHECK(mark(early) == 16);
    for (const bool v6 : {false, true}) {
        INFO((v6 ? "IPv6" : "IPv4"));
        const auto request = make(v6, 6, 0x0a000001, 40000, 0x0a000002, 443);
        const auto reply = make(v6, 6, 0x0a000002, 443, 0x0a000001, 40000);
        CHECK(mark(request) == unmarked());   // the flow's first packet: remembered
        CHECK(mark(request) == epoch);
        CHECK(mark(reply) == epoch);              // either way round
        CHECK(mark(make(v6, 6, 0x0a000001, 40001, 0x0a000002, 443)) == unmarked());   // another port
        CHECK(mark(make(v6, 17, 0x0a000001, 40000, 0x0a000002, 443)) == unmarked());  // another protocol
        CHECK(mark(make(v6, 6, 0x0a000003, 40000, 0x0a000002, 443)) == unmarked());   // another address
        // ICMP's first four bytes (type, code, checksum) change from
        // packet to packet: its flow is marked, with index_mark_words (the
        // writer adds each packet's own), whatever those bytes are.
        const auto echo = make(v6, v6 ? 58 : 1, 0x0a000001, 0x0800, 0x0a000002, 0x1234);
        const auto echo_reply = make(v6, v6 ? 58 : 1, 0x0a000002, 0x0000, 0x0a000001, 0x5678);
        CHECK(mark(echo) == unmarked());
        CHECK(mark(echo) == (epoch | index_mark_words));
        CHECK(mark(echo_reply) == (epoch | index_mark_words));
        CHECK(mark(make(v6, 6, 0x0a000001, 0x0800, 0x0a000002, 0x1234)) == unmarked());   // TCP: another flow
        CHECK(mark(make(v6, 50, 0x0a000001, 1, 0x0a000002, 2)) == unmarked());   // ESP's SPI: fixed
        CHECK(mark(make(v6, 50, 0x0a000001, 1, 0x0a000002, 2)) == epoch);

        // Wanted by other sessions: their indexes have not had the flow's keys.
        CHECK(mark(request, 3) == unmarked());
        CHECK(mark(request, 3) == epoch);
        CHECK(mark(request, 2) == unmarked());
        CHECK(mark(request, 1) == epoch);   // still held for session 0 alone

        // The writer started a block: the flow's next packet is marked
        // with the new epoch and index_mark_older (the writer adds its IPv4
        // addresses to the new block), the ones after it with the new one.
        const uint64_t before = epoch;
        writer.next_block();
        next_burst();
        CHECK(epoch == before + 1);
        CHECK(mark(request) == (epoch | index_mark_older));
        CHECK(mark(reply) == epoch);
        CHECK(mark(echo) == (epoch | index_mark_older | index_mark_words));   // ICMP alike
        CHECK(mark(echo) == (epoch | index_mark_words));
        // A new chunk: passed again, unmarked.
        writer.next_chunk();
        next_burst();
        CHECK(mark(request) == unmarked());
        CHECK(mark(request) == epoch);
        // Sixteen blocks count as a chunk.
        for (int i = 0; i < 15; i++)
            writer.next_block();
        next_burst();
        CHECK(mark(request) != unmarked());
        writer.next_block();
        next_burst();
        CHECK(mark(request) == unmarked());

        // A burst whose tail was dropped (its ring full): the entries its
        // dropped packets made or renewed are no more, the others are.
        const auto other = make(v6, 6, 0x0a000009, 40000, 0x0a000002, 443);
        writer.next_block();
        next_burst();
        CHECK(mark(other) == unmarked());   // place 0: makes an entry
        CHECK(mark(request) != unmarked()); // place 1: renews one
        CHECK(mark(other) == epoch);            // place 2
        marks->not_passed_from(1);
        next_burst();
        CHECK(mark(other) == epoch);
        CHECK(mark(request) == unmarked());
        marks->not_passed_from(0);              // that packet was dropped too
        next_burst();
        CHECK(mark(other) == epoch);            // made before this burst: kept
        CHECK(mark(request) == unmarked());
        CHECK(mark(request) == epoch);
        next_burst();

        // Packets whose keys are not all their flow's, or that the index
        // walks for a tunnel, either way: never marked.
        for (const uint16_t tunnel_port : {4789, 8472, 6081}) {
            const auto to = make(v6, 17, 0x0a000001, 40000, 0x0a000002, tunnel_port);
            const auto from = make(v6, 17, 0x0a000002, tunnel_port, 0x0a000001, 40000);
            for (int i = 0; i < 2; i++) {
                CHECK(mark(to) == unmarked());
                CHECK(mark(from) == unmarked());
            }
        }
        for (const uint8_t proto : {47, 4, 41}) {
            const auto p = make(v6, proto, 0x0a000001, 1, 0x0a000002, 2);
            CHECK(mark(p) == unmarked());
            CHECK(mark(p) == unmarked());
        }
        const uint32_t ports_end = v6 ? 58 : 38;
        CHECK(mark(request, 1, ports_end - 1) == unmarked());   // its ports not captured
        CHECK(mark(request, 1, ports_end) == epoch);
        // A tagged frame gives the index no key (a query reads the chunk
        // for `vlan`): marked with the epoch, unless it might be a tunnel.
        std::vector<uint8_t> tagged(4, 0);
        tagged.insert(tagged.begin(), request.begin(), request.begin() + 12);
        tagged.insert(tagged.end(), request.begin() + 12, request.end());
        put16(tagged, 12, 0x8100);
        put16(tagged, 14, 7);
        CHECK(mark(tagged) == epoch);   // keyless: the epoch's mark, whatever its flow
        CHECK(mark(tagged, 1, 40) == unmarked());   // cut short: what follows is not known
        auto tagged_tunnel = make(v6, 17, 0x0a000001, 40000, 0x0a000002, 4789);
        tagged_tunnel.insert(tagged_tunnel.begin() + 12, {0x81, 0x00, 0x00, 0x07});
        CHECK(mark(tagged_tunnel) == unmarked());
        CHECK(mark(tagged_tunnel) == unmarked());
    }
    std::vector<uint8_t> lldp(64, 0), arp(64, 0);
    put16(lldp, 12, 0x88cc);
    put16(arp, 12, 0x0806);
    CHECK(mark(lldp) == epoch);
    CHECK(mark(arp) == unmarked());   // its addresses are keys
    const auto plain = make(false, 6, 0x0a000001, 40000, 0x0a000002, 443);
    auto options = plain, later_fragment = plain, first_fragment = plain;
    options[14] = 0x46;
    put16(later_fragment, 20, 0x0001);
    put16(first_fragment, 20, 0x2000);
    for (int i = 0; i < 2; i++) {
        CHECK(mark(options) == unmarked());
        CHECK(mark(later_fragment) == unmarked());
    }
    CHECK(mark(plain) == unmarked());
    CHECK(mark(first_fragment) == epoch);   // a first fragment holds its ports: the flow's keys

    // The epoch's mark runs over 29 bits (bits 29 to 31 are
    // index_mark_flags): it is never 0 (index_unmarked), and an entry whose
    // epoch had the same mark a cycle before marks nothing (entries hold
    // the whole 64 bits).
    writer.now.store((uint64_t{1} << 29) - 16);
    next_burst();
    CHECK(mark(plain) == unmarked());
    CHECK(mark(plain) == 0x1ffffff0u);
    CHECK(unmarked() == 0x3ffffff0u);
    const auto ping = make(false, 1, 0x0a000001, 0x0800, 0x0a000002, 0x1234);
    CHECK(mark(ping) == unmarked());
    CHECK(mark(ping) == 0x9ffffff0u);
    writer.next_chunk();
    CHECK(writer.get() == (uint64_t{1} << 32) + 16);
    CHECK(writer.mark() == 16);
    next_burst();
    CHECK(mark(early) == unmarked());
    CHECK(mark(early) == 16);
    CHECK(mark(plain) == unmarked());
    for (const uint8_t next : {0, 43, 44, 60, 51}) {
        const auto extension = make(true, next, 0x0a000001, 40000, 0x0a000002, 443);
        CHECK(mark(extension) == unmarked());
        CHECK(mark(extension) == unmarked());
    }
}

TEST_CASE("index flow tables: two flows of one set both stay, and a third takes the way met less lately")
{
    struct entry {
        uint64_t key = 0;
    };
    index_flow_ways<entry, 2> t;   // 4 sets, 8 entries
    const auto find = [&](uint64_t key) { return t.find(1, [&](const entry& e) { return e.key == key; }); };
    CHECK(find(7) == nullptr);
    t.victim(1).key = 7;
    t.victim(1).key = 8;
    entry* a = find(7);
    entry* b = find(8);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    CHECK(a != b);
    CHECK(t.entry_number(*a) / 2 == 1);   // both in set 1's two ways
    CHECK(t.entry_number(*b) / 2 == 1);
    CHECK(&t.entry(t.entry_number(*a)) == a);
    for (int i = 0; i < 8; i++) {   // met in turns, neither takes the other's way
        CHECK(find(7) == a);
        CHECK(find(8) == b);
    }
    CHECK(find(7) == a);   // 7 met last: a third flow takes 8's way, and no entry moves
    t.victim(1).key = 9;
    CHECK(find(7) == a);
    CHECK(find(8) == nullptr);
    CHECK(find(9) == b);
    CHECK(find(9) == b);   // 9 met last: the next takes 7's way
    t.victim(1).key = 10;
    CHECK(find(7) == nullptr);
    CHECK(find(10) == a);
    for (const size_t other : {size_t{0}, size_t{2}, size_t{3}})
        CHECK(t.find(other, [](const entry& e) { return e.key != 0; }) == nullptr);
    t.clear();
    CHECK(find(9) == nullptr);
    CHECK(find(10) == nullptr);
}

TEST_CASE("index marks: of flows met in turns, some sharing a set, nearly all are marked")
{
    // 300 IPv4 and 150 IPv6 flows, each met once a round. A table that
    // held one flow a set would leave one packet in five unmarked every
    // round (IPv4 171 of 900, IPv6 120 of 450: flows that share a set take
    // it from each other); two ways to a set, only flows whose set has
    // three or more (IPv4 9, IPv6 none).
    std::mt19937 rng(5);
    std::vector<std::vector<uint8_t>> flows;
    for (int i = 0; i < 450; i++) {
        const bool v6 = i >= 300;
        std::vector<uint8_t> d(80, 0);
        put16(d, 12, v6 ? 0x86dd : 0x0800);
        d[14] = v6 ? 0x60 : 0x45;
        d[v6 ? 20 : 23] = 6;
        for (size_t at = v6 ? 22 : 26; at < (v6 ? 58u : 38u); at += 2)
            put16(d, at, static_cast<uint16_t>(rng()));
        flows.push_back(d);
    }
    auto marks = std::make_unique<index_flow_marks>();
    const index_epoch writer;
    unsigned unmarked4 = 0, unmarked6 = 0;
    for (int round = 0; round < 4; round++) {
        marks->start_burst();   // a burst a round (450 of at most 512 places)
        unsigned place = 0;
        for (const auto& d : flows) {
            const uint32_t m = marks->mark(d.data(), 80, 80, 1, writer.get(), place++);
            if (round == 0)
                CHECK(m == index_epoch::read_mark(writer.get()));
            else if (m == index_epoch::read_mark(writer.get()))
                (d[12] == 0x86 ? unmarked6 : unmarked4)++;
        }
    }
    INFO("unmarked after the first round: IPv4 " << unmarked4 << " of 900, IPv6 " << unmarked6 << " of 450");
    CHECK(unmarked4 < 30);
    CHECK(unmarked6 < 15);
}

TEST_CASE("index marks: a flow that takes another's way in a burst and is dropped leaves no mark behind")
{
    // Three IPv4 flows of one set of the marks' table: A and B fill its
    // two ways, C takes the way met less lately. Entries never move, so
    // not_passed_from finds each dropped packet's entry by its number,
    // whichever way it took and whoever held it before.
    const auto flow = [](uint16_t port) { return ipv4_frame(80, 17, 0x0a000001, 0x0a000002, port, 53); };
    const auto set_of = [](const std::vector<uint8_t>& d) {
        index_flow4 f = index_flow4_of(d.data());
        f.rest |= uint64_t{1} << 48;   // session 0, as mark() holds it
        return index_flow4_set<index_flow_marks::flow4_set_bits>(f);
    };
    std::vector<std::vector<uint8_t>> same;   // three flows of one set
    const size_t set = set_of(flow(1024));
    for (uint16_t port = 1024; same.size() < 3; port++)
        if (set_of(flow(port)) == set)
            same.push_back(flow(port));
    const auto &a = same[0], &b = same[1], &c = same[2];
    const index_epoch writer;
    const uint32_t now = writer.mark(), none = index_epoch::read_mark(writer.get());   // not marked: made in this epoch
    std::unique_ptr<index_flow_marks> marks;
    const auto burst = [&](std::initializer_list<const std::vector<uint8_t>*> packets) {
        std::vector<uint32_t> got;
        marks->start_burst();
        unsigned place = 0;
        for (const auto* d : packets)
            got.push_back(marks->mark(d->data(), 80, 80, 1, writer.get(), place++));
        return got;
    };
    using marks_of = std::vector<uint32_t>;

    // C takes A's way in the burst that made A's entry, and only C's
    // packet is dropped: B's entry stands, C's is no more, A's is C's.
    marks = std::make_unique<index_flow_marks>();
    CHECK(burst({&a, &b, &c}) == marks_of{none, none, none});
    marks->not_passed_from(2);
    CHECK(burst({&b, &c, &c, &a}) == marks_of{now, none, now, none});

    // The same, none of the three taken: no entry stands.
    marks = std::make_unique<index_flow_marks>();
    CHECK(burst({&a, &b, &c}) == marks_of{none, none, none});
    marks->not_passed_from(0);
    CHECK(burst({&b, &c}) == marks_of{none, none});
    CHECK(burst({&b, &c}) == marks_of{now, now});

    // Entries made before the burst stand; C takes the way of A, met less
    // lately than B; C's packet dropped.
    marks = std::make_unique<index_flow_marks>();
    CHECK(burst({&a, &b}) == marks_of{none, none});
    CHECK(burst({&a, &b, &c}) == marks_of{now, now, none});
    marks->not_passed_from(2);
    CHECK(burst({&b, &c, &a}) == marks_of{now, none, none});
}

TEST_CASE("index marks: a worker's marks skip only keys its writer's open blocks hold, across blocks, chunks, sessions and drops")
{
    // A worker and its writer in turns, on one thread. The worker reads the
    // writer's epoch once per burst, marks the burst (index_flow_marks) and
    // sends it over the "ring", a queue kept in order; now and then the
    // ring is full and the burst's tail is dropped. Each packet is wanted
    // by session 0, 1 or both. The writer takes a random number of packets
    // off the ring and indexes each (capture_file_indexer) in the file of
    // each session that wants it, cut to that session's snaplen, in chunks
    // of a few blocks; the two indexers share the writer's epoch. Every
    // chunk read back must hold every key of its records, and each block
    // every IPv4 address of its records: the reference is each record
    // indexed alone, as above.
    const std::string dir = test::temp_dir();   // removed at the end, whatever fails
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(dir_fd >= 0);
    const std::vector<uint8_t> head(24, 0);
    const uint8_t first[16] = {};
    uint64_t records = 0, marked = 0, trusted = 0, stale = 0, keys = 0, taken_marked = 0, taken_keys = 0,
             taken_in_chunk = 0, words = 0, in_chunk_by_add = 0;
    for (uint32_t round = 0; round < 60; round++) {
        std::mt19937 rng(round);
        auto marks = std::make_unique<index_flow_marks>();   // 102 KiB: not on the stack
        const uint32_t n = 200 + rng() % 2000, flows = 1 + rng() % 80;
        index_epoch epoch;   // the writer's
        struct session_file {
            std::string name;
            uint32_t snaplen = 0;
            bool marked = false;   // whether the writer takes the worker's marks
            capture_file_indexer ix;
            uint64_t offset = 24;
            std::vector<std::pair<uint64_t, packet>> written;   // each record's offset, as indexed
            uint64_t taken_by_mark = 0;   // records taken by their marks alone (the epoch's then)
            uint64_t chunk_bytes = 0;
        };
        std::array<session_file, 2> files;
        for (size_t s = 0; s < files.size(); s++) {
            session_file& f = files[s];
            constexpr uint32_t snaplens[] = {34, 40, 54, 58, 62, 65535, 65535};
            f.snaplen = snaplens[rng() % std::size(snaplens)];
            output_spec spec;
            spec.index = true;
            spec.snaplen = f.snaplen;
            f.marked = spec.index_marked();
            f.name = "r" + std::to_string(round) + "-" + std::to_string(s) + ".pcap";
            const int fd = openat(dir_fd, (f.name + ".part").c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
            REQUIRE(fd >= 0);
            REQUIRE(write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()));
            close(fd);
            f.ix.use_epoch(&epoch);
            f.ix.take_marks(f.marked);   // as session_output::open
            f.chunk_bytes = 20000 + rng() % 200000;
            f.ix.set_chunk_bytes(f.chunk_bytes);   // blocks of some 20 to 200 records
            REQUIRE(f.ix.open(dir_fd, f.name, head.size()).empty());
        }

        struct in_flight {
            packet p;
            uint16_t sessions;
            uint32_t mark;
        };
        std::deque<in_flight> ring;
        uint32_t made = 0;
        while (made < n || !ring.empty()) {
            if (made < n && rng() % 2 == 0) {
                const uint64_t now = epoch.get();
                std::vector<in_flight> burst;
                marks->start_burst();
                // As a worker does: the packets past the ring's room make
                // no entry (some are taken after all: the writer made
                // room); now and then a replay gives up its wait, and a
                // marked tail is dropped.
                const uint32_t size = 1 + rng() % 32;
                const bool full = rng() % 6 == 0, given_up = !full && rng() % 20 == 0;
                const uint32_t room = full ? rng() % (size + 1) : size;
                for (uint32_t k = size; k > 0 && made < n; k--, made++) {
                    packet p = flow_packet(round * 1000 + rng() % flows, rng() % 2 == 1, rng);
                    const auto sessions = static_cast<uint16_t>(rng() % 10 == 0 ? 1 + rng() % 2 : 3);
                    // Now and then the worker sees fewer bytes than the
                    // record holds (a chained mbuf's first segment).
                    const uint32_t seen = rng() % 4 == 0 ? std::min(p.caplen, 14 + static_cast<uint32_t>(rng() % 80))
                                                         : p.caplen;
                    uint32_t mark =
                        burst.size() < room ? marks->mark(p.bytes.data(), seen, p.caplen, sessions, now,
                                                          static_cast<unsigned>(burst.size()))
                                            : index_flow_marks::mark_without_entry(p.bytes.data(), seen, p.caplen, now);
                    // Now and then no epoch at all (index_unmarked: every key
                    // read), though the packet made or renewed its flow's
                    // entry: a writer awaiting a block keeps its keys for it.
                    if (rng() % 16 == 0)
                        mark = index_unmarked;
                    burst.push_back({std::move(p), sessions, mark});
                }
                size_t sent = burst.size();
                if (full) {
                    sent = std::min<size_t>(room, sent);
                    sent += rng() % (burst.size() - sent + 1);
                } else if (given_up) {
                    sent = rng() % (burst.size() + 1);
                }
                marks->not_passed_from(static_cast<unsigned>(sent));   // as hand_over does
                for (size_t i = 0; i < sent; i++)
                    ring.push_back(std::move(burst[i]));
                continue;
            }
            for (uint32_t k = 1 + rng() % 48; k > 0 && !ring.empty(); k--) {
                const in_flight f = std::move(ring.front());
                ring.pop_front();
                for (size_t s = 0; s < files.size(); s++) {
                    if (!(f.sessions >> s & 1))
                        continue;
                    session_file& out = files[s];
                    packet record = f.p;
                    record.caplen = std::min(record.caplen, out.snaplen);
                    record.bytes.resize(record.caplen);
                    const uint64_t end = out.offset + 16 + record.caplen;
                    // As a writer does in odd rounds (session_output::write),
                    // add() alone in even ones.
                    // A snaplen inside a flow's keys: the writer takes no
                    // mark (output_spec::index_marked): its indexer is told
                    // so, and is given the mark all the same (as
                    // session_output does).
                    const uint32_t mark = f.mark;
                    using path = capture_file_indexer::path;
                    const path by = round % 2 == 1 ? out.ix.path_of(out.offset, mark) : path::read;
                    if (by == path::keys) {
                        const uint32_t len = std::min(record.caplen, index_packet_bytes);
                        out.ix.add_read(record.bytes.data(), len, 1, mark);
                        taken_keys++;
                    } else if (by == path::in_chunk) {
                        out.ix.add_marked_in_chunk(record.bytes.data(), record.caplen, 1, mark);
                        taken_in_chunk++;
                    } else if (by != path::read) {
                        if (by == path::marked_words)
                            out.ix.add_own_words(record.bytes.data(), record.caplen);
                        out.ix.add_marked(1);
                        taken_marked++;
                        out.taken_by_mark++;
                    } else {
                        // add() takes a record by its mark alone when the
                        // mark (a session that takes marks) is its open
                        // block's; it counts the others.
                        const uint64_t counted = out.ix.records_read() + out.ix.records_in_chunk();
                        out.ix.add(out.offset, first, record.bytes.data(), record.caplen, 1, mark);
                        if (out.ix.records_read() + out.ix.records_in_chunk() == counted)
                            out.taken_by_mark++;
                    }
                    // (add moves the epoch on before it asks, when a block starts)
                    const uint32_t epoch_mark = mark & ~index_mark_flags;
                    const bool is_mark = mark != index_unmarked && (mark & index_mark_read) == 0;
                    marked += is_mark;
                    trusted += is_mark && epoch_mark == epoch.mark();
                    stale += is_mark && epoch_mark != epoch.mark();
                    words += by == path::marked_words;
                    out.written.emplace_back(out.offset, std::move(record));
                    out.offset = end;
                    records++;
                }
            }
            // The writer asks whether a block's place is reached once a
            // burst (session_output::end_burst): marked records past it
            // stay in the open block until then.
            for (session_file& out : files)
                out.ix.end_burst(out.offset);
        }
        for (session_file& f : files) {
            // Every record is taken by its mark, read for its keys, or
            // marked in an older block (its IPv4 addresses read): the
            // writer's debug line at a file's close counts the last two.
            CHECK(f.ix.records_read() + f.ix.records_in_chunk() + f.taken_by_mark == f.written.size());
            if (round % 2 == 0)   // add() alone: the indexer's own count
                in_chunk_by_add += f.ix.records_in_chunk();
            REQUIRE(f.ix.close(false, f.offset).empty());
            const std::string index_path = dir + "/" + index_name_of(f.name + ".part");
            const int fd = open(index_path.c_str(), O_RDONLY);
            REQUIRE(fd >= 0);
            capture_index index;
            REQUIRE(read_capture_index(fd, index_path, index).empty());
            close(fd);
            REQUIRE(index.note.empty());
            size_t at = 0;
            for (const index_chunk& c : index.chunks) {
                // Its start awaited (capture_file_indexer::add): past its
                // limit by a block's bytes at most, and a burst's records
                // (48 here, its place asked at the burst's end) and a record
                // either side (flow_packet's are 200 bytes at most).
                CHECK(c.bytes < f.chunk_bytes + (f.chunk_bytes + index_max_blocks - 1) / index_max_blocks +
                                    (48 + 2) * (16 + 200));
                const index_blocks* blocks = c.blocks();
                for (; at < f.written.size() && f.written[at].first < c.offset + c.bytes; at++) {
                    const auto& [record_offset, p] = f.written[at];
                    int block = -1;
                    if (blocks != nullptr)
                        for (size_t j = 0; j < blocks->places.size(); j++)
                            if (record_offset >= blocks->places[j].offset)
                                block = static_cast<int>(j);
                    const auto want = keys_alone(p);
                    for (size_t field = 0; field < index_field_count; field++) {
                        for (const uint32_t v : want[field]) {
                            INFO("round " << round << ", " << f.name << ", record at " << record_offset << ", set "
                                          << field << ", value " << v << ", block " << block);
                            REQUIRE(c.holds(static_cast<index_field>(field), '=', UINT32_MAX, v));
                            if (static_cast<index_field>(field) == index_field::ipv4_address && block >= 0)
                                REQUIRE(c.holds(index_field::ipv4_address, '=', UINT32_MAX, v, block));
                            keys++;
                        }
                    }
                }
            }
            CHECK(at == f.written.size());
            unlinkat(dir_fd, index_name_of(f.name + ".part").c_str(), 0);
            unlinkat(dir_fd, (f.name + ".part").c_str(), 0);
        }
    }
    close(dir_fd);
    // The marks were used: many records' keys were not read (an eighth of
    // flow_packet's packets can be marked with an epoch at all: untagged,
    // captured to their ports, TCP, UDP or ICMP with no tunnel, no options
    // or extension header), and some marks were stale (a block or chunk had
    // started since); the writer's short path (path_of) took many, and read
    // many others' keys without their records' starts (add_keys), and
    // the IPv4 addresses of others marked in an older block
    // (add_marked_in_chunk).
    INFO(records << " records, " << marked << " marked with an epoch, " << trusted << " of the epoch then, " << stale
                 << " stale, " << keys << " keys, " << taken_marked << " by add_marked, " << taken_keys
                 << " by add_keys, " << taken_in_chunk << " by add_marked_in_chunk, " << words << " ICMP");
    CHECK(trusted > records / 60);
    CHECK(taken_marked > records / 100);
    CHECK(taken_keys > records / 10);   // read for their keys, no block's start: add_keys (odd rounds)
    CHECK(taken_in_chunk > records / 100);
    CHECK(in_chunk_by_add > records / 200);   // add() takes some too, and counts them
    CHECK(stale > 0);
    CHECK(words > 0);   // ICMP's own half-words, added on the short path in odd rounds
    CHECK(keys > 50000);
}

TEST_CASE("index marks: a block or chunk starts at its workers' first record of the new epoch, or a block's bytes late")
{
    // One writer's indexer and a worker a ring behind it, by hand: the
    // records in flight when a block is due, marked with the epoch before,
    // stay in the open block and are taken by their marks; the block
    // starts at the first record made in the new epoch (marked or not); a
    // record read meanwhile that carries no epoch gives the new block its
    // keys too. With no record of the new epoch, the block starts a
    // block's bytes after its place. A chunk's end waits alike.
    const std::string dir = test::temp_dir();   // removed at the end, whatever fails
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(dir_fd >= 0);
    const std::vector<uint8_t> head(24, 0);
    const int fd = openat(dir_fd, "due.pcap.part", O_CREAT | O_TRUNC | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()));
    close(fd);
    index_epoch epoch;
    capture_file_indexer ix;
    ix.use_epoch(&epoch);
    ix.take_marks(true);
    ix.set_chunk_bytes(8 * 1000);   // blocks of 1000 bytes
    REQUIRE(ix.open(dir_fd, "due.pcap", head.size()).empty());
    // A flow's packet from 10.0.0.n, port 1000 + n, to 10.0.0.255 port 80.
    const auto flow = [](uint32_t n) {
        return ipv4_frame(84, 6, 0x0a000000 + n, 0x0a0000ff, static_cast<uint16_t>(1000 + n), 80);
    };
    const uint8_t first[16] = {};
    uint64_t offset = head.size();
    using path = capture_file_indexer::path;
    // As a writer does (session_output::write): the short paths, else add().
    const auto write = [&](uint32_t n, uint32_t mark) {
        const auto p = flow(n);
        const path by = ix.path_of(offset, mark);
        if (by == path::marked)
            ix.add_marked(1);
        else if (by == path::in_chunk)
            ix.add_marked_in_chunk(p.data(), static_cast<uint32_t>(p.size()), 1, mark);
        else if (by == path::keys)
            ix.add_read(p.data(), static_cast<uint32_t>(p.size()), 1, mark);
        else
            ix.add(offset, first, p.data(), static_cast<uint32_t>(p.size()), 1, mark);
        offset += 16 + p.size();   // 100 bytes a record
        ix.end_burst(offset);      // a burst of one
        return by;
    };
    const auto read_mark = [](uint32_t mark) { return mark | index_mark_read; };
    CHECK(write(1, index_unmarked) == path::read);   // the chunk's first record
    const uint32_t e0 = epoch.mark();
    while (offset < head.size() + 1000)
        CHECK(write(1, e0) == path::marked);
    // Block 1 is due: the epoch moves on, the block waits.
    CHECK(write(1, e0) == path::read);
    const uint32_t e1 = epoch.mark();
    CHECK(e1 != e0);
    for (int i = 0; i < 5; i++)
        CHECK(write(1, e0) == path::marked);   // in flight: still the open block's
    CHECK(write(2, read_mark(e0)) == path::keys);   // made before: read, block 0 alone
    CHECK(write(3, index_unmarked) == path::read);   // made when? kept for block 1 too
    CHECK(write(1, e0) == path::marked);
    const uint64_t block1 = offset;
    CHECK(write(4, read_mark(e1)) == path::read);   // made in e1: the block starts here
    CHECK(write(4, e1) == path::marked);
    CHECK(write(1, e1 | index_mark_older) == path::in_chunk);   // 1 met again in e1: its addresses
    CHECK(write(1, e1) == path::marked);
    // Block 2: no record of the new epoch comes (say its worker is held
    // up), so it starts a block's bytes after its place.
    while (offset < block1 + 1000)
        CHECK(write(1, e1) == path::marked);
    const uint64_t due2 = offset;
    CHECK(write(1, e1) == path::read);
    const uint32_t e2 = epoch.mark();
    CHECK(e2 != e1);
    CHECK(write(5, index_unmarked) == path::read);
    while (offset < due2 + 1000)
        CHECK(write(1, e1) == path::marked);
    const uint64_t block2 = offset;
    CHECK(write(1, e1) == path::read);   // starts the block, marked in an older one
    CHECK(write(6, read_mark(e2)) == path::keys);
    CHECK(ix.records_in_chunk() == 2);   // 1 in block 1, and at block 2's start
    // The chunk's end (8000 bytes from its start) waits alike. Up to it, a
    // worker with nothing in flight: each block starts right at its place.
    uint64_t blocks_due = 0;
    uint32_t held = e1;   // the epoch of flow 1's entry, as its worker keeps it (index_flow_marks)
    while (offset < head.size() + 8000) {
        const uint32_t now = epoch.mark();
        blocks_due += write(1, held == now ? now : now | index_mark_older) == path::read;
        held = now;
    }
    CHECK(blocks_due >= 2);   // each block due, then started by the next record
    CHECK(blocks_due % 2 == 0);
    const uint32_t before = epoch.mark();
    const uint64_t chunk_end_due = offset;
    CHECK(write(1, before) == path::read);
    const uint32_t c1 = epoch.mark();
    CHECK_FALSE(index_epoch::same_chunk(c1, before));
    for (int i = 0; i < 5; i++)
        CHECK(write(1, before) == path::marked);   // in flight: the old chunk's
    CHECK(write(7, index_unmarked) == path::read);   // kept for the next chunk too
    const uint64_t chunk1 = offset;
    CHECK(write(8, read_mark(c1)) == path::read);   // made in c1: the chunk starts here
    CHECK(write(8, c1) == path::marked);
    CHECK(write(1, before) == path::keys);   // an older chunk's mark: every key
    REQUIRE(ix.close(false, offset).empty());
    CHECK(chunk_end_due < chunk1);

    const std::string index_path = dir + "/" + index_name_of("due.pcap.part");
    const int ifd = open(index_path.c_str(), O_RDONLY);
    REQUIRE(ifd >= 0);
    capture_index index;
    REQUIRE(read_capture_index(ifd, index_path, index).empty());
    close(ifd);
    REQUIRE(index.chunks.size() == 2);
    const index_chunk& chunk = index.chunks[0];
    CHECK(chunk.offset + chunk.bytes == chunk1);
    CHECK(index.chunks[1].offset == chunk1);
    const index_blocks* blocks = chunk.blocks();
    REQUIRE(blocks != nullptr);
    REQUIRE(blocks->places.size() == 3 + blocks_due / 2);
    CHECK(blocks->places[1].offset == block1);
    CHECK(blocks->places[2].offset == block2);
    CHECK(blocks->places[3].offset == block2 + 1000 + 100);   // due at its place, started by the record after
    const auto in_block = [&](uint32_t n, size_t j) {
        return chunk.holds(index_field::ipv4_address, '=', UINT32_MAX, 0x0a000000 + n, static_cast<int>(j));
    };
    std::vector<std::vector<uint32_t>> want = {{1, 2, 3}, {1, 3, 4, 5}, {1, 5, 6}};
    while (want.size() < blocks->places.size())
        want.push_back({1});
    want.back().push_back(7);
    for (size_t j = 0; j < want.size(); j++)
        for (uint32_t n = 1; n <= 7; n++) {
            INFO("block " << j << ", 10.0.0." << n);
            CHECK(in_block(n, j) == (std::find(want[j].begin(), want[j].end(), n) != want[j].end()));
        }
    const index_chunk& next = index.chunks[1];
    for (uint32_t n = 1; n <= 8; n++) {
        INFO("the next chunk, 10.0.0." << n);
        CHECK(next.holds(index_field::ipv4_address, '=', UINT32_MAX, 0x0a000000 + n) == (n == 1 || n == 7 || n == 8));
        CHECK(next.holds(index_field::l4_word, '=', UINT32_MAX, 1000 + n) == (n == 1 || n == 7 || n == 8));
    }
    close(dir_fd);
}

TEST_CASE("radix_sort: the values sorted, none lost or added, whichever passes it skips")
{
    std::mt19937 rng(8);
    std::vector<uint32_t> v, scratch;
    radix_sort(v, scratch);
    CHECK(v.empty());
    // Masks that leave 0 to 4 bytes varying (passes skipped: none, some,
    // all), sizes from 1 to past a batch.
    for (const uint32_t mask : {0xffffffffu, 0x000000ffu, 0x0000ff00u, 0x00ffff00u, 0xff0000ffu, 0u, 0x00ff00ffu})
        for (const size_t n : {size_t{1}, size_t{2}, size_t{7}, size_t{300}, size_t{8192}, size_t{9001}}) {
            v.resize(n);
            for (uint32_t& x : v)
                x = (static_cast<uint32_t>(rng()) & mask) | (0x0a000000u & ~mask);
            std::vector<uint32_t> want = v;
            std::sort(want.begin(), want.end());
            radix_sort(v, scratch);
            INFO("mask " << mask << ", " << n << " values");
            CHECK(v == want);
        }
}

TEST_CASE("index: a chunk's sets hold exactly the values of its packets, over many batches")
{
    // 30 000 packets of random addresses, ports and protocols: each set
    // holds exactly what the packets had, none lost or made up (the
    // addresses through batches of 8192, radix_sort, and the sets).
    std::mt19937 rng(5);
    index_builder b(index_builder::folding::never);
    std::set<uint32_t> addresses, ports, protocols;
    std::vector<uint8_t> p = ipv4_frame(64, 0, 0, 0);
    for (int i = 0; i < 30000; i++) {
        const uint32_t src = i == 0 ? 0 : i == 1 ? UINT32_MAX : static_cast<uint32_t>(rng());
        const uint32_t dst = static_cast<uint32_t>(rng()) & (i % 2 ? 0xffffffffu : 0x0a0000ffu);
        const auto sport = static_cast<uint16_t>(rng()), dport = static_cast<uint16_t>(rng() % 1024);
        p[23] = static_cast<uint8_t>(rng() % 4 == 0 ? rng() : 6);
        put32(p, 26, src);
        put32(p, 30, dst);
        put16(p, 34, sport);
        put16(p, 36, dport);
        addresses.insert({src, dst});
        ports.insert({sport, dport});
        protocols.insert(p[23]);
        b.add_packet(p.data(), static_cast<uint32_t>(p.size()), 1);
    }
    const uint8_t first[16] = {};
    const index_chunk c = b.finish(0, 1, false, first);
    const auto same = [](const roaring_bitmap_t* set, const std::set<uint32_t>& want) {
        std::vector<uint32_t> got(roaring_bitmap_get_cardinality(set));
        roaring_bitmap_to_uint32_array(set, got.data());
        return std::equal(got.begin(), got.end(), want.begin(), want.end());
    };
    CHECK(addresses.size() > 40000);
    CHECK(same(c.set(index_field::ipv4_address), addresses));
    CHECK(same(c.set(index_field::l4_word), ports));
    CHECK(same(c.set(index_field::protocol), protocols));
}

TEST_CASE("chunk blocks: blocks of more addresses than a batch make the same sets as no blocks, and each its own")
{
    // 3 blocks of 6000 records, each record two addresses of its own:
    // 12 000 values a block, more than a batch (8192), so that a block's
    // values are merged from two batches; the chunk's IPv4 set made of its
    // blocks' equals the one a builder without blocks makes.
    index_builder with_blocks(index_builder::folding::never), without(index_builder::folding::never);
    with_blocks.set_chunk_bytes(8 * 6000 * 100);   // a block every 6000 records
    std::vector<uint8_t> b = ipv4_frame(64, 17, 0, 0);
    const uint8_t first[16] = {};
    const auto src = [](uint32_t i) { return 0x0a000000 + i * 3; };
    const auto dst = [](uint32_t i) { return 0xac100000 + (i * 7919) % 65536; };
    for (uint32_t i = 0; i < 18000; i++) {
        put32(b, 26, src(i));
        put32(b, 30, dst(i));
        with_blocks.begin_record(24 + 100 * uint64_t{i}, first);
        with_blocks.add_packet(b.data(), static_cast<uint32_t>(b.size()), 1);
        without.add_packet(b.data(), static_cast<uint32_t>(b.size()), 1);
    }
    const index_chunk c = with_blocks.finish(24, 18000 * 100, false, first);
    const index_chunk plain = without.finish(24, 18000 * 100, false, first);
    REQUIRE(c.blocks() != nullptr);
    REQUIRE(c.blocks()->places.size() == 3);
    CHECK(plain.blocks() == nullptr);
    CHECK(roaring_bitmap_get_cardinality(c.set(index_field::ipv4_address)) == 18000 + 18000);
    CHECK(roaring_bitmap_equals(c.set(index_field::ipv4_address), plain.set(index_field::ipv4_address)));
    for (uint32_t i = 0; i < 18000; i += 7) {
        const int block = static_cast<int>(i / 6000);
        INFO("record " << i);
        CHECK(c.holds(index_field::ipv4_address, '=', UINT32_MAX, src(i), block));
        CHECK_FALSE(c.holds(index_field::ipv4_address, '=', UINT32_MAX, src(i), (block + 1) % 3));
    }
}

TEST_CASE("index summary: a file whose summary rules a host out has none of its chunks' sets read")
{
    // Two chunks of 10.0.0.x and one of 192.168.1.x (IPv4, untagged).
    char dir[] = "/tmp/linecap-summary-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string path = std::string(dir) + "/a.idx";
    index_file_writer w;
    REQUIRE(w.open(path, 1, 24, 0).empty());
    std::mt19937 rng(3);
    for (int chunk = 0; chunk < 3; chunk++) {
        index_builder b;
        packet p = random_packet(rng);
        while (p.bytes[12] != 0x08 || p.bytes[13] != 0x00)
            p = random_packet(rng);
        p.caplen = static_cast<uint32_t>(p.bytes.size());
        put32(p.bytes, 26, chunk < 2 ? 0x0a000001 + static_cast<uint32_t>(chunk) : 0xc0a80101);
        put32(p.bytes, 30, chunk < 2 ? 0x0a000009 : 0xc0a80102);
        b.add_packet(p.bytes.data(), p.caplen, 1);
        REQUIRE(w.append(b.finish(24 + 1000 * static_cast<uint64_t>(chunk), 1000, false, p.bytes.data())).empty());
    }
    REQUIRE(w.close().empty());
    capture_index index;
    int fd = open(path.c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    REQUIRE(index.summary != nullptr);
    CHECK(index.summary->set_size(index_field::ipv4_address) == 5);
    CHECK((index.summary->flags & chunk_place::chunk_summary) != 0);
    compiled absent("host 10.0.0.7"), present("host 192.168.1.2"), other("net 172.16.0.0/12 or host 10.0.0.2");
    CHECK_FALSE(absent.filter.may_match(*index.summary));
    CHECK(present.filter.may_match(*index.summary));
    CHECK(other.filter.may_match(*index.summary));
    CHECK_FALSE(other.filter.may_match(index.chunks[0]));
    CHECK(other.filter.may_match(index.chunks[1]));

    // Its IPv4 set damaged: may hold anything, and the note names it.
    const uint64_t at = index.summary->stored[0].offset;
    const int rw = open(path.c_str(), O_RDWR);
    uint8_t x = 0;
    REQUIRE(pread(rw, &x, 1, static_cast<off_t>(at + 2)) == 1);
    x ^= 0x5a;
    REQUIRE(pwrite(rw, &x, 1, static_cast<off_t>(at + 2)) == 1);
    close(rw);
    fd = open(path.c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    REQUIRE(index.summary != nullptr);
    CHECK(absent.filter.may_match(*index.summary));
    CHECK(index.damage_note() == path + ": its summary unreadable (its IPv4 address set, at byte " +
                                        std::to_string(at) + ": damaged (its CRC does not match)): each chunk asked instead");

    // A folded set in any chunk: that set has no summary (may hold anything).
    index_file_writer w2;
    REQUIRE(w2.open(path, 1, 24, 0).empty());
    for (int chunk = 0; chunk < 2; chunk++) {
        index_builder b(chunk == 0 ? index_builder::folding::always : index_builder::folding::never);
        const packet p = random_packet(rng);
        b.add_packet(p.bytes.data(), p.caplen, 1);
        REQUIRE(w2.append(b.finish(24 + 1000 * static_cast<uint64_t>(chunk), 1000, false, p.bytes.data())).empty());
    }
    REQUIRE(w2.close().empty());
    fd = open(path.c_str(), O_RDONLY);
    REQUIRE(read_capture_index(fd, path, index).empty());
    close(fd);
    REQUIRE(index.summary != nullptr);
    CHECK(index.summary->stored[0].size == 0);
    CHECK(absent.filter.may_match(*index.summary));
    CHECK(index.summary->stored[static_cast<size_t>(index_field::l4_word)].size != 0);   // ports are never folded
    unlink(path.c_str());
    rmdir(dir);
}
