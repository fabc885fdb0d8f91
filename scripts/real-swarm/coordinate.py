#!/usr/bin/python3
"""Starts the real peers together, waits for every leecher to finish, stops them, and writes the
results (run.sh runs it once the network, the tracker and the peers are up).

Usage: coordinate.py WORK TIME_LIMIT_SECONDS PIDS_FILE OUT_DIR

PIDS_FILE has a line `peer INDEX PID`, `tracker PID` or `delayline PID` for each process of the
run. The start barrier: every peer writes WORK/sync/ready-I once its session listens; then this
writes WORK/sync/start, a CLOCK_MONOTONIC time a second ahead, at which every peer adds the
torrent. Every leecher's WORK/sync/done-I, then WORK/sync/stop; each peer writes its counts and
exits. The watchdog: past TIME_LIMIT seconds from the start with a leecher unfinished, or a peer
process gone before the stop, it says so and exits 1 (run.sh's trap then ends every process of
the run and removes its namespaces).

Writes OUT_DIR/real-peers.csv (peer,class,done_seconds) and OUT_DIR/real-stats.json (each
peer's libtorrent counts, and the CPU and memory the run took, sampled every second).
"""

import json
import os
import sys
import time


def cpu_totals():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]), idle


def proc_cpu_and_rss(pid):
    """CPU ticks (user + system) and resident KiB of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status") as f:
            rss = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), 0)
    except (FileNotFoundError, ProcessLookupError):
        return None
    parts = stat[stat.rindex(")") + 2 :].split()
    return int(parts[11]) + int(parts[12]), rss


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def fail(text):
    print(f"real-swarm: {text}", file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    work, limit, pids_file, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
    plan = json.load(open(os.path.join(work, "plan.json")))
    peers = plan["peers"]
    leechers = [p["index"] for p in peers if not p["seed"]]
    sync = os.path.join(work, "sync")
    peer_pids, kind_of = {}, {}
    for line in open(pids_file):
        parts = line.split()
        if parts[0] == "peer":
            peer_pids[int(parts[1])] = int(parts[2])
        kind_of[int(parts[-1])] = parts[0]
    all_pids = list(kind_of)
    kinds = sorted(set(kind_of.values()))
    tick = os.sysconf("SC_CLK_TCK")

    def check_peers():
        for i, pid in peer_pids.items():
            if not alive(pid):
                tail = ""
                try:
                    tail = "".join(open(os.path.join(work, "logs", f"peer-{i}.log")).readlines()[-5:])
                except OSError:
                    pass
                fail(f"peer {i} (pid {pid}) exited before the end; its log ends:\n{tail}")

    # The barrier.
    deadline = time.monotonic() + 60
    while True:
        ready = sum(os.path.exists(os.path.join(sync, f"ready-{p['index']}")) for p in peers)
        if ready == len(peers):
            break
        check_peers()
        if time.monotonic() > deadline:
            fail(f"only {ready} of {len(peers)} peers listening after 60 s")
        time.sleep(0.05)
    t0 = time.monotonic() + 1.0
    with open(os.path.join(sync, "start.tmp"), "w") as f:
        f.write(f"{t0:.6f}\n")
    os.rename(os.path.join(sync, "start.tmp"), os.path.join(sync, "start"))
    print(f"real-swarm: {len(peers)} peers listening; started together", flush=True)

    # The run, sampled each second.
    # (machine busy fraction, cores used by the run's processes, RSS KiB of them, cores by kind)
    samples = []
    last_total, last_idle = cpu_totals()
    last_ticks = {pid: (proc_cpu_and_rss(pid) or (0, 0))[0] for pid in all_pids}
    next_print = t0 + 10
    while True:
        time.sleep(1.0)
        now = time.monotonic()
        done = [i for i in leechers if os.path.exists(os.path.join(sync, f"done-{i}"))]
        total, idle = cpu_totals()
        busy = 1 - (idle - last_idle) / max(1, total - last_total)
        used, rss = {k: 0 for k in kinds}, 0
        for pid in all_pids:
            r = proc_cpu_and_rss(pid)
            if r:
                used[kind_of[pid]] += r[0] - last_ticks[pid]
                last_ticks[pid] = r[0]
                rss += r[1]
        # /proc/stat counts ticks of every core: busy is a fraction of the whole machine.
        seconds = (total - last_total) / tick / os.cpu_count()
        by_kind = {k: v / tick / seconds for k, v in used.items()}
        cores_used = sum(by_kind.values())
        last_total, last_idle = total, idle
        if now > t0:
            samples.append((busy, cores_used, rss, by_kind))
        if len(done) == len(leechers):
            break
        check_peers()
        if now - t0 > limit:
            fail(
                f"watchdog: {len(leechers) - len(done)} of {len(leechers)} leechers unfinished after "
                f"{limit:.0f} s (the time limit: --time-limit SECONDS to change it); stopping the run"
            )
        if now >= next_print:
            print(
                f"real-swarm: {now - t0:6.0f} s: {len(done)}/{len(leechers)} leechers done; "
                f"machine {busy * 100:3.0f}% busy, the run's processes {cores_used:.2f} cores, "
                f"{rss / 1024:.0f} MiB",
                flush=True,
            )
            next_print += 10
    print(f"real-swarm: every leecher done at {time.monotonic() - t0:.1f} s; stopping", flush=True)

    with open(os.path.join(sync, "stop"), "w"):
        pass
    deadline = time.monotonic() + 30
    stats_dir = os.path.join(work, "stats")
    while not all(os.path.exists(os.path.join(stats_dir, f"peer-{p['index']}.json")) for p in peers):
        if time.monotonic() > deadline:
            fail("peers did not write their counts within 30 s of the stop")
        time.sleep(0.1)

    stats = [json.load(open(os.path.join(stats_dir, f"peer-{p['index']}.json"))) for p in peers]
    with open(os.path.join(out, "real-peers.csv"), "w") as f:
        f.write("peer,class,done_seconds\n")
        for p in peers:
            d = float(open(os.path.join(sync, f"done-{p['index']}")).read())
            f.write(f"{p['index']},{p['class']},{d:.6f}\n")
    n = max(1, len(samples))
    resources = {
        "samples": len(samples),
        "machine_busy_mean": sum(s[0] for s in samples) / n,
        "machine_busy_max": max((s[0] for s in samples), default=0),
        "run_cores_mean": sum(s[1] for s in samples) / n,
        "run_cores_max": max((s[1] for s in samples), default=0),
        "run_rss_mib_max": max((s[2] for s in samples), default=0) / 1024,
        "cores_mean_by_kind": {k: sum(s[3][k] for s in samples) / n for k in kinds},
        "cpus": os.cpu_count(),
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
    }
    with open(os.path.join(out, "real-stats.json"), "w") as f:
        json.dump({"peers": stats, "resources": resources}, f, indent=1)
        f.write("\n")
    print(
        f"real-swarm: CPU: machine {resources['machine_busy_mean'] * 100:.0f}% busy on average "
        f"(max {resources['machine_busy_max'] * 100:.0f}%) of {os.cpu_count()} cores; the run's "
        f"processes {resources['run_cores_mean']:.2f} cores on average (max "
        f"{resources['run_cores_max']:.2f}; "
        + ", ".join(f"{k} {v:.2f}" for k, v in resources["cores_mean_by_kind"].items())
        + f"), {resources['run_rss_mib_max']:.0f} MiB resident at most",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("real-swarm: interrupted", file=sys.stderr)
        sys.exit(130)
