#!/usr/bin/env python3
"""The reference for mirror mode: what tshark decodes, independently of linecap.

    tunnel_reference.py FILE EXPR [--decapsulated] [--tshark-arg ARG]...

Reads FILE with tshark and prints, for each packet for which the Python
expression EXPR holds, one line: "<time> <family> <src> <dst> <proto> <sport> <dport>"
of its innermost packet. In EXPR, `p` has: inner (True if tshark found an IP
packet inside a VXLAN, GENEVE, GRE, ERSPAN or IP-in-IP tunnel), family (4, 6
or None), src, dst (ipaddress objects), proto, sport, dport (None when
absent), id (the first tunnel id on the way in: VNI, GRE key, ERSPAN session
id, or None), outer_src, outer_dst. A GENEVE header of a version other than 0
ends the walk, as in linecap (Wireshark decodes it anyway), and so does GRE
carrying anything but Ethernet, IP or ERSPAN (WCCP, Cisco metadata). With --decapsulated the file holds
decapsulated packets: its only IP packet is the "inner" one.
"""
import ipaddress
import hashlib
import os
import subprocess
import sys

FIELDS = ["frame.time_epoch", "frame.protocols", "ip.src", "ip.dst", "ip.proto", "ipv6.src", "ipv6.dst",
          "ipv6.nxt", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "vxlan.vni", "geneve.vni",
          "gre.key", "erspan.spanid", "geneve.version", "gre.proto"]
TUNNELS = {"vxlan", "geneve", "gre", "erspan"}
IP = {"ip", "ipv6"}


class Packet:
    pass


def values(text):
    return [v for v in text.split(",") if v != ""] if text else []


def parse(line, decapsulated):
    cols = dict(zip(FIELDS, line.rstrip("\n").split("\t")))
    f = {k: values(v) for k, v in cols.items()}
    tokens = cols["frame.protocols"].split(":")
    p = Packet()
    p.time = cols["frame.time_epoch"]
    p.inner = False
    p.family = p.src = p.dst = p.proto = p.sport = p.dport = p.id = None
    p.outer_src = p.outer_dst = None
    # linecap walks GRE carrying Ethernet, IP and ERSPAN only; Wireshark also
    # decodes WCCP, Cisco metadata and more: the walk ends before those.
    gre_protos = [int(v, 0) for v in f["gre.proto"]]
    for i, t in enumerate(tokens):
        if t == "gre":
            proto = gre_protos.pop(0) if gre_protos else None
            if proto not in (0x0800, 0x86dd, 0x6558, 0x88be, 0x22eb):
                tokens = tokens[:i]
                break
    ip_positions = [i for i, t in enumerate(tokens) if t in IP]
    if not ip_positions:
        return p
    first, last = ip_positions[0], ip_positions[-1]
    fam0 = "ip" if tokens[first] == "ip" else "ipv6"
    p.outer_src = ipaddress.ip_address(f[fam0 + ".src"][0])
    p.outer_dst = ipaddress.ip_address(f[fam0 + ".dst"][0])
    between = tokens[first + 1:last + 1]
    tunnelled = any(t in TUNNELS for t in between) or any(
        tokens[i] in IP and tokens[i + 1] in IP for i in range(first, last))
    if decapsulated:
        tunnelled = len(ip_positions) == 1 and not any(t in TUNNELS for t in tokens)
    # RFC 8926: a GENEVE header of an unknown version is dropped. Wireshark
    # decodes it anyway; linecap does not walk through it (docs/mirror.md).
    if "geneve" in between and f["geneve.version"] and int(f["geneve.version"][0], 0) != 0:
        tunnelled = False
    if not tunnelled:
        return p
    p.inner = True
    fam = tokens[last]
    p.family = 4 if fam == "ip" else 6
    p.src = ipaddress.ip_address(f[fam + ".src"][-1])
    p.dst = ipaddress.ip_address(f[fam + ".dst"][-1])
    p.proto = int(f["ip.proto" if fam == "ip" else "ipv6.nxt"][-1], 0)
    after = tokens[last + 1] if last + 1 < len(tokens) else ""
    if after in ("tcp", "udp") and f[after + ".srcport"]:
        p.sport = int(f[after + ".srcport"][-1])
        p.dport = int(f[after + ".dstport"][-1])
    # The first tunnel id on the way in.
    for i, t in enumerate(tokens[:last]):
        if t == "vxlan" and f["vxlan.vni"]:
            p.id = int(f["vxlan.vni"][0], 0)
        elif t == "geneve" and f["geneve.vni"]:
            p.id = int(f["geneve.vni"][0], 0)
        elif t == "gre" and i + 1 < len(tokens) and tokens[i + 1] == "erspan":
            p.id = int(f["erspan.spanid"][0], 0) if f["erspan.spanid"] else None
        elif t == "gre" and f["gre.key"]:
            p.id = int(f["gre.key"][0], 0)
        else:
            continue
        if p.id is not None:
            break
    return p


def tshark_output(cmd, path):
    """tshark's fields for `cmd`; with TUNNEL_REFERENCE_CACHE set (a folder),
    kept there for the same command on the same bytes (the file's name
    aside), so a test asking several questions of one capture decodes it
    once."""
    cache = os.environ.get("TUNNEL_REFERENCE_CACHE")
    if not cache:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    digest = hashlib.sha256(repr(cmd[:1] + cmd[3:]).encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    key = digest.hexdigest()
    kept = os.path.join(cache, key)
    if os.path.exists(kept):
        with open(kept) as f:
            return f.read()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    os.makedirs(cache, exist_ok=True)
    with open(kept + ".tmp", "w") as f:
        f.write(out)
    os.rename(kept + ".tmp", kept)
    return out


def main():
    args = sys.argv[1:]
    decapsulated = "--decapsulated" in args
    args = [a for a in args if a != "--decapsulated"]
    extra = []
    while "--tshark-arg" in args:
        i = args.index("--tshark-arg")
        extra.append(args[i + 1])
        del args[i:i + 2]
    path, expr = args
    cmd = ["tshark", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"] + extra
    for name in FIELDS:
        cmd += ["-e", name]
    out = tshark_output(cmd, path)
    code = compile(expr, "EXPR", "eval")
    for line in out.splitlines():
        p = parse(line, decapsulated)
        if eval(code, {"ip": ipaddress.ip_network, "ipaddress": ipaddress}, {"p": p}):
            print(p.time, p.family, p.src, p.dst, p.proto, p.sport, p.dport)


main()
