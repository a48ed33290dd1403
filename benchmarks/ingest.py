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

Usage::

    python benchmarks/ingest.py                 # 10 million rows
    python benchmarks/ingest.py --rows 2000000  # a quick run
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


def phase(kind: str, csv: str, db: str) -> dict:
    """Run one phase in this process and return its timing and peak memory."""
    if kind == "raw":
        import duckdb

        con = duckdb.connect(db)
        t = time.perf_counter()
        con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}')")
        secs = time.perf_counter() - t
        n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        con.close()
        extra: dict = {}
    else:
        from coreduce.store import Store

        with Store(db) as st:
            t = time.perf_counter()
            rep = st.ingest_csv(csv, "observations")
            secs = time.perf_counter() - t
            n = rep.rows["observations"]
            extra = {"inserted": rep.inserted["observations"], "matched": rep.matched["observations"],
                     "changed": rep.changed["observations"], "stored": st.count("observations")}  # fmt: skip
    return {"seconds": round(secs, 3), "rows": n, "rows_per_s": round(n / secs),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), **extra}  # fmt: skip


def run_phase(kind: str, csv: Path, db: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", kind, "--csv", str(csv), "--db", str(db)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sites", type=int, default=2000)
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
        raw = run_phase("raw", csv, d / "raw.duckdb")
        fresh = run_phase("fresh", csv, d / "ws.duckdb")
        again = run_phase("reingest", csv, d / "ws.duckdb")
        assert raw["rows"] == fresh["rows"] == again["rows"] == n
        assert fresh["inserted"] == n and again["inserted"] == 0 and again["matched"] == n and again["stored"] == n
        fresh["ratio_to_raw"] = round(fresh["seconds"] / raw["seconds"], 2)
        again["ratio_to_raw"] = round(again["seconds"] / raw["seconds"], 2)
        print(json.dumps({
            "benchmark": "ingest observations CSV",
            "rows": n, "sites": a.sites, "csv_mb": round(csv.stat().st_size / 2**20, 1),
            "generate_s": round(gen_s, 2),
            "raw_read_csv": raw, "fresh": fresh, "reingest": again,
            "targets": {"fresh_ratio_max": 2.0, "reingest_ratio_max": 3.0,
                        "fresh_met": fresh["ratio_to_raw"] <= 2.0, "reingest_met": again["ratio_to_raw"] <= 3.0},
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
