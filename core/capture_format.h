// The capture file formats, as tcpdump, Wireshark and capinfos read them:
//
//  - pcap: a 24-byte file header, then a 16-byte header before each packet.
//    Microsecond or nanosecond timestamps, told apart by the magic number.
//  - pcapng: blocks. A Section Header Block naming the OS, the hardware and
//    linecap; an Interface Description Block per port (name, driver,
//    nanosecond resolution, snap length); an Enhanced Packet Block per
//    packet; at the end an Interface Statistics Block per port with the
//    packets it received and dropped.
//
// All fields in host byte order; readers learn it from the magic numbers.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace linecap {

enum class file_format : uint8_t {
    pcap_us,   // "pcap": microsecond timestamps, the oldest and most portable
    pcap_ns,   // "pcap-ns": nanosecond timestamps, the default
    pcapng,    // "pcapng": nanosecond timestamps, interfaces and statistics
};

constexpr uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr uint16_t pcap_version_major = 2;
constexpr uint16_t pcap_version_minor = 4;
// LINKTYPE_ values, what a file's header and interfaces hold; libpcap's API
// takes DLT_ values (dlt_of_linktype, writers/capture_reader.h).
// LINKTYPE_ETHERNET (DLT_EN10MB): every file but a "decap": "ip" session's.
constexpr uint32_t linktype_ethernet = 1;
// LINKTYPE_RAW (libpcap's DLT_RAW is 12): IPv4 or IPv6 packets, told apart by their version.
constexpr uint32_t linktype_raw = 101;

// libpcap's MAXIMUM_SNAPLEN: larger snap lengths make readers refuse the file.
// A snap length of 0 on the command line means "whole packet" and is written
// as this value, as tcpdump does.
constexpr uint32_t pcap_max_snaplen = 262144;

struct pcap_file_header {
    uint32_t magic;
    uint16_t version_major;
    uint16_t version_minor;
    int32_t thiszone;   // always 0: timestamps are UTC
    uint32_t sigfigs;   // always 0
    uint32_t snaplen;
    uint32_t linktype;
};
static_assert(sizeof(pcap_file_header) == 24);

struct pcap_record_header {
    uint32_t ts_sec;
    uint32_t ts_frac;   // microseconds or nanoseconds, per the magic
    uint32_t caplen;    // bytes that follow in the file
    uint32_t len;       // length of the packet on the wire
};
static_assert(sizeof(pcap_record_header) == 16);

inline pcap_file_header make_pcap_file_header(file_format format, uint32_t snaplen,
                                              uint32_t linktype = linktype_ethernet)
{
    return {
        format == file_format::pcap_ns ? pcap_magic_ns : pcap_magic_us,
        pcap_version_major, pcap_version_minor, 0, 0,
        snaplen == 0 ? pcap_max_snaplen : snaplen,
        linktype,
    };
}

// Timestamps are unsigned nanoseconds since the Unix epoch everywhere in
// linecap. pcap record seconds are an unsigned 32-bit count (the IETF pcap
// draft; tcpdump, Wireshark): they run to 2106-02-07T06:28:15Z, and a time
// past 2038-01-19 (2^31 s) is not negative. libpcap 1.10 and DPDK's net_pcap
// hand those back sign-extended; pcap_seconds() undoes it.
constexpr uint64_t ns_per_second = 1000000000u;

// The pcap seconds field of a `time_t` that libpcap filled from a pcap record
// header (sign-extended past 2^31: 2038 read as 1901).
inline uint64_t pcap_seconds(int64_t tv_sec)
{
    return static_cast<uint32_t>(tv_sec);
}

inline pcap_record_header make_pcap_record_header(file_format format, uint64_t ts_ns,
                                                  uint32_t caplen, uint32_t len)
{
    const uint64_t frac = ts_ns % ns_per_second;
    return {
        static_cast<uint32_t>(ts_ns / ns_per_second),
        static_cast<uint32_t>(format == file_format::pcap_ns ? frac : frac / 1000),
        caplen, len,
    };
}

// --- what a record is ---------------------------------------------------------
//
// One rule for every reader and writer of capture files (the walk that
// recovery, counting and a failed write use; the reader that merge and
// `linecap -r` use; the writer that must never write what they refuse):
//
//  - a record is complete when its header and every byte it declares are in
//    the file;
//  - pcap: its captured length is at most max(file snaplen, 262144) (what
//    libpcap accepts). Any original length is allowed, 0 included (zero-
//    length records exist, and linecap replays and writes them). A captured
//    length above the original length breaks the format's rule ("the
//    minimum of the original length and the snapshot length"): readers keep
//    the bytes and take the captured length as the original one
//    (repair_lengths), the writer never produces it;
//  - pcapng: a block's length is a multiple of 4, at least 12, and repeated
//    at its end; packets are Enhanced, Simple and (obsolete) Packet Blocks;
//  - "unwritten": in a file still being written (.part) or cut by a failed
//    write, the bytes after the last record may be zeros (output_file grows a
//    file before a chunk's write lands). A pcap header of all zeros, or a
//    pcapng block of type 0, ends the data there. In a finished file they are
//    what they say (pcap: a zero-length record at the epoch; pcapng: invalid).
enum class record_verdict : uint8_t {
    record,      // a record; its length is known
    unwritten,   // zeros: the data ends here (only in a file that may have an unwritten tail)
    invalid,     // not a record: the data ends here, and a finished file is damaged
};

// The largest captured length a pcap record may have, whatever its file's
// snap length says: libpcap refuses a longer one of the link types linecap
// reads ("invalid packet capture length N, bigger than maximum of 262144":
// its max_snaplen_for_dlt of Ethernet and raw IP), and tcpdump -r stops there.
constexpr uint32_t pcap_max_caplen = pcap_max_snaplen;

inline record_verdict check_pcap_record(const pcap_record_header& h, uint32_t max_caplen, bool may_be_unwritten)
{
    if (may_be_unwritten && h.ts_sec == 0 && h.ts_frac == 0 && h.caplen == 0 && h.len == 0)
        return record_verdict::unwritten;
    return h.caplen <= max_caplen ? record_verdict::record : record_verdict::invalid;
}

// A record whose captured length exceeds its original length: the bytes are
// real, so the packet was at least that long. Returns whether it changed.
inline bool repair_lengths(uint32_t caplen, uint32_t& len)
{
    if (caplen <= len)
        return false;
    len = caplen;
    return true;
}

// --- pcapng (draft-ietf-opsawg-pcapng) --------------------------------------

constexpr uint32_t pcapng_section_header = 0x0A0D0D0A;
constexpr uint32_t pcapng_interface_description = 0x00000001;
constexpr uint32_t pcapng_interface_statistics = 0x00000005;
constexpr uint32_t pcapng_enhanced_packet = 0x00000006;
constexpr uint32_t pcapng_packet_obsolete = 0x00000002;   // read, never written
constexpr uint32_t pcapng_simple_packet = 0x00000003;     // read, never written
constexpr uint32_t pcapng_byte_order_magic = 0x1A2B3C4D;

// Option codes.
constexpr uint16_t pcapng_opt_end = 0;
constexpr uint16_t pcapng_opt_comment = 1;   // any block's comment (UTF-8)
constexpr uint16_t pcapng_shb_hardware = 2;
constexpr uint16_t pcapng_shb_os = 3;
constexpr uint16_t pcapng_shb_userappl = 4;
constexpr uint16_t pcapng_if_name = 2;
constexpr uint16_t pcapng_if_description = 3;
constexpr uint16_t pcapng_if_tsresol = 9;
constexpr uint16_t pcapng_if_tsoffset = 14;   // int64 seconds added to the interface's times
constexpr uint16_t pcapng_isb_starttime = 2;
constexpr uint16_t pcapng_isb_endtime = 3;
constexpr uint16_t pcapng_isb_ifrecv = 4;
constexpr uint16_t pcapng_isb_ifdrop = 5;

// Enhanced Packet Block: this header, the data padded to 4 bytes, then the
// block length again.
struct pcapng_epb_header {
    uint32_t type;
    uint32_t total_length;
    uint32_t interface_id;
    uint32_t ts_high;      // nanoseconds since the epoch (if_tsresol 9), high word
    uint32_t ts_low;
    uint32_t caplen;
    uint32_t len;
};
static_assert(sizeof(pcapng_epb_header) == 28);

inline uint32_t pcapng_padded(uint32_t n)
{
    return (n + 3u) & ~3u;
}

inline bool pcapng_is_packet_block(uint32_t type)
{
    return type == pcapng_enhanced_packet || type == pcapng_simple_packet || type == pcapng_packet_obsolete;
}

// The length fields of a block (see "what a record is" above). The caller
// also checks that the length is repeated at the block's end, and that a
// packet block's captured length fits in it.
inline record_verdict check_pcapng_block(uint32_t type, uint32_t total, uint32_t max_total, bool may_be_unwritten)
{
    if (may_be_unwritten && type == 0 && total == 0)
        return record_verdict::unwritten;
    return total >= 12 && total % 4 == 0 && total <= max_total ? record_verdict::record : record_verdict::invalid;
}

// A pcapng block's type and total length (header and trailer included),
// from its first 12 bytes as they lie in the file. A Section Header Block
// sets the byte order of itself and of every block up to the next one (its
// byte-order magic, at byte 8): `swapped` is the order of the section the
// walk is in, changed at a Section Header Block. The one step of every walk
// over a file's blocks; check the length with check_pcapng_block before
// stepping over it.
struct pcapng_block_head {
    uint32_t type;
    uint32_t total;
};

inline pcapng_block_head read_pcapng_block_head(const void* first_12_bytes, bool& swapped)
{
    uint32_t words[3];
    std::memcpy(words, first_12_bytes, sizeof words);
    if (words[0] == pcapng_section_header)   // the same in either byte order
        swapped = words[2] == __builtin_bswap32(pcapng_byte_order_magic);
    return {swapped ? __builtin_bswap32(words[0]) : words[0], swapped ? __builtin_bswap32(words[1]) : words[1]};
}

// Names as the command line and session specs spell them.
std::string_view format_name(file_format format);
std::optional<file_format> parse_format(std::string_view name);
std::string_view format_extension(file_format format);

// What a capture file's first bytes announce: the format, and whether the
// file was written on a machine of the other byte order (pcap: a swapped
// magic; pcapng: a swapped byte-order magic). `head` holds the first `n`
// bytes; 12 are enough for pcapng, 24 (the file header) for pcap. None when
// it is neither, or too short to tell.
struct capture_header {
    file_format format;
    bool swapped;
};
std::optional<capture_header> read_capture_header(const uint8_t* head, size_t n);

// Names of capture files as linecap writes them (NAME.pcap, NAME.pcapng)
// and as they are called while open (the same with .part after it).
bool is_capture_file_name(std::string_view name);

// What a Section Header Block says about the machine: "Linux 6.1.0", the CPU
// model, "linecap 0.1.0". Read once.
const std::string& host_os_description();
const std::string& host_hardware_description();

} // namespace linecap
