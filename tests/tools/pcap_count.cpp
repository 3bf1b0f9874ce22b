// pcap-count: how many records libpcap reads from each file before the end or
// the first error (what net_pcap will replay of it). Prints the total.
#include <cstdio>

#include <pcap/pcap.h>

int main(int argc, char** argv)
{
    unsigned long long total = 0;
    for (int i = 1; i < argc; i++) {
        char errbuf[PCAP_ERRBUF_SIZE];
        pcap_t* p = pcap_open_offline(argv[i], errbuf);
        if (p == nullptr)
            continue;   // net_pcap cannot open it either
        pcap_pkthdr* h;
        const u_char* d;
        while (pcap_next_ex(p, &h, &d) == 1)
            total++;
        pcap_close(p);
    }
    printf("%llu\n", total);
    return 0;
}
