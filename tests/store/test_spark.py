"""The Spark store (``spark://local[2]``): the same accounting and aggregation code as DuckDB and PostgreSQL, the
same numbers; idempotent, atomic partitioned writes; the ledger beside the warehouse; the CLI with a Spark URL.

One SparkSession (local[2]) for the whole test session (the JVM start is the cost); small data only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyspark = pytest.importorskip("pyspark", reason="coreduce[spark] is not installed")

from coreduce.account import aggregate, aggregate_observations, compute_inventory  # noqa: E402
from coreduce.account.jobs import account_files  # noqa: E402
from coreduce.errors import StoreError  # noqa: E402
from coreduce.ingest.files import read_table  # noqa: E402
from coreduce.ledger import Ledger  # noqa: E402
from coreduce.store import Store, parse_url  # noqa: E402
from coreduce.store import spark as spark_store  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
READINGS = EXAMPLES / "monitor" / "stack_readings.csv"


@pytest.fixture(scope="session")
def spark_session():
    """The process's local[2] SparkSession (started once; stores reuse it through ``session_for``)."""
    return spark_store.session_for("local[2]", {"spark.driver.memory": "1g"})


@pytest.fixture
def spark_url(spark_session, tmp_path):
    return f"spark://local[2]?warehouse={tmp_path / 'wh'}"


def _observations_two_months() -> pd.DataFrame:
    """Readings across a month boundary (two partitions), with a hand-checkable daily sum."""
    ts = pd.date_range("2024-01-31T20:00Z", periods=8, freq="h")  # 4 h in January, 4 h in February
    return pd.DataFrame({
        "site_id": ["s1"] * 8, "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "variable": ["load"] * 8,
        "value": [str(v) for v in (1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0)], "unit": ["MWh"] * 8,
    })  # fmt: skip


def _ns(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps at one resolution: ``aggregate`` returns periods in [us] from DuckDB, [ns] from PostgreSQL
    and Spark — the same instants (compared here), a different numpy unit."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    return out


# ---------------------------------------------------------------------------------------------- URLs
def test_urls_dispatch_to_spark(tmp_path):
    name, args = parse_url(f"spark://local[2]?warehouse={tmp_path}&spark.driver.memory=3g")
    assert (name, args["master"], args["warehouse"]) == ("spark", "local[2]", str(tmp_path.resolve()))
    assert args["conf"] == {"spark.driver.memory": "3g"}
    assert parse_url("spark://spark-master.example:7077")[1]["master"] == "spark://spark-master.example:7077"
    assert parse_url("spark://local")[1]["warehouse"] == str(Path("coreduce-warehouse").resolve())
    with pytest.raises(StoreError, match="unknown parameter 'colour'"):
        parse_url("spark://local[2]?colour=red")
    with pytest.raises(StoreError, match="filesystem path"):
        parse_url("spark://local[2]?warehouse=s3a://bucket/wh")
    with pytest.raises(StoreError, match="spark://local"):
        parse_url("spark://not a master")


def test_an_existing_session_and_its_own_views(spark_session, tmp_path):
    url = spark_store.spark_url(spark_session, tmp_path / "wh")
    with Store(url) as st:
        rep = st.ingest({"sites": pd.DataFrame({"site_id": ["s2", "s1"], "kind": ["station", "plant"]})})
        assert rep.inserted == {"sites": 2}
        assert st.read("sites")["site_id"].tolist() == ["s1", "s2"]
        assert (tmp_path / "wh" / "sites" / "__part=all").is_dir()  # a table without a timestamp key: one partition
    # the store's views live in a session of its own: the caller's session has none of them
    assert "sites" not in [t.name for t in spark_session.catalog.listTables()]


# ---------------------------------------------------------------------------------------------- same numbers
def test_same_inventory_and_aggregates_on_duckdb_postgres_and_spark(tmp_path, pg_url, spark_url):
    """The accounting example and the observation aggregation on the three stores: same keys, counts exactly,
    sums to 1e-12 relative; the observation sums also against pandas on the raw file (independent)."""
    urls = {"duckdb": str(tmp_path / "ws.duckdb"), "postgres": pg_url, "spark": spark_url}
    inv, agg, agg_tz, obs_day, obs_hour = {}, {}, {}, {}, {}
    for name, url in urls.items():
        with Store(url) as st:
            assert st.accounting_in_engine == (name == "spark")  # Spark: the pipeline's join runs in Spark
            st.drop_all()
            st.create_tables()
            res = account_files(EXAMPLES / "activity.csv", store=st)
            assert res.ingest["inventory"]["inserted"] == len(res.detail) > 0
            rep = st.ingest_csv(READINGS, "observations")
            assert rep.inserted == {"observations": 144}
            inv[name] = st.read("inventory")
            agg[name] = aggregate(st.table("inventory"), by=("entity", "sector"), freq="year")
            agg_tz[name] = aggregate(st.table("inventory"), by=("sector",), freq="month", tz="Asia/Shanghai")
            obs_day[name] = aggregate_observations(st.table("observations"), "day", stats=("sum", "mean", "count"))
            obs_hour[name] = aggregate_observations(st.table("observations"), "hour", stats=("sum", "min", "count"))
            assert Ledger(st).verify().ok
            if name == "postgres":
                st.drop_all()
    for name in ("postgres", "spark"):
        for ref in (inv, agg, agg_tz, obs_day, obs_hour):
            pd.testing.assert_frame_equal(_ns(ref[name]), _ns(ref["duckdb"]), check_exact=False, rtol=1e-12, atol=0)
        assert (obs_day[name]["n"] == obs_day["duckdb"]["n"]).all()
    # independent: pandas on the raw readings (48 hourly readings per variable, all on 2015-01-01 and -02)
    raw = pd.read_csv(READINGS, parse_dates=["ts"])
    want = raw.groupby(["site_id", "variable", raw["ts"].dt.floor("D")])["value"].agg(["sum", "count"]).reset_index()
    got = obs_day["spark"]
    assert len(got) == len(want)
    np.testing.assert_allclose(got["value_sum"].to_numpy(), want["sum"].to_numpy(), rtol=1e-12)
    assert got["n"].tolist() == want["count"].tolist()
    # the example's CO2 total is positive and every backend stored every detail row
    assert len(inv["spark"]) == len(inv["duckdb"])
    assert inv["spark"].loc[inv["spark"]["pollutant"] == "CO2", "amount"].sum() > 0


def test_accounting_join_in_each_engine_from_the_stored_activity(tmp_path, pg_url, spark_url):
    """``compute_inventory(store.table("activity"))``: the activity × factor join as one Ibis expression run by
    the store's engine over the stored activity (Spark reads it from the warehouse, the per-key factor table is
    shipped to it) gives the rows the in-process expansion gives, on DuckDB, PostgreSQL and Spark."""
    act = read_table(EXAMPLES / "activity.csv", "activity")
    ref = compute_inventory(act, validated=True)  # in this process
    urls = {"duckdb": str(tmp_path / "ws.duckdb"), "postgres": pg_url, "spark": spark_url}
    got = {}
    for name, url in urls.items():
        with Store(url) as st:
            st.drop_all()
            st.create_tables()
            st.ingest_csv(EXAMPLES / "activity.csv", "activity")
            got[name] = compute_inventory(st.table("activity"))
            assert not [t for t in st.tables() if t.startswith("ibis_")]  # no in-memory table left behind
            if name == "spark":
                assert not [t.name for t in st._b.session.catalog.listTables() if t.name.startswith("ibis_")]
            if name == "postgres":
                st.drop_all()
    for name, inv in got.items():
        pd.testing.assert_frame_equal(inv, ref, check_exact=False, rtol=1e-12, atol=0)
        assert (inv["amount"].to_numpy() == ref["amount"].to_numpy()).all(), name  # the same IEEE products
    # by hand, from the row's own factor: plant_a burns 1500 TJ of gas (net basis), factor in kg/TJ
    gas = got["spark"].query("entity == 'plant_a' and activity_type == 'natural_gas' and pollutant == 'CO2'")
    assert gas["factor_unit"].iloc[0] == "kg/TJ"
    assert gas["amount"].iloc[0] == pytest.approx(1500 * gas["factor_value"].iloc[0] / 1000, rel=1e-12)


# ---------------------------------------------------------------------------------------------- writes
def test_partitioned_idempotent_upsert(spark_url):
    with Store(spark_url) as st:
        wh = Path(st._b.warehouse)
        obs = _observations_two_months()
        rep = st.ingest({"observations": obs}, source="obs.csv")
        assert (rep.inserted, rep.changed) == ({"observations": 8}, {"observations": 0})
        parts = sorted(p.name for p in (wh / "observations").iterdir())
        assert parts == ["__part=2024-01", "__part=2024-02"]
        files = sorted(str(f) for f in (wh / "observations").rglob("*.parquet"))
        again = st.ingest({"observations": obs}, source="obs.csv")
        assert (again.inserted, again.matched, again.changed) == (
            {"observations": 0}, {"observations": 8}, {"observations": 0})  # fmt: skip
        assert sorted(str(f) for f in (wh / "observations").rglob("*.parquet")) == files  # nothing rewritten
        fixed = obs.assign(value=["1", "2", "3", "4", "10", "20", "30", "41"])  # one February reading corrected
        rep = st.ingest({"observations": fixed.iloc[4:]}, source="fix.csv")
        assert (rep.inserted, rep.changed) == ({"observations": 0}, {"observations": 1})
        assert st.count("observations") == 8
        daily = aggregate_observations(st.table("observations"), "day", stats=("sum", "count"))
        # hand sums: 31 Jan 20-23 h: 1+2+3+4; 1 Feb 00-03 h: 10+20+30+41
        assert daily["value_sum"].tolist() == [10.0, 101.0]
        assert daily["n"].tolist() == [4, 4]
        assert str(daily["period"].dtype) == "datetime64[ns, UTC]"
        # January was not touched by the February correction
        assert sorted(str(f) for f in (wh / "observations" / "__part=2024-01").glob("*.parquet")) == [
            f for f in files if "__part=2024-01" in f
        ]
        assert not list((wh / "_tmp").iterdir())


def test_failed_commit_leaves_no_partial_partition(spark_url, monkeypatch):
    """A rename failing half-way through the commit (second partition): both partitions as before, the ledger
    unchanged, no temporary files left."""
    with Store(spark_url) as st:
        st.ingest({"observations": _observations_two_months()}, source="obs.csv")
        before = st.read("observations")
        wh = Path(st._b.warehouse)
        real = os.replace
        calls = {"n": 0}

        def flaky(src, dst):
            calls["n"] += 1
            if calls["n"] == 3:  # 1: Jan aside, 2: new Jan in, 3: Feb aside -> fails
                raise OSError("disk full (injected)")
            return real(src, dst)

        monkeypatch.setattr(spark_store.os, "replace", flaky)
        bigger = _observations_two_months().assign(value=[str(v * 100) for v in range(8)])
        with pytest.raises(OSError, match="injected"):
            st.ingest({"observations": bigger}, source="bigger.csv")
        monkeypatch.setattr(spark_store.os, "replace", real)
        pd.testing.assert_frame_equal(st.read("observations"), before)
        assert not list((wh / "_tmp").iterdir())
        assert not (wh / "_trash").exists() or not list((wh / "_trash").iterdir())
        # a failed ledger run stores nothing either: its error record is the only trace
        led = Ledger(st)
        with pytest.raises(RuntimeError, match="boom"), led.run("test") as run:
            run.write("observations", bigger, validate=True)
            raise RuntimeError("boom")
        pd.testing.assert_frame_equal(st.read("observations"), before)
        assert led.list()["status"].tolist() == ["error"]


def test_killed_commit_is_rolled_back_at_next_open(spark_url, monkeypatch):
    """A process killed between the partition swaps and the ledger commit: the next open restores the old
    partitions from the journal."""
    st = Store(spark_url)
    st.ingest({"observations": _observations_two_months()}, source="obs.csv")
    before = st.read("observations")
    real = os.replace
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def dies(src, dst):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real(src, dst)

    monkeypatch.setattr(spark_store.os, "replace", dies)
    monkeypatch.setattr(spark_store.SparkBackend, "_undo", lambda self, done: None)  # no chance to clean up
    monkeypatch.setattr(spark_store.SparkBackend, "_cleanup", lambda self, tx: None)
    with pytest.raises(Killed):
        st.ingest({"observations": _observations_two_months().assign(value="7")}, source="x.csv")
    monkeypatch.undo()
    wh = Path(st._b.warehouse)
    assert not (wh / "observations" / "__part=2024-02").exists() or (wh / "_trash").exists()
    st.close()
    with Store(spark_url) as again:  # recovery runs on open
        pd.testing.assert_frame_equal(again.read("observations"), before)
        assert not list((wh / "_tmp").iterdir())


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_ingest_account_ledger_with_a_spark_url(spark_url, tmp_path):
    from typer.testing import CliRunner

    from coreduce.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["ingest", str(READINGS), "--table", "observations", "--store", spark_url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["inserted"] == {"observations": 144}
    out = tmp_path / "inv.csv"
    res = runner.invoke(app, ["account", "--activity", str(EXAMPLES / "activity.csv"), "--out", str(out),
                              "--store", spark_url])  # fmt: skip
    assert res.exit_code == 0, res.output
    runs = json.loads(runner.invoke(app, ["ledger", "list", "--store", spark_url, "--json"]).stdout)
    assert [(r["kind"], r["status"]) for r in runs] == [("account", "ok")]
    res = runner.invoke(app, ["ledger", "verify", "--store", spark_url])
    assert res.exit_code == 0, res.output
    with Store(spark_url) as st:
        assert st.count("activity") == 8
        inv = st.read("inventory")
        ledger = st.table("ledger").to_pandas()  # a snapshot of the DuckDB ledger, handed to Spark
    assert ledger["run_id"].tolist() == [runs[0]["run_id"]]
    total = pd.read_csv(out).query("pollutant == 'CO2'")["amount"].sum()
    assert inv.loc[inv["pollutant"] == "CO2", "amount"].sum() == pytest.approx(total, rel=1e-12)
