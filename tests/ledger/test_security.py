"""Reproduce runs only registered coreduce entrypoints; inputs are checked before they are hashed; a record with
invalid JSON is a one-line error; a missing input is reported as such."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from coreduce.cli.ledger import ledger_app
from coreduce.errors import InputError
from coreduce.ledger import Ledger, LedgerError, canonical_json, entrypoint, record_hash
from coreduce.ledger.records import CURRENT_VERSION, GENESIS, claims_hash, db_columns, to_db
from coreduce.store import Store

runner = CliRunner()
CALLS: list[str] = []


@entrypoint
def double(path: str) -> dict[str, object]:
    """Registered entrypoint: the file's values doubled."""
    CALLS.append(path)
    df = pd.read_csv(path)
    return {"doubled": df.assign(v=df["v"] * 2)}


def _forge(store: Store, entry: str, params: dict) -> int:
    """Append a record naming ``entry`` with a correct chain link and a recomputed hash (what anyone who can
    write the workspace can do); returns its seq."""
    led = Ledger(store)
    recs = led.records()
    last = recs[-1] if recs else None
    rec = dict(last) if last else {}
    rec.update(
        seq=(last["seq"] + 1) if last else 1, run_id="f" * 32, entrypoint=entry, params=canonical_json(params),
        inputs="{}", outputs=canonical_json({"out": {"sha256": "0" * 64, "kind": "text"}}), status="ok", error=None,
        prev_hash=last["record_hash"] if last else GENESIS, schema_version=CURRENT_VERSION,
        claims_sha256=claims_hash([]), kind="account", started_at=pd.Timestamp("2026-01-01", tz="UTC"),
        finished_at=pd.Timestamp("2026-01-01", tz="UTC"),
    )  # fmt: skip
    rec["record_hash"] = record_hash(rec)
    names = db_columns()
    store.execute(f"INSERT INTO ledger ({', '.join(chr(34) + c + chr(34) for c in names)}) VALUES "
                  f"({', '.join('?' for _ in names)})", [to_db(c, rec.get(c)) for c in names])  # fmt: skip
    return rec["seq"]


@pytest.mark.parametrize(
    ("entry", "params"),
    [("subprocess:getoutput", {"cmd": "touch {marker}"}), ("os:system", {"command": "touch {marker}"}),
     ("builtins:exec", {"source": "open('{marker}', 'w')"}),
     ("coreduce.ledger.audit:_save_head", {"key": "{marker}", "count": 1, "head": "x"})],
)  # fmt: skip
def test_forged_entrypoint_verifies_but_reproduce_refuses_and_runs_nothing(
    store_url: str, tmp_path: Path, entry: str, params: dict
) -> None:
    marker = tmp_path / "pwned"
    params = {k: (v.format(marker=marker) if isinstance(v, str) else v) for k, v in params.items()}
    data = tmp_path / "v.csv"
    data.write_text("k,v\na,1\n")
    with Store(store_url, create=False) as s:
        led = Ledger(s)
        led.call(double, {"path": str(data)}, kind="demo", inputs={"path": data})
        seq = _forge(s, entry, params)
        assert led.verify().ok  # the chain is intact: only the allow-list stops it
        res = led.reproduce(seq)
    assert (res.status, res.matched) == ("refused", False)
    assert f"entrypoint {entry!r} is not a registered coreduce entrypoint" in res.error
    assert "nothing was run" in res.error
    out = runner.invoke(ledger_app, ["reproduce", str(seq), "--store", store_url])
    assert out.exit_code == 1 and out.output.startswith(f"run {'f' * 32} REFUSED: entrypoint {entry!r}")
    assert not marker.exists()


def test_registered_entrypoint_still_reproduces_from_another_directory(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    Path("v.csv").write_text("k,v\na,1\nb,2\n")
    led = Ledger(store)
    led.call(double, {"path": "v.csv"}, kind="demo", inputs={"path": "v.csv"})  # a relative path
    monkeypatch.chdir(tmp_path / "b")
    CALLS.clear()
    res = led.reproduce(1)
    assert res.status == "matched" and CALLS == [str(tmp_path / "a" / "v.csv")]


def test_missing_input_is_reported_and_nothing_runs(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "v.csv"
    data.write_text("k,v\na,1\n")
    with Store(store_url, create=False) as s:
        Ledger(s).call(double, {"path": str(data)}, kind="demo", inputs={"path": data})
        data.unlink()
        CALLS.clear()
        res = Ledger(s).reproduce(1)
    assert (res.status, res.missing, CALLS) == ("input-missing", [str(data)], [])
    assert res.error == f"input missing: {data}"
    out = runner.invoke(ledger_app, ["reproduce", "1", "--store", store_url])
    assert out.exit_code == 1 and f"cannot be reproduced: input missing: {data}" in out.output


@pytest.mark.parametrize("column", ["params", "inputs", "outputs", "explanation"])
def test_invalid_json_in_a_row_is_one_line(store_url: str, tmp_path: Path, column: str) -> None:
    data = tmp_path / "v.csv"
    data.write_text("k,v\na,1\n")
    with Store(store_url, create=False) as s:
        led = Ledger(s)
        led.call(double, {"path": str(data)}, kind="demo", inputs={"path": data})
        s.execute(f'UPDATE ledger SET "{column}" = ? WHERE seq = 1', ['{"path": "v.csv"'])
        with pytest.raises(LedgerError, match=f"ledger record seq 1 .*column '{column}' is not valid JSON"):
            led.show(1)
        assert led.verify().problem == "altered"
    for cmd in (["show", "1"], ["reproduce", "1"]) if column != "explanation" else (["show", "1"],):
        out = runner.invoke(ledger_app, [*cmd, "--store", store_url])
        assert out.exit_code == 2 and "Traceback" not in out.output
        assert out.output.count("\n") == 1 and f"column '{column}' is not valid JSON" in out.output


def _returns_within(fn, seconds: float = 10.0) -> BaseException | None:
    box: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as exc:
            box[0] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung (the input was opened before it was checked)"
    return box[0]


def test_fifo_and_devices_are_refused_before_hashing(store: Store, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    led = Ledger(store)
    for bad, kind in ((fifo, "FIFO"), (Path("/dev/zero"), "device")):
        exc = _returns_within(lambda b=bad: led.run("demo", inputs={"x": b}).__enter__())
        assert isinstance(exc, InputError) and f"expected a regular file, not a {kind}" in str(exc)
    assert led.count() == 0  # refused before the run started: nothing recorded
