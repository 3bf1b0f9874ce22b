"""Writes a pcap of two 100-byte UDP frames whose original lengths are 60
(less than the bytes captured: a malformed record, as some tools write) and
100. linecap keeps the bytes and raises the length in what it writes, but
selects such a record by the length the file gives, as tcpdump -r does
(read.sh for -r, query.sh for linecap query).

Usage: raised_capture.py OUT.pcap
"""
import struct
import sys

frame = (bytes(12) + b'\x08\x00' +
         struct.pack('!BBHHHBBH4s4s', 0x45, 0, 86, 1, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) +
         bytes(66))
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    f.write(struct.pack('<IIII', 1000, 0, 100, 60) + frame + struct.pack('<IIII', 1001, 0, 100, 100) + frame)
