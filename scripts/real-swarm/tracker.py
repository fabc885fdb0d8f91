#!/usr/bin/python3
"""A tiny HTTP BitTorrent tracker (BEP 3, compact answers of BEP 23) for a real swarm.

Usage: tracker.py ADDRESS PORT PEER_SET INTERVAL_SECONDS LOG

Answers GET /announce with a bencoded dictionary: `interval`, and `peers`, a compact list of at
most PEER_SET other members of the torrent's swarm drawn at random (as the engine's tracker
does). A member is the announcing address (the connection's source: every peer has an address
of its own) and the `port` it gave; `event=stopped` removes it. Each announce is logged, one
line, with the seconds since the tracker started.
"""

import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def bencode(value):
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(type(value))


class Swarms:
    def __init__(self, peer_set, interval):
        self.peer_set = peer_set
        self.interval = interval
        self.lock = threading.Lock()
        self.members = {}  # info_hash -> {(ip, port): left}

    def announce(self, info_hash, ip, port, left, event):
        me = (ip, port)
        with self.lock:
            swarm = self.members.setdefault(info_hash, {})
            if event == "stopped":
                swarm.pop(me, None)
                others = []
            else:
                swarm[me] = left
                others = [m for m in swarm if m != me]
            complete = sum(1 for l in swarm.values() if l == 0)
            incomplete = len(swarm) - complete
        chosen = random.sample(others, min(self.peer_set, len(others)))
        compact = b"".join(socket.inet_aton(a) + p.to_bytes(2, "big") for a, p in chosen)
        return {
            "interval": self.interval,
            "complete": complete,
            "incomplete": incomplete,
            "peers": compact,
        }, len(chosen)


def main():
    address, port, peer_set, interval, log_path = sys.argv[1:6]
    swarms = Swarms(int(peer_set), int(interval))
    log = open(log_path, "a", buffering=1)
    start = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def reply(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlsplit(self.path)
            if url.path != "/announce":
                self.send_error(404)
                return
            # latin-1 keeps info_hash's 20 bytes as they were sent.
            q = {k: v[0] for k, v in parse_qs(url.query, encoding="latin-1").items()}
            try:
                info_hash = q["info_hash"].encode("latin-1")
                port = int(q["port"])
                left = int(q.get("left", "0"))
                if len(info_hash) != 20 or not 0 < port < 65536:
                    raise ValueError
            except (KeyError, ValueError):
                self.reply(bencode({"failure reason": "bad announce"}))
                return
            event = q.get("event", "")
            answer, n = swarms.announce(info_hash, self.client_address[0], port, left, event)
            log.write(
                f"{time.monotonic() - start:.3f} {self.client_address[0]}:{port} "
                f"event={event or '-'} left={left} -> {n} peers\n"
            )
            self.reply(bencode(answer))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((address, int(port)), Handler)
    server.daemon_threads = True
    print("tracker: ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
