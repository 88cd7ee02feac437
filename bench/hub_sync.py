#!/usr/bin/env python3
"""What hub sync costs the centre, and how long a busy hub takes to join: a spot check.

Seeds a demo shop, serves it from the release binary, and drives the checkout scenario (64
shoppers, the bench's own Lua script, every order routed to one hub) twice: before any hub
has a sync token (the change-log triggers only look) and after every hub has one (every
order, sub-order and payment change also writes the hub's change log). Then times
`markethub hub join` of that hub, which pulls every order the two runs placed there.

    cargo build --release
    python3 bench/hub_sync.py [--seconds 10] [--products 20000]

Prints a Markdown table (for docs/BENCHMARKS.md). Needs wrk (apt-get install wrk).
"""

import argparse
import os
import pathlib
import re
import subprocess
import tempfile
import time

import backends as b

ADMIN = f"admin@{b.DOMAIN}"


def checkout(base, data_file, seconds, work):
    r = b.wrk(base, "orders.lua", data_file, 64, 64, seconds, work)
    secs = r["duration_us"] / 1e6
    return r["orders"] / secs, r["p50_us"] / 1000, r["p99_us"] / 1000, r["non2xx"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(b.ROOT / "target" / "release" / "markethub"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--products", type=int, default=20000)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="mh-hubsync-"))
    data = b.seed_demo(a.binary, work, a.products)
    proc, base = b.serve(a.binary, data, None)
    try:
        data_file = work / "data.lua"
        data_file.write_text(b.fixtures(base, a.seconds))
        hub = re.search(r'"hub_id": "([^"]+)"', data_file.read_text()).group(1)
        b.wrk_get(base, "product_paths", data_file, 2, work)  # warm-up
        plain = checkout(base, data_file, a.seconds, work)
        admin = b.call(base, "POST", "/api/v1/auth/login",
                       {"email": ADMIN, "password": b.PASSWORD})["access_token"]
        tokens = {}
        for h in b.call(base, "GET", "/api/v1/admin/hubs", token=admin)["items"]:
            tokens[h["id"]] = b.call(base, "POST", f"/api/v1/admin/hubs/{h['id']}/sync-token",
                                     {}, token=admin)["token"]
        logged = checkout(base, data_file, a.seconds, work)
        started = time.monotonic()
        out = subprocess.run(
            [a.binary, "hub", "join", "--upstream", base, "--token", tokens[hub]],
            cwd=work, env={"PATH": os.environ["PATH"],
                           "MARKETHUB_DATA_DIR": str(work / "hub"),
                           "MARKETHUB_LOG__LEVEL": "warn"},
            check=True, capture_output=True, text=True).stdout.strip()
        join_secs = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("| checkout (64 shoppers, one hub) | orders/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for label, (orders, p50, p99, bad) in [("no hub has a sync token", plain),
                                           ("every hub has one (change log written)", logged)]:
        print(f"| {label} | {orders:.0f} | {p50:.2f} | {p99:.2f} | {bad} |")
    print(f"\n`hub join` of that hub: {join_secs:.1f} s — {out}")


if __name__ == "__main__":
    main()
