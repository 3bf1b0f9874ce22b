#include "core/capture_format.h"

#include <cstring>
#include <fstream>
#include <sys/utsname.h>

namespace linecap {

std::string_view format_name(file_format format)
{
    switch (format) {
    case file_format::pcap_us: return "pcap";
    case file_format::pcap_ns: return "pcap-ns";
    case file_format::pcapng: return "pcapng";
    }
    return "?";
}

std::optional<file_format> parse_format(std::string_view name)
{
    if (name == "pcap")
        return file_format::pcap_us;
    if (name == "pcap-ns")
        return file_format::pcap_ns;
    if (name == "pcapng")
        return file_format::pcapng;
    return std::nullopt;
}

std::string_view format_extension(file_format format)
{
    return format == file_format::pcapng ? "pcapng" : "pcap";
}

std::optional<capture_header> read_capture_header(const uint8_t* head, size_t n)
{
    if (n < 12)
        return std::nullopt;
    uint32_t magic, byte_order;
    std::memcpy(&magic, head, 4);
    std::memcpy(&byte_order, head + 8, 4);
    if (magic == pcapng_section_header) {   // the same either way round
        if (byte_order == pcapng_byte_order_magic || byte_order == __builtin_bswap32(pcapng_byte_order_magic))
            return capture_header{file_format::pcapng, byte_order != pcapng_byte_order_magic};
        return std::nullopt;
    }
    if (n < sizeof(pcap_file_header))
        return std::nullopt;
    for (bool swapped : {false, true}) {
        const uint32_t m = swapped ? __builtin_bswap32(magic) : magic;
        if (m == pcap_magic_ns)
            return capture_header{file_format::pcap_ns, swapped};
        if (m == pcap_magic_us)
            return capture_header{file_format::pcap_us, swapped};
    }
    return std::nullopt;
}

bool is_capture_file_name(std::string_view name)
{
    for (std::string_view ext : {".pcap", ".pcapng", ".pcap.part", ".pcapng.part"})
        if (name.size() > ext.size() && name.ends_with(ext))
            return true;
    return false;
}

const std::string& host_os_description()
{
    static const std::string text = [] {
        utsname u{};
        if (uname(&u) != 0)
            return std::string("Linux");
        return std::string(u.sysname) + " " + u.release;
    }();
    return text;
}

const std::string& host_hardware_description()
{
    static const std::string text = [] {
        std::ifstream cpuinfo("/proc/cpuinfo");
        std::string line;
        while (std::getline(cpuinfo, line)) {
            if (line.rfind("model name", 0) == 0) {
                const auto colon = line.find(':');
                if (colon != std::string::npos)
                    return line.substr(line.find_first_not_of(' ', colon + 1));
            }
        }
        return std::string("unknown CPU");
    }();
    return text;
}

} // namespace linecap
