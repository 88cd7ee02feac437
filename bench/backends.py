#!/usr/bin/env python3
"""SQLite vs PostgreSQL, same binary, same data: a spot check beside the full benchmark.

Seeds a demo shop in SQLite, times `markethub migrate-data` into a fresh PostgreSQL database,
then serves each copy in turn from one release binary (built with `--features postgres`) and
drives it with wrk on loopback: product by id, a list page, a search, and checkout (64
shoppers, one connection each, 1-3 merchants per order; the bench's own Lua scripts).

    cargo build --release --features postgres
    python3 bench/backends.py [--seconds 10] [--pg postgres://postgres@127.0.0.1:5432]

Prints a Markdown table (for docs/BENCHMARKS.md). Needs wrk (apt-get install wrk) and a
PostgreSQL server where the given user may create databases.
"""

import argparse
import json
import os
import pathlib
import random
import re
import subprocess
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "src" / "lua"
DOMAIN = "demo.markethub.test"
PASSWORD = "markethub-demo"


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(req, data, timeout=30) as r:
        return json.loads(r.read() or b"null")


def serve(binary, data_dir, db_url):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MARKETHUB_DATA_DIR": str(data_dir),
        "MARKETHUB_LISTEN": "127.0.0.1:0",
        "MARKETHUB_RATE_LIMIT__ENABLED": "false",
        "MARKETHUB_BACKUP__ENABLED": "false",
        "MARKETHUB_LOG__LEVEL": "warn,markethub::server=info",
        "MARKETHUB_LOG__FORMAT": "text",
    }
    if db_url:
        env["MARKETHUB_DATABASE__URL"] = db_url
    p = subprocess.Popen([binary], env=env, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening on (http://[0-9.:]+)", line)
        if m:
            return p, m.group(1)
    raise SystemExit("server did not start")


def seed_demo(binary, work, products):
    """The demo shop the spot checks drive (100 merchants, 300 customers, 5 000 orders)."""
    data = work / "data"
    subprocess.run(
        [binary, "demo", "--products", str(products), "--merchants", "100",
         "--customers", "300", "--orders", "5000"],
        cwd=work, env={"PATH": os.environ["PATH"], "MARKETHUB_DATA_DIR": str(data)},
        check=True, capture_output=True)
    return data


def lua_list(items):
    return "{" + ",".join(json.dumps(i) for i in items) + "}"


def fixtures(base, seconds):
    products, page = [], 1
    while len(products) < 2000:
        got = call(base, "GET", f"/api/v1/products?per_page=100&page={page}&in_stock=true")
        if not got["items"]:
            break
        products += got["items"]
        page += 1
    by_merchant = {}
    for p in products:
        by_merchant.setdefault(p["merchant"]["id"], []).append(p["id"])
    groups = [g for g in by_merchant.values() if g]
    hub = call(base, "GET", "/api/v1/hubs")["items"][0]["id"]
    tokens = [
        call(base, "POST", "/api/v1/auth/login",
             {"email": f"customer{i}@{DOMAIN}", "password": PASSWORD})["access_token"]
        for i in range(1, 65)
    ]
    words = sorted({w.lower() for p in products[:200] for w in p["name"].split() if w.isalpha()})
    data = "\n".join([
        "checkout_body = '" + json.dumps({
            "payment_method": "cod", "hub_id": hub,
            "delivery_address": "Moi Avenue 1, Nairobi", "phone": "0712345678"}) + "'",
        "tokens = " + lua_list(tokens),
        "product_paths = " + lua_list([f"/api/v1/products/{p['id']}" for p in products]),
        "list_paths = " + lua_list([f"/api/v1/products?page={n}&per_page=20" for n in range(1, 51)]),
        "search_paths = " + lua_list([f"/api/v1/products?q={w}" for w in words[:50]]),
        "category_paths = " + lua_list(["/api/v1/products?per_page=20"]),
        "merchant_products = {" + ",".join(lua_list(g) for g in groups) + "}",
    ])
    return data


def wrk(base, script, data_file, threads, conns, seconds, work):
    body = (LUA / script).read_text().replace("__DATA__", str(data_file))
    body = body.replace("__WRITE_SHARE__", "1.0")
    if script == "get.lua":
        raise ValueError("use wrk_get")
    path = work / "s.lua"
    path.write_text(body + "\n" + (LUA / "report.lua").read_text())
    return run_wrk(base, path, threads, conns, seconds)


def wrk_get(base, paths, data_file, seconds, work):
    body = (LUA / "get.lua").read_text().replace("__DATA__", str(data_file))
    body = body.replace("__LIST__", paths).replace("__AS_ADMIN__", "false")
    path = work / "g.lua"
    path.write_text(body + "\n" + (LUA / "report.lua").read_text())
    return run_wrk(base, path, 2, 64, seconds)


def run_wrk(base, script, threads, conns, seconds):
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency",
         "-s", str(script), base],
        capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH_JSON "))
    return json.loads(line[len("BENCH_JSON "):])


def measure(name, binary, data_dir, db_url, seconds, work):
    proc, base = serve(binary, data_dir, db_url)
    try:
        data_file = work / f"data-{name}.lua"
        data_file.write_text(fixtures(base, seconds))
        rows = {}
        wrk_get(base, "product_paths", data_file, 2, work)  # warm-up
        for label, paths in [("product by id", "product_paths"), ("list page (20)", "list_paths"),
                             ("search q=", "search_paths")]:
            rows[label] = wrk_get(base, paths, data_file, seconds, work)
        rows["checkout"] = wrk(base, "orders.lua", data_file, 64, 64, seconds, work)
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "markethub"))
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--products", type=int, default=20000)
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="mh-backends-"))
    data = seed_demo(a.binary, work, a.products)
    db = f"markethub_bench_{random.randrange(1 << 30)}"
    subprocess.run(["psql", a.pg + "/postgres", "-qc",
                    f"CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8'"],
                   check=True)
    pg_url = f"{a.pg}/{db}"
    started = time.monotonic()
    subprocess.run([a.binary, "migrate-data", "--from", f"sqlite:{data}/markethub.db",
                    "--to", pg_url], check=True, capture_output=True,
                   env={"PATH": os.environ["PATH"], "MARKETHUB_DATA_DIR": str(data)})
    copy_secs = time.monotonic() - started
    try:
        results = {
            "SQLite": measure("sqlite", a.binary, data, None, a.seconds, work),
            "PostgreSQL": measure("postgres", a.binary, work / "pgdata", pg_url, a.seconds, work),
        }
    finally:
        subprocess.run(["psql", a.pg + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {db}"])
    print(f"\nmigrate-data of the demo shop ({a.products} products, 5000 orders): {copy_secs:.1f} s\n")
    print("| scenario | backend | req/s | p50 ms | p99 ms | orders/s | non-2xx |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label in ["product by id", "list page (20)", "search q=", "checkout"]:
        for backend, rows in results.items():
            r = rows[label]
            secs = r["duration_us"] / 1e6
            orders = f"{r['orders'] / secs:.0f}" if label == "checkout" else ""
            print(f"| {label} | {backend} | {r['requests'] / secs:.0f} | {r['p50_us'] / 1000:.2f} "
                  f"| {r['p99_us'] / 1000:.2f} | {orders} | {r['non2xx']} |")


if __name__ == "__main__":
    main()
