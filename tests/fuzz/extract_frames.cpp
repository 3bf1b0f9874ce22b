// Seeds for fuzz-packet: the first frames of each Ethernet capture given,
// one file per frame, named by a hash of its bytes (so a frame seen in
// several captures is written once). Read with libpcap, pcap and pcapng alike.
//
//   extract-frames OUT_DIR FRAMES_PER_FILE CAPTURE...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include <pcap/pcap.h>

namespace {

uint64_t fnv1a(const u_char* bytes, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ bytes[i]) * 1099511628211ull;
    return h;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: extract-frames OUT_DIR FRAMES_PER_FILE CAPTURE...\n");
        return 2;
    }
    const std::string out = argv[1];
    const long per_file = std::strtol(argv[2], nullptr, 10);
    std::set<uint64_t> seen;
    for (int i = 3; i < argc; i++) {
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(argv[i], errbuf);
        if (p == nullptr)
            continue;   // the corpus holds some files libpcap refuses, on purpose
        if (pcap_datalink(p) == DLT_EN10MB) {
            pcap_pkthdr* h;
            const u_char* d;
            for (long n = 0; n < per_file && pcap_next_ex(p, &h, &d) == 1; n++) {
                const uint64_t hash = fnv1a(d, h->caplen);
                if (!seen.insert(hash).second)
                    continue;
                char name[32];
                snprintf(name, sizeof name, "/%016llx", static_cast<unsigned long long>(hash));
                FILE* f = fopen((out + name).c_str(), "wb");
                if (f == nullptr || fwrite(d, 1, h->caplen, f) != h->caplen || fclose(f) != 0) {
                    perror((out + name).c_str());
                    return 1;
                }
            }
        }
        pcap_close(p);
    }
    printf("%zu frames\n", seen.size());
    return 0;
}
