// Deciding packets with the real classifier, for the filter tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <pcap/pcap.h>

#include "bench/traffic.h"
#include "filters/classifier.h"
#include "tests/support/dpdk_env.h"

namespace linecap::test {

// A classifier for one or more specs (slot i = specs[i]); fails the test on error.
// BPF runs as linecap runs it by default (filters/bpf.h) unless `bpf` says otherwise.
std::unique_ptr<classifier> build_classifier(const std::vector<std::string>& specs_json,
                                             bpf_runner bpf = bpf_runner::guarded_jit);

// The masks the classifier gives each frame.
// `short_first_every`: if not 0, every such frame is a chain of 20-byte
// segments (the classifier copies its headers out), the others one segment.
std::vector<session_mask> classify_frames(const classifier& c, const std::vector<std::vector<uint8_t>>& frames,
                                          unsigned short_first_every = 0);

// One spec, one frame: kept or not?
bool keeps(const std::string& spec_json, const std::vector<uint8_t>& frame);

// The error a spec gets, from parsing or from checking its filter.
std::string spec_error(const std::string& spec_json);

// Every frame of a capture file, as captured (empty if libpcap cannot open it).
std::vector<std::vector<uint8_t>> read_pcap(const std::string& path);

// libpcap's own verdict on an expression (pcap_offline_filter: what
// tcpdump -r runs), the reference the classifier is held to.
struct compiled_bpf {
    bpf_program program{};
    std::string text;
    compiled_bpf(pcap_t* dead, const std::string& expression);   // fails the test if it does not compile
    ~compiled_bpf() { pcap_freecode(&program); }
    compiled_bpf(const compiled_bpf&) = delete;
    compiled_bpf& operator=(const compiled_bpf&) = delete;
    bool matches(const std::vector<uint8_t>& bytes) const;
};

// Frames from a few words.
std::vector<uint8_t> tcp4(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                          uint8_t flags = 0x02, unsigned length = 80);
std::vector<uint8_t> udp4(const char* src, const char* dst, uint16_t sport, uint16_t dport, unsigned length = 80);
std::vector<uint8_t> tcp6(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                          uint8_t flags = 0x02, unsigned length = 100);
traffic::frame_spec frame4(const char* src, const char* dst, uint8_t protocol);
traffic::frame_spec frame6(const char* src, const char* dst, uint8_t protocol);

} // namespace linecap::test
