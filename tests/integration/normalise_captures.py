#!/usr/bin/env python3
"""Copies of capture files as `linecap -r` reads them, for tcpdump to read.

    normalise_captures.py OUTDIR FILE...

linecap -r reads two kinds of malformed record differently from tcpdump, on
purpose (engine/file_port.h, docs/architecture.md):

  - original length below the captured length (libpcap#1710): linecap keeps
    every captured byte and takes original length = captured length;
  - a fraction of a second that is not below one second: linecap adds it as
    the file holds it, unsigned (tcpdump writes the field back unchanged,
    which a nanosecond file cannot hold).

For each FILE holding such records, this writes OUTDIR/<name> with only
those records' fields changed as linecap reads them, and prints one line per
record changed: "<name> record <n>: <what>". Parsed here byte by byte,
independently of linecap's reader. pcap files only: a pcapng file with an
Enhanced Packet Block whose captured length is above its original length
is reported as "unsupported" and the exit status is 1, so that a corpus that
grows such a file fails the test instead of passing it unchecked.
"""
import os
import struct
import sys

PCAP_MAX_SNAPLEN = 262144


def pcap_records(data, endian):
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, length = struct.unpack(endian + "IIII", data[offset:offset + 16])
        yield offset, sec, frac, caplen, length
        offset += 16 + caplen


def normalise_pcap(path, data, out_dir):
    magic = data[:4]
    endian = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
              b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}.get(magic)
    if endian is None:
        return []
    unit = 10**9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 10**6
    major, minor = struct.unpack(endian + "HH", data[4:8])
    if (major, minor) != (2, 4):
        # Older files may have caplen and len swapped, which libpcap undoes.
        return []
    snaplen = struct.unpack(endian + "I", data[16:20])[0]
    snapshot = snaplen if 0 < snaplen <= PCAP_MAX_SNAPLEN else PCAP_MAX_SNAPLEN
    out = bytearray(data)
    changes = []
    for n, (offset, sec, frac, caplen, length) in enumerate(pcap_records(data, endian), 1):
        if caplen > PCAP_MAX_SNAPLEN:
            break   # libpcap stops there with an error; so does linecap
        seen = min(caplen, snapshot)   # libpcap cuts a record to the file's snap length
        if frac >= unit:
            new_sec, new_frac = sec + frac // unit, frac % unit
            changes.append(f"{os.path.basename(path)} record {n}: time {sec} s + {frac} -> {new_sec} s + {new_frac}")
            struct.pack_into(endian + "II", out, offset, new_sec & 0xffffffff, new_frac)
        if length < seen:
            changes.append(f"{os.path.basename(path)} record {n}: original length {length} -> {seen}")
            struct.pack_into(endian + "I", out, offset + 12, seen)
    if changes:
        with open(os.path.join(out_dir, os.path.basename(path)), "wb") as f:
            f.write(out)
    return changes


def check_pcapng(path, data):
    """Enhanced Packet Blocks with caplen > orig_len, which this script does not rewrite."""
    problems = []
    offset, endian, n = 0, "<", 0
    while offset + 12 <= len(data):
        block_type = struct.unpack("<I", data[offset:offset + 4])[0]
        if block_type == 0x0A0D0D0A:
            endian = "<" if data[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        block_type, total = struct.unpack(endian + "II", data[offset:offset + 8])
        if total < 12:
            break
        if block_type == 6 and offset + 28 <= len(data):
            n += 1
            caplen, orig = struct.unpack(endian + "II", data[offset + 20:offset + 28])
            if caplen > orig:
                problems.append(f"unsupported: {os.path.basename(path)} packet {n}: captured length {caplen} "
                                f"> original length {orig} in pcapng")
        offset += total
    return problems


def main():
    out_dir, paths = sys.argv[1], sys.argv[2:]
    status = 0
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] == b"\x0a\x0d\x0d\x0a":
            for line in check_pcapng(path, data):
                print(line)
                status = 1
        else:
            for line in normalise_pcap(path, data, out_dir):
                print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
