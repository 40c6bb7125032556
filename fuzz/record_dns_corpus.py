#!/usr/bin/env python3
"""Records the seed corpus of the `dns_response` fuzz target (docs/FUZZING.md).

    python3 fuzz/record_dns_corpus.py          # rewrites fuzz/corpus/dns_response/

Starts dnsmasq on a free loopback port, answering from its command line only (as
crates/proxy/tests/dns_discovery.rs does), asks it A, AAAA, SRV, CNAME-chained, NXDOMAIN,
other-type, EDNS and oversized questions over UDP (and the oversized one again over TCP), and
saves each raw reply. dnsmasq compresses the names in its answers with pointers to the
question. Then writes hand-made hostile responses: pointer loops, forward pointers, a TC reply
with its sections cut, a CNAME loop, counts past the end, odd label bytes, a 255-byte name.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "dns_response")
ZONE = "test.internal"
A, CNAME, TXT, AAAA, SRV, OPT = 1, 5, 16, 28, 33, 41


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
        try:
            with socket.socket() as tcp:
                tcp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    sys.exit("no port free for both UDP and TCP")


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, name, qtype, edns=False):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    msg = header + encode_name(name) + struct.pack(">HH", qtype, 1)
    if edns:
        # OPT: root owner, UDP payload 1232, no options.
        msg += b"\0" + struct.pack(">HHIH", OPT, 1232, 0, 0)
    return msg


def ask_udp(port, msg):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.sendto(msg, ("127.0.0.1", port))
        return udp.recv(65535)


def ask_tcp(port, msg):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as tcp:
        tcp.sendall(struct.pack(">H", len(msg)) + msg)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = tcp.recv(65535)
            if not chunk:
                break
            data += chunk
        return data[2:]


def dnsmasq_args(port):
    srv = f"_echo._tcp.{ZONE}"
    args = [
        "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1",
        "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
        "--pid-file=", "--user=root", f"--local=/{ZONE}/", "--log-facility=-",
        f"--host-record=a.{ZONE},127.0.0.1,::1",
        f"--host-record=b.{ZONE},127.0.0.2",
        f"--host-record=v6only.{ZONE},fd00::17",
        f"--srv-host={srv},a.{ZONE},8080,10,60",
        f"--srv-host={srv},b.{ZONE},8081,10,20",
        f"--srv-host={srv},backup.{ZONE},8082,20,0",
        f"--srv-host=_gone._tcp.{ZONE}",  # no target: "service not offered"
        f"--cname=web.{ZONE},mid.{ZONE}",
        f"--cname=mid.{ZONE},a.{ZONE}",
        f"--txt-record=a.{ZONE},hello",
    ]
    # Enough addresses that the reply exceeds 512 bytes: UDP sets TC, TCP carries it all.
    # (One --host-record per address: dnsmasq keeps only the last IPv4 address of each.)
    args += [f"--host-record=big.{ZONE},127.0.1.{i}" for i in range(1, 41)]
    return args


def record_dnsmasq():
    port = free_port()
    dnsmasq = shutil.which("dnsmasq") or sys.exit("dnsmasq is not installed (apt install dnsmasq)")
    child = subprocess.Popen([dnsmasq] + dnsmasq_args(port), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                ask_udp(port, query(1, f"x.{ZONE}", A))
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit(f"dnsmasq never answered on 127.0.0.1:{port}")
        questions = [
            ("dnsmasq_a", f"a.{ZONE}", A, False),
            ("dnsmasq_aaaa", f"a.{ZONE}", AAAA, False),
            ("dnsmasq_aaaa_v6only", f"v6only.{ZONE}", AAAA, False),
            ("dnsmasq_srv_with_additional", f"_echo._tcp.{ZONE}", SRV, False),
            ("dnsmasq_srv_edns", f"_echo._tcp.{ZONE}", SRV, True),
            ("dnsmasq_srv_no_target", f"_gone._tcp.{ZONE}", SRV, False),
            ("dnsmasq_cname_chain_a", f"web.{ZONE}", A, False),
            ("dnsmasq_cname_chain_aaaa", f"WEB.{ZONE}", AAAA, False),
            ("dnsmasq_nxdomain", f"nope.{ZONE}", A, False),
            ("dnsmasq_nodata_aaaa", f"b.{ZONE}", AAAA, False),
            ("dnsmasq_txt_other_type", f"a.{ZONE}", TXT, False),
            ("dnsmasq_udp_truncated", f"big.{ZONE}", A, False),
        ]
        for i, (name, qname, qtype, edns) in enumerate(questions):
            save(name, ask_udp(port, query(0x4100 + i, qname, qtype, edns)))
        save("dnsmasq_tcp_40_addresses", ask_tcp(port, query(0x4200, f"big.{ZONE}", A)))
    finally:
        child.kill()
        child.wait()


def response(qid, qname, qtype, records, rcode=0, tc=False, counts=None, extra=b""):
    """A response: `records` are (owner bytes, type, rdata bytes) in the answer section."""
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    an = len(records) if counts is None else counts
    msg = struct.pack(">HHHHHH", qid, flags, 1, an, 0, 0)
    msg += encode_name(qname) + struct.pack(">HH", qtype, 1)
    for owner, rtype, rdata in records:
        msg += owner + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata
    return msg + extra


Q = b"\xc0\x0c"  # a pointer to the question name


def record_hand_made():
    qname = f"_echo._tcp.{ZONE}"
    srv = lambda prio, weight, port, target: struct.pack(">HHH", prio, weight, port) + target
    # The owner name points at itself.
    head = response(0x5001, qname, SRV, [], counts=1)
    save("hand_pointer_to_itself", head + struct.pack(">H", 0xC000 | len(head)))
    # A label, then a pointer back into it.
    head = response(0x5002, qname, SRV, [], counts=1)
    save("hand_pointer_loop_through_label", head + b"\x01a" + struct.pack(">H", 0xC000 | len(head)))
    # Two pointers pointing at each other (the first one forward).
    head = response(0x5003, qname, SRV, [], counts=1)
    n = len(head)
    save("hand_pointer_pair_loop", head + struct.pack(">HH", 0xC000 | (n + 2), 0xC000 | n))
    # A legitimate chain of 100 pointers, each pointing at the one before, ending at the
    # question; it sits in the data of a TXT record, and the A record after it is owned by
    # the last pointer.
    head = response(0x5004, qname, A, [], counts=2)
    start = len(head) + 2 + 10  # after the TXT record's owner pointer and fixed fields
    chain, prev = b"", 12
    for _ in range(100):
        here = start + len(chain)
        chain += struct.pack(">H", 0xC000 | prev)
        prev = here
    txt = Q + struct.pack(">HHIH", TXT, 1, 60, len(chain)) + chain
    a_rec = struct.pack(">H", 0xC000 | prev) + struct.pack(">HHIH", A, 1, 60, 4) + bytes([10, 0, 0, 9])
    save("hand_pointer_chain_backwards", head + txt + a_rec)
    # TC set and the sections cut mid-record.
    full = response(0x5005, qname, SRV, [(Q, SRV, srv(1, 1, 80, Q))] * 20)
    save("hand_tc_sections_cut", tc_cut(full))
    # CNAME loop a -> b -> a with an address on neither.
    a, b = encode_name(f"a.{ZONE}"), encode_name(f"b.{ZONE}")
    save("hand_cname_loop", response(0x5006, f"a.{ZONE}", A, [(a, CNAME, b), (b, CNAME, a)]))
    # A CNAME chain of 12 hops in reverse order, compressed, ending in an A record.
    hops = [f"h{i}.{ZONE}" for i in range(13)]
    recs = [(encode_name(hops[i]), CNAME, encode_name(hops[i + 1])) for i in reversed(range(12))]
    recs.append((encode_name(hops[12]), A, bytes([10, 1, 2, 3])))
    save("hand_cname_chain_reversed", response(0x5007, hops[0], A, recs))
    # More answers counted than present, and an rdlength past the end.
    save("hand_count_past_end", response(0x5008, qname, A, [(Q, A, bytes([1, 2, 3, 4]))], counts=9))
    rec = response(0x5009, qname, A, [(Q, A, bytes([1, 2, 3, 4]))])
    save("hand_rdlength_past_end", rec[:-6] + struct.pack(">H", 60000) + rec[-4:])
    # An A record of 5 bytes and an SRV record of 6.
    save("hand_a_wrong_length", response(0x500A, qname, A, [(Q, A, bytes(5))]))
    save("hand_srv_too_short", response(0x500B, qname, SRV, [(Q, SRV, bytes(6))]))
    # Label bytes that are not hostname characters, and reserved label types 0x40/0x80.
    odd = b"\x05A.b\x00\xff" + encode_name(ZONE)
    save("hand_odd_label_bytes", response(0x500C, qname, A, [(odd, A, bytes([10, 0, 0, 1]))]))
    save("hand_reserved_label_type", response(0x500D, qname, A, [(b"\x41a\x00", A, bytes(4))]))
    # A name of exactly 255 wire bytes, then one of 257.
    for total, tag in ((255, "255"), (257, "257")):
        labels, left = [], total - 1
        while left > 0:
            size = min(63, left - 1)
            labels.append(b"x" * size)
            left -= size + 1
        name = b"".join(bytes([len(l)]) + l for l in labels) + b"\0"
        save(f"hand_name_{tag}_bytes", response(0x500E, qname, A, [(name, A, bytes(4))]))
    # SERVFAIL, a query (QR clear), and a bare header.
    save("hand_servfail", response(0x500F, qname, SRV, [], rcode=2))
    save("hand_not_a_response", query(0x5010, qname, SRV))
    save("hand_header_only", struct.pack(">HHHHHH", 0x5011, 0x8180, 0, 0, 0, 0))


def tc_cut(full):
    msg = bytearray(full[:300])
    msg[2] |= 0x02
    return bytes(msg)


def save(name, data):
    assert len(data) < 2048, f"{name}: {len(data)} bytes"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    record_dnsmasq()
    record_hand_made()
    files = sorted(os.listdir(OUT))
    print(f"{len(files)} files in {OUT}, {sum(os.path.getsize(os.path.join(OUT, f)) for f in files)} bytes")


if __name__ == "__main__":
    main()
