#!/usr/bin/env python3
"""Open-loop HTTPS load at a fixed rate: POST /mutate every 1/RATE s for DURATION s, over
CONNECTIONS kept-alive TLS connections (verifying the chain and the name, as the API server does).

Latency is measured from each request's scheduled time, not from when a connection was free, so a
stall shows in the figures instead of slowing the generator down (no coordinated omission).
Bounded: at most RATE * DURATION requests, and a hard stop at DURATION + 10 s.
Prints one JSON object: sent, answered, failed, statuses, p50/p90/p99/p999/max in ms, achieved rate.
"""
import argparse
import json
import queue
import socket
import ssl
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    with open(args.body, "rb") as f:
        body = f.read()
    request = (b"POST /mutate?timeout=2s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % (args.name.encode(), len(body))) + body
    context = ssl.create_default_context(cafile=args.ca)
    total = int(args.rate * args.duration)
    jobs = queue.Queue()
    latencies = []
    statuses = {}
    failures = [0]
    lock = threading.Lock()
    hard_stop = time.monotonic() + args.duration + 10

    def connect():
        raw = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return context.wrap_socket(raw, server_hostname=args.name)

    def worker():
        conn = connect()
        while True:
            scheduled = jobs.get()
            if scheduled is None or time.monotonic() > hard_stop:
                conn.close()
                return
            try:
                conn.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    data += chunk
                head, rest = data.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    rest += chunk
                status = int(head[9:12])
                elapsed = time.monotonic() - scheduled
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
            except (OSError, ValueError):
                with lock:
                    failures[0] += 1
                try:
                    conn.close()
                    conn = connect()
                except OSError:
                    pass

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # handshakes done before the clock starts
    start = time.monotonic()
    interval = 1.0 / args.rate
    for i in range(total):
        due = start + i * interval
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        jobs.put(due)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join(timeout=max(0.0, hard_stop - time.monotonic()))
    wall = time.monotonic() - start
    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 3)

    print(json.dumps({
        "rate": args.rate, "duration_s": args.duration, "connections": args.connections,
        "sent": total, "answered": len(latencies), "failed": failures[0],
        "statuses": statuses, "achieved_rate": round(len(latencies) / wall, 1),
        "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "p999_ms": pct(0.999),
        "max_ms": round(latencies[-1] * 1000, 3) if latencies else None,
    }))


if __name__ == "__main__":
    main()
