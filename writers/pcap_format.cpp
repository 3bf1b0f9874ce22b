#include "writers/pcap_format.h"

namespace linecap {

std::string_view format_name(file_format format)
{
    switch (format) {
    case file_format::pcap_us: return "pcap";
    case file_format::pcap_ns: return "pcap-ns";
    }
    return "?";
}

std::optional<file_format> parse_format(std::string_view name)
{
    if (name == "pcap")
        return file_format::pcap_us;
    if (name == "pcap-ns")
        return file_format::pcap_ns;
    return std::nullopt;
}

std::string_view format_extension(file_format)
{
    return "pcap";
}

} // namespace linecap
