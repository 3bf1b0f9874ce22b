// bench/writer: the writer alone, on one core, no NIC.
//
//   build/bench/linecap-bench-writer [--dir DIR] [--seconds S] [--only 64|imix|1514]
//
// Packets are built once in mbufs. Each round does what a writer lcore does
// per burst of 128: dequeue pointers from an SPSC rte_ring (the worker's
// enqueue is done in the same thread, so both ends' cost is in), copy each
// packet's first snaplen bytes after its record header into the chunk
// buffer, write full 1 MiB chunks, and free the mbufs in bulk (a reference
// taken before keeps them alive for the next round). Targets: /dev/null
// (the writer's CPU cost), /dev/null with every record indexed (the cost
// of a session's "index", the index itself in DIR), the same with each
// burst marked first as a worker marks it (writers/index_flow.h; the
// worker reads the epoch just before the writer takes the burst, as in a
// pipeline whose ring is nearly empty), and files in DIR with O_DIRECT
// and buffered, next to `dd oflag=direct` on the same folder in the same
// run. Before each burst, a worker's part reads each packet's headers (as
// a classifier does; with marks, marks them) and flushes what it touched
// from the cache (a pipeline's worker is on another core), timed apart:
// the rates are the writer's, and the marked column's "ns" says what
// marking adds to the worker, in ns a packet. The worker's table of marks
// (102 KiB) shares this one core's cache with the writer's index here, as
// it does not in a pipeline: the marked rate understates what marks save.
#include <chrono>
#include <emmintrin.h>
#include <cstdio>
#include <fcntl.h>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "bench/traffic.h"
#include "core/packet_meta.h"
#include "writers/capture_index.h"
#include "writers/capture_writer.h"
#include "writers/index_write.h"

using namespace linecap;

namespace {

constexpr unsigned burst = 128;
constexpr unsigned working_set = 4096;

struct profile_def {
    const char* key;    // --only
    const char* name;
    traffic::profile shape;
    uint32_t snaplen;
};

struct result {
    double mpps;            // the writer's: the worker's part (run()) taken out
    double gbytes_per_s;    // file bytes, likewise
    double worker_ns = 0;   // the worker's part, per packet
};

volatile uint8_t header_sink;   // what the worker's part read, so that it is read

std::vector<rte_mbuf*> build(rte_mempool* pool, traffic::profile shape)
{
    traffic::generator_options o;
    o.shape = shape;
    o.seed = 3;
    traffic::generator gen(o);
    std::vector<rte_mbuf*> out;
    for (unsigned i = 0; i < working_set; i++) {
        const auto p = gen.next();
        rte_mbuf* m = rte_pktmbuf_alloc(pool);
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(p.bytes.size())), p.bytes.data(), p.bytes.size());
        out.push_back(m);
    }
    return out;
}

// Runs the writer loop into `w` for about `seconds`, indexing each record
// with `index` if it is open (as session_output::write does).
// With `marks`, each burst is first marked as a worker marks it; the
// marking's time is counted apart.
result run(capture_writer& w, rte_ring* ring, std::vector<rte_mbuf*>& pkts, double seconds,
           capture_file_indexer* index = nullptr, index_flow_marks* marks = nullptr)
{
    record_start record;
    uint64_t packets = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    uint64_t worker_tsc = 0;
    rte_mbuf* got[burst];
    uint64_t ts = 1700000000000000000ull;
    while (elapsed < seconds) {
        for (size_t i = 0; i + burst <= pkts.size(); i += burst) {
            for (unsigned k = 0; k < burst; k++)
                rte_mbuf_refcnt_update(pkts[i + k], 1);   // the free below gives it back
            // The worker's part, timed apart: it reads each packet's
            // headers (as its classifier does) and, with `marks`, marks
            // them; then the headers leave this core's cache, as a
            // worker's are on another core in a pipeline, so that the
            // writer pays for them in every column alike. (The mark's
            // line is left: a pipeline's writer reads that line, the
            // packet's metadata, for every packet, marked or not.)
            const uint64_t t0 = rte_rdtsc();
            if (marks != nullptr) {
                const uint64_t epoch = index->epoch();
                marks->start_burst();
                for (unsigned k = 0; k < burst; k++)
                    *index_mark_of(pkts[i + k]) = marks->mark(rte_pktmbuf_mtod(pkts[i + k], const uint8_t*),
                                                              pkts[i + k]->data_len, pkts[i + k]->pkt_len, 1,
                                                              epoch, k);
            } else {
                uint8_t seen = 0;
                for (unsigned k = 0; k < burst; k++)
                    seen ^= rte_pktmbuf_mtod(pkts[i + k], const uint8_t*)[23];
                header_sink = seen;
            }
            for (unsigned k = 0; k < burst; k++)
                _mm_clflush(rte_pktmbuf_mtod(pkts[i + k], const void*));
            worker_tsc += rte_rdtsc() - t0;
            rte_ring_sp_enqueue_burst(ring, reinterpret_cast<void* const*>(&pkts[i]), burst, nullptr);
            const unsigned n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(got), burst, nullptr);
            if (index != nullptr && index->is_open()) {
                for (unsigned k = 0; k < n; k++)
                    write_indexed(w, *index, got[k], ts++, record_cut{},
                                  marks != nullptr ? *index_mark_of(got[k]) : index_unmarked, record);
                index->end_burst(w.file().size());   // as a writer does (session_output::end_burst)
            } else {
                for (unsigned k = 0; k < n; k++)
                    w.write_packet(got[k], ts++);
            }
            rte_pktmbuf_free_bulk(got, n);
            packets += n;
        }
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    w.file().flush();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double worker = static_cast<double>(worker_tsc) / static_cast<double>(rte_get_tsc_hz());
    return {static_cast<double>(packets) / (elapsed - worker) / 1e6,
            static_cast<double>(w.file().size()) / (elapsed - worker) / 1e9,
            packets != 0 ? worker * 1e9 / static_cast<double>(packets) : 0};
}

// dd oflag=direct of `bytes` into DIR, in blocks as large as our chunks: GB/s.
double dd_direct(const std::string& dir, uint64_t bytes, size_t block)
{
    const std::string file = dir + "/linecap-bench-dd.bin";
    const std::string cmd = fmt::format("dd if=/dev/zero of={} bs={} count={} oflag=direct 2>&1", file, block,
                                        bytes / block);
    const auto start = std::chrono::steady_clock::now();
    FILE* p = popen(cmd.c_str(), "r");
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
    }
    if (p)
        pclose(p);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    unlink(file.c_str());
    return static_cast<double>(bytes / block * block) / s / 1e9;
}

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"linecap-bench-writer: the writer's rate on one core"};
    std::string dir = ".";
    double seconds = 2.0;
    app.add_option("--dir", dir, "Folder on the disk to measure");
    app.add_option("--seconds", seconds, "Time per measurement");
    size_t chunk = capture_file_options{}.chunk_bytes;
    app.add_option("--chunk", chunk, "Bytes per write");
    std::string only;
    app.add_option("--only", only, "One kind of packets: 64, imix or 1514 (default: all three)")
        ->check(CLI::IsMember({"64", "imix", "1514"}));
    CLI11_PARSE(app, argc, argv);

    const char* eal[] = {"bench", "--no-huge", "-m", "512", "--no-pci", "--no-shconf", "-l", "0",
                         "--log-level", "lib.*:error", nullptr};
    if (rte_eal_init(10, const_cast<char**>(eal)) < 0) {
        fmt::print(stderr, "EAL: {}\n", rte_strerror(rte_errno));
        return 1;
    }
    if (register_packet_meta() != 0) {   // the index mark's field (core/packet_meta.h)
        fmt::print(stderr, "cannot register the mbuf's dynamic fields: {}\n", rte_strerror(rte_errno));
        return 1;
    }
    rte_mempool* pool = rte_pktmbuf_pool_create("bench", 3 * working_set, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    rte_ring* ring = rte_ring_create("bench", 4096, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (pool == nullptr || ring == nullptr || dir_fd < 0) {
        fmt::print(stderr, "setup failed (is --dir {} a folder?)\n", dir);
        return 1;
    }

    const profile_def profiles[] = {
        {"64", "64 B, snaplen 64", traffic::profile::small, 64},
        {"imix", "IMIX, whole", traffic::profile::imix, 0},
        {"1514", "1514 B, whole", traffic::profile::large, 0},
    };
    fmt::print("{:<18} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>10} | {:>8}\n", "packets",
               "/dev/null", "/dev/null, indexed", "indexed, marked", "disk, O_DIRECT", "O_DIRECT, indexed",
               "disk, buffered", "dd direct", "O_DIRECT");
    fmt::print("{:<18} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>10} | {:>8}\n", "",
               "Mpps    GB/s", "Mpps    of plain", "Mpps of plain ns", "Mpps    GB/s", "Mpps    of plain",
               "Mpps    GB/s", "GB/s", "vs dd");
    for (const profile_def& p : profiles) {
        if (!only.empty() && only != p.key)
            continue;
        auto pkts = build(pool, p.shape);
        capture_file_options options;
        options.snaplen = p.snaplen;
        options.chunk_bytes = chunk;

        capture_writer null_writer;
        const int null_fd = open("/dev/null", O_WRONLY);
        null_writer.attach(null_fd, "/dev/null", options);
        const result to_null = run(null_writer, ring, pkts, seconds);
        null_writer.close(0);

        // The same with each record indexed (its keys, and a 16 MiB chunk's
        // sets made and appended to an index in DIR as it fills): the
        // writer's CPU cost of "index".
        capture_writer indexed_writer;
        indexed_writer.attach(open("/dev/null", O_WRONLY), "/dev/null", options);
        const std::string head_name = "linecap-bench-index.pcap";
        {
            const int fd = openat(dir_fd, (head_name + ".part").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0640);
            const pcap_file_header h = make_pcap_file_header(options.format, options.snaplen, linktype_ethernet);
            if (fd < 0 || write(fd, &h, sizeof h) != sizeof h) {
                fmt::print(stderr, "{}: cannot write {}.part\n", dir, head_name);
                return 1;
            }
            close(fd);
        }
        capture_file_indexer index;
        if (std::string e = index.open(dir_fd, head_name, sizeof(pcap_file_header)); !e.empty()) {
            fmt::print(stderr, "{}\n", e);
            return 1;
        }
        const result indexed = run(indexed_writer, ring, pkts, seconds, &index);
        const uint64_t indexed_end = indexed_writer.file().size();   // the records' end
        indexed_writer.close(0);
        index.close(false, indexed_end);
        unlinkat(dir_fd, index_name_of(head_name + ".part").c_str(), 0);

        // Again, each burst marked first as a worker marks it.
        result marked{};
        {
            capture_writer writer;
            writer.attach(open("/dev/null", O_WRONLY), "/dev/null", options);
            capture_file_indexer marked_index;
            if (std::string e = marked_index.open(dir_fd, head_name, sizeof(pcap_file_header)); !e.empty()) {
                fmt::print(stderr, "{}\n", e);
                return 1;
            }
            auto marks = std::make_unique<index_flow_marks>();
            marked = run(writer, ring, pkts, seconds, &marked_index, marks.get());
            const uint64_t marked_end = writer.file().size();
            writer.close(0);
            marked_index.close(false, marked_end);
            unlinkat(dir_fd, index_name_of(head_name + ".part").c_str(), 0);
        }
        unlinkat(dir_fd, (head_name + ".part").c_str(), 0);

        result to_disk[2];
        for (int buffered = 0; buffered < 2; buffered++) {
            capture_writer w;
            options.direct = buffered == 0;
            const std::string name = "linecap-bench-writer.pcap";
            if (int rc = w.open(dir_fd, name, options); rc != 0) {
                fmt::print(stderr, "{}/{}: {}\n", dir, name, strerror(-rc));
                return 1;
            }
            to_disk[buffered] = run(w, ring, pkts, seconds);
            if (buffered == 0 && !w.file().is_direct())
                fmt::print(stderr, "note: {} has no O_DIRECT; both disk columns are buffered\n", dir);
            w.close(0);
            unlinkat(dir_fd, name.c_str(), 0);
        }
        // Into the disk with O_DIRECT and every record indexed (the index
        // beside the file, as a session with "index" writes it): what the
        // index costs where the disk, not the core, sets the rate.
        result direct_indexed{};
        {
            capture_writer w;
            options.direct = true;
            const std::string name = "linecap-bench-writer-indexed.pcap";
            if (int rc = w.open(dir_fd, name, options); rc != 0) {
                fmt::print(stderr, "{}/{}: {}\n", dir, name, strerror(-rc));
                return 1;
            }
            capture_file_indexer file_index;
            if (std::string e = file_index.open(dir_fd, name, w.file().size()); !e.empty()) {
                fmt::print(stderr, "{}\n", e);
                return 1;
            }
            direct_indexed = run(w, ring, pkts, seconds, &file_index);
            const uint64_t records_end = w.file().size();
            w.close(0);
            file_index.close(true, records_end);
            unlinkat(dir_fd, name.c_str(), 0);
            unlinkat(dir_fd, index_name_of(name).c_str(), 0);
        }
        const double dd = dd_direct(dir, 2ull << 30, chunk);
        auto cell = [](const result& r) { return fmt::format("{:6.2f}  {:6.2f}", r.mpps, r.gbytes_per_s); };
        const auto share = [](const result& r, const result& plain) {
            return fmt::format("{:6.2f}  {:5.1f}%", r.mpps, 100.0 * r.mpps / plain.mpps);
        };
        // The writer's rate with marks, of plain, and what marking adds to
        // the worker's part, per packet.
        const std::string marked_cell = fmt::format("{:5.2f} {:5.1f}% {:4.1f}", marked.mpps,
                                                    100.0 * marked.mpps / to_null.mpps,
                                                    marked.worker_ns - indexed.worker_ns);
        fmt::print("{:<18} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>20} | {:>10.2f} | {:>7.0f}%\n", p.name,
                   cell(to_null), share(indexed, to_null), marked_cell, cell(to_disk[0]),
                   share(direct_indexed, to_disk[0]), cell(to_disk[1]), dd, 100.0 * to_disk[0].gbytes_per_s / dd);
        std::fflush(stdout);
        for (rte_mbuf* m : pkts)
            rte_pktmbuf_free(m);
    }
    return 0;
}
