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
#include "core/spec.h"

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
    auto check_rule = [](const linecap::match_rule& rule) {
        for (const auto* ranges : {&rule.src, &rule.dst})
            for (const linecap::ip_range& r : *ranges)
                if ((r.family != 4 && r.family != 6) || r.lo > r.hi)
                    std::abort();
        for (const auto* ports : {&rule.src_ports, &rule.dst_ports})
            for (const linecap::port_range& p : *ports)
                if (p.lo > p.hi)
                    std::abort();
    };
    for (const linecap::match_rule& rule : spec.match)
        check_rule(rule);
    // Mirror fields (docs/mirror.md): only with "tunnel": "inner"; the
    // writer's ports are the classifier's; at most 8 ports of each kind, none 0.
    const linecap::tunnel_spec& t = spec.tunnel;
    if (!t.inner && (!t.ids.empty() || t.outer || spec.output.decap != linecap::decap_mode::none || !(t.ports == linecap::tunnel_ports{})))
        std::abort();
    if (!(spec.output.tunnel == t.ports))
        std::abort();
    if (t.ports.vxlan_count > linecap::max_tunnel_ports || t.ports.geneve_count > linecap::max_tunnel_ports)
        std::abort();
    for (unsigned i = 0; i < t.ports.vxlan_count; i++)
        if (t.ports.vxlan[i] == 0)
            std::abort();
    for (unsigned i = 0; i < t.ports.geneve_count; i++)
        if (t.ports.geneve[i] == 0)
            std::abort();
    for (const linecap::tunnel_id_range& r : t.ids)
        if (r.lo > r.hi)
            std::abort();
    if (t.outer)
        check_rule(*t.outer);
    const std::string filter_error = linecap::check_session_filter(spec);
    if (!readable(filter_error))
        std::abort();
    return 0;
}
