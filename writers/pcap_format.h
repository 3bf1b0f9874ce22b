// The classic libpcap file format, as written by tcpdump -w and read by
// every tool that opens captures. All fields are in host byte order; readers
// detect it from the magic number.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace linecap {

enum class file_format : uint8_t {
    pcap_us,   // "pcap": microsecond timestamps, the oldest and most portable
    pcap_ns,   // "pcap-ns": nanosecond timestamps, the default
};

constexpr uint32_t pcap_magic_us = 0xa1b2c3d4;
constexpr uint32_t pcap_magic_ns = 0xa1b23c4d;
constexpr uint16_t pcap_version_major = 2;
constexpr uint16_t pcap_version_minor = 4;
constexpr uint32_t linktype_ethernet = 1;

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

inline pcap_file_header make_pcap_file_header(file_format format, uint32_t snaplen)
{
    return {
        format == file_format::pcap_ns ? pcap_magic_ns : pcap_magic_us,
        pcap_version_major, pcap_version_minor, 0, 0,
        snaplen == 0 ? pcap_max_snaplen : snaplen,
        linktype_ethernet,
    };
}

// `ts_ns` is read as signed: a capture file replayed by net_pcap may carry
// times before 1970 (malformed files do), which arrive as negative values.
inline pcap_record_header make_pcap_record_header(file_format format, uint64_t ts_ns,
                                                  uint32_t caplen, uint32_t len)
{
    const int64_t t = static_cast<int64_t>(ts_ns);
    int64_t sec = t / 1000000000;
    int64_t ns = t % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec -= 1;
    }
    return {
        static_cast<uint32_t>(sec),
        static_cast<uint32_t>(format == file_format::pcap_ns ? ns : ns / 1000u),
        caplen, len,
    };
}

// Names as the command line and session specs spell them.
std::string_view format_name(file_format format);
std::optional<file_format> parse_format(std::string_view name);
std::string_view format_extension(file_format format);

} // namespace linecap
