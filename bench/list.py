#!/usr/bin/env python3
"""bench/list.py - a list's throughput through a proxy against the raw socket
(issue 14: a list of 50 containers through the filter >= 0.95 of raw).

    bench/list.py RAW_SOCKET PROXY_SOCKET [ROUNDS] [REQUESTS] [PATH]

Each round (default 15) sends REQUESTS (default 100) GETs of PATH on one
keep-alive connection to each socket, in blocks of a tenth alternated between
the two (which goes first alternates too), so that a neighbour's burst on
this busy machine lands on both; every answer is read whole, chunked or not,
as a client must. Prints each round's requests per second and ratio, then
the medians: requests per second and request latency per target, the ratio
of the medians, and the median of the rounds' ratios.
"""
import http.client
import socket
import statistics
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path  # the socket

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def block(conn, requests, path):
    """Seconds for requests GETs on conn; the median one's latency; the size."""
    lat = []
    size = 0
    for _ in range(requests):
        t0 = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"bench-list: {conn.path}: HTTP {resp.status}: {body[:200]!r}")
        size = len(body)
        lat.append(time.perf_counter() - t0)
    return sum(lat), lat, size


def round_(socks, requests, blocks, path, first):
    """One round: blocks of requests on each socket's connection in turn,
    the first socket alternating; requests per second and latencies."""
    conns = {name: UnixConnection(sock) for name, sock in socks.items()}
    spent = dict.fromkeys(socks, 0.0)
    lat = {name: [] for name in socks}
    size = {}
    names = list(socks)
    for b in range(blocks):
        order = names if (b + first) % 2 == 0 else names[::-1]
        for name in order:
            t, l, size[name] = block(conns[name], requests // blocks, path)
            spent[name] += t
            lat[name] += l
    for conn in conns.values():
        conn.close()
    done = requests // blocks * blocks
    return {name: (done / spent[name], lat[name], size[name]) for name in socks}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    socks = {"raw": sys.argv[1], "proxy": sys.argv[2]}
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    requests = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    path = sys.argv[5] if len(sys.argv) > 5 else "/v1.41/containers/json?all=1"
    blocks = 10 if requests >= 10 else 1
    rate = {name: [] for name in socks}
    lat = {name: [] for name in socks}
    ratios = []
    round_(socks, 10, 2, path, 0)  # warm both paths up
    for r in range(rounds):
        got = round_(socks, requests, blocks, path, r % 2)
        for name in socks:
            rate[name].append(got[name][0])
            lat[name] += got[name][1]
        ratios.append(got["proxy"][0] / got["raw"][0])
        print(f"round {r + 1}: raw {got['raw'][0]:7.1f} req/s ({got['raw'][2]} B), "
              f"proxy {got['proxy'][0]:7.1f} req/s ({got['proxy'][2]} B), "
              f"ratio {ratios[-1]:.3f}", flush=True)
    med = {k: statistics.median(v) for k, v in rate.items()}
    print(f"median: raw {med['raw']:.1f} req/s ({statistics.median(lat['raw']) * 1000:.2f} ms"
          f" a request), proxy {med['proxy']:.1f} req/s"
          f" ({statistics.median(lat['proxy']) * 1000:.2f} ms)")
    print(f"ratio of medians {med['proxy'] / med['raw']:.3f}, "
          f"median ratio {statistics.median(ratios):.3f} "
          f"(rounds {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
