#!/usr/bin/env python3
"""Frames that a capture port must deliver exactly as they were on the wire.

    wire_frames.py make OUT.pcap [--sets N]
        writes the frames (N copies of each fragment set, each copy with its
        own IP ids, so that no two sets can be mistaken for one another)
    wire_frames.py check SENT.pcap GOT.pcap [--af-packet]
        compares GOT with SENT frame by frame, in order (one RX queue keeps
        the wire's order), and prints one line per kind of frame: sent,
        delivered identical, missing; and the frames GOT holds that were not
        sent. Exits 0 when every frame sent was delivered as sent and nothing
        else, 1 otherwise.
        --af-packet: expect what DPDK 22.11's net_af_packet does instead:
        no IPv4 fragment delivered as sent (the kernel reassembles them for
        its fanout group), each frame not sent being the reassembly of a set
        sent (an IPv4 datagram, not a fragment, with a sent set's IP id and
        addresses), and QinQ frames with their 802.1ad outer tag rewritten as
        802.1Q; every other frame as sent.

Kinds: plain, runt, vlan, qinq, bad-csum, frag (every IPv4 fragment: first,
middle, last, overlapping, duplicated, out of order, incomplete sets, also
inside a VLAN tag), frag6 (an IPv6 fragment). A frame's kind is derived from
its bytes, so `check` needs nothing but the two files.

Only struct: no scapy. Addresses are documentation ranges.
"""
import socket
import struct
import sys

MAC_RX = bytes.fromhex("020000000002")
MAC_TX = bytes.fromhex("020000000001")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def eth(payload, ethertype=0x0800, tags=()):
    h = MAC_RX + MAC_TX
    for tpid, tci in tags:
        h += struct.pack("!HH", tpid, tci)
    return h + struct.pack("!H", ethertype) + payload


def ipv4(payload, proto=17, ident=1, frag=0, src="192.0.2.1", dst="198.51.100.2",
         bad_csum=False, total=None):
    tl = total if total is not None else 20 + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, ident, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h) ^ (0x5555 if bad_csum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def l4_csum(proto, seg, src="192.0.2.1", dst="198.51.100.2"):
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(pseudo + seg)


def udp(sport, dport, data, bad_csum=False):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = l4_csum(17, seg) ^ (0x5555 if bad_csum else 0)
    return seg[:6] + struct.pack("!H", c or 0xffff) + seg[8:]


def tcp(sport, dport, flags=0x02, data=b"", bad_csum=False):
    seg = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 65535, 0, 0) + data
    c = l4_csum(6, seg) ^ (0x5555 if bad_csum else 0)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def fragments(ident, pieces, tags=(), bad_csum=False):
    """One IPv4 UDP datagram cut into pieces: (offset in bytes, length, more
    fragments). Offsets are multiples of 8; pieces may overlap or leave holes."""
    data = bytes((ident + i) & 0xff for i in range(256))
    datagram = udp(5000, 5001, data)
    frames = []
    for off, length, more in pieces:
        field = (off // 8) | (0x2000 if more else 0)
        frames.append(eth(ipv4(datagram[off:off + length], ident=ident, frag=field,
                               bad_csum=bad_csum), tags=tags))
    return frames


def make(path, sets):
    frames = []
    for s in range(sets):
        base = 0x1000 + s * 0x40
        # plain traffic
        frames.append(eth(ipv4(udp(40000 + s, 53, b"\x12\x34\x01\x00" + b"\0" * 40))))
        frames.append(eth(ipv4(tcp(40000 + s, 443, 0x18, b"GET / HTTP/1.1\r\n" * 4), proto=6)))
        frames.append(eth(struct.pack("!IHBB16s16s", 6 << 28, 16, 17, 64,
                                      socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                                      socket.inet_pton(socket.AF_INET6, "2001:db8::2"))
                          + struct.pack("!HHHH", 1000, 2000, 16, 0) + b"ipv6data",
                          ethertype=0x86dd))
        # fragments: a set in order, out of order, overlapping, duplicated,
        # with holes, alone, a runt first fragment, and one with a bad IP checksum
        frames += fragments(base + 1, [(0, 96, True), (96, 96, True), (192, 72, False)])
        frames += fragments(base + 2, [(192, 72, False), (0, 96, True), (96, 96, True)])
        frames += fragments(base + 3, [(0, 96, True), (48, 96, True), (144, 120, False)])
        frames += fragments(base + 4, [(0, 96, True), (0, 96, True), (96, 168, False)])
        frames += fragments(base + 5, [(0, 96, True), (192, 72, False)])
        frames += fragments(base + 6, [(96, 96, True)])
        frames += fragments(base + 7, [(0, 8, True), (8, 256, False)])
        frames += fragments(base + 8, [(0, 96, True)], bad_csum=True)
        # VLAN: a frame, a priority tag (VID 0), a whole fragment set and an incomplete one
        frames.append(eth(ipv4(tcp(41000 + s, 80, 0x02), proto=6), tags=[(0x8100, 100)]))
        frames.append(eth(ipv4(udp(41000 + s, 123, b"\0" * 48)), tags=[(0x8100, 5 << 13)]))
        frames += fragments(base + 9, [(0, 96, True), (96, 168, False)], tags=[(0x8100, 200)])
        frames += fragments(base + 10, [(0, 96, True)], tags=[(0x8100, 201)])
        # QinQ: 802.1ad outside 802.1Q
        frames.append(eth(ipv4(udp(42000 + s, 7000, b"\0" * 30)), tags=[(0x88a8, 300), (0x8100, 100)]))
        # bad checksums: IP header, TCP, UDP
        frames.append(eth(ipv4(udp(43000 + s, 53, b"\0" * 40), bad_csum=True)))
        frames.append(eth(ipv4(tcp(43000 + s, 22, 0x10, b"x" * 20, bad_csum=True), proto=6)))
        frames.append(eth(ipv4(udp(43000 + s, 514, b"y" * 30, bad_csum=True))))
        # runts, as tcpreplay sends them through a veth (no padding): a bare TCP
        # SYN (54 bytes), ARP (42), a header-only frame, 20 bytes of an unknown
        # type, an IPv4 header cut short
        frames.append(eth(ipv4(tcp(44000 + s, 8080, 0x02), proto=6)))
        frames.append(eth(struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + MAC_TX + socket.inet_aton("192.0.2.1")
                          + b"\0" * 6 + socket.inet_aton("192.0.2.2"), ethertype=0x0806))
        frames.append(eth(b"", ethertype=0x88b5))
        frames.append(eth(b"runt!\0", ethertype=0x88b6))
        frames.append(eth(ipv4(b"", total=20)[:10]))
        # an IPv6 fragment (the kernel's AF_PACKET fanout reassembles only IPv4)
        frames.append(eth(struct.pack("!IHBB16s16s", 6 << 28, 8 + 24, 44, 64,
                                      socket.inet_pton(socket.AF_INET6, "2001:db8::1"),
                                      socket.inet_pton(socket.AF_INET6, "2001:db8::2"))
                          + struct.pack("!BBHI", 17, 0, 1, base) + b"f" * 24, ethertype=0x86dd))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000, (i % 1000) * 1000,
                                len(frame), len(frame)) + frame)
    print(f"{len(frames)} frames")


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    frames, pos = [], 24
    while pos + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        frames.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    return frames


def kind(frame):
    """The kind of a frame, first that applies: frag, frag6, runt, bad-csum, qinq, vlan, plain."""
    ethertype = struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
    off = 14
    tags = 0
    while ethertype in (0x8100, 0x88a8) and len(frame) >= off + 4:
        tags += 1
        ethertype = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    ip4 = ethertype == 0x0800 and len(frame) >= off + 20
    if ip4 and struct.unpack("!H", frame[off + 6:off + 8])[0] & 0x3fff:
        return "frag"
    if ethertype == 0x86dd and len(frame) >= off + 40 and frame[off + 6] == 44:
        return "frag6"
    if len(frame) < 60:
        return "runt"
    if ip4:
        if csum(frame[off:off + 20]) != 0:
            return "bad-csum"
        proto = frame[off + 9]
        seg = frame[off + 20:off + struct.unpack("!H", frame[off + 2:off + 4])[0]]
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
        if proto in (6, 17) and csum(pseudo + seg) != 0:
            return "bad-csum"
    return {0: "plain", 1: "vlan"}.get(tags, "qinq")


def ipv4_at(frame):
    """Offset of the IPv4 header behind any VLAN tags, or None."""
    off = 12
    while len(frame) >= off + 2:
        ethertype = struct.unpack("!H", frame[off:off + 2])[0]
        if ethertype in (0x8100, 0x88a8):
            off += 4
            continue
        return off + 2 if ethertype == 0x0800 and len(frame) >= off + 22 else None
    return None


def fragment_set_key(frame):
    """(IP id, source, destination) of an IPv4 frame."""
    off = ipv4_at(frame)
    return None if off is None else (frame[off + 4:off + 6], frame[off + 12:off + 20])


def explained_by_af_packet(frame, sent):
    """A frame DPDK 22.11's net_af_packet makes of frames sent: a datagram
    reassembled from a sent fragment set, or a QinQ frame retagged 802.1Q."""
    off = ipv4_at(frame)
    if off is not None and not struct.unpack("!H", frame[off + 6:off + 8])[0] & 0x3fff:
        key = fragment_set_key(frame)
        if any(kind(f) == "frag" and fragment_set_key(f) == key for f in sent):
            return "reassembled"
    for f in sent:
        if kind(f) == "qinq" and f[12:14] == b"\x88\xa8" and frame == f[:12] + b"\x81\x00" + f[14:]:
            return "retagged"
    return None


def check(sent_path, got_path, af_packet):
    sent, got = read_pcap(sent_path), read_pcap(got_path)
    kinds = ["plain", "runt", "vlan", "qinq", "bad-csum", "frag", "frag6"]
    expect_missing = {"frag", "qinq"} if af_packet else set()
    total = {k: 0 for k in kinds}
    same = {k: 0 for k in kinds}
    missing = {k: 0 for k in kinds}
    extra = []
    j = 0
    for frame in sent:
        k = kind(frame)
        total[k] += 1
        # In order: a frame not next in GOT is missing; GOT's frames skipped
        # over on the way to the next match are frames nobody sent.
        try:
            at = got.index(frame, j)
        except ValueError:
            missing[k] += 1
            continue
        extra += got[j:at]
        j = at + 1
        same[k] += 1
    extra += got[j:]
    ok = True
    for k in kinds:
        if total[k] == 0:
            continue
        want_missing = total[k] if k in expect_missing else 0
        flag = "" if missing[k] == want_missing else "   <-- expected %d missing" % want_missing
        ok = ok and not flag
        print(f"  {k:9} sent {total[k]:5}  delivered as sent {same[k]:5}  missing {missing[k]:5}{flag}")
    print(f"  {len(sent)} sent, {len(got)} captured, {sum(same.values())} identical, "
          f"{sum(missing.values())} missing, {len(extra)} not sent")
    unexplained = []
    made = {}
    for frame in extra:
        how = explained_by_af_packet(frame, sent) if af_packet else None
        if how is None:
            unexplained.append(frame)
        else:
            made[how] = made.get(how, 0) + 1
    for how, n in sorted(made.items()):
        print(f"  not sent, {how} by the kernel/driver as DPDK 22.11's net_af_packet does: {n}")
    if af_packet and made.get("retagged", 0) != total["qinq"]:
        print(f"  <-- expected each of the {total['qinq']} QinQ frames retagged")
        ok = False
    for frame in unexplained[:5]:
        print(f"  not sent: {len(frame)} bytes {frame[:48].hex()}")
    return ok and not unexplained


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        sets = int(sys.argv[4]) if len(sys.argv) >= 5 and sys.argv[3] == "--sets" else 1
        make(sys.argv[2], sets)
        return 0
    if len(sys.argv) in (4, 5) and sys.argv[1] == "check" and sys.argv[4:] in ([], ["--af-packet"]):
        return 0 if check(sys.argv[2], sys.argv[3], len(sys.argv) == 5) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
