"""The run ledger on DuckDB and PostgreSQL: chaining, tamper detection, reproduction, footprint on records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coreduce.footprint import grid_factor
from coreduce.ledger import (
    GENESIS,
    Ledger,
    LedgerError,
    claim,
    entrypoint,
    entrypoint_of,
    explain,
    footprint_summary,
    hash_frame,
    record_hash,
    recorded,
    use_ledger,
)
from coreduce.store import Store

ACTIVITY = "entity,pollutant,amount\nplant_a,CO2,10.5\nplant_a,SO2,0.25\nplant_b,CO2,4.0\n"


# ----------------------------------------------------------------------------- entrypoints (registered)
@entrypoint
def totals(activity: str, scale: float = 1.0, seed: int | None = None) -> dict[str, object]:
    """Reproducible entrypoint: totals by pollutant, plus a seeded random draw."""
    df = pd.read_csv(activity)
    out = df.groupby("pollutant", as_index=False)["amount"].sum()
    out["amount"] = out["amount"] * scale
    explain({"total_t": {r.pollutant: r.amount for r in out.itertuples()}})
    rng = np.random.default_rng(seed)
    return {"totals": out, "draw": rng.normal(size=3).tobytes()}


@recorded("demo", inputs=("activity",))
def decorated_totals(activity: str, scale: float = 1.0) -> dict[str, object]:
    claim(0.5)
    return {"totals": totals(activity, scale)["totals"]}


def _write(tmp_path: Path, text: str = ACTIVITY) -> str:
    p = tmp_path / "activity.csv"
    p.write_text(text)
    return str(p)


def _three_runs(led: Ledger, tmp_path: Path) -> list[str]:
    path = _write(tmp_path)
    ids = []
    for i in range(3):
        with led.run("account", params={"i": i}, inputs={"activity": path}) as run:
            run.output("n", i)
        ids.append(run.run_id)
    return ids


# ----------------------------------------------------------------------------- chain
def test_chain_links_and_hashes(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    recs = led.records()
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert [r["run_id"] for r in recs] == ids
    assert recs[0]["prev_hash"] == GENESIS
    assert recs[1]["prev_hash"] == recs[0]["record_hash"]
    assert recs[2]["prev_hash"] == recs[1]["record_hash"]
    assert all(record_hash(r) == r["record_hash"] for r in recs)  # read back from the DB, hashes still match
    res = led.verify()
    assert res.ok and res.n == 3 and res.head_hash == recs[2]["record_hash"]
    rec = led.show(ids[0])
    assert rec["user"] == "tester" and rec["kind"] == "account" and rec["params"] == {"i": 0}
    assert rec["inputs"]["activity"]["sha256"] == __import__("hashlib").sha256(ACTIVITY.encode()).hexdigest()
    assert rec["packages"]["pandas"] == pd.__version__
    assert rec["factor_version"].startswith("sha256:")
    assert led.show(ids[1][:8])["seq"] == 2 and led.show("3")["run_id"] == ids[2]


@pytest.mark.parametrize(
    ("column", "value"),
    [("params", '{"i":99}'), ("emissions_kg", 0.0), ("status", "error"), ("user", "mallory"),
     ("started_at", pd.Timestamp("2020-01-01", tz="UTC").to_pydatetime()), ("record_hash", "f" * 64)],
)  # fmt: skip
def test_altered_field_of_any_record_is_named(store: Store, tmp_path: Path, column: str, value: object) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    for seq in (1, 2, 3):
        (orig,) = store.execute(f'SELECT "{column}" FROM ledger WHERE seq = ?', [seq])
        store.execute(f'UPDATE ledger SET "{column}" = ? WHERE seq = ?', [value, seq])
        res = led.verify()
        assert not res.ok
        assert (res.problem, res.first_bad_seq, res.first_bad_run_id) == ("altered", seq, ids[seq - 1])
        store.execute(f'UPDATE ledger SET "{column}" = ? WHERE seq = ?', [orig[0], seq])
        assert led.verify().ok  # restoring the value restores the chain


def test_deleted_record_is_named(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    store.execute("DELETE FROM ledger WHERE seq = 2")
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq, res.first_bad_run_id) == (False, "missing", 2, None)
    assert f"seq 3 (run {ids[2]}) follows seq 1" in res.message
    store.execute("DELETE FROM ledger WHERE seq = 1")
    assert (led.verify().problem, led.verify().first_bad_seq) == ("missing", 1)


def test_deleted_and_renumbered_is_named(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    store.execute("DELETE FROM ledger WHERE seq = 2")
    store.execute("UPDATE ledger SET seq = 2 WHERE seq = 3")  # hide the gap
    res = led.verify()
    assert (res.problem, res.first_bad_seq, res.first_bad_run_id) == ("broken-link", 2, ids[2])


def test_swapped_records_are_named(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    with store.transaction() as tx:  # swap the order of records 2 and 3
        tx.execute("UPDATE ledger SET seq = -2 WHERE seq = 2")
        tx.execute("UPDATE ledger SET seq = 2 WHERE seq = 3")
        tx.execute("UPDATE ledger SET seq = 3 WHERE seq = -2")
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq, res.first_bad_run_id) == (False, "reordered", 2, ids[2])
    assert f"appended after run {ids[1]}, now seq 3" in res.message


def test_altered_and_rehashed_breaks_the_next_link(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)
    store.execute("UPDATE ledger SET emissions_kg = 0 WHERE seq = 2")
    rec = next(r for r in led.records() if r["seq"] == 2)
    store.execute("UPDATE ledger SET record_hash = ? WHERE seq = 2", [record_hash(rec)])
    res = led.verify()
    assert (res.problem, res.first_bad_seq, res.first_bad_run_id) == ("broken-link", 3, ids[2])


def test_error_inside_run_is_recorded_and_reraised(store: Store) -> None:
    led = Ledger(store)
    with pytest.raises(ZeroDivisionError), led.run("forecast", params={"h": 24}) as run:
        explain({"stage": "fit"})
        _ = 1 / 0
    rec = led.show(run.run_id)
    assert rec["status"] == "error" and rec["error"] == "ZeroDivisionError: division by zero"
    assert rec["explanation"] == {"stage": "fit"}
    assert rec["footprint_method"] == "fallback-power-model"
    assert led.verify().ok


def test_empty_ledger_verifies(store: Store) -> None:
    led = Ledger(store)
    assert led.verify().ok and led.verify().n == 0 and led.list().empty


# ----------------------------------------------------------------------------- reproduce
def test_call_reproduces(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    path = _write(tmp_path)
    out = led.call(totals, {"activity": path, "scale": 2.0}, kind="account", inputs={"activity": path}, seed=7)
    # totals by pollutant x 2: CO2 = (10.5 + 4.0) x 2 = 29.0 t, SO2 = 0.25 x 2 = 0.5 t
    assert dict(zip(out["totals"].pollutant, out["totals"].amount, strict=True)) == {"CO2": 29.0, "SO2": 0.5}
    rec = led.show(1)
    assert rec["entrypoint"] == entrypoint_of(totals) and rec["seed"] == 7
    assert rec["explanation"] == {"total_t": {"CO2": 29.0, "SO2": 0.5}}
    assert rec["outputs"]["totals"]["sha256"] == hash_frame(out["totals"])
    res = led.reproduce(rec["run_id"])
    assert res.matched and res.diffs == [] and res.input_diffs == []


def test_changed_input_does_not_reproduce(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    path = _write(tmp_path)
    led.call(totals, {"activity": path}, kind="account", inputs={"activity": path}, seed=1)
    _write(tmp_path, ACTIVITY.replace("10.5", "11.5"))
    res = led.reproduce(1)
    assert not res.matched
    assert [d.name for d in res.diffs] == ["totals"]  # the seeded draw still matches
    assert [d.name for d in res.input_diffs] == ["activity"]


def test_with_block_run_reproduces_and_decorator_records(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    path = _write(tmp_path)
    with led.run("account", entrypoint=entrypoint_of(totals), params={"activity": path}, seed=3) as run:
        for name, value in totals(activity=path, seed=3).items():
            run.output(name, value)
    assert led.reproduce(run.run_id).matched
    with use_ledger(led):
        decorated_totals(path, scale=0.5)
    rec = led.show(2)
    assert rec["params"] == {"activity": path, "scale": 0.5} and rec["kind"] == "demo"
    assert rec["claimed_reduction_t"] == 0.5
    assert led.reproduce(2).matched
    assert decorated_totals(path)["totals"]["amount"].sum() == 14.75  # no ledger active: plain call
    assert led.verify().n == 2


def test_run_without_entrypoint_cannot_be_reproduced(store: Store) -> None:
    led = Ledger(store)
    with led.run("demo"):
        pass
    with pytest.raises(LedgerError, match="without an entrypoint"):
        led.reproduce(1)
    with pytest.raises(LedgerError, match="no run 'zzzz'"):
        led.show("zzzz")


# ----------------------------------------------------------------------------- hash_frame
def test_hash_frame_ignores_order_index_and_dtype() -> None:
    df = pd.DataFrame(
        {"site": ["a", "b", "c"], "n": [1, 2, 3], "x": [0.1, np.nan, 2.5],
         "ts": pd.to_datetime(["2024-01-01T00:00Z", "2024-01-01T01:00Z", None], utc=True)}
    )  # fmt: skip
    h = hash_frame(df)
    shuffled = df.iloc[[2, 0, 1]][["ts", "x", "site", "n"]].set_index("site", drop=False)
    assert hash_frame(shuffled) == h
    other = df.astype({"n": "float64", "site": "string"}).assign(ts=df["ts"].astype("datetime64[us, UTC]"))
    assert hash_frame(other) == h
    assert hash_frame(df.assign(x=[0.1, np.nan, 2.5000001])) != h
    assert hash_frame(df.assign(site=["a", "b", None])) != hash_frame(df.assign(site=["a", "b", "\\N"]))


def test_hash_frame_same_after_round_trip_through_backend(store: Store) -> None:
    df = pd.DataFrame(
        {"site": ["s1", "s2", "s3"], "n": [5, None, 7], "x": [1.25, 0.1, -3.0],
         "ts": pd.to_datetime(["2024-05-01T08:00:00.123456Z", "2024-05-02T00:00Z", "2024-05-03T00:00Z"], utc=True,
                             format="ISO8601")}
    )  # fmt: skip
    with store.transaction() as tx:
        tx.execute('CREATE TABLE "hf_probe" (site TEXT, n BIGINT, x DOUBLE PRECISION, ts TIMESTAMPTZ)')
        for r in df.astype(object).where(df.notna(), None).itertuples(index=False):
            tx.execute('INSERT INTO "hf_probe" VALUES (?, ?, ?, ?)', [r.site, r.n, r.x, r.ts.to_pydatetime()])
    back = store.table("hf_probe").to_pandas()
    assert hash_frame(back) == hash_frame(df)


# ----------------------------------------------------------------------------- footprint on records
def test_record_carries_footprint_and_net(store: Store) -> None:
    led = Ledger(store, province="Hebei")
    with led.run("optimise", params={"episode": "2024-01"}) as run:
        sum(i * i for i in range(200_000))
        run.claim(0.5)
    rec = led.show(run.run_id)
    assert rec["grid_factor_id"] == "cn_mee_2022_Hebei" and rec["grid_factor_value"] == 0.7252
    assert rec["energy_kwh"] == pytest.approx(rec["cpu_kwh"] + rec["ram_kwh"] + rec["gpu_kwh"], rel=1e-12)
    assert rec["energy_kwh"] > 0
    assert rec["emissions_kg"] == pytest.approx(rec["energy_kwh"] * 0.7252, rel=1e-12)
    assert rec["net_reduction_t"] == 0.5 - rec["emissions_kg"] * 0.001  # net = claimed - footprint [kg -> t]
    assert run.net.net_t == rec["net_reduction_t"]


def test_footprint_summary_flags_negative_net(store: Store) -> None:
    led = Ledger(store)
    with led.run("forecast") as r1:
        pass
    with led.run("optimise") as r2:
        r2.claim(2.0)
    with led.run("optimise") as r3:
        r3.claim(0.1, training_kg=1000.0, n_uses=4)  # training share 1000 / 4 = 250 kg = 0.25 t > 0.1 t
    df = footprint_summary(store)
    assert list(df.run_id) == [r1.run_id, r2.run_id, r3.run_id]
    assert df["negative"].isna().iloc[0] and not df["negative"].iloc[1] and df["negative"].iloc[2]
    row = df.iloc[2]
    assert row.compute_t == pytest.approx(row.emissions_kg * 0.001 + 0.25, rel=1e-12)
    assert row.net_t == row.claimed_t - row.compute_t
    assert row.net_t == led.show(r3.run_id)["net_reduction_t"]
    assert len(footprint_summary(led, run_ids=[r2.run_id])) == 1


def test_footprint_off_records_nulls(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREDUCE_FOOTPRINT", "off")
    led = Ledger(store)
    with led.run("demo") as run:
        run.claim(1.0)
    rec = led.show(1)
    assert rec["footprint_method"] == "off" and rec["energy_kwh"] is None and rec["net_reduction_t"] == 1.0
    assert led.verify().ok


def test_national_factor_default() -> None:
    assert grid_factor().factor_id == "cn_mee_2022_national"


def test_params_are_canonical_json(store: Store, tmp_path: Path) -> None:
    led = Ledger(store)
    with led.run("demo", params={"b": 1, "a": [tmp_path, np.float64(0.5)]}):
        pass
    (raw,) = store.execute("SELECT params FROM ledger WHERE seq = 1")
    assert raw[0] == json.dumps({"a": [str(tmp_path), 0.5], "b": 1}, separators=(",", ":"))


def test_get_is_a_keyed_query_not_a_scan(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    led = Ledger(store)
    ids = _three_runs(led, tmp_path)

    def no_scan() -> None:
        raise AssertionError("get() read the whole ledger")

    monkeypatch.setattr(led, "records", no_scan)
    assert led.get(ids[1])["seq"] == 2 and led.get("3")["run_id"] == ids[2] and led.get(ids[0][:6])["seq"] == 1
    with pytest.raises(LedgerError, match="no run 'abcdef99' \\(runs: 3\\)"):
        led.get("abcdef99")
