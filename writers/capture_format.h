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
constexpr uint32_t linktype_ethernet = 1;   // DLT_EN10MB: every file but a "decap": "ip" session's
constexpr uint32_t linktype_raw = 101;      // DLT_RAW: IPv4 or IPv6 packets, told apart by their version

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

// `ts_ns` is read as signed: a capture file replayed by net_pcap may carry
// times before 1970 (malformed files do), which arrive as negative values.
inline void split_ns(uint64_t ts_ns, int64_t& sec, int64_t& ns)
{
    const int64_t t = static_cast<int64_t>(ts_ns);
    sec = t / 1000000000;
    ns = t % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec -= 1;
    }
}

inline pcap_record_header make_pcap_record_header(file_format format, uint64_t ts_ns,
                                                  uint32_t caplen, uint32_t len)
{
    int64_t sec, ns;
    split_ns(ts_ns, sec, ns);
    return {
        static_cast<uint32_t>(sec),
        static_cast<uint32_t>(format == file_format::pcap_ns ? ns : ns / 1000),
        caplen, len,
    };
}

// --- pcapng (draft-ietf-opsawg-pcapng) --------------------------------------

constexpr uint32_t pcapng_section_header = 0x0A0D0D0A;
constexpr uint32_t pcapng_interface_description = 0x00000001;
constexpr uint32_t pcapng_interface_statistics = 0x00000005;
constexpr uint32_t pcapng_enhanced_packet = 0x00000006;
constexpr uint32_t pcapng_byte_order_magic = 0x1A2B3C4D;

// Option codes.
constexpr uint16_t pcapng_opt_end = 0;
constexpr uint16_t pcapng_shb_hardware = 2;
constexpr uint16_t pcapng_shb_os = 3;
constexpr uint16_t pcapng_shb_userappl = 4;
constexpr uint16_t pcapng_if_name = 2;
constexpr uint16_t pcapng_if_description = 3;
constexpr uint16_t pcapng_if_tsresol = 9;
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

// Names as the command line and session specs spell them.
std::string_view format_name(file_format format);
std::optional<file_format> parse_format(std::string_view name);
std::string_view format_extension(file_format format);

// What a Section Header Block says about the machine: "Linux 6.1.0", the CPU
// model, "linecap 0.1.0". Read once.
const std::string& host_os_description();
const std::string& host_hardware_description();

} // namespace linecap
