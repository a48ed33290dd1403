"""The account pipeline: stored outputs and the ledger record are one unit, on DuckDB and PostgreSQL.

A run is ``ok`` only if its outputs are stored; a failing write (an overflowing amount, a negative unit, an
over-long key on PostgreSQL, any exception) stores nothing and records ``error``; ``kill -9`` in the middle
of the commit leaves neither rows nor a record.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import coreduce
from coreduce.account import summarise
from coreduce.account.jobs import AccountResult, account_files
from coreduce.errors import CoreduceError, InputError, StoreError
from coreduce.ledger import Ledger, hash_frame
from coreduce.store import Store
from coreduce.store.base import Tx

# the header of tests/pipelines/conftest.py's activity file (not imported: ``conftest`` names a different
# module depending on which test directory pytest collected first)
HEADER = "entity,sector,period_start,period_end,activity_type,amount,unit\n"


def _counts(url: str) -> tuple[int, int, list[str]]:
    with Store(url, create=False) as s:
        tables = s.tables()
        n = [s.count(t) if t in tables else 0 for t in ("activity", "inventory")]
        statuses = list(Ledger(s, create=False).list()["status"])
    return n[0], n[1], statuses


def test_account_stores_and_records_in_one_unit(store_url: str, files: tuple[Path, Path]) -> None:
    act, fac = files
    res = account_files(act, [fac], only_user_factors=True, store=store_url)
    assert isinstance(res, AccountResult) and res.seq == 1 and len(res.run_id) == 32
    # 130 t of test_fuel: CO2 = 130 t x 2000 kg/t = 260 t; SO2 = 130 t x 5 kg/t = 0.65 t; CO2e = CO2 (GWP 1)
    assert res.totals_t == {"CO2": 260.0, "CO2e": 260.0, "SO2": 0.65}
    assert res.ingest == {"activity": {"rows": 2, "inserted": 2, "updated": 0},
                          "inventory": {"rows": 6, "inserted": 6, "updated": 0}}  # fmt: skip
    with Store(store_url, create=False) as s:
        inv = s.read("inventory")
        led = Ledger(s, create=False)
        rec = led.show(1)
        assert rec["status"] == "ok" and rec["entrypoint"] == "coreduce.account.jobs:account_outputs"
        assert rec["factor_version"] == res.factor_version == rec["explanation"]["factor_version"]
        assert rec["params"]["activity"] == str(act.resolve())  # absolute: reproducible from anywhere
        assert rec["explanation"]["totals_t"] == {"CO2": 260.0, "CO2e": 260.0, "SO2": 0.65}
        # the store holds the detail; the ledger hashes the output (the summary of that detail) once, and not
        # the detail rows themselves unless --detail (then the output is the detail)
        assert hash_frame(inv) == hash_frame(res.detail[inv.columns])
        assert set(rec["outputs"]) == {"inventory", "activity", "gaps", "explanation"}
        assert rec["outputs"]["inventory"]["sha256"] == hash_frame(summarise(res.detail))
        assert dict(inv.groupby("pollutant")["amount"].sum()) == pytest.approx({"CO2": 260.0, "CO2e": 260.0,
                                                                                  "SO2": 0.65})  # fmt: skip
        assert led.reproduce(1).status == "matched"
    again = account_files(act, [fac], only_user_factors=True, store=store_url)  # idempotent re-run
    assert again.ingest["inventory"] == {"rows": 6, "inserted": 0, "updated": 6} and again.seq == 2
    assert _counts(store_url) == (2, 6, ["ok", "ok"])


def test_no_store_and_no_ledger(store_url: str, files: tuple[Path, Path], tmp_path: Path) -> None:
    act, fac = files
    res = account_files(act, [fac], only_user_factors=True, store=None, out=tmp_path / "inv.csv")
    assert res.run_id is None and res.store is None and res.ingest == {}
    assert pd.read_csv(tmp_path / "inv.csv")["amount"].sum() == pytest.approx(260.0 + 260.0 + 0.65)
    res = account_files(act, [fac], only_user_factors=True, store=store_url, record=False)
    assert res.run_id is None and res.ingest["inventory"]["inserted"] == 6
    assert _counts(store_url) == (2, 6, [])


@pytest.mark.parametrize(
    ("row", "what"),
    [("plant_a,industry,2022-01-01,2023-01-01,test_fuel,1e308,kt", "overflow"),
     ("plant_a,industry,2022-01-01,2023-01-01,test_fuel,5,-1*t", "negative unit")],
)  # fmt: skip
def test_bad_amounts_store_nothing_and_record_error(
    store_url: str, files: tuple[Path, Path], tmp_path: Path, row: str, what: str
) -> None:
    _, fac = files
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + row + "\n")
    with pytest.raises(CoreduceError):
        account_files(bad, [fac], only_user_factors=True, store=store_url)
    assert _counts(store_url) == (0, 0, ["error"])
    with Store(store_url, create=False) as s:
        led = Ledger(s, create=False)
        assert led.verify().ok and led.show(1)["error"]


@pytest.mark.postgres
@pytest.mark.parametrize("chars", [3_000, 5_000_000])
def test_over_long_key_on_postgres_stores_nothing(
    pg_url: str, files: tuple[Path, Path], tmp_path: Path, chars: int
) -> None:
    """An entity longer than PostgreSQL's B-tree entry (~2.7 kB) cannot be a key; 5 million characters is also
    over the CSV reader's line size. Either way: one error, nothing stored, the run recorded as error."""
    with Store(pg_url, create=False) as s:
        s.drop_all()
    _, fac = files
    big = tmp_path / "big.csv"
    big.write_text(HEADER + "x" * chars + ",industry,2022-01-01,2023-01-01,test_fuel,1,t\n")
    with pytest.raises(CoreduceError) as err:
        account_files(big, [fac], only_user_factors=True, store=pg_url)
    assert len(str(err.value)) < 1000 and str(err.value).count("\n") == 0
    assert _counts(pg_url) == (0, 0, ["error"])
    with Store(pg_url, create=False) as s:
        assert Ledger(s, create=False).verify().ok


def test_any_exception_in_the_write_rolls_everything_back(
    store_url: str, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    act, fac = files
    real = Tx.upsert

    def fail_on_inventory(tx, table, df):
        if table == "inventory":
            raise OSError("disk full")
        return real(tx, table, df)

    monkeypatch.setattr(Tx, "upsert", fail_on_inventory)
    with pytest.raises(StoreError, match=r"nothing was stored \(recorded as error, seq 1\): OSError: disk full"):
        account_files(act, [fac], only_user_factors=True, store=store_url)
    assert _counts(store_url) == (0, 0, ["error"])  # the activity upserted before the failure is gone too
    monkeypatch.setattr(Tx, "upsert", real)
    account_files(act, [fac], only_user_factors=True, store=store_url)
    assert _counts(store_url) == (2, 6, ["error", "ok"])


_KILLED = """
import sys, time
from coreduce.store.base import Tx
from coreduce.account.jobs import account_files

real_upsert, real_lock, upserted = Tx.upsert, Tx.lock, []

def upsert(tx, table, df):
    upserted.append(table)
    return real_upsert(tx, table, df)

def paused_lock(tx, table):  # the ledger's append lock, taken after the outputs are upserted
    if upserted:
        print("READY", upserted, flush=True)
        time.sleep(300)
    return real_lock(tx, table)

Tx.upsert, Tx.lock = upsert, paused_lock
account_files(sys.argv[1], [sys.argv[2]], only_user_factors=True, store=sys.argv[3])
"""


def test_kill_9_in_the_commit_leaves_neither_rows_nor_a_record(store_url: str, files: tuple[Path, Path]) -> None:
    act, fac = files
    env = {**os.environ, "PYTHONPATH": str(Path(coreduce.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(act), str(fac), store_url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "READY ['activity', 'inventory']", proc.stderr.read()  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        if store_url.startswith("postgresql://"):  # the open transaction is invisible to others
            with Store(store_url, create=False) as s:
                assert s.count("inventory") == 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(0.5)
    assert _counts(store_url) == (0, 0, [])
    with Store(store_url, create=False) as s:
        assert Ledger(s, create=False).verify().ok
    res = account_files(act, [fac], only_user_factors=True, store=store_url)  # and it runs again
    assert res.seq == 1 and _counts(store_url) == (2, 6, ["ok"])


def test_inputs_are_checked_before_anything_is_hashed_or_read(store_url: str, files: tuple[Path, Path],
                                                                tmp_path: Path) -> None:  # fmt: skip
    act, fac = files
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "dir.csv").mkdir()
    for bad, expected in ((fifo, "a regular file, not a FIFO"), (Path("/dev/zero"), "a regular file, not a device"),
                          (tmp_path / "dir.csv", "a regular file, not a directory"),
                          (tmp_path / "none.csv", "an existing file")):  # fmt: skip
        t0 = time.monotonic()
        with pytest.raises(InputError, match=expected):
            account_files(bad, [fac], only_user_factors=True, store=store_url)
        with pytest.raises(InputError, match=expected):
            account_files(act, [bad], only_user_factors=True, store=store_url)
        assert time.monotonic() - t0 < 5
    assert _counts(store_url) == (0, 0, [])


def test_detail_run_records_the_detail_once_and_reproduces(store_url: str, files: tuple[Path, Path]) -> None:
    act, fac = files
    res = account_files(act, [fac], only_user_factors=True, store=store_url, detail=True)
    with Store(store_url, create=False) as s:
        led = Ledger(s, create=False)
        rec = led.show(1)
        assert "detail" not in rec["outputs"] and rec["outputs"]["inventory"]["rows"] == 6
        assert rec["outputs"]["inventory"]["sha256"] == hash_frame(res.detail)
        inv = s.read("inventory")
        assert hash_frame(inv) == hash_frame(res.detail[inv.columns])
        assert led.reproduce(1).status == "matched"
