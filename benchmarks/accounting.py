"""Benchmarks of the accounting layer (two sections, ``--section aggregate|inventory|all``).

Section ``inventory`` — :func:`coreduce.account.compute_inventory` at scale
--------------------------------------------------------------------------
Ten million activity rows (facility × month × fuel mix: power plants burning coal with ESP / FGD / SCR / bag
filters, some stating ash and sulfur content; industrial gas in m³, diesel in t and purchased electricity; commercial
gas in GJ, some on a gross basis, and purchased heat; six Chinese provinces and two US states, so four factor-set
precedences, volumetric calorific values of two jurisdictions and grid factors of six provinces) are written to a
Parquet file, then turned into inventory rows two ways, each in its own process, in the same run:

- **coreduce**: :func:`coreduce.account.write_inventory` (``compute_inventory`` streamed to Parquet in chunks:
  validation, region resolution, factor choice, unit / calorific / basis conversion, controls in series, GWP);
- **hand DuckDB**: one hand-written SQL join of the activity file with a per-key factor table (factor value,
  conversion multiplier k, removal efficiency, fuel-property scaling, and the CO2e multiplier Σ GWP × EF × k ×
  (1 − η) per key) doing ``amount × EF × k × (1 − η) [× ash or S %]`` and ``COPY … TO`` Parquet.  The per-key table
  is the library's resolution of the file's distinct keys, written once before the timings (what a hand-writer would
  tabulate); both sides then do the same per-row arithmetic.

Both outputs are then joined in DuckDB on (entity, sector, period, activity type, scope, pollutant): same row count,
every row matched, largest relative difference of ``amount`` (target 1e-12).  Printed as JSON with each side's wall time
and peak resident memory (``ru_maxrss`` of its own process) and the targets: coreduce ≤ 2 × the hand join's time,
peak memory ≤ 4 GB.

Section ``aggregate`` — aggregate hourly readings to site × day × pollutant three ways and check they agree.

- **coreduce**: :func:`coreduce.account.aggregate_observations` on the workspace table (one Ibis
  expression, executed by the store's DuckDB engine);
- **pandas**: ``DataFrame.groupby([site_id, ts.dt.floor("D"), variable])`` on the same data in memory
  (categorical keys, the fastest idiomatic pandas form);
- **hand SQL**: a hand-written DuckDB ``GROUP BY`` on the same table.

Each returns the same DataFrame (site, day, pollutant, sum, mean, count), unsorted (all three skip the sort;
results are compared after sorting); loading data into pandas is not timed. The readings live in a DuckDB
workspace file, as they do in coreduce's embedded default store.
Prints JSON with timings (best of ``--repeat``) and the ratios against the targets of issue 2
(coreduce ≥ 5× faster than pandas, within 1.5× of the hand-written SQL).

Usage::

    python benchmarks/accounting.py --section inventory              # 10 million activity rows
    python benchmarks/accounting.py --section inventory --rows 200000  # a quick run
    python benchmarks/accounting.py --section aggregate              # 50 million readings, 2,000 sites
    python benchmarks/accounting.py --section aggregate --rows 2000000 --sites 200   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from coreduce.account import aggregate_observations
from coreduce.store import Store

POLLUTANTS = ["SO2", "NOx", "PM2.5", "PM10", "CO"]


def generate(store: Store, rows: int, sites: int, seed: int) -> int:
    """Write ``rows`` hourly readings (sites × pollutants × hours) into table ``readings``."""
    hours = rows // (sites * len(POLLUTANTS))
    n = sites * len(POLLUTANTS) * hours
    store.raw.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    store.raw.execute("DROP TABLE IF EXISTS readings")
    # emission-rate readings [kg/h]: lognormal-ish, site-specific level, every 997th reading flagged suspect
    store.raw.execute(f"""
        CREATE TABLE readings AS
        SELECT 'site_' || lpad(CAST(s AS VARCHAR), 5, '0') AS site_id,
               TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_hours(h) AS ts,
               p.variable AS variable,
               exp(random() * 2.0) * (1 + s % 7) AS value,
               'kg' AS unit,
               'bench' AS source,
               CASE WHEN (s * 31 + h) % 997 = 0 THEN 'suspect' ELSE 'ok' END AS quality
        FROM range({sites}) t1(s)
        CROSS JOIN range({hours}) t2(h)
        CROSS JOIN (SELECT unnest({POLLUTANTS!r}) AS variable) p
    """)
    store.raw.execute("CHECKPOINT")
    return n


def to_pandas(store: Store, categorical: bool) -> pd.DataFrame:
    """The readings as pandas: strings as pandas' pyarrow-backed ``string`` dtype (what ``read_parquet``
    gives with ``dtype_backend``/pandas 3 defaults) or, tuned, as categoricals."""
    tbl = store.raw.execute("SELECT site_id, ts, variable, value, quality FROM readings").to_arrow_table()
    if categorical:
        cols = {}
        for name in tbl.column_names:
            col = tbl[name]
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                col = pc.dictionary_encode(col)
            cols[name] = col
        return pa.table(cols).to_pandas()
    return tbl.to_pandas(
        types_mapper={
            pa.string(): pd.StringDtype("pyarrow"),
            pa.large_string(): pd.StringDtype("pyarrow"),
        }.get
    )


def run_coreduce(store: Store) -> pd.DataFrame:
    out = aggregate_observations(store.table("readings"), "day", stats=("sum", "mean", "count"), sort=False)
    return out.rename(columns={"variable": "pollutant", "period": "day"})[
        ["site_id", "day", "pollutant", "value_sum", "value_mean", "n"]
    ]


def run_pandas(df: pd.DataFrame) -> pd.DataFrame:
    ok = df[df["quality"] == "ok"]
    g = ok.groupby([ok["site_id"], ok["ts"].dt.floor("D").rename("day"), ok["variable"]], observed=True, sort=False)[
        "value"
    ].agg(["sum", "mean", "count"])
    g = g.reset_index().rename(
        columns={"variable": "pollutant", "sum": "value_sum", "mean": "value_mean", "count": "n"}
    )
    g["site_id"] = g["site_id"].astype(str)
    g["pollutant"] = g["pollutant"].astype(str)
    return g


# the obvious hand-written query
HAND_SQL = """
SELECT site_id, date_trunc('day', ts) AS day, variable AS pollutant,
       sum(value) AS value_sum, avg(value) AS value_mean, count(value) AS n
FROM readings
WHERE quality = 'ok'
GROUP BY site_id, date_trunc('day', ts), variable
"""
# an expert's hand-written query: integer day buckets (no per-row ICU time-zone work on TIMESTAMPTZ)
HAND_SQL_EXPERT = """
SELECT site_id, to_timestamp(d * 86400) AS day, pollutant, value_sum, value_mean, n FROM (
  SELECT site_id, epoch_us(ts) // 86400000000 AS d, variable AS pollutant,
         sum(value) AS value_sum, avg(value) AS value_mean, count(value) AS n
  FROM readings
  WHERE quality = 'ok'
  GROUP BY ALL
)
"""


def run_sql(store: Store, sql: str = HAND_SQL) -> pd.DataFrame:
    return store.raw.execute(sql).df()


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["day"] = pd.to_datetime(df["day"], utc=True)
    df["n"] = df["n"].astype("int64")
    return df.sort_values(["site_id", "day", "pollutant"]).reset_index(drop=True)


def main_aggregate(args: argparse.Namespace) -> None:
    args.rows = args.rows or 50_000_000

    tmpdir = tempfile.TemporaryDirectory()
    db = args.db or os.path.join(tmpdir.name, "bench.duckdb")
    store = Store(db, create=False)
    store.raw.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    n = generate(store, args.rows, args.sites, args.seed)
    t_gen = time.perf_counter() - t0
    t_core, r_core = best_of(lambda: run_coreduce(store), args.repeat)
    t_sql, r_sql = best_of(lambda: run_sql(store), args.repeat)
    t_sqlx, r_sqlx = best_of(lambda: run_sql(store, HAND_SQL_EXPERT), args.repeat)
    t0 = time.perf_counter()
    df = to_pandas(store, categorical=False)
    t_load = time.perf_counter() - t0
    t_pd, r_pd = best_of(lambda: run_pandas(df), max(1, args.repeat - 1))
    dfc = to_pandas(store, categorical=True)
    t_pdc, r_pdc = best_of(lambda: run_pandas(dfc), max(1, args.repeat - 1))

    a = normalise(r_core)
    agree = {}
    for name, other in (
        ("sql", normalise(r_sql)),
        ("sql_expert", normalise(r_sqlx)),
        ("pandas", normalise(r_pd)),
        ("pandas_categorical", normalise(r_pdc)),
    ):
        same_keys = (
            len(a) == len(other)
            and (
                a[["site_id", "day", "pollutant", "n"]].to_numpy()
                == other[["site_id", "day", "pollutant", "n"]].to_numpy()
            ).all()
        )
        close = (
            same_keys
            and np.allclose(a["value_sum"], other["value_sum"], rtol=1e-9)
            and np.allclose(a["value_mean"], other["value_mean"], rtol=1e-9)
        )
        agree[name] = bool(close)

    result = {
        "benchmark": "site x day x pollutant aggregation",
        "rows": n,
        "sites": args.sites,
        "pollutants": len(POLLUTANTS),
        "groups": len(a),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pandas": pd.__version__,
        },
        "seconds": {
            "generate": round(t_gen, 3),
            "load_to_pandas_untimed": round(t_load, 3),
            "coreduce": round(t_core, 3),
            "hand_sql": round(t_sql, 3),
            "hand_sql_expert": round(t_sqlx, 3),
            "pandas": round(t_pd, 3),
            "pandas_categorical": round(t_pdc, 3),
        },
        "ratios": {
            "pandas_over_coreduce": round(t_pd / t_core, 2),
            "pandas_categorical_over_coreduce": round(t_pdc / t_core, 2),
            "coreduce_over_hand_sql": round(t_core / t_sql, 3),
            "coreduce_over_hand_sql_expert": round(t_core / t_sqlx, 3),
        },
        "targets": {"pandas_over_coreduce_min": 5.0, "coreduce_over_sql_max": 1.5},
        "agree": agree,
    }
    r = result["ratios"]
    # targets judged against the harder comparisons: the best SQL and the tuned (categorical) pandas too
    result["targets_met"] = {
        "vs_pandas_default": bool(r["pandas_over_coreduce"] >= 5.0),
        "vs_pandas_categorical": bool(r["pandas_categorical_over_coreduce"] >= 5.0),
        "vs_best_hand_sql": bool(
            max(r["coreduce_over_hand_sql"], r["coreduce_over_hand_sql_expert"]) <= 1.5
            and min(t_sql, t_sqlx) > 0
            and t_core / min(t_sql, t_sqlx) <= 1.5
        ),
        "all_agree": bool(all(agree.values())),
    }
    print(json.dumps(result, indent=2))


# ====================================================================== section: inventory at scale
REGIONS = ["CN-GD", "CN-HE", "CN-JS", "CN-SC", "CN-BJ", "CN-NM", "US-TX", "US-PA"]
CONTROLS = ["", "ESP", "ESP+FGD_wet_limestone+SCR", "bag_filter+FGD_wet_limestone+SCR"]
#: (k, activity_type, unit, sector) of each facility's monthly rows; US facilities buy no grid power/heat here
#: (the library has no US grid factors): lpg in GJ and fuel oil in t instead.
FUEL_MIX = [
    (0, "coal_bituminous", "t", "power"),
    (1, "natural_gas", "m^3", "industry"),
    (2, "diesel", "t", "industry"),
    (3, "electricity_purchased", "MWh", "industry"),
    (4, "natural_gas", "GJ", "commercial"),
    (5, "heat_purchased", "GJ", "commercial"),
]


def inv_generate(path: str, rows: int, seed: int) -> int:
    """Write ``rows`` activity rows (facility × month × fuel) to Parquet with DuckDB."""
    per_fac = 12 * len(FUEL_MIX)
    facs = -(-rows // per_fac)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SELECT setseed({(seed % 1000) / 1000})")
    fuels = ", ".join(f"({k}, '{a}', '{u}', '{s}')" for k, a, u, s in FUEL_MIX)
    con.execute(f"""
        COPY (
          WITH fac AS (
            SELECT f, {REGIONS!r}[1 + f % {len(REGIONS)}] AS region,
                   {CONTROLS!r}[1 + (f // {len(REGIONS)}) % {len(CONTROLS)}] AS ctrl
            FROM range({facs}) t(f)),
          mon AS (SELECT m FROM range(12) t(m)),
          fuel AS (SELECT * FROM (VALUES {fuels}) v(k, activity_type, unit, sector)),
          g AS (SELECT *, starts_with(region, 'US-') AS us FROM fac CROSS JOIN mon CROSS JOIN fuel)
          SELECT 'fac_' || lpad(CAST(f AS VARCHAR), 7, '0') AS entity,
                 sector, region,
                 TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_months(m) AS period_start,
                 TIMESTAMPTZ '2022-01-01 00:00:00+00' + to_months(m + 1) AS period_end,
                 CASE WHEN us AND k = 3 THEN 'lpg' WHEN us AND k = 5 THEN 'fuel_oil' ELSE activity_type END
                   AS activity_type,
                 round(1 + random() * CASE k WHEN 0 THEN 50000 WHEN 1 THEN 2000000 WHEN 3 THEN 20000 ELSE 5000 END, 3)
                   AS amount,
                 CASE WHEN us AND k = 3 THEN 'GJ' WHEN us AND k = 5 THEN 't' ELSE unit END AS unit,
                 CASE WHEN k = 0 AND ctrl <> '' THEN ctrl END AS control,
                 CASE WHEN k = 4 AND f % 5 = 0 THEN 'gross' ELSE 'net' END AS energy_basis,
                 CASE WHEN k = 0 AND f % 3 <> 0 THEN CAST(8 + f % 25 AS DOUBLE) END AS ash_pct,
                 CASE WHEN k = 0 AND f % 2 = 0 THEN 0.4 + (f % 16) / 10.0 END AS sulfur_pct,
                 'benchmark' AS source
          FROM g ORDER BY f, m, k LIMIT {rows}
        ) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
    """)
    return int(con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()[0])


def inv_factor_table(act_path: str, path: str, gwp: str) -> str:
    """The hand join's per-key factor table: the library's resolution of the file's distinct keys."""
    from coreduce.account.factors import FactorLibrary
    from coreduce.account.inventory import _Accountant

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    keys = con.execute(f"""
        SELECT 'k' || CAST(row_number() OVER () AS VARCHAR) AS entity, sector, region,
               min(period_start) AS period_start, min(period_end) AS period_end, activity_type, 1.0 AS amount, unit,
               control, energy_basis, any_value(ash_pct) AS ash_pct, any_value(sulfur_pct) AS sulfur_pct
        FROM read_parquet('{act_path}')
        GROUP BY sector, region, year(period_start), activity_type, unit, control, energy_basis,
                 ash_pct IS NULL, sulfur_pct IS NULL
    """).df()
    lib = FactorLibrary.default()
    acc = _Accountant(lib, gwp=gwp, electricity="location", pollutants=None, source="<keys>")
    (chunk,) = list(acc.chunks(keys, len(keys)))
    res, kid = acc.resolve(chunk)
    key_cols = chunk.assign(_kid=kid)[
        [
            "_kid",
            "activity_type",
            "unit",
            "sector",
            "region",
            "year",
            "energy_basis",
            "control",
            "_has_ash_pct",
            "_has_sulfur_pct",
        ]
    ].drop_duplicates("_kid")
    t = res.merge(key_cols, on="_kid")
    co2e = t["pollutant"] == "CO2e"
    t.loc[co2e, "factor_value"] = t.loc[co2e, "mult"]  # Σ GWP × EF × k × (1 − η) of the key
    t.loc[co2e, "k"] = 1.0
    t = t.rename(columns={"_has_ash_pct": "has_ash", "_has_sulfur_pct": "has_sulfur"})
    t["control"] = t["control"].astype(str)
    t.drop(columns=["_kid", "mult", "per_year"]).to_parquet(path)
    return lib.version


HAND_INVENTORY_SQL = """
COPY (
  WITH a AS (
    SELECT entity, sector, region, period_start, period_end, activity_type, amount, unit, ash_pct, sulfur_pct,
           coalesce(control, '') AS control, coalesce(energy_basis, 'net') AS energy_basis,
           year(period_start) AS year
    FROM read_parquet('{act}')
  )
  SELECT a.entity, a.sector, a.region, a.period_start, a.period_end, a.activity_type, f.scope, f.pollutant,
         CASE f.scale
           WHEN 'ash_pct' THEN a.amount * f.factor_value * f.k * (1 - f.removal_efficiency) * a.ash_pct
           WHEN 'sulfur_pct' THEN a.amount * f.factor_value * f.k * (1 - f.removal_efficiency) * a.sulfur_pct
           ELSE a.amount * f.factor_value * f.k * (1 - f.removal_efficiency) END AS amount,
         't' AS unit, f.method, f.factor_source, '{version}' AS factor_version, f.factor_set,
         CASE WHEN f.pollutant = 'CO2e' THEN NULL ELSE f.factor_value END AS factor_value, f.factor_unit,
         f.removal_efficiency
  FROM a JOIN read_parquet('{factors}') f
    ON a.activity_type = f.activity_type AND a.unit = f.unit AND a.sector = f.sector AND a.region = f.region
   AND a.year = f.year AND a.energy_basis = f.energy_basis AND a.control = f.control
   AND (a.ash_pct IS NOT NULL) = f.has_ash AND (a.sulfur_pct IS NOT NULL) = f.has_sulfur
) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
"""


def inv_worker(args: argparse.Namespace) -> None:
    """One side of the comparison, in its own process: prints seconds and peak memory as JSON."""
    t0 = time.perf_counter()
    if args.worker == "coreduce":
        from coreduce.account import write_inventory

        info = write_inventory(args.act, args.out, gwp="AR5", chunk_rows=args.chunk_rows)
        rows = info["rows"]
        extra = {"gap_rows": int(info["gaps"]["rows"].sum()) if len(info["gaps"]) else 0, "parts": info["parts"]}
    else:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute(HAND_INVENTORY_SQL.format(act=args.act, factors=args.factors, out=args.out, version=args.version))
        rows = int(con.execute(f"SELECT count(*) FROM read_parquet('{args.out}')").fetchone()[0])
        extra = {}
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_bytes": peak, **extra}))


def _run_worker(kind: str, **kw: object) -> dict:
    cmd = [sys.executable, __file__, "--section", "inventory", "--worker", kind]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main_inventory(args: argparse.Namespace) -> None:
    rows = args.rows or 10_000_000
    tmp = tempfile.TemporaryDirectory(dir=args.tmp)
    act = os.path.join(tmp.name, "activity.parquet")
    factors = os.path.join(tmp.name, "factors.parquet")
    out_core = os.path.join(tmp.name, "inventory_coreduce")
    out_hand = os.path.join(tmp.name, "inventory_hand.parquet")
    t0 = time.perf_counter()
    n = inv_generate(act, rows, args.seed)
    t_gen = time.perf_counter() - t0
    version = inv_factor_table(act, factors, "AR5")
    # alternate the two sides and keep each one's best run (the machine is shared; load comes and goes)
    hands, cores = [], []
    for i in range(max(1, args.inv_repeat)):
        if i:
            shutil.rmtree(out_core, ignore_errors=True)
            os.remove(out_hand)
        hands.append(_run_worker("duckdb", act=act, factors=factors, out=out_hand, version=version))
        cores.append(_run_worker("coreduce", act=act, out=out_core, chunk_rows=args.chunk_rows))
    hand = min(hands, key=lambda r: r["seconds"])
    core = min(cores, key=lambda r: r["seconds"])
    hand["peak_bytes"] = max(r["peak_bytes"] for r in hands)
    core["peak_bytes"] = max(r["peak_bytes"] for r in cores)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    cmp_ = con.execute(f"""
        WITH c AS (SELECT * FROM read_parquet('{out_core}/*.parquet')),
             h AS (SELECT * FROM read_parquet('{out_hand}'))
        SELECT count(*) FILTER (WHERE c.entity IS NULL) AS only_hand,
               count(*) FILTER (WHERE h.entity IS NULL) AS only_coreduce,
               max(abs(c.amount - h.amount) / nullif(abs(h.amount), 0)) AS max_rel_diff,
               count(*) FILTER (WHERE c.factor_source IS DISTINCT FROM h.factor_source
                                  OR c.method IS DISTINCT FROM h.method) AS label_mismatch,
               sum(c.amount) FILTER (WHERE c.pollutant = 'CO2e') AS co2e_t
        FROM c FULL OUTER JOIN h
          ON c.entity = h.entity AND c.sector = h.sector AND c.period_start = h.period_start
         AND c.activity_type = h.activity_type
         AND c.scope = h.scope AND c.pollutant = h.pollutant
    """).fetchone()
    only_hand, only_core, max_rel, label_mismatch, co2e_t = cmp_
    ratio = core["seconds"] / hand["seconds"]
    gb = 1024**3
    result = {
        "benchmark": "compute_inventory (streamed: write_inventory) vs a hand-written DuckDB join",
        "activity_rows": n,
        "inventory_rows": {"coreduce": core["rows"], "hand_duckdb": hand["rows"]},
        "chunk_rows": args.chunk_rows,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "pandas": pd.__version__,
            "pyarrow": pa.__version__,
        },
        "seconds": {
            "generate_untimed": round(t_gen, 2),
            "coreduce": round(core["seconds"], 2),
            "hand_duckdb": round(hand["seconds"], 2),
        },
        "rows_per_s": {"coreduce": round(n / core["seconds"]), "hand_duckdb": round(n / hand["seconds"])},
        "peak_memory_gb": {
            "coreduce": round(core["peak_bytes"] / gb, 3),
            "hand_duckdb": round(hand["peak_bytes"] / gb, 3),
        },
        "ratio_coreduce_over_hand": round(ratio, 3),
        "agreement": {
            "only_in_hand": int(only_hand),
            "only_in_coreduce": int(only_core),
            "max_relative_difference": float(max_rel or 0.0),
            "label_mismatches": int(label_mismatch),
            "total_co2e_t": float(co2e_t or 0.0),
        },
        "gap_rows_reported": core.get("gap_rows"),
        "targets": {"ratio_max": 2.0, "peak_memory_gb_max": 4.0, "max_relative_difference": 1e-12},
    }
    result["targets_met"] = {
        "ratio": bool(ratio <= 2.0),
        "memory": bool(core["peak_bytes"] <= 4 * gb),
        "equal": bool(
            only_hand == 0
            and only_core == 0
            and (max_rel or 0.0) <= 1e-12
            and label_mismatch == 0
            and core["rows"] == hand["rows"]
        ),
    }
    print(json.dumps(result, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--section", choices=["aggregate", "inventory", "all"], default="all")
    ap.add_argument(
        "--rows", type=int, default=None, help="readings (aggregate, 50 M) or activity rows (inventory, 10 M)"
    )
    ap.add_argument("--sites", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--db", default=None, help="DuckDB workspace file (default: a temporary file)")
    ap.add_argument("--chunk-rows", type=int, default=500_000, help="inventory: activity rows per chunk")
    ap.add_argument("--tmp", default=None, help="inventory: folder for the temporary Parquet files")
    ap.add_argument("--inv-repeat", type=int, default=2, help="inventory: runs of each side (best kept)")
    # internal: one side of the inventory comparison in its own process
    ap.add_argument("--worker", choices=["coreduce", "duckdb"], help=argparse.SUPPRESS)
    ap.add_argument("--act", help=argparse.SUPPRESS)
    ap.add_argument("--factors", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--version", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        inv_worker(args)
        return
    if args.section in ("inventory", "all"):
        main_inventory(args)
    if args.section in ("aggregate", "all"):
        main_aggregate(args)


if __name__ == "__main__":
    main()
