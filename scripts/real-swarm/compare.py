#!/usr/bin/python3
"""The real run against the engine's: mean and last completion over the leechers, and each
leeching class's mean, with their ratio (real over engine) and whether it is within 15%.

A real run is one draw of a random swarm, and so is one seed of the engine: on a swarm of 30
leechers the engine's last completion moves by a tenth from seed to seed. So each engine figure
is the median over the engine's runs (the file's seed and those after it, run.sh's
ENGINE_SEEDS), with its range beside it.

Usage: compare.py OUT_DIR SWARM.toml LIBTORRENT_VERSION

Reads OUT_DIR/real-peers.csv, OUT_DIR/real-stats.json, OUT_DIR/real-links.json, OUT_DIR/sim/
and OUT_DIR/sim-seeds/*/ (summary.json, peers.csv) and OUT_DIR/work/plan.json; prints the table
and writes it, with the run's details, to OUT_DIR/comparison.md.
"""

import csv
import json
import math
import os
import platform
import statistics
import sys
import time

TOLERANCE = 0.15


def nearest_rank(sorted_values, p):
    return sorted_values[max(0, math.ceil(p * len(sorted_values) / 100) - 1)]


def main():
    out, swarm, lt_version = sys.argv[1:4]
    plan = json.load(open(os.path.join(out, "work", "plan.json")))
    seeds = {c["name"] for c in plan["classes"] if c["seed"]}
    leeching = [c["name"] for c in plan["classes"] if not c["seed"]]
    summary = json.load(open(os.path.join(out, "sim", "summary.json")))
    stats = json.load(open(os.path.join(out, "real-stats.json")))
    links = json.load(open(os.path.join(out, "real-links.json")))

    def times(path):
        by_class = {}
        with open(path) as f:
            for row in csv.DictReader(f):
                if row["class"] in seeds:
                    continue
                by_class.setdefault(row["class"], []).append(float(row["done_seconds"]))
        return by_class

    def figures(by_class):
        every = sorted(t for ts in by_class.values() for t in ts)
        values = [sum(every) / len(every), every[-1]]
        values += [sum(by_class[name]) / len(by_class[name]) for name in leeching]
        return values + [every[0], nearest_rank(every, 50), nearest_rank(every, 90)]

    labels = ["mean completion", "last completion", *(f"mean of class {name}" for name in leeching)]
    judged = len(labels)
    labels += ["first completion", "median", "p90"]
    real_times = times(os.path.join(out, "real-peers.csv"))
    real = figures(real_times)
    seeds_dir = os.path.join(out, "sim-seeds")
    engine_dirs = [os.path.join(out, "sim")] + sorted(
        (os.path.join(seeds_dir, d) for d in os.listdir(seeds_dir)) if os.path.isdir(seeds_dir) else []
    )
    engine = [figures(times(os.path.join(d, "peers.csv"))) for d in engine_dirs]
    real_all = sorted(t for ts in real_times.values() for t in ts)

    table = [
        f"| measure | real (s) | engine: median of {len(engine)} seeds (s) | engine: range (s) | real / engine | within 15% |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for i, label in enumerate(labels):
        r = real[i]
        values = [run[i] for run in engine]
        s = statistics.median(values)
        ratio = r / s
        within = abs(ratio - 1) <= TOLERANCE
        if i < judged:
            verdicts.append(within)
        mark = ("yes" if within else "**no**") if i < judged else "(not judged)"
        table.append(f"| {label} | {r:.1f} | {s:.1f} | {min(values):.1f}–{max(values):.1f} | {ratio:.3f} | {mark} |")

    # What else the two runs say: the bound, how the upload was shared, what travelled twice.
    t_min = summary["t_min_seconds"]
    by_class_real = {}
    for p in stats["peers"]:
        c = by_class_real.setdefault(p["class"], {"up": 0, "down": 0, "redundant": 0, "n": 0})
        c["up"] += p["payload_uploaded_bytes"]
        c["down"] += p["payload_downloaded_bytes"]
        c["redundant"] += p["redundant_bytes"]
        c["n"] += 1
    sim_classes = {c["name"]: c for c in summary["classes"]}
    extra = [
        "| class | real: payload uploaded (MiB) | engine (MiB) | real: share ratio | engine | real: bytes received twice (MiB) | engine (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in plan["classes"]:
        r, s = by_class_real[c["name"]], sim_classes[c["name"]]
        rr = f"{r['up'] / r['down']:.3f}" if r["down"] else "-"
        sr = f"{s['share_ratio']:.3f}" if s["share_ratio"] is not None else "-"
        extra.append(
            f"| {c['name']} | {r['up'] / 2**20:.1f} | {s['uploaded_bytes'] / 2**20:.1f} | {rr} | {sr} | "
            f"{r['redundant'] / 2**20:.2f} | {s['duplicate_bytes'] / 2**20:.2f} |"
        )

    # The upload links: what of their bytes was not payload (the engine's `overhead`).
    peer_class = {p["index"]: p["class"] for p in plan["peers"]}
    payload_up = {p["peer"]: p["payload_uploaded_bytes"] for p in stats["peers"]}
    wire = {}
    drops_up = drops_down = 0
    for l in links:
        k = peer_class[l["peer"]]
        w = wire.setdefault(k, [0, 0])
        w[0] += l["up_link"][0]["stats64"]["tx"]["bytes"]
        w[1] += payload_up[l["peer"]]
        drops_up += sum(q.get("drops", 0) for q in l["up_qdisc"] if q.get("kind") == "bfifo")
        drops_down += sum(q.get("drops", 0) for q in l["down_qdisc"] if q.get("kind") == "bfifo")
    overhead_lines = [
        f"- class {k}: {(1 - w[1] / w[0]) * 100:.1f}% of the bytes its uplinks carried were not "
        f"payload (headers, acknowledgements of its downloads, messages, retransmissions)"
        for k, w in wire.items()
        if w[0]
    ]
    # How the seeds' upload was spread over the leechers (the engine writes no such count).
    seed_addresses = {p["address"] for p in plan["peers"] if p["seed"]}
    from_seeds = sorted(
        sum(v["downloaded"] for ip, v in p["per_peer"].items() if ip in seed_addresses)
        for p in stats["peers"]
        if not p["seed"]
    )
    spread_line = (
        f"- each leecher's payload from the seeds (real run; counts kept until a connection closed): "
        f"least {from_seeds[0] / 2**20:.2f} MiB, median {nearest_rank(from_seeds, 50) / 2**20:.2f} MiB, "
        f"most {from_seeds[-1] / 2**20:.2f} MiB (the file is {plan['file']['size_bytes'] / 2**20:g} MiB)"
    )
    res = stats["resources"]
    all_within = all(verdicts)
    verdict = (
        "every judged measure within 15%"
        if all_within
        else f"{verdicts.count(False)} of {len(verdicts)} judged measures NOT within 15%"
    )
    class_list = ", ".join(f"{c['count']} {c['name']}" for c in plan["classes"])
    header = [
        f"# Real swarm against the engine: {swarm}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node()}, {os.cpu_count()} cores, "
        f"Linux {platform.release()}; libtorrent {lt_version} (Python bindings), "
        f"{summary['bitorrent']}.",
        f"{len(plan['peers'])} peers ({class_list}); "
        f"file {plan['file']['size_bytes']} bytes in pieces of {plan['file']['piece_bytes']}; "
        f"one-way latency {plan['latency_ns'] / 1e6:g} ms; libtorrent settings {json.dumps(plan['libtorrent'])}.",
        "",
        f"Completion times of the leechers, seconds from the common start: **{verdict}**.",
        "",
    ]
    body = table + [
        "",
        f"T_min (Kumar and Ross's bound) {t_min:.1f} s: efficiency (T_min / last) real "
        f"{t_min / real_all[-1]:.3f}, engine {summary['efficiency']:.3f} (the file's seed). The classes below: "
        "the engine's run with the file's seed.",
        "",
    ]
    details = extra + [
        "",
        "Links and the seeds' upload (the engine's `overhead` is " + plan["overhead"] + "):",
        *overhead_lines,
        f"- packets dropped by the shaped queues: {drops_up} on uplinks, {drops_down} on downlinks",
        spread_line,
        "",
        f"CPU during the run: the machine {res['machine_busy_mean'] * 100:.0f}% busy on average "
        f"(max {res['machine_busy_max'] * 100:.0f}%) of {res['cpus']} cores; the run's own "
        f"processes {res['run_cores_mean']:.2f} cores on average (max {res['run_cores_max']:.2f}; by "
        f"kind: {', '.join(f'{k} {v:.2f}' for k, v in res['cores_mean_by_kind'].items())}), "
        f"{res['run_rss_mib_max']:.0f} MiB resident at most. Load average at the end: "
        f"{' '.join(res['loadavg_at_end'])}.",
        "",
    ]
    print("\n".join(header + body))
    with open(os.path.join(out, "comparison.md"), "w") as f:
        f.write("\n".join(header + body + details))
    print("\n".join(details))
    print(f"real-swarm: written {os.path.join(out, 'comparison.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
