#!/usr/bin/python3
"""Turns a swarm file, as the engine resolved it, into the plan of a real run, as JSON on stdout;
refuses, naming the file, whatever a real swarm here cannot reproduce.

Usage: swarmfile.py SWARM.toml SUMMARY.json

The swarm file is read once, by the engine (`bitorrent sim`, which run.sh runs first): its units,
keys and defaults are the engine's, and so are its messages, with line and column. This reads
the scenario the engine resolved (summary.json's `scenario`, every value in SI units) and checks
only what a real run adds. What it reproduces: the file's size and piece; the latency; the
classes (count, upload, download, seed); and from the policy what libtorrent has a setting for:
unchoke_slots and optimistic_slots (libtorrent's unchoke_slots_limit is their sum, its
num_optimistic_unchoke_slots the second), rechoke (unchoke_interval), optimistic
(optimistic_unchoke_interval), random_first (initial_picker_threshold), max_connections
(connections_limit), peer_set (the tracker's largest answer), reannounce (the tracker's
interval) and seed_quota (seeding_piece_quota). The other policy settings are accepted only at the engine's defaults, which stand
for libtorrent's own behaviour (rarest first, strict endgame, longest-waiting optimistic
unchoke, its own seed choker, 16 KiB blocks, ...), and `overhead` at any value: it is the engine's estimate of what
headers take, and a real link has its real headers. The top-level `seed` only seeds the engine.
"""

import json
import sys

NS = 10**9
# Settings a real run takes only at these values (the swarm file's key, the summary's key, the
# value in the summary's units, as the swarm file writes it, and why).
ONLY_AT = [
    ("pieces", "pieces", "rarest-first", '"rarest-first"', "libtorrent's picker is rarest first"),
    ("endgame", "endgame", True, "true", "libtorrent always has its (strict) endgame"),
    ("choke", "choke", "tit-for-tat", '"tit-for-tat"', "this harness sets libtorrent's fixed-slots choker only"),
    (
        "optimistic_rule",
        "optimistic_rule",
        "longest-waiting",
        '"longest-waiting"',
        "libtorrent unchokes optimistically the peer that waited longest",
    ),
    (
        "seed_choke",
        "seed_choke",
        "libtorrent",
        '"libtorrent"',
        "libtorrent's seeds run its own round robin, not mainline's",
    ),
    ("snub", "snub_ns", 60 * NS, '"60 s"', "libtorrent snubs by its own timeouts"),
    (
        "requests_in_flight",
        "requests_in_flight",
        5,
        "5",
        "libtorrent sizes its request queue itself (request_queue_time)",
    ),
    ("block", "block_bytes", 16 * 1024, '"16 KiB"', "libtorrent's block is 16 KiB"),
    ("min_connections", "min_connections", 20, "20", "libtorrent has no such setting"),
]
MAX_PEERS = 250  # one process and one namespace each, on one machine


class Refused(Exception):
    pass


def plan(path, summary):
    scenario = summary["scenario"]
    protocol = scenario["protocol"]
    if protocol["name"] != "bittorrent":
        raise Refused(
            f"policy.protocol = {protocol['name']!r}: a real run takes only 'bittorrent' "
            "(libtorrent runs BitTorrent, not the course's protocol)"
        )
    if len(scenario["files"]) != 1:
        raise Refused(f"{len(scenario['files'])} files: a real run here shares one")
    size = scenario["files"][0]["size_bytes"]
    piece = scenario["files"][0]["piece_bytes"]
    if piece < 16 * 1024 or piece & (piece - 1):
        raise Refused(f"file.piece of {piece} bytes: libtorrent takes only a power of two of at least 16 KiB")

    classes = []
    peers = []
    for c in scenario["classes"]:
        name, up, down = c["name"], c["upload_bits_per_s"], c["download_bits_per_s"]
        if c["free_rider"]:
            raise Refused(f"class {name}: free riders are not reproduced (libtorrent has no peer that never uploads)")
        if up == 0:
            raise Refused(f"class {name}: an upload of 0 is a free rider, not reproduced (tc cannot shape a link to 0)")
        if up < 8000 or down < 8000:
            raise Refused(f"class {name}: rates below 8 kbit/s are not shaped here")
        classes.append(
            {"name": name, "count": c["count"], "upload_bps": up, "download_bps": down, "seed": c["seed"]}
        )
        for _ in range(c["count"]):
            i = len(peers) + 1
            peers.append(
                {
                    "index": i,
                    "class": name,
                    "seed": c["seed"],
                    # 10.214.0.1 is the tracker's; peer i is the (i + 9)th address of 10.214/16.
                    "address": f"10.214.{(i + 9) >> 8}.{(i + 9) & 255}",
                    "mac": f"02:52:53:00:{i >> 8:02x}:{i & 255:02x}",
                }
            )
    if not any(not c["seed"] for c in classes):
        raise Refused("no leechers: nothing to measure")
    if len(peers) > MAX_PEERS:
        raise Refused(
            f"{len(peers)} peers: a real run here takes at most {MAX_PEERS} (one process and one network namespace each)"
        )

    for key, summary_key, value, written, why in ONLY_AT:
        if protocol[summary_key] != value:
            raise Refused(f"policy.{key}: a real run takes only {written} ({why})")

    def whole_seconds(key, summary_key):
        ns = protocol[summary_key]
        if ns % NS or ns == 0:
            raise Refused(f"policy.{key} of {ns / NS:g} s: libtorrent takes whole seconds, at least 1")
        return ns // NS

    optimistic = protocol["optimistic_slots"]
    if optimistic < 1:
        raise Refused("policy.optimistic_slots = 0: libtorrent reads 0 as \"automatic\"")
    return {
        "swarm_file": path,
        "tracker": {
            "address": "10.214.0.1",
            "port": 6969,
            "mac": "02:52:53:ff:00:01",
            "peer_set": protocol["peer_set"],
            "interval_seconds": whole_seconds("reannounce", "reannounce_ns"),
        },
        "file": {"size_bytes": size, "piece_bytes": piece},
        "latency_ns": round(scenario["latency_seconds"] * NS),
        "classes": classes,
        "peers": peers,
        "libtorrent": {
            "unchoke_slots_limit": protocol["unchoke_slots"] + optimistic,
            "num_optimistic_unchoke_slots": optimistic,
            "unchoke_interval": whole_seconds("rechoke", "rechoke_ns"),
            "optimistic_unchoke_interval": whole_seconds("optimistic", "optimistic_ns"),
            "initial_picker_threshold": protocol["random_first"],
            "connections_limit": protocol["max_connections"],
            "seeding_piece_quota": protocol["seed_quota"],
        },
        "overhead": f"{protocol['overhead_ppm'] / 10**4:g}%",
    }


def main():
    if len(sys.argv) != 3:
        print("usage: swarmfile.py SWARM.toml SUMMARY.json", file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        with open(sys.argv[2]) as f:
            summary = json.load(f)
        p = plan(path, summary)
    except Refused as e:
        print(f"real-swarm: {path}: {e}", file=sys.stderr)
        return 1
    json.dump(p, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
