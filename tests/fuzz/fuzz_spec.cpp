// libFuzzer target: the session spec parser on arbitrary bytes, and, for a
// spec that parses, everything the control thread checks before it starts a
// session (check_session_filter): libpcap compiling the BPF expression,
// Hyperscan compiling the payload patterns, the match rules expanded into
// rte_acl rules. None of it needs EAL (no rte_acl context is created, only
// its rules packed), so none is initialised: a call that did need it would
// fail here, loudly.
// Built by scripts/fuzz with clang (-fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "filters/classifier.h"
#include "filters/spec.h"

namespace {

// An error is text a person can read (it may quote the input, newlines and all).
bool readable(const std::string& error)
{
    return error.find('\0') == std::string::npos;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    linecap::session_spec spec;
    const std::string error = linecap::parse_session_spec_text(text, spec);
    if (!error.empty()) {
        if (!readable(error))
            std::abort();
        return 0;
    }
    // What the parser accepted holds what the classifier relies on.
    for (const linecap::match_rule& rule : spec.match) {
        for (const auto* ranges : {&rule.src, &rule.dst})
            for (const linecap::ip_range& r : *ranges)
                if ((r.family != 4 && r.family != 6) || r.lo > r.hi)
                    std::abort();
        for (const auto* ports : {&rule.src_ports, &rule.dst_ports})
            for (const linecap::port_range& p : *ports)
                if (p.lo > p.hi)
                    std::abort();
    }
    const std::string filter_error = linecap::check_session_filter(spec);
    if (!readable(filter_error))
        std::abort();
    return 0;
}
