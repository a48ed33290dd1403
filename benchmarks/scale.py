"""Benchmark: readings aggregated to site × day × pollutant through coreduce's own
:func:`coreduce.account.aggregate_observations`, on a DuckDB store and on a Spark store (``local[2]``), same run.

- Data: ``sites × hours × 4 pollutants`` readings generated **once** by DuckDB as Parquet on disk (not in memory);
  the 10 M and 25 M sets are the first hours of the 50 M set.
- Stores: a DuckDB workspace file filled with ``INSERT … SELECT`` from the Parquet, and a Spark warehouse filled
  with DuckDB's ``COPY … PARTITION_BY`` into the store's own layout (``observations/__part=YYYY-MM/``, the same
  statement the Spark store's ingest runs for new partitions).  Setup bypasses validation on both: this measures
  the aggregation, not the ingest (``benchmarks/ingest.py`` does).
- Each engine runs in its own process: **cold** = open the store (Spark: start the JVM) + the first query;
  **warm** = the best of the next two queries in that process.  Peak RSS = the process tree, sampled every 0.2 s.
- Spark's warm time at 10 M, 25 M and 50 M shows how it grows (linear or better: per-row time at 50 M no more
  than 1.25 × that at 10 M, the allowance for timing noise on a shared 2-core machine).
- Results are compared: same keys, counts exactly, sums within 1e-12 relative.

Target (issue 18): Spark warm ≤ 15 × DuckDB warm at 50 M rows.  Exits 1 and says "target missed" otherwise.

``--accounting ROWS[,ROWS]`` measures the accounting instead: the inventory's activity × factor join
(:mod:`coreduce.account.expression`: the distinct keys grouped by the engine, resolved in Python, the per-key factor
table shipped to the engine, ``amount × EF × k × (1 − η) [× ash or S %]`` per row in the engine) over a stored
``activity`` table of ROWS facility × month × fuel rows (``benchmarks/accounting.py``'s generator: coal with controls,
ash and sulfur contents, gas in m³ and GJ gross, diesel, purchased electricity and heat, CN and US regions), rolled up
in the same engine to sector × month × pollutant (the whole join is evaluated, only the roll-up is collected), on a
DuckDB store and a Spark store (local[2]), cold and warm, with the ratio; results compared (same keys, sums within
1e-12 relative).  No target: figures only.

Usage::

    python benchmarks/scale.py                          # 10 M, 25 M, 50 M (about 10 minutes on 2 cores)
    python benchmarks/scale.py --sizes 200000,500000,1000000 --keep   # a quick run
    python benchmarks/scale.py --accounting 1000000,5000000          # the accounting join
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

POLLUTANTS = ("PM2.5", "SO2", "NOx", "CO")
SITES = 1000
TARGET_RATIO = 15.0
GROWTH_ALLOWANCE = 1.25


def generate(path: Path, rows: int) -> int:
    """``SITES × hours × 4`` hourly readings from 2020-01-01 UTC as Parquet (zstd); returns the row count."""
    import duckdb

    hours = max(1, rows // (SITES * len(POLLUTANTS)))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET memory_limit = '2GB'")
    vals = ", ".join(f"('{p}', {i})" for i, p in enumerate(POLLUTANTS))
    con.execute(f"""
        COPY (
            SELECT 's' || lpad(CAST(s AS VARCHAR), 4, '0') AS site_id,
                   TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_hours(h) AS ts,
                   v.variable,
                   round(10 + (hash(s, h, v.k) % 100000) / 1000.0, 3) AS value,
                   'ug/m3' AS unit, 'bench' AS source, 'ok' AS quality
            FROM range({hours}) t2(h) CROSS JOIN range({SITES}) t1(s) CROSS JOIN (VALUES {vals}) v(variable, k)
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)
    """)
    con.close()
    return hours * SITES * len(POLLUTANTS)


def _hours(rows: int) -> int:
    return rows // (SITES * len(POLLUTANTS))


def fill_duckdb(db: Path, data: Path, rows: int) -> None:
    from coreduce.store import Store

    with Store(db) as st:
        st.execute(f"""INSERT INTO observations SELECT site_id, ts, variable, value, unit, source, quality
                       FROM read_parquet('{data}') WHERE ts < TIMESTAMPTZ '2020-01-01 00:00:00+00' +
                       to_hours({_hours(rows)})""")


def fill_spark(warehouse: Path, data: Path, rows: int) -> None:
    import duckdb

    from coreduce.store import spark as sp

    out = warehouse / "observations"
    shutil.rmtree(out, ignore_errors=True)
    warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET memory_limit = '2GB'")
    con.execute(f"""
        COPY (SELECT site_id, ts, variable, value, unit, source, quality, strftime(ts, '%Y-%m') AS {sp.PART}
              FROM read_parquet('{data}') WHERE ts < TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_hours({_hours(rows)}))
        TO '{out}' (FORMAT parquet, PARTITION_BY ({sp.PART}), COMPRESSION zstd)
    """)
    con.close()


# ---------------------------------------------------------------------------------------------- worker
def worker(engine: str, urls: list[str], out: str | None) -> None:
    """Runs in its own process: time the aggregation on each URL (the first one cold)."""
    t0 = time.perf_counter()
    from coreduce.account import aggregate_observations
    from coreduce.store import Store

    res = []
    for i, url in enumerate(urls):
        t_open = time.perf_counter()
        st = Store(url)
        if engine == "duckdb":
            st.execute("SET memory_limit = '4GB'")
        opened = time.perf_counter()
        times = []
        df = None
        for _ in range(3):
            t = time.perf_counter()
            df = aggregate_observations(st.table("observations"), "day", by=("site_id", "variable"),
                                        stats=("sum", "count"))  # fmt: skip
            times.append(time.perf_counter() - t)
        rec = {"url": url, "open_s": opened - t_open, "first_query_s": times[0], "warm_s": min(times[1:]),
               "groups": len(df), "rows": int(df["n"].sum())}  # fmt: skip
        if i == 0:
            rec["cold_s"] = time.perf_counter() - t0 - sum(times[1:])  # process start → first result
        if i == 0 and out:
            df.to_parquet(out)
        st.close()
        res.append(rec)
    print(json.dumps(res))


def accounting_worker(urls: list[str], out: str | None) -> None:
    """Runs in its own process: time the accounting join + roll-up on each store URL (the first one cold)."""
    t0 = time.perf_counter()
    from coreduce.account import FactorLibrary, aggregate
    from coreduce.account.expression import plan_inventory
    from coreduce.account.inventory import _Accountant
    from coreduce.store import Store, release_in_memory_tables

    lib = FactorLibrary.default()
    res = []
    for i, url in enumerate(urls):
        t_open = time.perf_counter()
        st = Store(url)
        opened = time.perf_counter()
        times, plan_s = [], []
        df = None
        for _ in range(3):
            t = time.perf_counter()
            acc = _Accountant(lib, gwp="AR5", electricity="location", pollutants=None, source="activity")
            plan = plan_inventory(st.table("activity"), acc)  # the engine groups the keys; Python resolves them
            plan_s.append(time.perf_counter() - t)
            df = aggregate(plan.expr, by=("sector",), freq="month")  # the join and the roll-up in the engine
            times.append(time.perf_counter() - t)
            release_in_memory_tables(plan.expr, st.con)
        rec = {"url": url, "open_s": opened - t_open, "first_s": times[0], "warm_s": min(times[1:]),
               "warm_keys_and_resolution_s": min(plan_s[1:]), "activity_rows": st.count("activity"),
               "factor_table_rows": len(plan.factors), "groups": len(df)}  # fmt: skip
        if i == 0:
            rec["cold_s"] = time.perf_counter() - t0 - sum(times[1:])
        if i == 0 and out:
            df.to_parquet(out)
        st.close()
        res.append(rec)
    print(json.dumps(res))


def fill_activity(data: Path, db: Path, warehouse: Path) -> None:
    """The generated activity into a DuckDB store (``INSERT … SELECT``) and a Spark warehouse (the store's layout,
    ``activity/__part=YYYY-MM/``, as its ingest writes new partitions); no validation (measured elsewhere)."""
    import duckdb

    from coreduce import schema
    from coreduce.store import Store
    from coreduce.store import spark as sp

    cols = ", ".join(schema.spec("activity").names)
    with Store(db) as st:
        st.execute(f"INSERT INTO activity SELECT {cols} FROM read_parquet('{data}')")
    out = warehouse / "activity"
    shutil.rmtree(out, ignore_errors=True)
    warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""COPY (SELECT {cols}, strftime(period_start, '%Y-%m') AS {sp.PART} FROM read_parquet('{data}'))
                    TO '{out}' (FORMAT parquet, PARTITION_BY ({sp.PART}), COMPRESSION zstd)""")
    con.close()


def main_accounting(a: argparse.Namespace) -> int:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_bench_accounting", Path(__file__).with_name("accounting.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    work = Path(a.dir or tempfile.mkdtemp(prefix="coreduce-scale-acc-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in sorted(int(x) for x in a.accounting.split(",")):
            data = work / f"activity_{n}.parquet"
            t = time.perf_counter()
            rows = gen.inv_generate(str(data), n, 7)
            db, wh = work / f"acc_{n}.duckdb", work / f"acc_wh_{n}"
            fill_activity(data, db, wh)
            setup_s = time.perf_counter() - t
            duck, duck_rss = _run(["--worker", "accounting", str(work / f"acc_duck_{n}.parquet"), str(db)])
            url = f"spark://local[2]?warehouse={wh}&spark.driver.memory={a.driver_memory}"
            spark, spark_rss = _run(["--worker", "accounting", str(work / f"acc_spark_{n}.parquet"), url])
            check = compare_totals(work / f"acc_duck_{n}.parquet", work / f"acc_spark_{n}.parquet")
            d, s = duck[0], spark[0]
            results.append({
                "activity_rows": rows, "factor_table_rows": d["factor_table_rows"], "setup_s": setup_s,
                "duckdb": {k: d[k] for k in ("cold_s", "open_s", "first_s", "warm_s", "warm_keys_and_resolution_s")}
                | {"peak_rss_gb": duck_rss},
                "spark_local2": {k: s[k] for k in ("cold_s", "open_s", "first_s", "warm_s",
                                                   "warm_keys_and_resolution_s")}
                | {"peak_rss_gb_jvm_and_python": spark_rss, "driver_memory": a.driver_memory},
                "ratio_warm_spark_over_duckdb": s["warm_s"] / d["warm_s"],
                "ratio_cold_spark_over_duckdb": s["cold_s"] / d["cold_s"],
                "results_equal": check,
            })  # fmt: skip
    finally:
        if not a.keep and a.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    out = {
        "benchmark": "accounting join (activity x per-key factor table) + roll-up to sector x month x pollutant",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1_5_15": os.getloadavg()},
        "runs": results,
    }
    print(json.dumps(out, indent=2))
    bad = [r["activity_rows"] for r in results if not r["results_equal"]["ok"]]
    if bad:
        print(f"results differ at {bad} rows", file=sys.stderr)
        return 1
    return 0


def compare_totals(a: Path, b: Path) -> dict:
    """Roll-ups of the two engines: same keys, sums within 1e-12 relative (the engines add in different orders)."""
    import numpy as np
    import pandas as pd

    keys = ["sector", "period", "pollutant"]
    x = pd.read_parquet(a).sort_values(keys).reset_index(drop=True)
    y = pd.read_parquet(b).sort_values(keys).reset_index(drop=True)
    same_keys = len(x) == len(y) and all((x[k].astype(str) == y[k].astype(str)).all() for k in keys)
    rel = None
    if same_keys:
        den = np.maximum(np.abs(x["amount"].to_numpy()), np.finfo(float).tiny)
        rel = float(np.max(np.abs(x["amount"].to_numpy() - y["amount"].to_numpy()) / den))
    return {"ok": bool(same_keys and rel is not None and rel <= 1e-12), "groups": len(x), "keys_equal": same_keys,
            "max_rel_diff_amount": rel}  # fmt: skip


def _run(args: list[str]) -> tuple[list[dict], float]:
    """Run a worker process; return its result and the peak RSS of its process tree [GB]."""
    import psutil

    p = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        proc = psutil.Process(p.pid)
        while not done.is_set():
            try:
                rss = sum(c.memory_info().rss for c in [proc, *proc.children(recursive=True)])
                peak[0] = max(peak[0], rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = p.communicate()
    done.set()
    th.join()
    if p.returncode:
        raise SystemExit(f"worker {args[:2]} failed ({p.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), peak[0] / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000000,25000000,50000000", help="row counts, the largest compared")
    ap.add_argument("--dir", default=None, help="working directory (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the data and stores")
    ap.add_argument("--driver-memory", default="3g", help="spark.driver.memory (local mode: the whole Spark heap)")
    ap.add_argument("--accounting", default=None, metavar="ROWS", help="time the accounting join instead (rows)")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker and a.worker[0] == "accounting":
        accounting_worker(a.urls, None if a.worker[1] == "-" else a.worker[1])
        return 0
    if a.worker:
        worker(a.worker[0], a.urls, None if a.worker[1] == "-" else a.worker[1])
        return 0
    if a.accounting:
        return main_accounting(a)
    sizes = sorted(int(s) for s in a.sizes.split(","))
    big = sizes[-1]
    work = Path(a.dir or tempfile.mkdtemp(prefix="coreduce-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"readings_{big}.parquet"
    t = time.perf_counter()
    if not data.exists():
        generate(data, big)
    setup = {"generate_s": time.perf_counter() - t, "parquet_mb": data.stat().st_size / 1e6}
    try:
        db = work / f"ws_{big}.duckdb"
        t = time.perf_counter()
        if not db.exists():
            fill_duckdb(db, data, big)
        setup["duckdb_fill_s"] = time.perf_counter() - t
        whs = {n: work / f"wh_{n}" for n in sizes}
        t = time.perf_counter()
        for n, wh in whs.items():
            if not (wh / "observations").exists():
                fill_spark(wh, data, n)
        setup["spark_fill_s"] = time.perf_counter() - t
        duck, duck_rss = _run(["--worker", "duckdb", str(work / "duck.parquet"), str(db)])
        spark_urls = [f"spark://local[2]?warehouse={whs[n]}&spark.driver.memory={a.driver_memory}"
                      for n in [big, *sizes[:-1]]]  # fmt: skip
        spark, spark_rss = _run(["--worker", "spark", str(work / "spark.parquet"), *spark_urls])
        check = compare(work / "duck.parquet", work / "spark.parquet")
    finally:
        if not a.keep and a.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    d, s = duck[0], spark[0]
    by_size = {big: s, **{n: r for n, r in zip(sizes[:-1], spark[1:], strict=True)}}
    per_row = {n: by_size[n]["warm_s"] / n * 1e9 for n in sizes}  # ns per row
    growth = per_row[big] / per_row[sizes[0]]
    ratio = s["warm_s"] / d["warm_s"]
    ok_ratio = ratio <= TARGET_RATIO
    ok_growth = growth <= GROWTH_ALLOWANCE
    out = {
        "benchmark": "aggregate_observations site x day x pollutant",
        "rows": big,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_1_5_15": os.getloadavg()},
        "setup": setup,
        "duckdb": {
            "cold_s": d["cold_s"],
            "open_s": d["open_s"],
            "first_query_s": d["first_query_s"],
            "warm_s": d["warm_s"],
            "peak_rss_gb": duck_rss,
            "groups": d["groups"],
        },
        "spark_local2": {
            "cold_s": s["cold_s"],
            "open_s_incl_jvm": s["open_s"],
            "first_query_s": s["first_query_s"],
            "warm_s": s["warm_s"],
            "peak_rss_gb_jvm_and_python": spark_rss,
            "groups": s["groups"],
            "driver_memory": a.driver_memory,
        },
        "spark_warm_s_by_rows": {str(n): by_size[n]["warm_s"] for n in sizes},
        "spark_ns_per_row_by_rows": {str(n): per_row[n] for n in sizes},
        "spark_growth_per_row_largest_vs_smallest": growth,
        "ratio_warm_spark_over_duckdb": ratio,
        "ratio_cold_spark_over_duckdb": s["cold_s"] / d["cold_s"],
        "results_equal": check,
        "targets": {
            "ratio_warm_max": TARGET_RATIO,
            "ratio_ok": ok_ratio,
            "growth_per_row_max": GROWTH_ALLOWANCE,
            "growth_ok": ok_growth,
        },
    }
    print(json.dumps(out, indent=2))
    fails = []
    if not ok_ratio:
        fails.append(
            f"Spark warm {s['warm_s']:.1f} s = {ratio:.1f}x DuckDB's {d['warm_s']:.2f} s (max {TARGET_RATIO}x)"
        )
    if not ok_growth:
        fails.append(
            f"Spark per-row time grows {growth:.2f}x from {sizes[0]:,} to {big:,} rows (max {GROWTH_ALLOWANCE}x)"
        )
    if not check["ok"]:
        fails.append(f"results differ: {check}")
    if fails:
        print("target missed: " + "; ".join(fails), file=sys.stderr)
        return 1
    return 0


def compare(a: Path, b: Path) -> dict:
    """Same keys and counts exactly; sums within 1e-12 relative."""
    import numpy as np
    import pandas as pd

    x = pd.read_parquet(a).sort_values(["site_id", "variable", "period"]).reset_index(drop=True)
    y = pd.read_parquet(b).sort_values(["site_id", "variable", "period"]).reset_index(drop=True)
    keys = ["site_id", "variable", "period", "unit"]
    same_keys = len(x) == len(y) and all((x[k].astype(str) == y[k].astype(str)).all() for k in keys)
    same_n = same_keys and bool((x["n"].to_numpy() == y["n"].to_numpy()).all())
    rel = float(np.max(np.abs(x["value_sum"] - y["value_sum"]) / np.abs(x["value_sum"]))) if same_keys else None
    return {"ok": bool(same_keys and same_n and rel is not None and rel <= 1e-12), "groups": len(x),
            "keys_equal": same_keys, "counts_equal": same_n, "max_rel_diff_sum": rel}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
