#include "writers/capture_reader.h"

#include <cstdio>
#include <cstring>
#include <mutex>

#include <fmt/format.h>
#include <pcap/pcap.h>

extern "C" {
#include <wiretap/pcap-encap.h>
#include <wiretap/wtap.h>
#include <wsutil/wslog.h>
}

#include "writers/capture_format.h"

namespace linecap {

namespace {

// wiretap's one-time set-up; its log, which prints debug lines until told
// otherwise, is kept to real problems.
void init_wiretap()
{
    static std::once_flag once;
    std::call_once(once, [] {
        ws_log_init("linecap", nullptr);
        ws_log_set_level(LOG_LEVEL_CRITICAL);
        wtap_init(FALSE);
    });
}

// The LINKTYPE_ value of a wiretap encapsulation. libwiretap 4.0 exports
// only the other direction, so search it: linecap's two link types first
// (Ethernet, raw IP: several LINKTYPEs map to wiretap's raw IP), then the
// range the LINKTYPE registry uses. -1 when none maps to it.
int pcap_linktype_of(int wtap_encap)
{
    for (int dlt : {1, 101})
        if (wtap_pcap_encap_to_wtap_encap(dlt) == wtap_encap)
            return dlt;
    for (int dlt = 0; dlt < 300; dlt++)
        if (wtap_pcap_encap_to_wtap_encap(dlt) == wtap_encap)
            return dlt;
    return -1;
}

// The first four bytes of a file: pcapng files go to wiretap.
bool starts_like_pcapng(const std::string& path)
{
    FILE* f = fopen(path.c_str(), "rb");
    if (f == nullptr)
        return false;
    uint32_t magic = 0;
    const bool ok = fread(&magic, sizeof magic, 1, f) == 1;
    fclose(f);
    return ok && magic == pcapng_section_header;
}

} // namespace

struct capture_reader::pcap_source {
    pcap_t* pcap = nullptr;
    uint32_t max_caplen = pcap_max_snaplen;
    uint32_t snapshot = 0;
    // Where the next record starts, counted from the records read: asking
    // stdio (ftell) costs a system call per record, which would halve the
    // reading speed. A record longer than the file's snap length is handed
    // out cut to it (libpcap's rule), which hides its size in the file:
    // from there on, ftell.
    uint64_t next_offset = 0;
    bool counted = false;   // next_offset is known without ftell
    ~pcap_source()
    {
        if (pcap != nullptr)
            pcap_close(pcap);
    }
    uint64_t offset() const
    {
        if (counted)
            return next_offset;
        const long at = ftell(pcap_file(pcap));
        return at < 0 ? 0 : static_cast<uint64_t>(at);
    }
    void advance(const pcap_pkthdr& h)
    {
        if (counted && h.caplen == snapshot && h.len > snapshot)
            counted = false;
        next_offset += sizeof(pcap_record_header) + h.caplen;
    }
};

struct capture_reader::wiretap_source {
    wtap* wth = nullptr;
    wtap_rec rec{};
    Buffer buf{};
    wiretap_source()
    {
        wtap_rec_init(&rec);
        ws_buffer_init(&buf, 2048);
    }
    ~wiretap_source()
    {
        wtap_rec_cleanup(&rec);
        ws_buffer_free(&buf);
        if (wth != nullptr)
            wtap_close(wth);
    }
};

capture_reader::capture_reader() = default;
capture_reader::~capture_reader() = default;

std::string capture_reader::open(const std::string& path, bool partial)
{
    _path = path;
    _partial = partial;
    _pcap.reset();
    _wiretap.reset();
    _error.clear();
    _note.clear();
    _packets = _repaired = 0;
    _empty = false;

    std::string pcap_error;
    if (!starts_like_pcapng(path)) {
        char errbuf[PCAP_ERRBUF_SIZE] = "";
        pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
        if (p != nullptr) {
            _pcap = std::make_unique<pcap_source>();
            _pcap->pcap = p;
            _pcap->snapshot = static_cast<uint32_t>(pcap_snapshot(p));
            _pcap->max_caplen = pcap_max_caplen(_pcap->snapshot);
            // The standard pcap headers (either byte order, µs or ns): records
            // start after the 24-byte file header and have 16-byte headers.
            const long at = ftell(pcap_file(p));
            _pcap->counted = at == sizeof(pcap_file_header) && pcap_major_version(p) == pcap_version_major;
            _pcap->next_offset = at < 0 ? 0 : static_cast<uint64_t>(at);
            return {};
        }
        pcap_error = errbuf;
        if (partial && pcap_error.find("truncated") != std::string::npos)
            return ended_before_first_record(pcap_error);
    }
    init_wiretap();
    int err = 0;
    gchar* err_info = nullptr;
    wtap* wth = wtap_open_offline(path.c_str(), WTAP_TYPE_AUTO, &err, &err_info, FALSE);
    if (wth == nullptr && partial && err == WTAP_ERR_SHORT_READ) {
        g_free(err_info);
        return ended_before_first_record(wtap_strerror(err));
    }
    if (wth == nullptr) {
        std::string why = pcap_error.empty() ? wtap_strerror(err) : pcap_error;
        if (pcap_error.empty() && err_info != nullptr)
            why += fmt::format(" ({})", err_info);
        g_free(err_info);
        return fmt::format("{}: not a pcap or pcapng file, nor another capture format Wireshark reads: {}", path, why);
    }
    g_free(err_info);
    _wiretap = std::make_unique<wiretap_source>();
    _wiretap->wth = wth;
    return {};
}

std::string capture_reader::ended_before_first_record(const std::string& why)
{
    _note = fmt::format("{}: ends before its first record ({})", _path, why);
    _empty = true;
    return {};
}

int capture_reader::linktype() const
{
    if (_pcap)
        return pcap_datalink(_pcap->pcap);
    if (_wiretap) {
        const int encap = wtap_file_encap(_wiretap->wth);
        if (encap == WTAP_ENCAP_PER_PACKET) {
            // Interfaces of different link types: the first one's.
            const wtapng_iface_descriptions_t* idbs = wtap_file_get_idb_info(_wiretap->wth);
            int first = -1;
            if (idbs != nullptr && idbs->interface_data->len > 0) {
                const wtap_block_t idb = g_array_index(idbs->interface_data, wtap_block_t, 0);
                const auto* mand = static_cast<const wtapng_if_descr_mandatory_t*>(wtap_block_get_mandatory_data(idb));
                first = pcap_linktype_of(mand->wtap_encap);
            }
            g_free(const_cast<wtapng_iface_descriptions_t*>(idbs));
            return first;
        }
        return pcap_linktype_of(encap);
    }
    return -1;
}

const char* capture_reader::library() const
{
    return _wiretap ? "wiretap" : "libpcap";
}

read_status capture_reader::stop(const std::string& what, uint64_t offset)
{
    const std::string where = fmt::format("record {} (byte {})", _packets + 1, offset);
    if (_partial) {
        _note = fmt::format("{}: ends after {} complete records: {} {}", _path, _packets, where, what);
        return read_status::end;
    }
    _error = fmt::format("{}: {}: {}", _path, where, what);
    return read_status::error;
}

read_status capture_reader::finish(read_status status, capture_record& record)
{
    if (status != read_status::record)
        return status;
    if (repair_lengths(record.caplen, record.len))
        _repaired++;
    _packets++;
    return status;
}

read_status capture_reader::next(capture_record& record)
{
    if (!_error.empty())
        return read_status::error;
    if (_empty)
        return read_status::end;
    if (_pcap) {
        const uint64_t offset = _pcap->offset();
        pcap_pkthdr* h = nullptr;
        const u_char* data = nullptr;
        const int rc = pcap_next_ex(_pcap->pcap, &h, &data);
        if (rc == PCAP_ERROR_BREAK)
            return read_status::end;
        if (rc != 1)
            return stop(pcap_geterr(_pcap->pcap), offset);
        const pcap_record_header raw = {static_cast<uint32_t>(h->ts.tv_sec), static_cast<uint32_t>(h->ts.tv_usec),
                                         h->caplen, h->len};
        switch (check_pcap_record(raw, _pcap->max_caplen, _partial)) {
        case record_verdict::unwritten:
            _note = fmt::format("{}: ends after {} complete records: zeros follow at byte {} (the rest was never "
                                "written)", _path, _packets, offset);
            return read_status::end;
        case record_verdict::invalid:
            return stop(fmt::format("captured length {} is over the file's limit {}", h->caplen, _pcap->max_caplen),
                        offset);
        case record_verdict::record:
            break;
        }
        _pcap->advance(*h);
        record.ts_ns = pcap_seconds(h->ts.tv_sec) * ns_per_second + static_cast<uint32_t>(h->ts.tv_usec);
        record.caplen = h->caplen;
        record.len = h->len;
        record.interface = 0;
        record.linktype = pcap_datalink(_pcap->pcap);
        record.data = data;
        return finish(read_status::record, record);
    }
    if (!_wiretap)
        return read_status::end;
    wiretap_source& w = *_wiretap;
    for (;;) {
        const uint64_t offset = static_cast<uint64_t>(wtap_read_so_far(w.wth));
        int err = 0;
        gchar* err_info = nullptr;
        gint64 data_offset = 0;
        wtap_rec_reset(&w.rec);
        if (!wtap_read(w.wth, &w.rec, &w.buf, &err, &err_info, &data_offset)) {
            if (err == 0)
                return read_status::end;
            std::string what = wtap_strerror(err);
            if (err_info != nullptr)
                what += fmt::format(" ({})", err_info);
            g_free(err_info);
            return stop(what, offset);
        }
        if (w.rec.rec_type != REC_TYPE_PACKET)
            continue;
        const wtap_packet_header& p = w.rec.rec_header.packet_header;
        // Unsigned: a pcapng time past 2554 (over 64 bits of nanoseconds) wraps.
        record.ts_ns = (w.rec.presence_flags & WTAP_HAS_TS)
                           ? static_cast<uint64_t>(w.rec.ts.secs) * ns_per_second + static_cast<uint64_t>(w.rec.ts.nsecs)
                           : 0;
        record.caplen = p.caplen;
        record.len = p.len;
        record.interface = (w.rec.presence_flags & WTAP_HAS_INTERFACE_ID) ? p.interface_id : 0;
        record.linktype = pcap_linktype_of(p.pkt_encap);
        // wiretap reads a packet's bytes into the buffer's space without
        // moving its length: caplen bytes are there once wtap_read succeeded.
        record.data = ws_buffer_start_ptr(&w.buf);
        return finish(read_status::record, record);
    }
}

} // namespace linecap
