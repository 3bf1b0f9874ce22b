// Reading capture files record by record, for `linecap merge` and anything
// else that takes files written by linecap or by other tools.
//
//  - pcap (microsecond or nanosecond, either byte order, and the variants
//    libpcap knows) is read with libpcap, as tcpdump reads it, from the
//    file mapped into memory (no system call per record; a .part, which
//    its writer cuts back as it closes it, by pread). A file another
//    program cuts short meanwhile is an error saying so, not a fault that
//    ends the process (writers/file_mapping.h);
//  - pcapng, and whatever libpcap refuses to open, with Wireshark's own
//    reader (libwiretap, as tshark and mergecap read them): libpcap 1.10
//    refuses valid pcapng files whose interfaces differ in snap length or
//    link type (what mergecap writes), after handing out their first packets;
//  - a pipe, or standard input as "-", with libpcap (pcap or pcapng; wiretap
//    cannot read a stream it did not open).
//
// Every record is checked against the one rule of capture_format.h ("what a
// record is") before it is handed out: times are unsigned (pcap seconds past
// 2^31 are not 1901), a captured length above the original length is taken
// as the original length (repaired() counts them), and the bytes are there.
//
// A finished file that cannot be read to its end is an error naming the file,
// the record and the byte where reading stopped. A file still being written,
// or left by a crash (`partial`: a .part file), may end in zeros or in half a
// record: that ends it without an error, and note() says so.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace linecap {

// Bytes [offset, offset + bytes) of a file.
struct byte_range {
    uint64_t offset = 0;
    uint64_t bytes = 0;
    // The file's count of records before the range (the index's packets of
    // the chunks before it): a record the reader cannot read whole is named
    // by its place in the file, whichever ranges were read.
    uint64_t records_before = 0;
};

struct capture_record {
    uint64_t ts_ns = 0;             // nanoseconds since the Unix epoch
    uint32_t caplen = 0;            // bytes at `data`
    uint32_t len = 0;               // original length on the wire; never below caplen
    // The original length as the record gives it: below caplen in a
    // malformed record, which `len` raises to caplen (repair_lengths). What
    // libpcap hands a filter (`greater N` in tcpdump -r reads this one).
    uint32_t file_len = 0;
    // pcapng: the interface, numbered across the file's sections in the
    // order their Interface Description Blocks come (a block's own id counts
    // within its section); 0 in pcap files.
    uint32_t interface = 0;
    int dlt = 0;                    // the record's DLT_ value, as pcap_datalink gives it (pcapng: its interface's)
    const uint8_t* data = nullptr;  // owned by the reader; valid until the next call to next()
};

enum class read_status {
    record,   // `record` holds the next packet
    end,      // no more packets (a partial file's torn or unwritten tail included: see note())
    error,    // the file cannot be read further; error() says why and where
};

class capture_reader {
public:
    capture_reader();
    ~capture_reader();
    capture_reader(const capture_reader&) = delete;
    capture_reader& operator=(const capture_reader&) = delete;

    // Opens `path` ("-": standard input). Returns an empty string, or what
    // is wrong, naming the file. A partial file cut inside its header opens
    // as one with no records (note() says so); dlt() is then -1.
    std::string open(const std::string& path, bool partial = false);
    // The same from a descriptor already open (the reader takes it), named
    // `path` in messages. With a limit, reads no further than byte
    // `limit_bytes`, and hands out at most `limit_packets` packets: the
    // complete records of a file still being written when its size was
    // taken (walk_records: merge of a running session), however it grows,
    // is renamed or deleted meanwhile. (Both, since wiretap reads ahead and
    // cannot be held to a byte.)
    std::string open_descriptor(int fd, const std::string& path, bool partial, uint64_t limit_bytes = UINT64_MAX,
                                uint64_t limit_packets = UINT64_MAX);

    // Only the byte ranges `ranges` (whole records, in file order) of the
    // regular file `fd` (the reader takes it), after its first `head_bytes`
    // (the file header; pcapng: the blocks before its first packet): the
    // chunks of an index a query reads (query/query.h), read with libpcap as
    // one file made of the head and the ranges. `partial` as open's.
    // `read_bytes`, if given, counts the bytes read (it must outlive the
    // reader).
    // `whole_from`: of a finished pcapng file, where its index ends (the
    // rest is the last range): from the first record there on, the file is
    // read as a whole read reads it, by Wireshark's reader (where a record
    // libpcap takes and that reader refuses stopped the index).
    std::string open_ranges(int fd, const std::string& path, bool partial, uint64_t head_bytes,
                            const std::vector<byte_range>& ranges, std::atomic<uint64_t>* read_bytes = nullptr,
                            uint64_t whole_from = UINT64_MAX);

    // The next packet. Records that are not packets (pcapng statistics,
    // name resolution, custom blocks) are skipped.
    read_status next(capture_record& record);

    const std::string& path() const { return _path; }
    // After read_status::error: "FILE: record N (byte B): what" (no byte
    // for a pipe).
    const std::string& error() const { return _error; }
    // For a partial file that ended early: how, and where; for a pcapng
    // file whose sections' interfaces were told apart without walking its
    // blocks, that. Empty otherwise.
    const std::string& note() const { return _note; }
    // The file's link type (DLT_ value, as pcap_datalink gives it, whichever
    // library reads the file): a pcap file's, or a pcapng file's first
    // interface's.
    int dlt() const;
    // The largest snap length the file declares (pcapng: of its interfaces);
    // 0 when it says none.
    uint32_t snaplen() const;
    // A pcapng file's interface `index` as its Interface Description Block
    // names it (if_name, if_description); empty strings when it has no such
    // option, for pcap files and for pcapng read from a pipe (libpcap names
    // no interface). Numbered as capture_record::interface; more may be
    // described as the file is read (another section's, a late block).
    uint32_t interface_count() const;   // the interfaces described so far (pcapng); 0 otherwise
    std::string interface_name(uint32_t index) const;
    std::string interface_description(uint32_t index) const;
    uint64_t packets() const { return _packets; }   // handed out so far
    // The file's number (from 1) of the packet last handed out: its place
    // in the file, whichever ranges were read (packets() counts only those
    // read).
    uint64_t record_number() const;
    uint64_t repaired() const { return _repaired; } // of those, captured length above original length

    // Which library reads the file: "libpcap" or "wiretap".
    const char* library() const;
    // What the file is: "pcap", "pcap-ns", "pcapng", or the name wiretap
    // gives another format.
    std::string format_name() const;

private:
    struct pcap_source;
    struct wiretap_source;

    // Forgets the file read before: a new one, `path`, read whole or
    // `partial`, up to `limit_packets`.
    void start(const std::string& path, bool partial, uint64_t limit_packets);

    // `failure`: the error to give if wiretap cannot open it either (empty:
    // wiretap's own).
    std::string open_with_wiretap(int fd, const std::string& failure);
    // libpcap on `stream` (it takes it): `head`, the file's first `got` bytes.
    std::string open_with_libpcap(std::unique_ptr<pcap_source> src, FILE* stream, const uint8_t* head, size_t got,
                                  bool regular);
    std::string interface_option(uint32_t index, int option) const;
    // Read by ranges (libpcap), a pcapng file's interfaces from its head,
    // by Wireshark's reader; each record's interface, and interfaces
    // described later, from their blocks (pcap_source::packet_interface).
    // `fd`: the file.
    void name_head_interfaces(int fd);
    std::string ended_before_first_record(const std::string& why);
    read_status next_from_libpcap(capture_record& record);
    read_status next_from_wiretap(capture_record& record);
    // Read by ranges, libpcap refused a record or a packet lies past the
    // index's end: reads the file whole from it on, as a whole read would.
    // Whether it could (then error() is set if the records before it could
    // not be read again).
    bool read_whole_from_here();
    read_status finish(capture_record& record);
    read_status stop(const std::string& what, int64_t offset);   // offset -1: unknown (a pipe)
    // A mapping read zeros where another program cut the file short (file_mapping).
    read_status stop_cut_short(int64_t offset);

    std::string _path;
    bool _partial = false;
    bool _empty = false;   // a partial file cut inside its header
    std::unique_ptr<pcap_source> _pcap;
    std::unique_ptr<wiretap_source> _wiretap;
    std::string _error;
    std::string _note;
    uint64_t _packets = 0;
    uint64_t _repaired = 0;
    uint64_t _limit_packets = UINT64_MAX;
    // Read whole (read_whole_from_here) from the record after the file's
    // first `_whole_from_record` on, once `_whole_from_packets` were handed
    // out.
    std::optional<uint64_t> _whole_from_record;
    uint64_t _whole_from_packets = 0;
    uint64_t _whole_from_offset = UINT64_MAX;   // open_ranges' whole_from
    // Read by ranges, a pcapng file's interfaces (if_name, if_description),
    // as its head describes them (name_head_interfaces).
    std::vector<std::pair<std::string, std::string>> _head_interfaces;
};

// The finest pcapng time resolution (if_tsresol) linecap reads: 10^-10 s.
// Wireshark's reader 4.0 gets finer decimal ones wrong (its nanoseconds
// overflow 64 bits: 10^-12 s gave 1000000.008569957 for 1000000.654206000),
// and libpcap finer binary ones (2^-40 s); the index refuses them too, so
// that a query's answer never depends on which reader read the file.
constexpr uint64_t max_time_units_per_second = 10'000'000'000;
// A resolution as a person writes it: "10^-12 s", "2^-40 s".
std::string resolution_text(uint64_t units_per_second);

// libpcap's DLT_ value (what pcap_datalink returns, pcap_open_dead and
// pcap_compile take) of a LINKTYPE_ value (what a pcap header or pcapng
// interface holds): the same number but for five from before the registry
// (LINKTYPE_RAW 101 is DLT_RAW 12). https://www.tcpdump.org/linktypes.html
int dlt_of_linktype(int linktype);

// A link type as tcpdump names it, "RAW (Raw IP)", "LINUX_SLL (Linux cooked
// v1)", from its DLT_ value; "147 (unknown to libpcap)" for a value
// libpcap has no name for. The one wording of every message about a file's
// link type (-r, merge, query, index).
std::string linktype_text(int dlt);

} // namespace linecap
