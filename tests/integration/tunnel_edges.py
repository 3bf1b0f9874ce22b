#!/usr/bin/env python3
"""Mirror traffic at the edges of its declared lengths, built byte by byte (no linecap code).

    tunnel_edges.py DIR

Writes into DIR:
  padded.pcap  tunnels that carry no inner byte, padded to Ethernet's 60 bytes
               as NICs deliver them (VXLAN, a 3-byte UDP payload to 4789,
               GENEVE with options, GRE carrying Ethernet and IPv4, ERSPAN II
               and III, IP-in-IP, IP-in-IPv6), and a VXLAN-mirrored frame of
               IPv4/GRE with nothing inside, padded by the mirrored host's NIC:
               its inner frame (VNI 77) is the only inner packet of the file.
  cut.pcap     mirrored frames cut before encapsulation (AWS traffic
               mirroring's packet length; an outer first fragment), whole
               outer frames: VXLAN, VXLAN with a VLAN-tagged inner frame, GRE
               carrying IPv4, ERSPAN II carrying IPv6, VXLAN in a first fragment.
  cut.expect   one line per frame of cut.pcap: "FRAME_CAPLEN/FRAME_LEN IP_CAPLEN/IP_LEN",
               the record a "decap": true and a "decap": "ip" session should
               write of it: the bytes there, and the inner packet's own length
               (its IP length, plus its Ethernet header and tags for a frame,
               or the made-up 14-byte header for an inner IP packet).
  outer.pcap   plain packets shorter than their frame: an IPv4 header saying
               TCP padded with zeros (no port 0 in it), a SYN padded with bytes
               that spell "GET /" (no payload), then one TCP packet to port 0
               and one whose payload has "GET /" (both for real).
"""
import os
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def ip6(s):
    import ipaddress
    return ipaddress.IPv6Address(s).packed


def eth(payload, etype=0x0800, vlans=()):
    h = bytes.fromhex("020000000002020000000001")
    for vid in vlans:
        h += struct.pack("!HH", 0x8100, vid)
    return h + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, total=None, flags_frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total if total is not None else 20 + len(payload), 7, flags_frag,
                    64, proto, 0, ip4(src), ip4(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, ip6(src), ip6(dst)) + payload


def pseudo(fam, src, dst, proto, length):
    if fam == 4:
        return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length)
    return ip6(src) + ip6(dst) + struct.pack("!IxxxB", length, proto)


def tcp(fam, src, dst, sport, dport, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000, 5 << 4, flags, 65535, 0, 0) + payload
    c = csum(pseudo(fam, src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(fam, src, dst, sport, dport, payload, length=None):
    seg = struct.pack("!HHHH", sport, dport, length if length is not None else 8 + len(payload), 0) + payload
    c = csum(pseudo(fam, src, dst, 17, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def pad60(frame):
    return frame + b"\0" * max(0, 60 - len(frame))


MIRROR, COLLECTOR = "203.0.113.5", "198.51.100.10"


def outer_udp(payload, dport, length=None, total=None, flags_frag=0):
    return eth(ipv4(MIRROR, COLLECTOR, 17, udp(4, MIRROR, COLLECTOR, 50001, dport, payload, length),
                    total=total, flags_frag=flags_frag))


def outer_gre(payload):
    return eth(ipv4(MIRROR, COLLECTOR, 47, payload))


def vxlan_hdr(vni):
    return struct.pack("!B3xI", 0x08, vni << 8)


def geneve_hdr(vni, words):
    return struct.pack("!BBHI", words, 0, 0x6558, vni << 8) + struct.pack("!HBB", 0x0103, 0x80, words - 1) + \
        b"\xaa" * (4 * (words - 1))


def gre_hdr(proto, seq=None):
    return struct.pack("!HH", 0x1000 if seq is not None else 0, proto) + \
        (struct.pack("!I", seq) if seq is not None else b"")


def erspan2_hdr(session):
    return struct.pack("!II", (1 << 28) | session, 5)


def erspan3_hdr(session):
    return struct.pack("!III", (2 << 28) | session, 0x11223344, (1 << 4) | (3 << 1))


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)))
            f.write(fr)


def main():
    out = sys.argv[1]

    # The mirrored host's frame: IPv4 carrying GRE with nothing inside, padded by its NIC.
    empty_gre = pad60(eth(ipv4("10.20.0.1", "10.20.0.2", 47, gre_hdr(0x0800))))
    padded = [
        pad60(outer_udp(vxlan_hdr(150), 4789)),
        pad60(outer_udp(b"abc", 4789)),
        pad60(outer_udp(geneve_hdr(150, 2), 6081)),
        pad60(outer_gre(gre_hdr(0x6558))),
        pad60(outer_gre(gre_hdr(0x0800))),
        pad60(outer_gre(gre_hdr(0x88BE, seq=1) + erspan2_hdr(150))),
        pad60(outer_gre(gre_hdr(0x22EB, seq=1) + erspan3_hdr(150))),
        pad60(eth(ipv4(MIRROR, COLLECTOR, 4, b""))),
        pad60(eth(ipv6("2001:db8::5", "2001:db8::10", 41, b""), 0x86DD)),
        outer_udp(vxlan_hdr(77) + empty_gre, 4789),
    ]
    write_pcap(os.path.join(out, "padded.pcap"), padded)

    body = bytes((i * 7) & 0xFF for i in range(1400))
    inner = eth(ipv4("192.0.2.10", "198.51.100.20", 6, tcp(4, "192.0.2.10", "198.51.100.20", 40001, 443, 0x18, body)))
    tagged = eth(ipv4("192.0.2.11", "198.51.100.20", 6, tcp(4, "192.0.2.11", "198.51.100.20", 40002, 443, 0x18, body)),
                 vlans=(100,))
    body6 = body[:946]
    inner6 = eth(ipv6("2001:db8::1", "2001:db8::2", 6, tcp(6, "2001:db8::1", "2001:db8::2", 40003, 443, 0x18, body6)),
                 0x86DD)
    assert len(inner) == 1454 and len(tagged) == 1458 and len(inner6) == 14 + 40 + 966
    whole = outer_udp(vxlan_hdr(100) + inner, 4789)
    at = len(whole) - len(inner)
    cut = [
        (outer_udp(vxlan_hdr(100) + inner[:128], 4789), "128/1454 114/1440"),
        (outer_udp(vxlan_hdr(100) + tagged[:128], 4789), "128/1458 110/1440"),
        (outer_gre(gre_hdr(0x0800) + inner[14:114]), "114/1454 100/1440"),
        (outer_gre(gre_hdr(0x88BE, seq=1) + erspan2_hdr(100) + inner6[:200]), "200/1020 186/1006"),
        # The outer IPv4 packet is a first fragment of 600 bytes; the UDP
        # length is the whole datagram's.
        (eth(ipv4(MIRROR, COLLECTOR, 17, udp(4, MIRROR, COLLECTOR, 50001, 4789, vxlan_hdr(100) + inner),
                  flags_frag=0x2000)[:600 - 14], 0x0800)[:600],
         "%d/1454 %d/1440" % (600 - at, 600 - at - 14)),
    ]
    # The fragment's IPv4 total length: the fragment's own (checksum again).
    frag = bytearray(cut[4][0])
    frag[16:18] = struct.pack("!H", 600 - 14)
    frag[24:26] = b"\0\0"
    frag[24:26] = struct.pack("!H", csum(bytes(frag[14:34])))
    cut[4] = (bytes(frag), cut[4][1])
    write_pcap(os.path.join(out, "cut.pcap"), [f for f, _ in cut])
    with open(os.path.join(out, "cut.expect"), "w") as f:
        for _, e in cut:
            f.write(e + "\n")

    get = b"GET /x"
    outer = [
        pad60(eth(ipv4("10.0.0.1", "10.0.0.2", 6, b""))),
        eth(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(4, "10.0.0.1", "10.0.0.2", 1000, 80, 0x02))) + get,
        eth(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(4, "10.0.0.1", "10.0.0.2", 1000, 0, 0x02))) + b"\0" * 6,
        eth(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(4, "10.0.0.1", "10.0.0.2", 1000, 80, 0x18, get + b" HTTP/1.1\r\n"))),
    ]
    write_pcap(os.path.join(out, "outer.pcap"), outer)


main()
