#!/usr/bin/env python3
"""complete_prefix.py FILE EXTRA: the most bytes of FILE (pcap, either
precision, or pcapng; little-endian, as linecap writes them) that a reader
may take as complete records once up to EXTRA more bytes are appended: the
end of its last complete record, or of the record the file cuts, if EXTRA
bytes finish it. faults.sh checks that crash recovery keeps no more."""
import struct
import sys


def ends_of_records(data):
    """Yields (end, complete) for each record or block after the header."""
    magic = struct.unpack_from("<I", data, 0)[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):      # pcap: 24-byte header, 16-byte record headers
        at = 24
        while at + 16 <= len(data):
            caplen = struct.unpack_from("<I", data, at + 8)[0]
            yield at + 16 + caplen
            at += 16 + caplen
        if at < len(data):
            yield at + 16   # a cut header: at least this much
    elif magic == 0x0A0D0D0A:                    # pcapng: blocks carry their total length
        at = 0
        while at + 8 <= len(data):
            length = struct.unpack_from("<I", data, at + 4)[0]
            if length < 12:
                return
            yield at + length
            at += length
    else:
        sys.exit(f"{sys.argv[1]}: neither pcap nor pcapng")


def main():
    path, extra = sys.argv[1], int(sys.argv[2])
    data = open(path, "rb").read()
    limit = 24 if data[:4] != b"\x0a\x0d\x0d\x0a" else 0
    for end in ends_of_records(data):
        if end <= len(data):
            limit = end
        elif end <= len(data) + extra:
            limit = end    # the appended bytes may finish this one
            break
        else:
            break
    print(limit)


main()
