// Packets into a pcap file: the record header, then the first `snaplen`
// bytes of the packet copied straight from the mbuf segments into the
// file's chunk buffer. Truncation happens here and only here: the worker
// hands over whole packets, the writer copies only what is kept, and the
// record keeps the packet's original length.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include <rte_mbuf.h>

#include "writers/output_file.h"
#include "writers/pcap_format.h"

namespace linecap {

class pcap_writer {
public:
    // Creates NAME.part in `dir_fd` and writes the file header.
    // `snaplen` 0 means whole packets. Returns 0 or -errno.
    int open(int dir_fd, const std::string& name, file_format format, uint32_t snaplen,
             size_t chunk_bytes)
    {
        const int rc = _file.open(dir_fd, name, chunk_bytes);
        if (rc != 0)
            return rc;
        _format = format;
        _snaplen = snaplen == 0 ? pcap_max_snaplen : std::min(snaplen, pcap_max_snaplen);
        const pcap_file_header header = make_pcap_file_header(format, snaplen);
        _file.append(&header, sizeof header);
        _file.end_record();
        _header_records = 1;
        return 0;
    }

    // Appends one record for the packet in `m` (any number of segments).
    // Returns the bytes the record adds to the file. The mbuf is not freed.
    // The record holds the bytes the mbuf really has: a chain shorter than
    // its pkt_len (DPDK 22.11's net_pcap cuts frames over 64 KiB to their
    // length modulo 65536 and keeps the full pkt_len) gets a shorter caplen,
    // never invented bytes.
    uint32_t write_packet(const rte_mbuf* m, uint64_t ts_ns)
    {
        const uint32_t len = m->pkt_len;
        uint32_t available = m->data_len;
        if (__builtin_expect(m->nb_segs > 1, 0))
            for (const rte_mbuf* seg = m->next; seg != nullptr; seg = seg->next)
                available += seg->data_len;
        const uint32_t caplen = std::min({len, _snaplen, available});
        const pcap_record_header header = make_pcap_record_header(_format, ts_ns, caplen, len);
        _file.append(&header, sizeof header);
        uint32_t left = caplen;
        for (const rte_mbuf* seg = m; left > 0; seg = seg->next) {
            const uint32_t n = std::min<uint32_t>(left, seg->data_len);
            _file.append(rte_pktmbuf_mtod(seg, const uint8_t*), n);
            left -= n;
        }
        _file.end_record();
        return sizeof header + caplen;
    }

    // Appends one record from a flat buffer (merge, tests).
    uint32_t write_record(uint64_t ts_ns, uint32_t orig_len, const uint8_t* data, uint32_t caplen)
    {
        caplen = std::min(caplen, _snaplen);
        const pcap_record_header header = make_pcap_record_header(_format, ts_ns, caplen, orig_len);
        _file.append(&header, sizeof header);
        _file.append(data, caplen);
        _file.end_record();
        return sizeof header + caplen;
    }

    output_file& file() { return _file; }
    const output_file& file() const { return _file; }

    // Packets in the file, and packets that reached the kernel whole.
    uint64_t packets() const { return _file.records() - _header_records; }
    uint64_t durable_packets() const
    {
        return _file.durable_records() >= _header_records ? _file.durable_records() - _header_records
                                                          : 0;
    }

private:
    output_file _file;
    file_format _format = file_format::pcap_ns;
    uint32_t _snaplen = pcap_max_snaplen;
    uint64_t _header_records = 0;
};

} // namespace linecap
