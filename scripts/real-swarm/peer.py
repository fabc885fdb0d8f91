#!/usr/bin/python3
"""A real peer of the swarm (libtorrent 2.0 through its Python bindings), and the torrent.

Usage:
  peer.py make-torrent WORK TRACKER_URL   the file (random bytes) and WORK/swarm.torrent
  peer.py run WORK INDEX ADDRESS          peer INDEX (from 1), listening on ADDRESS

WORK holds plan.json (swarmfile.py's plan, with run.sh's additions), the data, and sync/, where
the peers and the coordinator (coordinate.py) meet through files:
  sync/ready-I   peer I's session listens: it waits for the start
  sync/start     the common start, CLOCK_MONOTONIC seconds (one clock for every namespace)
  sync/done-I    peer I has the whole file: seconds since the start
  sync/stop      every peer is done: each writes its counts to stats/peer-I.json and exits
A seed holds the file from the start (libtorrent's seed_mode: no check of it); a leecher starts
with nothing. Each keeps seeding until sync/stop.
"""

import json
import os
import sys
import time

import libtorrent as lt


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def make_torrent(work, tracker_url):
    plan = json.load(open(os.path.join(work, "plan.json")))
    size = plan["file"]["size_bytes"]
    piece = plan["file"]["piece_bytes"]
    seed_dir = os.path.join(work, "data", "seed")
    os.makedirs(seed_dir, exist_ok=True)
    path = os.path.join(seed_dir, "payload.bin")
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            f.write(chunk)
            left -= len(chunk)
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: BEP 3's torrent, as the engine models (libtorrent 2.0 makes hybrid v1+v2 ones by
    # default).
    ct = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    ct.add_tracker(tracker_url)
    ct.set_creator("real-swarm")
    lt.set_piece_hashes(ct, seed_dir)
    with open(os.path.join(work, "swarm.torrent"), "wb") as f:
        f.write(lt.bencode(ct.generate()))


def session_settings(plan, address):
    pol = plan["libtorrent"]
    cat = lt.alert.category_t
    return {
        "listen_interfaces": f"{address}:6881",
        # TCP only, no peer discovery beside the tracker.
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        # BEP 3's plain handshake, as the engine models (no protocol encryption).
        "in_enc_policy": int(lt.enc_policy.pe_disabled),
        "out_enc_policy": int(lt.enc_policy.pe_disabled),
        # tc shapes the links: no limits of libtorrent's own.
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        # The choker: libtorrent's default (fixed slots; seeds round robin), the policy's slots.
        "choking_algorithm": 0,
        "seed_choking_algorithm": 0,
        "unchoke_slots_limit": pol["unchoke_slots_limit"],
        "num_optimistic_unchoke_slots": pol["num_optimistic_unchoke_slots"],
        "unchoke_interval": pol["unchoke_interval"],
        "optimistic_unchoke_interval": pol["optimistic_unchoke_interval"],
        "initial_picker_threshold": pol["initial_picker_threshold"],
        "connections_limit": pol["connections_limit"],
        "seeding_piece_quota": pol["seeding_piece_quota"],
        # Fewer idle threads: dozens of sessions share the machine.
        "aio_threads": 2,
        "hashing_threads": 1,
        "alert_mask": cat.status_notification | cat.error_notification | cat.tracker_notification,
        "user_agent": "real-swarm/libtorrent " + lt.__version__,
    }


def run(work, index, address):
    plan = json.load(open(os.path.join(work, "plan.json")))
    me = plan["peers"][index - 1]
    sync = os.path.join(work, "sync")
    log = open(os.path.join(work, "logs", f"peer-{index}.log"), "a", buffering=1)

    def say(text, t0=None):
        stamp = f"{time.monotonic() - t0:9.3f}" if t0 is not None else "    start"
        log.write(f"{stamp} {text}\n")

    ses = lt.session(session_settings(plan, address))
    # libtorrent puts peers at private addresses (10/8 and the like: ours) in its "local" peer
    # class, whose peers are always unchoked (ignore_unchoke_slots): on a LAN every interested
    # peer is unchoked, whatever unchoke_slots_limit says. Every address in the global class only,
    # as peers across the Internet are.
    classes = lt.ip_filter()
    classes.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(classes)
    deadline = time.monotonic() + 30
    listening = False
    while not listening:
        if time.monotonic() > deadline:
            say("FAILED: not listening after 30 s")
            return 1
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                listening = True
            elif isinstance(a, lt.listen_failed_alert):
                say(f"FAILED: {a.message()}")
                return 1
    write_atomic(os.path.join(sync, f"ready-{index}"), "")

    start_path = os.path.join(sync, "start")
    while not os.path.exists(start_path):
        time.sleep(0.01)
    t0 = float(open(start_path).read())
    while time.monotonic() < t0:
        time.sleep(min(0.005, max(0.0, t0 - time.monotonic())))

    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(os.path.join(work, "swarm.torrent"))
    if me["seed"]:
        atp.save_path = os.path.join(work, "data", "seed")
        atp.flags |= lt.torrent_flags.seed_mode
    else:
        atp.save_path = os.path.join(work, "data", f"peer-{index}")
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    atp.flags |= lt.torrent_flags.disable_pex  # the tracker alone, as the engine's peers
    h = ses.add_torrent(atp)
    say(f"added ({'seed' if me['seed'] else 'leecher'}, class {me['class']}, {address})", t0)

    done = 0.0 if me["seed"] else None
    if done is not None:
        write_atomic(os.path.join(sync, f"done-{index}"), "0.000000\n")
    stop_path = os.path.join(sync, "stop")
    next_report = t0 + 10
    next_sample = t0 + 2
    # Payload bytes to and from each other peer (by address), the largest count seen: sampled every
    # 2 s and at completion, as a connection's counts go when it closes (at completion, libtorrent
    # closes its connections to seeds).
    per_peer = {}

    def sample():
        infos = h.get_peer_info()
        for p in infos:
            ip = p.ip[0]
            d, u = per_peer.get(ip, (0, 0))
            per_peer[ip] = (max(d, p.total_download), max(u, p.total_upload))
        return infos
    while not os.path.exists(stop_path):
        ses.wait_for_alert(200)
        now = time.monotonic()
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_finished_alert) and done is None:
                done = now - t0
                sample()
                write_atomic(os.path.join(sync, f"done-{index}"), f"{done:.6f}\n")
                say("finished", t0)
            elif isinstance(a, (lt.tracker_reply_alert, lt.tracker_error_alert)):
                say(a.message(), t0)
            elif a.category() & lt.alert.category_t.error_notification:
                say(f"error: {a.message()}", t0)
        if done is None and h.status().is_seeding:  # in case the alert were missed
            done = now - t0
            write_atomic(os.path.join(sync, f"done-{index}"), f"{done:.6f}\n")
            say("seeding", t0)
        if now >= next_sample:
            infos = sample()
            next_sample += 2
            if now >= next_report:
                st = h.status()
                f = lt.peer_info
                unchoked = [p for p in infos if not p.flags & f.choked]
                say(
                    f"progress {st.progress * 100:5.1f}% down {st.download_payload_rate * 8 / 1e3:7.1f} "
                    f"kbit/s up {st.upload_payload_rate * 8 / 1e3:7.1f} kbit/s; {len(infos)} peers, "
                    f"{sum(1 for p in infos if p.flags & f.remote_interested)} interested in me, "
                    f"I unchoke {len(unchoked)} "
                    f"({sum(1 for p in unchoked if p.flags & f.optimistic_unchoke)} optimistic, "
                    f"{sum(1 for p in unchoked if p.flags & f.remote_interested)} interested), "
                    f"{sum(1 for p in infos if not p.flags & f.remote_choked)} unchoke me",
                    t0,
                )
                next_report += 10
    sample()
    st = h.status()
    stats = {
        "peer": index,
        "class": me["class"],
        "seed": me["seed"],
        "done_seconds": done,
        "payload_uploaded_bytes": st.total_payload_upload,
        "payload_downloaded_bytes": st.total_payload_download,
        "uploaded_bytes": st.total_upload,
        "downloaded_bytes": st.total_download,
        "redundant_bytes": st.total_redundant_bytes,
        "failed_bytes": st.total_failed_bytes,
        "per_peer": {ip: {"downloaded": d, "uploaded": u} for ip, (d, u) in sorted(per_peer.items())},
    }
    write_atomic(os.path.join(work, "stats", f"peer-{index}.json"), json.dumps(stats) + "\n")
    say("stopped", t0)
    ses.pause()
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "make-torrent":
        make_torrent(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "run":
        return run(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
