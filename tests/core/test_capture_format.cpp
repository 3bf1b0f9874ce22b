// What a capture file's first bytes announce, and which names are capture
// files: the one answer merge, recovery and the catalog share.
#include <catch2/catch.hpp>

#include <cstring>

#include "core/capture_format.h"

using namespace linecap;

namespace {

std::vector<uint8_t> head_of(uint32_t magic, uint32_t word2 = 0, uint32_t word3 = 0, size_t size = 24)
{
    std::vector<uint8_t> head(size);
    std::memcpy(head.data(), &magic, 4);
    std::memcpy(head.data() + 4, &word2, 4);
    if (size >= 12)
        std::memcpy(head.data() + 8, &word3, 4);
    return head;
}

} // namespace

TEST_CASE("read_capture_header: pcap µs and ns, pcapng, both byte orders")
{
    struct expect {
        std::vector<uint8_t> head;
        std::optional<file_format> format;
        bool swapped;
    };
    const expect cases[] = {
        {head_of(pcap_magic_us), file_format::pcap_us, false},
        {head_of(pcap_magic_ns), file_format::pcap_ns, false},
        {head_of(__builtin_bswap32(pcap_magic_us)), file_format::pcap_us, true},
        {head_of(__builtin_bswap32(pcap_magic_ns)), file_format::pcap_ns, true},
        {head_of(pcapng_section_header, 28, pcapng_byte_order_magic, 12), file_format::pcapng, false},
        {head_of(pcapng_section_header, 28, __builtin_bswap32(pcapng_byte_order_magic), 12), file_format::pcapng, true},
        // A Section Header Block without its byte-order magic is not pcapng.
        {head_of(pcapng_section_header, 28, 0x12345678, 24), std::nullopt, false},
        // pcap needs its whole 24-byte header; pcapng its first 12 bytes.
        {head_of(pcap_magic_ns, 0, 0, 23), std::nullopt, false},
        {head_of(pcapng_section_header, 28, 0, 11), std::nullopt, false},
        {head_of(0x464c457f), std::nullopt, false},   // an ELF file
    };
    for (const expect& c : cases) {
        const std::optional<capture_header> h = read_capture_header(c.head.data(), c.head.size());
        REQUIRE(h.has_value() == c.format.has_value());
        if (h) {
            CHECK(h->format == *c.format);
            CHECK(h->swapped == c.swapped);
        }
    }
}

TEST_CASE("is_capture_file_name: linecap's file names, open and closed")
{
    for (const char* name : {"a.pcap", "a.pcapng", "a.pcap.part", "a.pcapng.part", "merged.pcap",
                             "web-w0-000001-20261129T184200Z.pcapng"})
        CHECK(is_capture_file_name(name));
    for (const char* name : {".pcap", ".pcapng.part", "a.pcap.gz", "a.cap", "session.json", "a.part", "pcap"})
        CHECK_FALSE(is_capture_file_name(name));
}
