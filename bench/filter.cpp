// bench/filter: what the fast-path filter costs per packet, on one core.
//
//   build/bench/linecap-bench-filter [--packets N] [--rules 1,16,256,4096] [--seconds S]
//   build/bench/linecap-bench-filter --write-pcap F --write-specs DIR [--packets N] [--rules ...]
//   build/bench/linecap-bench-filter --pcap F [--spec S.json ...] [--expression EXPR ...] [--packets N]
//                                    [--repeat N] [--driver-copy] [--hugepages]
//
// The second form writes the same traffic as a pcap file and each rule set
// as DIR/rules-N.json (a session spec) and DIR/rules-N.bpf (the tcpdump
// expression), for scripts/bench to run through the whole engine.
//
// Traffic: 16384 IPv4 TCP frames of 64 bytes from 409600 flows, in mbufs,
// classified again and again in bursts of 32. Each rule set keeps about 1%
// of it: N rules, each one source range of 4096/N addresses, "tcp dst port
// 443". The same rules run as one tcpdump expression through libpcap's
// interpreter (pcap_offline_filter, what tcpdump uses) and through DPDK's
// rte_bpf: its interpreter a packet at a time, its interpreter over the
// burst, and the guarded JIT over the burst (linecap's default,
// filters/bpf.h). Prints ns per packet and Mpps; the ratios
// are what to compare, since the machine is shared.
//
// The third form classifies the first N frames of a capture file (1024 by
// default: what a worker's caches hold, as a driver has just written the
// packets it hands over) with each session given, alone: ns per packet, for
// perf and for a change's effect before the whole engine is run. What a
// small working set hides: the CPU learns the order of a few thousand
// frames by heart, and its branches on each frame's kind (family, tag,
// protocol) stop costing anything (--packets 2048 --repeat 10 shows it:
// as many frames, as cold, in an order of 2048). --driver-copy --packets
// 20480 on mix-20k.pcap is the worker's case instead: each burst copied from the
// file's frames into recycled mbufs, as net_pcap's infinite_rx does, then
// classified; the figure is the time beyond the copy alone (measured
// first). --hugepages runs it on hugepages, as the engine does.
//
// Then mirror mode (docs/mirror.md): the same frames inside VXLAN, and the
// same rule sets as an outer session on the plain frames, as an outer
// session on the VXLAN frames (nothing matches: the walk is not made), and
// as a "tunnel": "inner" session on the VXLAN frames (the inner pass).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pcap/pcap.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "bench/traffic.h"
#include "core/packet_meta.h"
#include "filters/classifier.h"

using namespace linecap;

namespace {

constexpr unsigned burst = 32;
constexpr unsigned flow_count = 409600;   // 1% of them is 4096 flows
constexpr unsigned kept_flows = 4096;

std::string v4(unsigned index)
{
    // Flow i has source 10.a.b.c with i = a*65536 + b*256 + c.
    return fmt::format("10.{}.{}.{}", (index >> 16) & 255, (index >> 8) & 255, index & 255);
}

std::vector<rte_mbuf*> make_traffic(rte_mempool* pool, unsigned count, uint64_t seed, bool vxlan = false)
{
    std::vector<rte_mbuf*> out;
    uint64_t x = seed;
    for (unsigned i = 0; i < count; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const unsigned flow = static_cast<unsigned>((x >> 33) % flow_count);
        traffic::frame_spec f;
        f.ip_version = 4;
        const std::string src = v4(flow);
        unsigned a, b, c, d;
        sscanf(src.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d);
        f.src = {static_cast<uint8_t>(a), static_cast<uint8_t>(b), static_cast<uint8_t>(c), static_cast<uint8_t>(d)};
        f.dst = {192, 168, 1, 1};
        f.protocol = 6;
        f.src_port = static_cast<uint16_t>(1024 + flow % 60000);
        f.dst_port = 443;
        f.tcp_flags = 0x10;
        f.frame_length = 64;
        auto bytes = traffic::build_frame(f);
        if (vxlan) {
            traffic::tunnel_frame t;
            t.id = 100 + flow % 16;
            bytes = traffic::encapsulate(t, bytes);
        }
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size())), bytes.data(), bytes.size());
        out.push_back(m);
    }
    return out;
}

struct rule_set {
    std::string spec;        // JSON
    std::string expression;  // the same for tcpdump
};

rule_set make_rules(unsigned n)
{
    const unsigned width = kept_flows / n;
    std::string rules, expr;
    for (unsigned j = 0; j < n; j++) {
        const unsigned lo = j * (flow_count / n), hi = lo + width - 1;   // spread over the space
        rules += fmt::format(R"({}{{"src":["{}-{}"],"protocols":["tcp"],"dst_ports":[443]}})", j ? "," : "", v4(lo), v4(hi));
        // width is a power of two and lo a multiple of it: one prefix.
        unsigned len = 32;
        while ((1u << (32 - len)) < width)
            len--;
        expr += fmt::format("{}(ip src net {}/{})", j ? " or " : "", v4(lo), len);
    }
    return {R"({"match":[)" + rules + "]}", "tcp dst port 443 and (" + expr + ")"};
}

struct result {
    double ns_per_packet;
    double kept_percent;
};

template <typename Fn>
result measure(const std::vector<rte_mbuf*>& pkts, double seconds, Fn&& classify_burst)
{
    uint64_t packets = 0, kept = 0;
    const auto start = std::chrono::steady_clock::now();
    const uint64_t t0 = rte_rdtsc();
    double elapsed = 0;
    while (elapsed < seconds) {
        for (size_t i = 0; i + burst <= pkts.size(); i += burst)
            kept += classify_burst(const_cast<rte_mbuf**>(pkts.data() + i));
        packets += pkts.size() / burst * burst;
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double ns = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz()) * 1e9;
    return {ns / static_cast<double>(packets), 100.0 * static_cast<double>(kept) / static_cast<double>(packets)};
}

// The classifier's cost over `pkts`, bursts of `burst`: what a worker calls.
result measure_classifier(const classifier& c, const std::vector<rte_mbuf*>& pkts, double seconds)
{
    session_mask masks[burst];
    return measure(pkts, seconds, [&](rte_mbuf** b) {
        c.classify(0, b, burst, masks);
        uint64_t k = 0;
        for (unsigned i = 0; i < burst; i++)
            k += masks[i] != 0;
        return k;
    });
}

// --driver-copy: what a worker sees behind net_pcap's infinite_rx. Each
// burst is 32 mbufs taken from a pool (its per-lcore cache: the ones freed
// a burst ago), the file's next frames copied into them as the driver does,
// classified (or not: the reference), freed. Returns ns per packet.
result measure_after_copy(const classifier* c, const std::vector<rte_mbuf*>& source, rte_mempool* pool,
                          double seconds)
{
    session_mask masks[burst];
    size_t next = 0;
    uint64_t packets = 0, kept = 0;
    const uint64_t t0 = rte_rdtsc();
    const uint64_t end = t0 + static_cast<uint64_t>(seconds * static_cast<double>(rte_get_tsc_hz()));
    rte_mbuf* b[burst];
    while (rte_rdtsc() < end) {
        for (unsigned round = 0; round < 1024; round++) {
            if (rte_pktmbuf_alloc_bulk(pool, b, burst) != 0)
                return {0, 0};
            for (unsigned i = 0; i < burst; i++) {
                const rte_mbuf* from = source[next];
                if (++next == source.size())
                    next = 0;
                rte_memcpy(rte_pktmbuf_mtod(b[i], void*), rte_pktmbuf_mtod(from, const void*), from->data_len);
                b[i]->data_len = from->data_len;
                b[i]->pkt_len = from->pkt_len;
            }
            if (c != nullptr) {
                c->classify(0, b, burst, masks);
                for (unsigned i = 0; i < burst; i++)
                    kept += masks[i] != 0;
            }
            rte_pktmbuf_free_bulk(b, burst);
            packets += burst;
        }
    }
    const double ns = static_cast<double>(rte_rdtsc() - t0) / static_cast<double>(rte_get_tsc_hz()) * 1e9;
    return {ns / static_cast<double>(packets), 100.0 * static_cast<double>(kept) / static_cast<double>(packets)};
}

// The --pcap form: each session alone over the file's first `count` frames.
int classify_file(const std::string& file, unsigned count, const std::vector<std::string>& spec_files,
                  const std::vector<std::string>& expressions, double seconds, bool driver_copy, unsigned repeat,
                  bpf_runner runner)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* in = pcap_open_offline(file.c_str(), errbuf);
    if (in == nullptr) {
        fmt::print(stderr, "{}\n", errbuf);
        return 1;
    }
    rte_mempool* pool =
        rte_pktmbuf_pool_create("bench_file", count * repeat + 1024, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (pool == nullptr) {
        fmt::print(stderr, "no mbuf pool for {} frames: {}\n", count, rte_strerror(rte_errno));
        return 1;
    }
    std::vector<rte_mbuf*> pkts;
    pcap_pkthdr* h;
    const u_char* data;
    while (pkts.size() < count && pcap_next_ex(in, &h, &data) == 1) {
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        if (m == nullptr)
            break;
        const uint16_t len = static_cast<uint16_t>(std::min<uint32_t>(h->caplen, rte_pktmbuf_tailroom(m)));
        std::memcpy(rte_pktmbuf_append(m, len), data, len);
        pkts.push_back(m);
    }
    pcap_close(in);
    pkts.resize(pkts.size() / burst * burst);
    if (pkts.empty()) {
        fmt::print(stderr, "{}: fewer than {} frames\n", file, burst);
        return 1;
    }
    // --repeat: the same frames again, each in an mbuf of its own, so the
    // order is learnable and the copy's source as large and as cold.
    for (size_t frames = pkts.size(), copy = 1; copy < repeat; copy++)
        for (size_t i = 0; i < frames; i++) {
            rte_mbuf* m = rte_pktmbuf_copy(pkts[i], pool, 0, UINT32_MAX);
            if (m == nullptr) {
                fmt::print(stderr, "no mbuf for {} frames {} times\n", frames, repeat);
                return 1;
            }
            pkts.push_back(m);
        }
    rte_mempool* rx_pool = nullptr;
    if (driver_copy) {
        rx_pool = rte_pktmbuf_pool_create("bench_rx", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
        if (rx_pool == nullptr) {
            fmt::print(stderr, "no mbuf pool for the driver's copies: {}\n", rte_strerror(rte_errno));
            return 1;
        }
    }
    std::vector<std::pair<std::string, session_spec>> sessions;
    for (const std::string& f : spec_files) {
        session_spec spec;
        std::ifstream text(f);
        if (!text) {
            fmt::print(stderr, "{}: cannot read it\n", f);
            return 1;
        }
        if (std::string e = parse_session_spec_text(std::string(std::istreambuf_iterator<char>(text), {}), spec);
            !e.empty()) {
            fmt::print(stderr, "{}: {}\n", f, e);
            return 1;
        }
        sessions.emplace_back(f, spec);
    }
    for (const std::string& e : expressions) {
        session_spec spec;
        spec.bpf = e;
        sessions.emplace_back("'" + e + "'", spec);
    }
    fmt::print("{} frames of {}, bursts of {}\n", pkts.size(), file, burst);
    for (const auto& [name, spec] : sessions) {
        std::string error;
        auto filter = session_filter::compile(spec, error, runner);
        auto c = filter ? classifier::build({{0, filter}}, 1, 0, error) : nullptr;
        if (!c) {
            fmt::print(stderr, "{}: {}\n", name, error);
            return 1;
        }
        if (driver_copy) {
            const result copy = measure_after_copy(nullptr, pkts, rx_pool, seconds);
            const result r = measure_after_copy(c.get(), pkts, rx_pool, seconds);
            fmt::print("{:7.1f} ns/packet after the copy ({:.1f} the copy alone)  kept {:5.2f}%  {}\n",
                       r.ns_per_packet - copy.ns_per_packet, copy.ns_per_packet, r.kept_percent, name);
            continue;
        }
        const result r = measure_classifier(*c, pkts, seconds);
        fmt::print("{:7.1f} ns/packet  kept {:5.2f}%  {}\n", r.ns_per_packet, r.kept_percent, name);
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"linecap-bench-filter: the filter's cost per packet on one core"};
    std::vector<unsigned> counts = {1, 16, 256, 4096};
    unsigned packets = 16384;
    double seconds = 1.0;
    bool skip_libpcap_large = false;
    app.add_option("--rules", counts, "Rule counts")->delimiter(',');
    app.add_option("--packets", packets, "Frames in the working set");
    app.add_option("--seconds", seconds, "Time per measurement");
    app.add_flag("--skip-slow", skip_libpcap_large, "Skip libpcap and rte_bpf above 256 rules");
    std::string write_pcap, write_specs;
    app.add_option("--write-pcap", write_pcap, "Write the traffic to this pcap file and exit");
    app.add_option("--write-specs", write_specs, "Write the rule sets into this folder and exit");
    std::string pcap_file;
    std::vector<std::string> spec_files, expressions;
    app.add_option("--pcap", pcap_file, "Classify this capture file's first --packets frames (default 1024)");
    app.add_option("--spec", spec_files, "With --pcap: a session spec file");
    app.add_option("--expression", expressions, "With --pcap: a tcpdump expression");
    bool driver_copy = false, hugepages = false;
    unsigned repeat = 1;
    app.add_option("--repeat", repeat, "With --pcap: the frames this many times over, each copy in mbufs of its own")
        ->check(CLI::Range(1u, 64u));
    app.add_flag("--driver-copy", driver_copy,
                 "With --pcap: copy each burst from the frames into fresh mbufs first, as net_pcap's "
                 "infinite_rx does, and report the cost beyond that copy");
    app.add_flag("--hugepages", hugepages, "Run EAL on hugepages (1 GiB of them), not --no-huge");
    bool bpf_interpreter = false;
    app.add_flag("--bpf-interpreter", bpf_interpreter,
                 "With --pcap: run expressions in DPDK's interpreter, as linecap --bpf-interpreter does, not in its "
                 "checked JIT");
    CLI11_PARSE(app, argc, argv);

    const char* eal[] = {"bench", "--no-pci", "--no-shconf", "-l", "0", "--log-level", "lib.*:error",
                         "--no-huge", "-m", "1024", nullptr};
    const char* eal_huge[] = {"bench", "--no-pci", "--no-shconf", "-l", "0", "--log-level", "lib.*:error",
                              "--socket-mem", "1024", "--huge-unlink", nullptr};
    if (rte_eal_init(10, const_cast<char**>(hugepages ? eal_huge : eal)) < 0) {
        fmt::print(stderr, "EAL: {}\n", rte_strerror(rte_errno));
        return 1;
    }
    register_packet_meta();
    if (!pcap_file.empty())
        return classify_file(pcap_file, app.count("--packets") ? packets : 1024, spec_files, expressions, seconds,
                             driver_copy, repeat, bpf_interpreter ? bpf_runner::interpreter : bpf_runner::guarded_jit);
    rte_mempool* pool = rte_pktmbuf_pool_create("bench", packets + 1024, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    const auto pkts = make_traffic(pool, packets, 7);
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    if (!write_pcap.empty() || !write_specs.empty()) {
        if (!write_pcap.empty()) {
            pcap_dumper_t* out = pcap_dump_open(dead, write_pcap.c_str());
            if (out == nullptr) {
                fmt::print(stderr, "{}: {}\n", write_pcap, pcap_geterr(dead));
                return 1;
            }
            for (size_t i = 0; i < pkts.size(); i++) {
                pcap_pkthdr h{};
                h.ts.tv_sec = 1700000000 + static_cast<time_t>(i / 1000000);
                h.ts.tv_usec = static_cast<suseconds_t>(i % 1000000);
                h.caplen = h.len = pkts[i]->pkt_len;
                pcap_dump(reinterpret_cast<u_char*>(out), &h, rte_pktmbuf_mtod(pkts[i], const u_char*));
            }
            pcap_dump_close(out);
        }
        for (unsigned n : counts) {
            if (write_specs.empty())
                break;
            const rule_set rules = make_rules(n);
            std::FILE* spec = std::fopen(fmt::format("{}/rules-{}.json", write_specs, n).c_str(), "w");
            std::FILE* bpf = std::fopen(fmt::format("{}/rules-{}.bpf", write_specs, n).c_str(), "w");
            if (spec == nullptr || bpf == nullptr) {
                fmt::print(stderr, "{}: cannot write the rule files\n", write_specs);
                return 1;
            }
            fmt::print(spec, "{}\n", rules.spec);
            fmt::print(bpf, "{}\n", rules.expression);
            std::fclose(spec);
            std::fclose(bpf);
        }
        return 0;
    }

    fmt::print("{:>6} {:>10} | {:>22} | {:>22} | {:>22} | {:>22} | {:>22} | {:>8}\n", "rules", "acl rules",
               "linecap classifier", "libpcap (tcpdump)", "rte_bpf interp./packet", "rte_bpf interp. burst",
               "guarded JIT burst", "speedup");
    fmt::print("{:>6} {:>10} | {:>22} | {:>22} | {:>22} | {:>22} | {:>22} | {:>8}\n", "", "", "ns/pkt  Mpps  kept%",
               "ns/pkt  Mpps", "ns/pkt  Mpps", "ns/pkt  Mpps", "ns/pkt  Mpps", "vs pcap");
    for (unsigned n : counts) {
        const rule_set rules = make_rules(n);
        session_spec spec;
        if (std::string e = parse_session_spec_text(rules.spec, spec); !e.empty()) {
            fmt::print(stderr, "spec: {}\n", e);
            return 1;
        }
        std::string error;
        auto filter = session_filter::compile(spec, error);
        auto c = classifier::build({{0, filter}}, 1, 0, error);
        if (!c) {
            fmt::print(stderr, "classifier: {}\n", error);
            return 1;
        }
        const result ours = measure_classifier(*c, pkts, seconds);

        auto fmt_result = [](const result& r) {
            return fmt::format("{:7.1f} {:6.2f}", r.ns_per_packet, 1000.0 / r.ns_per_packet);
        };
        std::string pcap_text = "skipped", interp_text = "skipped", interp_burst_text = "skipped",
                    jit_text = "skipped", speedup = "";
        if (!(skip_libpcap_large && n > 256)) {
            const auto t0 = std::chrono::steady_clock::now();
            bpf_program program{};
            if (pcap_compile(dead, &program, rules.expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
                fmt::print(stderr, "pcap_compile: {}\n", pcap_geterr(dead));
                return 1;
            }
            const double compile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            const result pcap = measure(pkts, seconds, [&](rte_mbuf** b) {
                uint64_t k = 0;
                for (unsigned i = 0; i < burst; i++) {
                    pcap_pkthdr h{};
                    h.caplen = h.len = b[i]->pkt_len;
                    k += pcap_offline_filter(&program, &h, rte_pktmbuf_mtod(b[i], const u_char*)) != 0;
                }
                return k;
            });
            pcap_freecode(&program);
            pcap_text = fmt_result(pcap);
            speedup = fmt::format("{:.1f}x", pcap.ns_per_packet / ours.ns_per_packet);
            // DPDK's interpreter a packet at a time (what linecap ran before
            // bursts), over the burst, and the guarded JIT over the burst (the default).
            struct variant {
                bpf_runner runner;
                bool burst;
                std::string* text;
            };
            for (const variant& v : {variant{bpf_runner::interpreter, false, &interp_text},
                                     variant{bpf_runner::interpreter, true, &interp_burst_text},
                                     variant{bpf_runner::guarded_jit, true, &jit_text}}) {
                bpf_expression bpf;
                if (std::string e = bpf.compile(rules.expression, v.runner); !e.empty() || !bpf.note().empty()) {
                    *v.text = "refused (> 4096 insns)";
                    continue;
                }
                uint64_t kept[burst];
                const result r = measure(pkts, seconds, [&](rte_mbuf** b) {
                    uint64_t k = 0;
                    if (v.burst) {
                        bpf.match_burst(b, burst, kept);
                        for (unsigned i = 0; i < burst; i++)
                            k += kept[i] != 0;
                    } else {
                        for (unsigned i = 0; i < burst; i++)
                            k += bpf.matches(b[i]);
                    }
                    return k;
                });
                const bool want_jit = v.runner == bpf_runner::guarded_jit;
                *v.text = fmt_result(r) + (want_jit && !bpf.jitted() ? " (no JIT)" : "");
            }
            if (compile_s > 1)
                speedup += fmt::format(" (pcap_compile {:.0f} s)", compile_s);
        }
        fmt::print("{:>6} {:>10} | {} {:5.2f} | {:>22} | {:>22} | {:>22} | {:>22} | {:>8}\n", n, c->acl_rules(),
                   fmt_result(ours), ours.kept_percent, pcap_text, interp_text, interp_burst_text, jit_text, speedup);
        std::fflush(stdout);
    }
    pcap_close(dead);

    // Mirror mode: inner against outer matching, same rules.
    rte_mempool* vxlan_pool = rte_pktmbuf_pool_create("bench_vxlan", packets + 1024, 256, 0,
                                                      RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    const auto vxlan = make_traffic(vxlan_pool, packets, 7, true);
    fmt::print("\nmirror mode: the same frames inside VXLAN (114 bytes), the same rules\n");
    fmt::print("{:>6} | {:>22} | {:>22} | {:>22} | {:>10}\n", "rules", "outer, plain frames", "outer, VXLAN frames",
               "inner, VXLAN frames", "inner cost");
    fmt::print("{:>6} | {:>22} | {:>22} | {:>22} | {:>10}\n", "", "ns/pkt  kept%", "ns/pkt  kept%", "ns/pkt  kept%",
               "ns/pkt");
    for (unsigned n : counts) {
        const rule_set rules = make_rules(n);
        auto run = [&](const std::string& text, const std::vector<rte_mbuf*>& traffic_set) {
            session_spec spec;
            std::string error;
            if (std::string e = parse_session_spec_text(text, spec); !e.empty()) {
                fmt::print(stderr, "spec: {}\n", e);
                std::exit(1);
            }
            auto filter = session_filter::compile(spec, error);
            auto c = classifier::build({{0, filter}}, 1, 0, error);
            if (!c) {
                fmt::print(stderr, "classifier: {}\n", error);
                std::exit(1);
            }
            return measure_classifier(*c, traffic_set, seconds);
        };
        const std::string inner_spec = R"({"tunnel":"inner",)" + rules.spec.substr(1);
        const result plain = run(rules.spec, pkts);
        const result outer = run(rules.spec, vxlan);
        const result inner = run(inner_spec, vxlan);
        fmt::print("{:>6} | {:7.1f} {:13.2f} | {:7.1f} {:13.2f} | {:7.1f} {:13.2f} | {:+9.1f}\n", n,
                   plain.ns_per_packet, plain.kept_percent, outer.ns_per_packet, outer.kept_percent,
                   inner.ns_per_packet, inner.kept_percent, inner.ns_per_packet - outer.ns_per_packet);
        std::fflush(stdout);
    }
    return 0;
}
