"""The service under load: ``GET /api/v1/summary`` on PostgreSQL (both isolation layers on) for 60 s.

uvicorn (1 worker) serves ``coreduce.api.app.create_app`` on 127.0.0.1 over a fresh PostgreSQL database holding
the synthetic multi-tenant workspace with a year of daily inventory rows; a load generator in a second process
keeps ``--connections`` HTTP/1.1 keep-alive connections busy (closed loop: bounded load) with the token of the
city bureau (the widest scope), counts answers and records each latency.  Server, PostgreSQL and the load
generator share the machine's cores.  Prints JSON; exits 1 when a target is missed.

Targets (issue 19; ../shared/reference/service-and-scale.md): >= 250 req/s with p99 <= 100 ms for 60 s.
``first_paint`` is the dashboard's first paint, measured by ``coreduce.web.measure_first_paint(base_url, token)``
when the web package provides it (else reported as not measured).

Usage: python benchmarks/service.py [--duration 60] [--connections 16] [--pg postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid

TARGET_RPS = 250.0
TARGET_P99_MS = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(host: str, port: int, path: str, token: str, stop_at: float, lat: list[float], errs: list[str]):
    reader, writer = await asyncio.open_connection(host, port)
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":", 1)[1])
            body = await reader.readexactly(n)
            lat.append(time.perf_counter() - t0)
            if status != 200 or b'"by_sector"' not in body:
                errs.append(f"{status} {body[:120]!r}")
    finally:
        writer.close()


def _load(host: str, port: int, path: str, token: str, seconds: float, conns: int, out: mp.Queue) -> None:
    lat: list[float] = []
    errs: list[str] = []
    stop_at = time.perf_counter() + seconds

    async def main():
        await asyncio.gather(*(_client(host, port, path, token, stop_at, lat, errs) for _ in range(conns)))

    t0 = time.perf_counter()
    asyncio.run(main())
    out.put({"latencies": lat, "errors": errs, "wall": time.perf_counter() - t0})


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of processes (Linux /proc; 0 for a process that is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pg", default=os.environ.get("COREDUCE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    a = ap.parse_args()
    os.environ.setdefault("COREDUCE_FOOTPRINT", "fallback")

    import psycopg

    from coreduce.api import synthetic
    from coreduce.api.auth import create_token
    from coreduce.api.db import Database, provision
    from coreduce.api.settings import Settings
    from coreduce.store import Store

    tag = uuid.uuid4().hex[:8]
    name, role = f"crbench_{tag}", f"crbench_app_{tag}"
    admin = psycopg.connect(a.pg, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{a.pg.rsplit('/', 1)[0]}/{name}"
    server = None
    try:
        t0 = time.perf_counter()
        with Store(url) as st:
            synthetic.build(st, days=a.days)
            rows = st.count("inventory")
        settings = Settings(runtime_role=role)
        provision(url, settings)
        db = Database(url, settings).open_sync()
        token = create_token(db, "bench", "government", "ca")
        db.close_sync()
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("ANALYZE")
        setup_s = time.perf_counter() - t0
        port = _free_port()
        code = (
            "import uvicorn; from coreduce.api.app import create_app; from coreduce.api.settings import Settings; "
            f"uvicorn.run(create_app({url!r}, settings=Settings(runtime_role={role!r}, worker=False, pool_min=4, "
            f"pool_max=8)), host='127.0.0.1', port={port}, log_level='warning', access_log=False)"
        )
        server = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
        import urllib.request

        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        path = "/api/v1/summary?pollutant=CO2"
        q: mp.Queue = mp.Queue()
        if a.warmup:
            p = mp.Process(target=_load, args=("127.0.0.1", port, path, token, a.warmup, a.connections, q))
            p.start()
            q.get()
            p.join()
        load0 = os.getloadavg()
        with psycopg.connect(a.pg, autocommit=True) as con:  # the service's PostgreSQL backends
            backends = [r[0] for r in con.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
        cpu0 = (_cpu_s([server.pid]), _cpu_s(backends))
        p = mp.Process(target=_load, args=("127.0.0.1", port, path, token, a.duration, a.connections, q))
        p.start()
        res = q.get()
        cpu1 = (_cpu_s([server.pid]), _cpu_s(backends), _cpu_s([p.pid]))
        p.join()
        lat = [x * 1000 for x in res["latencies"]]
        rps = len(lat) / res["wall"]
        summary = {
            "endpoint": path,
            "duration_s": round(res["wall"], 1),
            "connections": a.connections,
            "requests": len(lat),
            "errors": len(res["errors"]),
            "req_per_s": round(rps, 1),
            "p50_ms": round(_pct(lat, 0.50), 2),
            "p90_ms": round(_pct(lat, 0.90), 2),
            "p99_ms": round(_pct(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 2) if lat else None,
            "inventory_rows": rows,
            # CPU per request: the capacity of 2 idle cores is about 2000 / (server + postgres + load generator) req/s
            "cpu_ms_per_req": {
                "server": round((cpu1[0] - cpu0[0]) * 1000 / max(len(lat), 1), 2),
                "postgres": round((cpu1[1] - cpu0[1]) * 1000 / max(len(lat), 1), 2),
                "load_generator": round(cpu1[2] * 1000 / max(len(lat), 1), 2),
            },
            "target": {"req_per_s": TARGET_RPS, "p99_ms": TARGET_P99_MS},
        }
        summary["ok"] = bool(
            rps >= TARGET_RPS and summary["p99_ms"] <= TARGET_P99_MS and not res["errors"] and a.duration >= 60
        )
        first_paint: dict = {"status": "not measured: coreduce.web provides no measure_first_paint"}
        try:
            from coreduce.web import measure_first_paint  # the web side's measurement (dashboard first paint)

            first_paint = measure_first_paint(f"http://127.0.0.1:{port}", token)
        except ImportError:
            pass
        except Exception as exc:  # report, do not hide
            first_paint = {"status": f"error: {type(exc).__name__}: {exc}"}
        out = {
            "benchmark": "service",
            "summary": summary,
            "first_paint": first_paint,
            "setup_s": round(setup_s, 1),
            "loadavg_before": [round(x, 2) for x in load0],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        if res["errors"]:
            out["first_errors"] = res["errors"][:3]
        if not summary["ok"]:
            out["verdict"] = (
                f"target missed: {summary['req_per_s']} req/s (>= {TARGET_RPS}), p99 {summary['p99_ms']} ms "
                f"(<= {TARGET_P99_MS}), {summary['errors']} errors, {summary['duration_s']} s (>= 60)"
            )
        else:
            out["verdict"] = "target met"
        print(json.dumps(out, indent=2))
        return 0 if summary["ok"] else 1
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
