// pcap-compare: are two capture files the same packets?
//
//   pcap-compare EXPECTED ACTUAL [--snaplen N] [--timestamps exact|us|ignore] [--replayed-lengths] [--any-order]
//   pcap-compare --expected-list LIST ACTUAL [...]
//
// Reads both with libpcap at nanosecond precision and compares record by
// record: timestamp, original length, captured length (ACTUAL must hold the
// first min(len, snaplen) bytes of EXPECTED's packet) and the bytes. With
// --expected-list, EXPECTED is the files LIST names (one per line), read one
// after the other as one stream (what `linecap -r A -r B ...` writes from
// several files). With --any-order, each side's records are first sorted
// by time, length and bytes: the same records in any order agree (files
// whose records are not in time order, which a merge of all of them and a
// query of some interleave differently). Prints the first difference with
// its record number (and
// which expected file holds it) and exits 1; exits 0 when the files agree,
// 2 when one cannot be read.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <pcap/pcap.h>

namespace {

pcap_t* open_nano(const std::string& path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (p == nullptr)
        fmt::print(stderr, "pcap-compare: {}: {}\n", path, errbuf);
    return p;
}

// pcap seconds are unsigned 32-bit: libpcap 1.10 sign-extends those past
// 2^31 (2038) into negative tv_sec, which is undone here.
int64_t ts_ns(const pcap_pkthdr* h)
{
    const int64_t sec = h->ts.tv_sec < 0 ? h->ts.tv_sec + (int64_t{1} << 32) : h->ts.tv_sec;
    return sec * 1000000000 + static_cast<int64_t>(h->ts.tv_usec);
}

int64_t floor_to_us(int64_t ns)
{
    const int64_t r = ns % 1000;
    return ns - (r < 0 ? r + 1000 : r);
}


// Records from several files in turn, as one stream.
class record_stream {
public:
    explicit record_stream(std::vector<std::string> paths) : _paths(std::move(paths)) {}
    ~record_stream()
    {
        if (_pcap != nullptr)
            pcap_close(_pcap);
    }

    // Every record read at the first next(), then given in order of time,
    // length and bytes.
    void sort_first() { _sorted = true; }
    // 1: a record; 0: the end of the last file; PCAP_ERROR: a file cannot be read.
    int next(pcap_pkthdr** h, const u_char** d)
    {
        if (!_sorted)
            return next_in_turn(h, d);
        if (!_loaded) {
            _loaded = true;
            pcap_pkthdr* rh;
            const u_char* rd;
            int rc;
            while ((rc = next_in_turn(&rh, &rd)) == 1)
                _held.push_back({*rh, std::string(reinterpret_cast<const char*>(rd), rh->caplen)});
            if (rc == PCAP_ERROR)
                return PCAP_ERROR;
            std::stable_sort(_held.begin(), _held.end(), [](const held& a, const held& b) {
                const int64_t ta = ts_ns(&a.header), tb = ts_ns(&b.header);
                if (ta != tb)
                    return ta < tb;
                if (a.header.len != b.header.len)
                    return a.header.len < b.header.len;
                return a.bytes < b.bytes;
            });
        }
        if (_next_held == _held.size())
            return 0;
        held& r = _held[_next_held++];
        *h = &r.header;
        *d = reinterpret_cast<const u_char*>(r.bytes.data());
        return 1;
    }

private:
    int next_in_turn(pcap_pkthdr** h, const u_char** d)
    {
        for (;;) {
            if (_pcap == nullptr) {
                if (_index == _paths.size())
                    return 0;
                _pcap = open_nano(_paths[_index]);
                _in_file = 0;
                if (_pcap == nullptr) {
                    _error = "cannot open " + _paths[_index];
                    return PCAP_ERROR;
                }
            }
            const int rc = pcap_next_ex(_pcap, h, d);
            if (rc == 1) {
                _in_file++;
                return 1;
            }
            if (rc == PCAP_ERROR) {
                _error = fmt::format("{}: {}", _paths[_index], pcap_geterr(_pcap));
                return PCAP_ERROR;
            }
            pcap_close(_pcap);
            _pcap = nullptr;
            _index++;
        }
    }

public:
    const std::string& error() const { return _error; }
    // Where the last record came from, when there are several files.
    std::string where() const
    {
        return _paths.size() < 2 || _index >= _paths.size()
                   ? std::string()
                   : fmt::format(" ({}, its record {})", _paths[_index], _in_file);
    }
    std::string name() const { return _paths.size() == 1 ? _paths[0] : fmt::format("the {} expected files", _paths.size()); }

private:
    std::vector<std::string> _paths;
    size_t _index = 0;
    pcap_t* _pcap = nullptr;
    uint64_t _in_file = 0;
    std::string _error;
    struct held {
        pcap_pkthdr header;
        std::string bytes;
    };
    bool _sorted = false, _loaded = false;
    std::vector<held> _held;
    size_t _next_held = 0;
};

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"pcap-compare: compare two capture files packet by packet"};
    std::vector<std::string> files;
    std::string list_path, timestamps = "exact";
    uint32_t snaplen = 0;
    app.add_option("files", files, "EXPECTED ACTUAL, or ACTUAL alone with --expected-list")->required();
    app.add_option("--expected-list", list_path, "EXPECTED is these files (one per line), read in turn");
    app.add_option("--snaplen", snaplen, "ACTUAL was truncated to this many bytes (0: whole)");
    app.add_option("--timestamps", timestamps,
                   "exact; us (EXPECTED's time cut to microseconds); ignore")
        ->check(CLI::IsMember({"exact", "us", "ignore"}));
    bool replayed_lengths = false;
    app.add_flag("--replayed-lengths", replayed_lengths,
                 "EXPECTED's records went through DPDK's net_pcap, which keeps only the captured "
                 "bytes: expect original length = EXPECTED's captured length");
    bool any_order = false;
    app.add_flag("--any-order", any_order,
                 "the same records in any order agree: each side sorted by time, length and bytes first");
    CLI11_PARSE(app, argc, argv);

    std::vector<std::string> expected_paths;
    if (!list_path.empty()) {
        std::ifstream list(list_path);
        for (std::string line; std::getline(list, line);)
            if (!line.empty())
                expected_paths.push_back(line);
        if (expected_paths.empty()) {
            fmt::print(stderr, "pcap-compare: {}: no files listed\n", list_path);
            return 2;
        }
    }
    if (files.size() != (list_path.empty() ? 2u : 1u)) {
        fmt::print(stderr, "pcap-compare: give EXPECTED ACTUAL, or --expected-list LIST ACTUAL\n");
        return 2;
    }
    if (list_path.empty())
        expected_paths.push_back(files[0]);
    const std::string actual_path = files.back();
    record_stream expected(expected_paths);
    record_stream actual({actual_path});
    if (any_order) {
        expected.sort_first();
        actual.sort_first();
    }

    uint64_t record = 0;
    for (;;) {
        pcap_pkthdr *eh, *ah;
        const u_char *ed, *ad;
        const int er = expected.next(&eh, &ed);
        const int ar = actual.next(&ah, &ad);
        if (er == PCAP_ERROR || ar == PCAP_ERROR) {
            fmt::print(stderr, "pcap-compare: record {}: read error: {}\n", record,
                       er == PCAP_ERROR ? expected.error() : actual.error());
            return 2;
        }
        if (er != 1 || ar != 1) {
            if (er != 1 && ar != 1)
                break;
            fmt::print(stderr, "pcap-compare: {} has more records: {} ends after {}\n",
                       er == 1 ? expected.name() : actual_path, er == 1 ? actual_path : expected.name(),
                       record);
            return 1;
        }
        int64_t want_ts = ts_ns(eh);
        if (timestamps == "us")
            want_ts = floor_to_us(want_ts);
        const uint32_t want_caplen = snaplen ? std::min(eh->caplen, snaplen) : eh->caplen;
        std::string what;
        if (timestamps != "ignore" && ts_ns(ah) != want_ts)
            what = fmt::format("timestamp {} ns, expected {} ns", ts_ns(ah), want_ts);
        else if (ah->len != (replayed_lengths ? eh->caplen : eh->len))
            what = fmt::format("original length {}, expected {}", ah->len, replayed_lengths ? eh->caplen : eh->len);
        else if (ah->caplen != want_caplen)
            what = fmt::format("captured length {}, expected {}", ah->caplen, want_caplen);
        else if (std::memcmp(ad, ed, want_caplen) != 0) {
            uint32_t i = 0;
            while (ad[i] == ed[i])
                i++;
            what = fmt::format("byte {} is {:#04x}, expected {:#04x}", i, ad[i], ed[i]);
        }
        if (!what.empty()) {
            fmt::print(stderr, "pcap-compare: record {} (1-based {}){}: {}\n", record, record + 1, expected.where(),
                       what);
            return 1;
        }
        record++;
    }
    fmt::print("pcap-compare: {} records agree\n", record);
    return 0;
}
