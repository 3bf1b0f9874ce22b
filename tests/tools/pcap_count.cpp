// pcap-count: how many records libpcap reads from each file before the end or
// the first error (what net_pcap will replay of it). Prints the total.
//   pcap-count [--longest] [--stop-at-zeros] FILE...
// --longest: prints the largest captured length among them instead (a frame
// over one mbuf's 2 KiB is a chain, which net_pcap's infinite_rx refuses).
// --stop-at-zeros: also stop a file at its first all-zero record, as linecap
// merge does with a .part file a crash left with a chunk in flight.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include <pcap/pcap.h>

int main(int argc, char** argv)
{
    bool longest = false, stop_at_zeros = false;
    unsigned long long total = 0;
    unsigned max_caplen = 0;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--longest") == 0) {
            longest = true;
            continue;
        }
        if (std::strcmp(argv[i], "--stop-at-zeros") == 0) {
            stop_at_zeros = true;
            continue;
        }
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(argv[i], errbuf);
        if (p == nullptr)
            continue;   // net_pcap cannot open it either
        pcap_pkthdr* h;
        const u_char* d;
        while (pcap_next_ex(p, &h, &d) == 1) {
            if (stop_at_zeros && h->ts.tv_sec == 0 && h->ts.tv_usec == 0 && h->caplen == 0 && h->len == 0)
                break;
            total++;
            max_caplen = std::max(max_caplen, h->caplen);
        }
        pcap_close(p);
    }
    if (longest)
        printf("%u\n", max_caplen);
    else
        printf("%llu\n", total);
    return 0;
}
