#include "core/capture_format.h"

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
