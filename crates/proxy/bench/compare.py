#!/usr/bin/env python3
"""tlswire proxy vs haproxy (mode tcp, TLS termination) vs stunnel4, side by side in one run.

All three terminate TLS in front of the same plain backends (tlswire-bench-server: an echo
server and a sink), and `tlswire bench` drives each in turn, interleaved, RUNS times; the
median is reported with ratios. The hold test opens 9,000 TLS connections through the
tlswire proxy and reports its RSS per connection.

Usage: crates/proxy/bench/compare.py [--runs 3] [--secs 5] [--hold 9000]
Needs release builds: cargo build --release -p tlswire -p tlswire-bench
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
TLSWIRE = os.path.join(BIN, "tlswire")
SERVER = os.path.join(BIN, "tlswire-bench-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Procs:
    def __init__(self):
        self.children = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.children.append(p)
        return p

    def stop(self):
        for p in self.children:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.children:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def bench(mode, port, ca, extra, secs):
    args = [TLSWIRE, "bench", mode, "--target", f"127.0.0.1:{port}", "--json", "--no-progress",
            "--duration", f"{secs}s"] + extra
    if "--plain" not in extra:
        args += ["--ca", ca, "--sni", "localhost", "--group", "X25519"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=secs * 4 + 60)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {out.stderr}")
    phase = json.loads(out.stdout)["phases"][-1]
    errors = sum(phase.get("errors", {}).values())
    return phase, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--hold", type=int, default=9000)
    args = ap.parse_args()
    for prog in ("haproxy", "stunnel4"):
        if not shutil.which(prog):
            sys.exit(f"{prog} is not installed (apt-get install {prog.rstrip('4')}4)")
    work = tempfile.mkdtemp(prefix="tlswire-proxy-bench-")
    procs = Procs()
    try:
        run(args, work, procs)
    finally:
        procs.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work, procs):
    certs = os.path.join(work, "certs")
    subprocess.run([TLSWIRE, "certs", "gen", "--out", certs], check=True, capture_output=True)
    ca, crt, key = (os.path.join(certs, n) for n in ("ca.crt", "server.crt", "server.key"))
    pem = os.path.join(certs, "server.pem")
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())

    echo, sink = free_port(), free_port()
    procs.start([SERVER, "--listen", f"127.0.0.1:{echo}", "--tls", "none", "--behavior", "echo"])
    procs.start([SERVER, "--listen", f"127.0.0.1:{sink}", "--tls", "none", "--behavior", "sink"])
    wait_port(echo)
    wait_port(sink)

    ports = {name: (free_port(), free_port()) for name in ("tlswire", "haproxy", "stunnel")}
    tw_echo, tw_sink = ports["tlswire"]
    config = os.path.join(work, "proxy.yml")
    with open(config, "w") as f:
        f.write(f"""
admin: {{port: {free_port()}, metricsIntervalSecs: 0}}
reload: {{intervalMs: 0}}
routers:
  - interpreter:
      kind: io.l5d.static
      names:
        /svc/echo: [{{addr: "127.0.0.1:{echo}"}}]
        /svc/sink: [{{addr: "127.0.0.1:{sink}"}}]
    servers:
      - {{port: {tw_echo}, dstName: /svc/echo, maxConcurrency: 20000,
          tls: {{defaultIdentity: {{certs: ["{crt}"], privateKey: "{key}"}}}}}}
      - {{port: {tw_sink}, dstName: /svc/sink, maxConcurrency: 20000,
          tls: {{defaultIdentity: {{certs: ["{crt}"], privateKey: "{key}"}}}}}}
""")
    tlswire = procs.start([TLSWIRE, "proxy", config], env={**os.environ, "RUST_LOG": "warn"})

    ha_echo, ha_sink = ports["haproxy"]
    ha_cfg = os.path.join(work, "haproxy.cfg")
    with open(ha_cfg, "w") as f:
        f.write(f"""global
  maxconn 4000
  nbthread 2
defaults
  mode tcp
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend echo
  bind 127.0.0.1:{ha_echo} ssl crt {pem}
  default_backend echo
backend echo
  server s1 127.0.0.1:{echo}
frontend sink
  bind 127.0.0.1:{ha_sink} ssl crt {pem}
  default_backend sink
backend sink
  server s1 127.0.0.1:{sink}
""")
    procs.start(["haproxy", "-db", "-f", ha_cfg])

    st_echo, st_sink = ports["stunnel"]
    st_cfg = os.path.join(work, "stunnel.conf")
    with open(st_cfg, "w") as f:
        f.write(f"""foreground = yes
pid =
[echo]
accept = 127.0.0.1:{st_echo}
connect = 127.0.0.1:{echo}
cert = {crt}
key = {key}
[sink]
accept = 127.0.0.1:{st_sink}
connect = 127.0.0.1:{sink}
cert = {crt}
key = {key}
""")
    procs.start(["stunnel4", st_cfg])
    for e, s in ports.values():
        wait_port(e)
        wait_port(s)

    tests = [
        ("handshakes/s (c=16)", "handshake", "echo", ["-c", "16"], "rate", True),
        ("throughput 1 conn (MB/s)", "throughput", "sink", ["-c", "1"], "mb_per_s", True),
        ("throughput 100 conns (MB/s)", "throughput", "sink", ["-c", "100"], "mb_per_s", True),
        ("p99 64 B round trip (ms)", "latency", "echo", ["-c", "1", "--size", "64"], "p99", False),
        ("p50 64 B round trip (ms)", "latency", "echo", ["-c", "1", "--size", "64"], "p50", False),
    ]
    results = {}
    for label, mode, backend, extra, field, _ in tests:
        for run_index in range(args.runs):
            for name in ports:
                port = ports[name][0] if backend == "echo" else ports[name][1]
                phase, errors = bench(mode, port, ca, extra, args.secs)
                value = phase["latency_ms"][field] if field in ("p50", "p99") else phase[field]
                results.setdefault((label, name), []).append(value)
                if errors:
                    print(f"  {label} via {name}: {errors} errors", file=sys.stderr)
    # Baseline for added latency: the echo backend directly, in plaintext.
    direct = []
    for _ in range(args.runs):
        phase, _ = bench("latency", echo, ca, ["-c", "1", "--size", "64", "--plain"], args.secs)
        direct.append(phase["latency_ms"]["p99"])
    base = statistics.median(direct)

    print(f"\nmedian of {args.runs} runs, {args.secs} s each; ratio = tlswire / other "
          "(for latency, other / tlswire: above 1 is better for tlswire)\n")
    print("| measure | tlswire proxy | haproxy | stunnel4 | vs haproxy | vs stunnel4 |")
    print("|---|---|---|---|---|---|")
    for label, _, _, _, field, higher_better in tests:
        med = {n: statistics.median(results[(label, n)]) for n in ports}
        if field == "p99":
            label = "added p99 latency, 64 B round trip (ms)"
            med = {n: max(v - base, 0.001) for n, v in med.items()}
        def ratio(other):
            if higher_better:
                return med["tlswire"] / other if other else float("inf")
            return other / med["tlswire"]
        print(f"| {label} | {med['tlswire']:.3f} | {med['haproxy']:.3f} | {med['stunnel']:.3f} "
              f"| {ratio(med['haproxy']):.2f}x | {ratio(med['stunnel']):.2f}x |")
    print(f"\nplain direct p99 baseline: {base:.3f} ms (runs: "
          + ", ".join(f"{v:.3f}" for v in direct) + ")")
    print("\nevery run, tlswire / haproxy / stunnel4 (latency rows are the raw p99 and p50):\n")
    for label, *_ in tests:
        runs = zip(*(results[(label, n)] for n in ports))
        print(f"- {label}: " + "; ".join(" / ".join(f"{v:.3g}" for v in r) for r in runs))

    if args.hold:
        hold(args, ca, tw_echo, tlswire.pid)


def hold(args, ca, port, pid):
    """Holds args.hold TLS connections through the tlswire proxy; samples its RSS meanwhile."""
    import threading
    time.sleep(1)
    idle = rss_kib(pid)
    peak = [idle]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    ramp = 1000
    secs = args.hold // ramp + 12
    try:
        phase, errors = bench("hold", port, ca, ["-c", str(args.hold), "--ramp", str(ramp)], secs)
    finally:
        done.set()
        sampler.join()
    established = phase.get("counters", {}).get("established", phase.get("ops", 0))
    per_conn = (peak[0] - idle) * 1024 / max(established, 1)
    print(f"\nhold: {established} of {args.hold} TLS connections held through tlswire proxy "
          f"(errors {phase.get('errors', {})}, counters {phase.get('counters', {})}); proxy RSS {idle} KiB idle, "
          f"{peak[0]} KiB peak: {per_conn / 1024:.1f} KiB per proxied connection "
          "(client side + upstream side)")

if __name__ == "__main__":
    main()
