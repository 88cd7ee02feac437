#!/usr/bin/env python3
"""Fuzzes the HTTP API from its own OpenAPI document with schemathesis.

Starts the server binary on a fresh data directory seeded with the demo shop, signs in as
each role (anonymous, customer, merchant, hub staff, admin) and runs `schemathesis run`
against /api/v1/openapi.json once per role. A run fails on any 5xx, any status, content
type, header or body that the document does not allow, or a crash (the server is checked
to still answer at the end).

usage: .ci/fuzz_api.py [PATH_TO_MARKETHUB_BINARY]   (default target/debug/markethub)
Environment: FUZZ_EXAMPLES (examples per operation, default 12), FUZZ_SEED (default 1).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/markethub")
EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "12")
SEED = os.environ.get("FUZZ_SEED", "1")
DEMO_PASSWORD = "markethub-demo"
DOMAIN = "demo.markethub.test"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")
# Operations that would end the session the run is authenticated with.
SESSION_ENDERS = ["/api/v1/auth/logout", "/api/v1/profile/password"]


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def login(base, email):
    status, body = call(base, "POST", "/api/v1/auth/login",
                        {"email": email, "password": DEMO_PASSWORD})
    if status != 200:
        sys.exit(f"fuzz: cannot sign in as {email}: {status} {body}")
    return body["access_token"]


def main():
    if not os.path.exists(BIN):
        sys.exit(f"fuzz: no binary at {BIN}; build it first")
    try:
        import schemathesis  # noqa: F401
    except ImportError:
        sys.exit("fuzz: schemathesis is not installed (python3 -m pip install schemathesis)")
    st = [sys.executable, "-m", "schemathesis.cli"]
    work = tempfile.mkdtemp(prefix="markethub-fuzz-")
    env = dict(os.environ)
    env.update({
        "MARKETHUB_DATA_DIR": work,
        "MARKETHUB_LISTEN": "127.0.0.1:0",
        "MARKETHUB_AUTH__JWT_SECRET": "fuzz-secret-fuzz-secret-fuzz-secret-0123",
        "MARKETHUB_PAYMENTS__CALLBACK_SECRET": "fuzz-callback-secret-0123",
        "MARKETHUB_BACKUP__ENABLED": "false",
        "MARKETHUB_LOG__LEVEL": "warn,markethub=info",
    })
    subprocess.run([BIN, "demo", "--products", "30", "--orders", "20"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([BIN], env=env, stderr=subprocess.PIPE, text=True)
    log_lines = []
    addr = None
    deadline = time.time() + 60
    while addr is None and time.time() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        log_lines.append(line)
        m = re.search(r"listening on http://([0-9.:]+)", line)
        if m:
            addr = m.group(1)
    if addr is None:
        server.kill()
        sys.exit("fuzz: the server did not start:\n" + "".join(log_lines))

    # Keep reading the log so the server never blocks on a full pipe; keep errors.
    errors = []

    def drain():
        for line in server.stderr:
            if "ERROR" in line or "panicked" in line:
                errors.append(line)

    threading.Thread(target=drain, daemon=True).start()
    base = f"http://{addr}"
    failed = []
    try:
        admin = login(base, f"admin@{DOMAIN}")
        customer = login(base, f"customer1@{DOMAIN}")
        merchant = login(base, f"merchant1@{DOMAIN}")
        # Hub staff: the demo has hubs but no staff; make customer2 staff of the first hub.
        _, hubs = call(base, "GET", "/api/v1/hubs")
        _, users = call(base, "GET", f"/api/v1/admin/users?q=customer2@{DOMAIN}", token=admin)
        status, body = call(base, "POST", "/api/v1/admin/hub-staff",
                            {"user_id": users["items"][0]["id"], "hub_id": hubs["items"][0]["id"]},
                            token=admin)
        if status not in (200, 201):
            sys.exit(f"fuzz: cannot assign hub staff: {status} {body}")
        hub_staff = login(base, f"customer2@{DOMAIN}")

        schema = f"{base}/api/v1/openapi.json"
        roles = [("anonymous", None), ("customer", customer), ("merchant", merchant),
                 ("hub staff", hub_staff), ("admin", admin)]
        for role, token in roles:
            cmd = st + ["--config-file", CONFIG, "run", schema, "--checks", CHECKS, "--max-examples", EXAMPLES,
                   "--seed", SEED, "--phases", "examples,coverage,fuzzing",
                   "--workers", "2", "--request-timeout", "30", "--no-color",
                   "--suppress-health-check", "all", "--generation-database", "none",
                   "--warnings", "off"]
            if token:
                cmd += ["--header", f"Authorization: Bearer {token}"]
                for path in SESSION_ENDERS:
                    cmd += ["--exclude-path", path]
            print(f"== fuzz as {role}", flush=True)
            started = time.time()
            result = subprocess.run(cmd)
            print(f"== {role}: exit {result.returncode} in {time.time() - started:.0f} s",
                  flush=True)
            if result.returncode != 0:
                failed.append(role)

        status, _ = call(base, "GET", "/healthz")
        if status != 200:
            failed.append("server no longer healthy")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    if errors:
        print("fuzz: the server logged errors:\n" + "".join(errors[:20]))
        failed.append("server errors logged")
    if failed:
        sys.exit("fuzz: FAILED: " + ", ".join(failed))
    print("fuzz: no 5xx, no response outside the document, no crash")


if __name__ == "__main__":
    main()
