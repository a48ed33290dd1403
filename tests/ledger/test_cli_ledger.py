"""``coreduce ledger list|show|verify|reproduce`` on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from coreduce.cli.ledger import ledger_app
from coreduce.ledger import Ledger, entrypoint
from coreduce.store import Store

app = typer.Typer()
app.add_typer(ledger_app, name="ledger")
runner = CliRunner()


@entrypoint
def double(path: str) -> dict[str, object]:
    """Entrypoint: the file's values doubled."""
    df = pd.read_csv(path)
    return {"doubled": df.assign(v=df["v"] * 2)}


@pytest.fixture
def recorded_store(store_url: str, tmp_path: Path) -> tuple[str, list[str], Path]:
    data = tmp_path / "v.csv"
    data.write_text("k,v\na,1\nb,2\n")
    with Store(store_url, create=False) as s:
        led = Ledger(s)
        ids = []
        for _ in range(3):
            with led.run("demo", entrypoint=f"{double.__module__}:double", params={"path": str(data)},
                         inputs={"path": data}) as run:  # fmt: skip
                run.outputs(double(str(data)))
            ids.append(run.run_id)
    return store_url, ids, data


def test_list_and_show(recorded_store: tuple[str, list[str], Path]) -> None:
    url, ids, _ = recorded_store
    res = runner.invoke(app, ["ledger", "list", "--store", url, "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["seq"] for r in rows] == [1, 2, 3] and [r["run_id"] for r in rows] == ids
    res = runner.invoke(app, ["ledger", "list", "--store", url], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "3 runs" in res.output and ids[0][:12] in res.output
    res = runner.invoke(app, ["ledger", "show", ids[1], "--store", url, "--json"])
    rec = json.loads(res.output)
    assert (rec["seq"], rec["kind"], rec["user"]) == (2, "demo", "tester")
    res = runner.invoke(app, ["ledger", "show", "2", "--store", url], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and ids[1] in res.output
    res = runner.invoke(app, ["ledger", "show", "nosuchrun", "--store", url])
    assert res.exit_code == 2 and "no run 'nosuchrun'" in res.output


def test_verify_names_first_bad_record(recorded_store: tuple[str, list[str], Path]) -> None:
    url, ids, _ = recorded_store
    res = runner.invoke(app, ["ledger", "verify", "--store", url])
    assert res.exit_code == 0 and res.output.startswith("ledger OK: 3 records")
    with Store(url, create=False) as s:
        s.execute("UPDATE ledger SET kind = 'account' WHERE seq = 2")
    res = runner.invoke(app, ["ledger", "verify", "--store", url])
    assert res.exit_code == 1
    assert res.output.strip() == (
        f"ledger BROKEN (altered): record seq 2 (run {ids[1]}) was altered: "
        "its fields no longer hash to its record_hash"
    )
    res = runner.invoke(app, ["ledger", "verify", "--store", url, "--json"])
    out = json.loads(res.output)
    assert res.exit_code == 1 and (out["first_bad_seq"], out["first_bad_run_id"]) == (2, ids[1])


def test_reproduce(recorded_store: tuple[str, list[str], Path]) -> None:
    url, ids, data = recorded_store
    res = runner.invoke(app, ["ledger", "reproduce", ids[0][:8], "--store", url])
    assert res.exit_code == 0 and "outputs match" in res.output
    data.write_text("k,v\na,1\nb,3\n")
    res = runner.invoke(app, ["ledger", "reproduce", ids[0], "--store", url, "--json"])
    out = json.loads(res.output)
    assert res.exit_code == 1 and not out["matched"]
    assert [d["name"] for d in out["diffs"]] == ["doubled"] and [d["name"] for d in out["input_diffs"]] == ["path"]
    res = runner.invoke(app, ["ledger", "reproduce", ids[0], "--store", url])
    assert res.exit_code == 1 and "did NOT reproduce: output 'doubled'" in res.output


def test_missing_store_is_one_line_error(tmp_path: Path) -> None:
    res = runner.invoke(app, ["ledger", "verify", "--store", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
