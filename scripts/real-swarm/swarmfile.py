#!/usr/bin/python3
"""Reads a swarm file (the format of `bitorrent sim`, README "The swarm file") into the plan of a
real run, as JSON on stdout; refuses, naming the file, whatever a real swarm here cannot
reproduce.

Usage: swarmfile.py SWARM.toml

What a real run reproduces: [file] size and piece; [network] latency; [[peers]] classes (name,
count, upload, download, seed); and from [policy] what libtorrent has a setting for:
unchoke_slots and optimistic_slots (libtorrent's unchoke_slots_limit is their sum, its
num_optimistic_unchoke_slots the second), rechoke (unchoke_interval), optimistic
(optimistic_unchoke_interval), random_first (initial_picker_threshold), max_connections
(connections_limit), peer_set (the tracker's largest answer) and reannounce (the tracker's
interval). The other [policy] keys are accepted only at the engine's defaults, which stand for
libtorrent's own behaviour (rarest first, strict endgame, longest-waiting optimistic unchoke,
16 KiB blocks, ...), and `overhead` at any value: it is the engine's estimate of what headers
take, and a real link has its real headers. The top-level `seed` only seeds the engine.
"""

import json
import re
import sys
import tomllib
from fractions import Fraction

SIZE_UNITS = {
    "B": 1,
    "kB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}
RATE_UNITS = {  # bits per second
    "bit/s": 1,
    "kbit/s": 1000,
    "Mbit/s": 1000**2,
    "Gbit/s": 1000**3,
    "B/s": 8,
    "kB/s": 8000,
    "KiB/s": 8 * 1024,
    "MB/s": 8 * 1000**2,
    "MiB/s": 8 * 1024**2,
}
TIME_UNITS = {  # nanoseconds
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "ms": 1000**2,
    "s": 1000**3,
    "min": 60 * 1000**3,
    "h": 3600 * 1000**3,
}

# The engine's defaults (README, "[policy] and free riders").
POLICY_DEFAULTS = {
    "protocol": "bittorrent",
    "pieces": "rarest-first",
    "random_first": 4,
    "endgame": True,
    "choke": "tit-for-tat",
    "unchoke_slots": 3,
    "optimistic_slots": 1,
    "optimistic_rule": "longest-waiting",
    "rechoke": "10 s",
    "optimistic": "30 s",
    "snub": "60 s",
    "requests_in_flight": 5,
    "block": "16 KiB",
    "peer_set": 50,
    "max_connections": 80,
    "min_connections": 20,
    "reannounce": "30 min",
    "overhead": "5%",
}
# Keys a real run takes only at these values, and why.
ONLY_AT = {
    "protocol": ("bittorrent", "libtorrent runs BitTorrent, not the course's protocol"),
    "pieces": ("rarest-first", "libtorrent's picker is rarest first"),
    "endgame": (True, "libtorrent always has its (strict) endgame"),
    "choke": ("tit-for-tat", "this harness sets libtorrent's fixed-slots choker only"),
    "optimistic_rule": (
        "longest-waiting",
        "libtorrent unchokes optimistically the peer that waited longest",
    ),
    "snub": ("60 s", "libtorrent snubs by its own timeouts"),
    "requests_in_flight": (
        5,
        "libtorrent sizes its request queue itself (request_queue_time)",
    ),
    "block": ("16 KiB", "libtorrent's block is 16 KiB"),
    "min_connections": (20, "libtorrent has no such setting"),
}
MAX_PEERS = 250  # one process and one namespace each, on one machine


class Refused(Exception):
    pass


def quantity(value, units, key, kind):
    if not isinstance(value, str):
        raise Refused(f"{key}: expected a {kind} as a string with its unit, found {value!r}")
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(\S+)\s*", value)
    if not m or m.group(2) not in units:
        raise Refused(
            f"{key}: {value!r} is not a {kind} (units: {', '.join(units)})"
        )
    exact = Fraction(m.group(1)) * units[m.group(2)]
    if exact.denominator != 1:
        raise Refused(f"{key}: {value!r} is not a whole number of the base unit")
    return int(exact)


def plan(path):
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise Refused(f"cannot read it: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        raise Refused(f"not TOML: {e}")

    unknown = set(doc) - {"seed", "file", "network", "peers", "policy"}
    if unknown:
        raise Refused(f"unknown key {sorted(unknown)[0]!r}")
    for table in ("file", "network", "peers"):
        if table not in doc:
            raise Refused(f"no [{table}]" if table != "peers" else "no [[peers]]")

    f = doc["file"]
    if set(f) - {"size", "piece"} or not {"size", "piece"} <= set(f):
        raise Refused("[file] takes exactly size and piece")
    size = quantity(f["size"], SIZE_UNITS, "file.size", "size")
    piece = quantity(f["piece"], SIZE_UNITS, "file.piece", "size")
    if size <= 0 or piece <= 0 or piece > size:
        raise Refused("file.size and file.piece must be positive, the piece no larger than the file")
    if piece < 16 * 1024 or piece & (piece - 1):
        raise Refused(
            f"file.piece of {piece} bytes: libtorrent takes only a power of two of at least 16 KiB"
        )

    n = doc["network"]
    if set(n) != {"latency"}:
        raise Refused("[network] takes exactly latency")
    latency_ns = quantity(n["latency"], TIME_UNITS, "network.latency", "time")

    classes = []
    peers = []
    if not isinstance(doc["peers"], list):
        raise Refused("peers must be an array of tables, [[peers]]")
    for k, c in enumerate(doc["peers"]):
        where = f"[[peers]] #{k + 1}"
        extra = set(c) - {"name", "count", "upload", "download", "seed", "free_rider"}
        if extra:
            raise Refused(f"{where}: unknown key {sorted(extra)[0]!r}")
        for key in ("name", "count", "upload", "download"):
            if key not in c:
                raise Refused(f"{where}: no {key}")
        name = c["name"]
        count = c["count"]
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            raise Refused(f"{where} ({name}): count must be a whole number above 0")
        up = quantity(c["upload"], RATE_UNITS, f"{name}.upload", "rate")
        down = quantity(c["download"], RATE_UNITS, f"{name}.download", "rate")
        seed = c.get("seed", False)
        if c.get("free_rider", False):
            raise Refused(
                f"class {name}: free riders are not reproduced (libtorrent has no peer that never uploads)"
            )
        if up == 0:
            raise Refused(
                f"class {name}: an upload of 0 is a free rider, not reproduced (tc cannot shape a link to 0)"
            )
        if down == 0:
            raise Refused(f"class {name}: a download of 0 cannot be shaped")
        if up < 8000 or down < 8000:
            raise Refused(f"class {name}: rates below 8 kbit/s are not shaped here")
        classes.append(
            {"name": name, "count": count, "upload_bps": up, "download_bps": down, "seed": bool(seed)}
        )
        for _ in range(count):
            i = len(peers) + 1
            peers.append(
                {
                    "index": i,
                    "class": name,
                    "seed": bool(seed),
                    # 10.214.0.1 is the tracker's; peer i is the (i + 9)th address of 10.214/16.
                    "address": f"10.214.{(i + 9) >> 8}.{(i + 9) & 255}",
                    "mac": f"02:52:53:00:{i >> 8:02x}:{i & 255:02x}",
                }
            )
    if not any(c["seed"] for c in classes):
        raise Refused("no class with seed = true")
    if not any(not c["seed"] for c in classes):
        raise Refused("no leechers: nothing to measure")
    if len(peers) > MAX_PEERS:
        raise Refused(
            f"{len(peers)} peers: a real run here takes at most {MAX_PEERS} (one process and one network namespace each)"
        )

    policy = dict(POLICY_DEFAULTS)
    given = doc.get("policy", {})
    extra = set(given) - set(POLICY_DEFAULTS)
    if extra:
        raise Refused(f"[policy]: unknown key {sorted(extra)[0]!r}")
    policy.update(given)
    for key, (value, why) in ONLY_AT.items():
        v = policy[key]
        same = v == value
        if isinstance(value, str) and isinstance(v, str) and key in ("snub", "block"):
            units = TIME_UNITS if key == "snub" else SIZE_UNITS
            same = quantity(v, units, f"policy.{key}", "quantity") == quantity(
                value, units, key, "quantity"
            )
        if not same:
            raise Refused(f"policy.{key} = {v!r}: a real run takes only {value!r} ({why})")

    def whole_seconds(key):
        ns = quantity(policy[key], TIME_UNITS, f"policy.{key}", "time")
        if ns % 10**9 or ns == 0:
            raise Refused(f"policy.{key} = {policy[key]!r}: libtorrent takes whole seconds, at least 1")
        return ns // 10**9

    def count_of(key, least):
        v = policy[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < least:
            raise Refused(f"policy.{key} = {v!r}: expected a whole number of at least {least}")
        return v

    unchoke = count_of("unchoke_slots", 0)
    optimistic = count_of("optimistic_slots", 1)  # libtorrent reads 0 as "automatic"
    lt_policy = {
        "unchoke_slots_limit": unchoke + optimistic,
        "num_optimistic_unchoke_slots": optimistic,
        "unchoke_interval": whole_seconds("rechoke"),
        "optimistic_unchoke_interval": whole_seconds("optimistic"),
        "initial_picker_threshold": count_of("random_first", 0),
        "connections_limit": count_of("max_connections", 1),
    }
    tracker_policy = {
        "peer_set": count_of("peer_set", 1),
        "interval_seconds": whole_seconds("reannounce"),
    }
    overhead = policy["overhead"]
    if not isinstance(overhead, str) or not re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*%\s*", overhead):
        raise Refused(f"policy.overhead = {overhead!r}: expected a percentage such as \"5%\"")

    leechers = [c for c in classes if not c["seed"]]
    seeds = [c for c in classes if c["seed"]]
    bits = 8 * size
    n_leechers = sum(c["count"] for c in leechers)
    # Kumar and Ross's bound (the engine computes it exactly; this is for the watchdog only).
    t_min = max(
        bits / sum(c["upload_bps"] * c["count"] for c in seeds),
        max(bits / c["download_bps"] for c in leechers),
        n_leechers * bits / sum(c["upload_bps"] * c["count"] for c in classes),
    )
    return {
        "swarm_file": path,
        "tracker": {
            "address": "10.214.0.1",
            "port": 6969,
            "mac": "02:52:53:ff:00:01",
            **tracker_policy,
        },
        "file": {"size_bytes": size, "piece_bytes": piece},
        "latency_ns": latency_ns,
        "classes": classes,
        "peers": peers,
        "libtorrent": lt_policy,
        "overhead": overhead.strip(),
        "t_min_estimate_seconds": t_min,
    }


def main():
    if len(sys.argv) != 2:
        print("usage: swarmfile.py SWARM.toml", file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        p = plan(path)
    except Refused as e:
        print(f"real-swarm: {path}: {e}", file=sys.stderr)
        return 1
    json.dump(p, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
