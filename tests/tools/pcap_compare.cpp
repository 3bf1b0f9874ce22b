// pcap-compare: are two capture files the same packets?
//
//   pcap-compare EXPECTED ACTUAL [--snaplen N] [--timestamps exact|us|ignore] [--replayed-lengths]
//
// Reads both with libpcap at nanosecond precision and compares record by
// record: timestamp, original length, captured length (ACTUAL must hold the
// first min(len, snaplen) bytes of EXPECTED's packet) and the bytes. Prints
// the first difference with its record number and exits 1; exits 0 when the
// files agree, 2 when one cannot be read.
#include <cstdio>
#include <cstring>
#include <string>

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

} // namespace

int main(int argc, char** argv)
{
    CLI::App app{"pcap-compare: compare two capture files packet by packet"};
    std::string expected_path, actual_path, timestamps = "exact";
    uint32_t snaplen = 0;
    app.add_option("expected", expected_path)->required();
    app.add_option("actual", actual_path)->required();
    app.add_option("--snaplen", snaplen, "ACTUAL was truncated to this many bytes (0: whole)");
    app.add_option("--timestamps", timestamps,
                   "exact; us (EXPECTED's time cut to microseconds); ignore")
        ->check(CLI::IsMember({"exact", "us", "ignore"}));
    bool replayed_lengths = false;
    app.add_flag("--replayed-lengths", replayed_lengths,
                 "EXPECTED's records went through DPDK's net_pcap, which keeps only the captured "
                 "bytes: expect original length = EXPECTED's captured length");
    CLI11_PARSE(app, argc, argv);

    pcap_t* expected = open_nano(expected_path);
    pcap_t* actual = open_nano(actual_path);
    if (expected == nullptr || actual == nullptr)
        return 2;

    uint64_t record = 0;
    for (;;) {
        pcap_pkthdr *eh, *ah;
        const u_char *ed, *ad;
        const int er = pcap_next_ex(expected, &eh, &ed);
        const int ar = pcap_next_ex(actual, &ah, &ad);
        if (er == PCAP_ERROR || ar == PCAP_ERROR) {
            fmt::print(stderr, "pcap-compare: record {}: read error: {}\n", record,
                       er == PCAP_ERROR ? pcap_geterr(expected) : pcap_geterr(actual));
            return 2;
        }
        if (er != 1 || ar != 1) {
            if (er != 1 && ar != 1)
                break;
            fmt::print(stderr, "pcap-compare: {} has more records: {} ends after {}\n",
                       er == 1 ? expected_path : actual_path, er == 1 ? actual_path : expected_path,
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
            fmt::print(stderr, "pcap-compare: record {} (1-based {}): {}\n", record, record + 1, what);
            return 1;
        }
        record++;
    }
    fmt::print("pcap-compare: {} records agree\n", record);
    pcap_close(expected);
    pcap_close(actual);
    return 0;
}
