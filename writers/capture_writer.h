// Packets into a capture file (pcap or pcapng): the record header, then the
// first `snaplen` bytes of the packet copied straight from the mbuf segments
// into the file's chunk buffer. Truncation happens here and only here: the
// worker hands over whole packets, the writer copies only what is kept, and
// the record keeps the packet's original length.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <rte_mbuf.h>

#include "core/capture_format.h"
#include "writers/output_file.h"
#include "core/record_cut.h"

namespace linecap {

// A port as a pcapng file describes it.
struct capture_interface {
    uint16_t port = 0;
    std::string name;          // if_name: the DPDK device, e.g. net_pcap0 or 0000:3b:00.0
    std::string description;   // if_description: the driver
};

// What a port counted, for the Interface Statistics Blocks.
struct interface_counters {
    uint64_t received = 0;
    uint64_t dropped = 0;      // by the NIC (imissed) and for lack of mbufs
};
using interface_counter_reader = interface_counters (*)(uint16_t port);

struct capture_file_options {
    file_format format = file_format::pcap_ns;
    uint32_t snaplen = 0;                          // 0: whole packets
    size_t chunk_bytes = 4 << 20;                  // see output_spec::chunk_bytes
    bool direct = true;                            // O_DIRECT where the filesystem has it
    const std::vector<capture_interface>* interfaces = nullptr;   // pcapng; none: one "linecap"
    uint64_t start_ns = 0;                         // pcapng statistics' start time
    uint32_t linktype = linktype_ethernet;         // of every packet in the file
    std::string comment{};                         // pcapng: the section's comment (shb opt_comment); pcap has none
};

// The start of a record as written (for the file's index,
// writers/capture_index.h): its first 16 bytes (the record header: pcap's,
// or an EPB's type, length, interface and time) and the first bytes of
// the packet it holds, valid until the mbuf is freed or the next record.
struct record_start {
    std::array<uint8_t, 16> header;
    // The record's first data_len bytes: in the mbuf's first segment when
    // they are all there as written (no copy: the common case), else in `copy`.
    const uint8_t* data = nullptr;
    uint32_t data_len = 0;            // min(caplen, bytes of copy)
    std::array<uint8_t, 1024> copy;   // index_packet_bytes: a tunnel walk's reach
};

class capture_writer {
public:
    // Creates NAME.part in `dir_fd` and writes the file's header (pcapng: the
    // section and interface blocks). Returns 0 or -errno.
    int open(int dir_fd, const std::string& name, const capture_file_options& options);
    // The same, into a descriptor already open (output_file::attach).
    int attach(int fd, const std::string& name, const capture_file_options& options);

    // Appends one record for the packet in `m` (any number of segments).
    // Returns the bytes the record adds to the file. The mbuf is not freed.
    // The record holds the bytes the mbuf really has: a chain shorter than
    // its pkt_len (DPDK 22.11's net_pcap cuts frames over 64 KiB to their
    // length modulo 65536 and keeps the full pkt_len) gets a shorter caplen,
    // never invented bytes.
    //
    // Decapsulated packets (docs/mirror.md): the record holds what `cut`
    // says (the inner packet, perhaps after a made-up Ethernet header); the
    // snap length applies to the record as written, and its original length
    // is the inner packet's (record_length). A packet read from a capture
    // file holds only what the file captured (engine/file_port.h): its
    // record's original length comes in cut.orig_len too.
    uint32_t write_packet(const rte_mbuf* m, uint64_t ts_ns, const record_cut& cut = record_cut{})
    {
        return write_packet<false>(m, ts_ns, cut, nullptr);
    }
    // The same, and `start` gets the record's start (for its index).
    uint32_t write_packet(const rte_mbuf* m, uint64_t ts_ns, const record_cut& cut, record_start& start)
    {
        return write_packet<true>(m, ts_ns, cut, &start);
    }

private:
    // One body for both: a session without an index pays nothing for it.
    template <bool keep_start>
    uint32_t write_packet(const rte_mbuf* m, uint64_t ts_ns, const record_cut& cut, record_start* start)
    {
        uint32_t available = m->data_len;
        if (__builtin_expect(m->nb_segs > 1, 0))
            for (const rte_mbuf* seg = m->next; seg != nullptr; seg = seg->next)
                available += seg->data_len;
        const uint32_t stop = std::min(cut.end, m->pkt_len);
        uint32_t skip = std::min(cut.skip, stop);
        const uint32_t kept = stop - skip + cut.prefix_len;   // record_bytes
        const uint32_t len = std::max(kept, cut.orig_len);
        available = std::min(available, stop);
        available = (available > skip ? available - skip : 0) + cut.prefix_len;
        const uint32_t caplen = std::min({kept, _snaplen, available});
        const uint32_t bytes = append_record_header(ts_ns, caplen, len, interface_of(m->port),
                                                    keep_start ? start->header.data() : nullptr);
        const uint32_t head = std::min(caplen, cut.prefix_len);
        if (head != 0)
            _file.append(cut.prefix, head);
        uint32_t left = caplen - head;
        [[maybe_unused]] bool copy_start = false;
        if constexpr (keep_start) {
            start->data_len = std::min<uint32_t>(caplen, sizeof start->copy);
            copy_start = head != 0 || skip != 0 || m->data_len < start->data_len;
            start->data = copy_start ? start->copy.data() : rte_pktmbuf_mtod(m, const uint8_t*);
            if (head != 0)
                std::memcpy(start->copy.data(), cut.prefix, std::min(head, start->data_len));
        }
        for (const rte_mbuf* seg = m; left > 0; seg = seg->next) {
            if (skip >= seg->data_len) {
                skip -= seg->data_len;
                continue;
            }
            const uint32_t n = std::min<uint32_t>(left, seg->data_len - skip);
            const uint8_t* piece = rte_pktmbuf_mtod_offset(seg, const uint8_t*, skip);
            _file.append(piece, n);
            if constexpr (keep_start) {   // the record's bytes from caplen - left on
                const uint32_t at = caplen - left;
                if (copy_start && at < start->data_len)
                    std::memcpy(start->copy.data() + at, piece, std::min(n, start->data_len - at));
            }
            skip = 0;
            left -= n;
        }
        append_record_trailer(caplen);
        return bytes;
    }

public:
    // Appends one record from a flat buffer (merge, tests). `data` may be
    // null when `caplen` is 0 (merge's empty vector for a record of no bytes).
    uint32_t write_record(uint64_t ts_ns, uint32_t orig_len, const uint8_t* data, uint32_t caplen,
                          uint32_t interface = 0)
    {
        caplen = std::min(caplen, _snaplen);
        orig_len = std::max(orig_len, caplen);   // never a record the readers refuse (capture_format.h)
        const uint32_t bytes = append_record_header(ts_ns, caplen, orig_len, interface);
        if (caplen != 0)   // memcpy from null is undefined even for 0 bytes (found by fuzz-merge-reader)
            _file.append(data, caplen);
        append_record_trailer(caplen);
        return bytes;
    }

    // The bytes a record of `caplen` captured bytes takes in this format.
    uint32_t record_size(uint32_t caplen) const
    {
        caplen = std::min(caplen, _snaplen);
        return _format == file_format::pcapng ? sizeof(pcapng_epb_header) + pcapng_padded(caplen) + 4
                                              : sizeof(pcap_record_header) + caplen;
    }

    // The bytes close() will add (pcapng: the statistics blocks; pcap:
    // none). Size limits count them from the start (docs/writers.md): a
    // file and a session stay within their byte limits once closed.
    uint64_t closing_bytes() const;

    // Writes what the format puts at the end (pcapng: an Interface Statistics
    // Block per interface, from `read`, stamped `end_ns`), then closes the
    // file (output_file::close). Returns 0 or -errno.
    int close(uint64_t end_ns, interface_counter_reader read = nullptr);

    // pcapng: describes one more interface, numbered after those described
    // so far (an Interface Description Block, written here: before the
    // records that name it, as pcapng allows anywhere in a section).
    // Returns its index. Not for pcap files.
    uint32_t add_interface(const capture_interface& in);

    output_file& file() { return _file; }
    const output_file& file() const { return _file; }
    // What a record is cut to: the snap length the file declares (its
    // options' snaplen, at most pcap_max_snaplen; none: pcap_max_snaplen).
    uint32_t snaplen() const { return _snaplen; }
    file_format format() const { return _format; }

    // Packets in the file, and packets that reached the kernel whole.
    uint64_t packets() const { return _packets; }
    uint64_t durable_packets() const
    {
        const uint64_t records = _file.durable_records();
        uint64_t others = _header_records;   // records that are no packet, among the durable ones
        for (const uint64_t late : _late_interfaces)
            others += late < records ? 1 : 0;
        return records > others ? std::min(_packets, records - others) : 0;
    }

private:
    // `copy`, if given, gets the header's first 16 bytes.
    uint32_t append_record_header(uint64_t ts_ns, uint32_t caplen, uint32_t len, uint32_t interface,
                                  uint8_t* copy = nullptr)
    {
        _packets++;
        if (_format != file_format::pcapng) {
            const pcap_record_header h = make_pcap_record_header(_format, ts_ns, caplen, len);
            static_assert(sizeof h == 16);
            _file.append(&h, sizeof h);
            if (copy != nullptr)
                std::memcpy(copy, &h, 16);
            return sizeof h + caplen;
        }
        const uint32_t total = sizeof(pcapng_epb_header) + pcapng_padded(caplen) + 4;
        const pcapng_epb_header h = {pcapng_enhanced_packet, total, interface,
                                     static_cast<uint32_t>(ts_ns >> 32), static_cast<uint32_t>(ts_ns),
                                     caplen, len};
        _file.append(&h, sizeof h);
        if (copy != nullptr)
            std::memcpy(copy, &h, 16);
        return total;
    }

    void append_record_trailer(uint32_t caplen)
    {
        if (_format == file_format::pcapng) {
            static const uint8_t zeros[4] = {};
            _file.append(zeros, pcapng_padded(caplen) - caplen);
            const uint32_t total = sizeof(pcapng_epb_header) + pcapng_padded(caplen) + 4;
            _file.append(&total, sizeof total);
        }
        _file.end_record();
    }

    uint32_t interface_of(uint16_t port) const
    {
        return port < _interface_of_port.size() ? _interface_of_port[port] : 0;
    }

    uint32_t interface_count() const;
    void write_header(const capture_file_options& options);
    void write_pcapng_header(const capture_file_options& options);
    uint32_t append_interface_block(const capture_interface& in);

    output_file _file;
    file_format _format = file_format::pcap_ns;
    uint32_t _snaplen = pcap_max_snaplen;
    uint32_t _linktype = linktype_ethernet;   // pcapng: of every interface
    uint64_t _header_records = 0;             // the header's records (pcapng: its blocks)
    std::vector<uint64_t> _late_interfaces;   // the record number of each interface block add_interface wrote
    uint64_t _packets = 0;
    uint64_t _start_ns = 0;
    std::vector<uint16_t> _ports;                      // interface index -> port
    std::array<uint8_t, 256> _interface_of_port{};     // port -> interface index
};

} // namespace linecap
