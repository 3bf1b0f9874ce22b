// pcap-count: how many records libpcap reads from each file before the end or
// the first error (what net_pcap will replay of it). Prints the total.
//   pcap-count [--longest] FILE...
// --longest: prints the largest captured length among them instead (a frame
// over one mbuf's 2 KiB is a chain, which net_pcap's infinite_rx refuses).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include <pcap/pcap.h>

int main(int argc, char** argv)
{
    const bool longest = argc > 1 && std::strcmp(argv[1], "--longest") == 0;
    unsigned long long total = 0;
    unsigned max_caplen = 0;
    for (int i = longest ? 2 : 1; i < argc; i++) {
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(argv[i], errbuf);
        if (p == nullptr)
            continue;   // net_pcap cannot open it either
        pcap_pkthdr* h;
        const u_char* d;
        while (pcap_next_ex(p, &h, &d) == 1) {
            total++;
            max_caplen = std::max(max_caplen, h->caplen);
        }
        pcap_close(p);
    }
    printf("%llu\n", longest ? max_caplen : total);
    return 0;
}
