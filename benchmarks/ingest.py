"""Benchmark: ingest an observations CSV into a fresh workspace and again into the same one, side by side
with DuckDB's own ``read_csv`` into a table, in the same run.

- **raw**: ``CREATE TABLE t AS SELECT * FROM read_csv(path)`` in a fresh DuckDB file (DuckDB's own reader,
  type detection, no checks, no key);
- **fresh**: :meth:`coreduce.store.Store.ingest_csv` into a fresh workspace (read as text, typed, every
  check of ``observations``, duplicate-key check, unit conversion, insert; one transaction);
- **re-ingest**: the same file into the same workspace again (every row matches its key: 0 inserted).

Each phase runs in its own process so that its peak resident memory (``ru_maxrss``) is its own.  The CSV is
realistic: 2,000 sites, hourly, five pollutants (mg/m3 for CO, converted to ug/m3), ISO 8601 timestamps with
a +08:00 offset.  Targets (issue 11): fresh ≤ 2× raw, re-ingest ≤ 3× raw.

Every side is timed the same way: from opening the database to closing it (a bulk ``CREATE TABLE AS`` in
DuckDB leaves part of its writing to the checkpoint that ``close`` runs, while an ingest commits — and DuckDB
checkpoints — inside the call; timing only the statements counted that work on one side only).  The load
statement alone (``statement_s``) and the CPU time (``cpu_s``) are printed too.  ``--repeat N`` alternates
the phases N times and keeps the best of each (the machine may be shared).  Exits 1 when a target is missed.

Usage::

    python benchmarks/ingest.py                 # 10 million rows
    python benchmarks/ingest.py --rows 2000000  # a quick run
    python benchmarks/ingest.py --repeat 3      # best of three, alternating
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIABLES = [("PM2.5", "ug/m3", 35.0), ("PM10", "ug/m3", 70.0), ("SO2", "ug/m3", 10.0), ("NO2", "ug/m3", 40.0),
             ("CO", "mg/m3", 0.8)]  # fmt: skip


def generate(path: Path, rows: int, sites: int) -> int:
    """Write ``sites × hours × len(VARIABLES)`` readings (≈ ``rows``) to ``path``; return the row count."""
    import duckdb

    hours = max(1, rows // (sites * len(VARIABLES)))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    vals = ", ".join(f"('{v}', '{u}', {m})" for v, u, m in VARIABLES)
    con.execute(f"""
        COPY (
            SELECT 'site_' || lpad(CAST(s AS VARCHAR), 4, '0') AS site_id,
                   strftime(TIMESTAMPTZ '2022-01-01 00:00:00+08' + to_hours(h), '%Y-%m-%dT%H:%M:%S+08:00') AS ts,
                   v.variable,
                   round(v.mean * exp((hash(s, h, v.variable) % 1000) / 1000.0 - 0.5), 3) AS value,
                   v.unit
            FROM range({hours}) t2(h) CROSS JOIN range({sites}) t1(s)
            CROSS JOIN (VALUES {vals}) v(variable, unit, mean)
        ) TO '{path}' (HEADER)
    """)
    con.close()
    return sites * hours * len(VARIABLES)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def phase(kind: str, csv: str, db: str) -> dict:
    """Run one phase in this process and return its timing and peak memory.

    ``seconds`` runs from opening the database to closing it, on both sides: DuckDB writes a bulk load's
    blocks at the commit or, for a ``CREATE TABLE AS`` outside a transaction, at the checkpoint that ``close``
    runs, so timing only the statement would leave that part out on one side and in on the other.
    ``statement_s`` is the load statement alone (the ingest call, which includes its own commit), and
    ``cpu_s`` the process's CPU time over ``seconds`` (all threads; steadier than wall time on a shared machine).
    """
    if kind == "raw":
        import duckdb

        c0, t0 = _cpu(), time.perf_counter()
        con = duckdb.connect(db)
        t = time.perf_counter()
        con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}')")
        stmt = time.perf_counter() - t
        n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        con.close()
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
        extra: dict = {}
    else:
        from coreduce.store import Store

        c0, t0 = _cpu(), time.perf_counter()
        with Store(db) as st:
            t = time.perf_counter()
            rep = st.ingest_csv(csv, "observations")
            stmt = time.perf_counter() - t
            n = rep.rows["observations"]
            extra = {"inserted": rep.inserted["observations"], "matched": rep.matched["observations"],
                     "changed": rep.changed["observations"], "stored": st.count("observations")}  # fmt: skip
        secs, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"seconds": round(secs, 3), "statement_s": round(stmt, 3), "cpu_s": round(cpu, 3), "rows": n,
            "rows_per_s": round(n / secs),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}  # fmt: skip


def run_phase(kind: str, csv: Path, db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", kind, "--csv", str(csv), "--db", str(db)],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"phase {kind} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sites", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each phase, alternating (best kept)")
    ap.add_argument("--phase", choices=["raw", "fresh", "reingest"], help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:
        print(json.dumps(phase(a.phase, a.csv, a.db)))
        return
    with tempfile.TemporaryDirectory(prefix="coreduce-bench-") as tmp:
        d = Path(tmp)
        csv = d / "observations.csv"
        t = time.perf_counter()
        n = generate(csv, a.rows, a.sites)
        gen_s = time.perf_counter() - t
        runs: dict[str, list[dict]] = {"raw": [], "fresh": [], "reingest": []}
        for i in range(max(1, a.repeat)):  # the sides alternate: load on a shared machine comes and goes
            runs["raw"].append(run_phase("raw", csv, d / f"raw{i}.duckdb"))
            runs["fresh"].append(run_phase("fresh", csv, d / f"ws{i}.duckdb"))
            runs["reingest"].append(run_phase("reingest", csv, d / f"ws{i}.duckdb"))
            for p in d.glob(f"*{i}.duckdb*"):
                p.unlink()
        for r in runs["fresh"] + runs["reingest"]:
            assert r["rows"] == n and r["stored"] == n
        assert all(r["inserted"] == n for r in runs["fresh"])
        assert all(r["inserted"] == 0 and r["matched"] == n for r in runs["reingest"])
        raw, fresh, again = (min(runs[k], key=lambda r: r["seconds"]) for k in ("raw", "fresh", "reingest"))
        assert raw["rows"] == n
        fresh["ratio_to_raw"] = round(fresh["seconds"] / raw["seconds"], 2)
        again["ratio_to_raw"] = round(again["seconds"] / raw["seconds"], 2)
        fresh["cpu_ratio_to_raw"] = round(fresh["cpu_s"] / raw["cpu_s"], 2)
        again["cpu_ratio_to_raw"] = round(again["cpu_s"] / raw["cpu_s"], 2)
        met = {"fresh_met": fresh["ratio_to_raw"] <= 2.0, "reingest_met": again["ratio_to_raw"] <= 3.0}
        print(json.dumps({
            "benchmark": "ingest observations CSV",
            "rows": n, "sites": a.sites, "csv_mb": round(csv.stat().st_size / 2**20, 1),
            "generate_s": round(gen_s, 2), "repeat": a.repeat, "timing": "open → load → close, best of repeat",
            "raw_read_csv": raw, "fresh": fresh, "reingest": again,
            "seconds_every_run": {k: [r["seconds"] for r in v] for k, v in runs.items()},
            "targets": {"fresh_ratio_max": 2.0, "reingest_ratio_max": 3.0, **met},
            "load_average": os.getloadavg(),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        }, indent=2))  # fmt: skip
        if not all(met.values()):
            print("target missed: " + ", ".join(k for k, v in met.items() if not v), file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
