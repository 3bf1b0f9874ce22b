#include "writers/capture_writer.h"

#include <cstring>

namespace linecap {

namespace {

// A pcapng block assembled in memory, options and all, then appended whole.
class block {
public:
    explicit block(uint32_t type)
    {
        put32(type);
        put32(0);   // total length, set by append_to()
    }
    void put16(uint16_t v) { put(&v, sizeof v); }
    void put32(uint32_t v) { put(&v, sizeof v); }
    void put64(uint64_t v) { put(&v, sizeof v); }
    void put(const void* data, size_t n)
    {
        const auto* p = static_cast<const uint8_t*>(data);
        _bytes.insert(_bytes.end(), p, p + n);
    }
    void option(uint16_t code, const void* data, uint16_t n)
    {
        put16(code);
        put16(n);
        put(data, n);
        _bytes.resize(_bytes.size() + (pcapng_padded(n) - n), 0);
    }
    void option(uint16_t code, const std::string& text)
    {
        option(code, text.data(), static_cast<uint16_t>(std::min<size_t>(text.size(), 65000)));
    }
    void option64(uint16_t code, uint64_t v) { option(code, &v, sizeof v); }
    // Timestamps are two 32-bit words, high first, as in Enhanced Packet Blocks.
    void option_time(uint16_t code, uint64_t ns)
    {
        const uint32_t words[2] = {static_cast<uint32_t>(ns >> 32), static_cast<uint32_t>(ns)};
        option(code, words, sizeof words);
    }
    // Ends the options: after the last one, before append_to().
    void end_options()
    {
        put16(pcapng_opt_end);
        put16(0);
    }
    // The block's length once finished: what append_to() writes.
    size_t size() const { return _bytes.size() + 4; }
    // Finishes the block (its length, front and back) and appends it whole.
    void append_to(output_file& file)
    {
        const auto total = static_cast<uint32_t>(size());
        std::memcpy(_bytes.data() + 4, &total, 4);
        put32(total);
        file.append(_bytes.data(), _bytes.size());
        file.end_record();
    }

private:
    std::vector<uint8_t> _bytes;
};

} // namespace

int capture_writer::open(int dir_fd, const std::string& name, const capture_file_options& options)
{
    const int rc = _file.open(dir_fd, name, options.chunk_bytes, options.direct);
    if (rc != 0)
        return rc;
    write_header(options);
    // The header goes to the kernel now: a file that cannot even take its
    // header fails here, at open, and a file cut back after a later failure
    // always keeps it (and so stays a valid, if empty, capture).
    if (const int err = _file.flush(); err != 0) {
        _file.discard();
        return err;
    }
    return 0;
}

int capture_writer::attach(int fd, const std::string& name, const capture_file_options& options)
{
    const int rc = _file.attach(fd, name, options.chunk_bytes);
    if (rc != 0)
        return rc;
    write_header(options);
    return 0;
}

void capture_writer::write_header(const capture_file_options& options)
{
    _format = options.format;
    _file.set_record_framing(framing_of(_format));
    _snaplen = options.snaplen == 0 ? pcap_max_snaplen : std::min(options.snaplen, pcap_max_snaplen);
    _packets = 0;
    _start_ns = options.start_ns;
    if (_format == file_format::pcapng) {
        write_pcapng_header(options);
    } else {
        const pcap_file_header header = make_pcap_file_header(_format, options.snaplen, options.linktype);
        _file.append(&header, sizeof header);
        _file.end_record();
        _header_records = 1;
    }
}

void capture_writer::write_pcapng_header(const capture_file_options& options)
{
    block shb(pcapng_section_header);
    shb.put32(pcapng_byte_order_magic);
    shb.put16(1);                           // version 1.0
    shb.put16(0);
    shb.put64(UINT64_MAX);                  // section length: not known
    shb.option(pcapng_shb_hardware, host_hardware_description());
    shb.option(pcapng_shb_os, host_os_description());
    shb.option(pcapng_shb_userappl, std::string("linecap ") + LINECAP_VERSION);
    if (!options.comment.empty())
        shb.option(pcapng_opt_comment, options.comment);
    shb.end_options();
    shb.append_to(_file);

    static const std::vector<capture_interface> unnamed = {{0, "linecap", ""}};
    const auto& interfaces = options.interfaces && !options.interfaces->empty() ? *options.interfaces : unnamed;
    _linktype = options.linktype;
    _ports.clear();
    _interface_of_port.fill(0);
    _header_records = 1 + interfaces.size();
    _late_interfaces.clear();
    for (const capture_interface& in : interfaces)
        append_interface_block(in);
}

uint32_t capture_writer::add_interface(const capture_interface& in)
{
    const uint32_t index = append_interface_block(in);
    _late_interfaces.push_back(_file.records() - 1);
    return index;
}

uint32_t capture_writer::append_interface_block(const capture_interface& in)
{
    const auto index = static_cast<uint32_t>(_ports.size());
    _ports.push_back(in.port);
    if (in.port < _interface_of_port.size() && index < 256)
        _interface_of_port[in.port] = static_cast<uint8_t>(index);
    block idb(pcapng_interface_description);
    idb.put16(static_cast<uint16_t>(_linktype));
    idb.put16(0);
    idb.put32(_snaplen);
    idb.option(pcapng_if_name, in.name);
    if (!in.description.empty())
        idb.option(pcapng_if_description, in.description);
    const uint8_t nanoseconds = 9;      // if_tsresol: 10^-9
    idb.option(pcapng_if_tsresol, &nanoseconds, 1);
    idb.end_options();
    idb.append_to(_file);
    return index;
}

namespace {

// An Interface Statistics Block for interface `index`.
block statistics_block(uint32_t index, uint64_t start_ns, uint64_t end_ns, const interface_counters& c)
{
    block isb(pcapng_interface_statistics);
    isb.put32(index);
    isb.put32(static_cast<uint32_t>(end_ns >> 32));
    isb.put32(static_cast<uint32_t>(end_ns));
    isb.option_time(pcapng_isb_starttime, start_ns);
    isb.option_time(pcapng_isb_endtime, end_ns);
    isb.option64(pcapng_isb_ifrecv, c.received);
    isb.option64(pcapng_isb_ifdrop, c.dropped);
    isb.end_options();
    return isb;
}

} // namespace

uint32_t capture_writer::interface_count() const
{
    return _ports.empty() ? 1u : static_cast<uint32_t>(_ports.size());
}

uint64_t capture_writer::closing_bytes() const
{
    if (_format != file_format::pcapng)
        return 0;
    return uint64_t{interface_count()} * statistics_block(0, 0, 0, {}).size();
}

int capture_writer::close(uint64_t end_ns, interface_counter_reader read)
{
    if (_format == file_format::pcapng && _file.is_open() && _file.error() == 0) {
        for (uint32_t i = 0; i < interface_count(); i++) {
            const interface_counters c = read && !_ports.empty() ? read(_ports[i]) : interface_counters{};
            statistics_block(i, _start_ns, end_ns, c).append_to(_file);
        }
    }
    return _file.close();
}

} // namespace linecap
