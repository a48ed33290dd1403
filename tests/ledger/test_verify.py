"""verify hardening: an empty or dropped ledger, --expect-head/--expect-count, and the last head seen here
(a deleted tail, or a tail deleted and re-appended, is reported even though the chain itself is intact)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from coreduce.cli.ledger import ledger_app
from coreduce.ledger import Ledger, heads_file, record_hash
from coreduce.store import Store

runner = CliRunner()


def _runs(led: Ledger, n: int) -> list[str]:
    ids = []
    for i in range(n):
        with led.run("demo", params={"i": i}) as run:
            pass
        ids.append(run.run_id)
    return ids


def test_empty_and_dropped_ledger_warn(store_url: str) -> None:
    with Store(store_url, create=False) as s:
        Ledger(s)  # tables, no records
    res = runner.invoke(ledger_app, ["verify", "--store", store_url])
    assert res.exit_code == 0 and res.stdout.startswith("ledger EMPTY: empty ledger: the store has no records")
    assert "warning: the store" in res.stderr
    res = runner.invoke(ledger_app, ["verify", "--store", store_url, "--expect-count", "3"])
    assert res.exit_code == 1 and "has 0 records, expected 3" in res.stdout
    with Store(store_url, create=False) as s:
        s.drop_all()
        led = Ledger(s, create=False)
        v = led.verify()
        assert (v.ok, v.status, v.n) == (True, "empty", 0) and "has no ledger table" in v.warnings[0]
        v = led.verify(expect_head="ab" * 32)
        assert (v.ok, v.status, v.problem) == (False, "empty", "head")
    res = runner.invoke(ledger_app, ["verify", "--store", store_url, "--expect-head", "ab" * 32])
    assert res.exit_code == 1 and "has no ledger table (dropped, or never written)" in res.stderr


def test_expect_head_and_count(store: Store) -> None:
    led = Ledger(store)
    _runs(led, 3)
    recs = led.records()
    head = recs[2]["record_hash"]
    assert led.verify(expect_head=head, expect_count=3).ok
    assert led.verify(expect_head=head[:8].upper()).ok  # a prefix of 8+ hex digits is enough
    assert not led.verify(expect_head=head[:7]).ok
    v = led.verify(expect_head=recs[1]["record_hash"])
    assert (v.ok, v.status, v.problem) == (False, "unexpected", "head")
    assert "(that hash is seq 2: 1 records were appended after it)" in v.message
    v = led.verify(expect_count=2)
    assert (v.ok, v.problem, v.message) == (False, "count", "the ledger has 3 records, expected 2")


def test_cli_expect_head(store_url: str) -> None:
    with Store(store_url, create=False) as s:
        led = Ledger(s)
        _runs(led, 2)
        head = led.records()[-1]["record_hash"]
    assert runner.invoke(ledger_app, ["verify", "--store", store_url, "--expect-head", head]).exit_code == 0
    res = runner.invoke(ledger_app, ["verify", "--store", store_url, "--expect-head", "0" * 64, "--json"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and (out["status"], out["problem"], out["head_hash"]) == ("unexpected", "head", head)


def test_deleted_tail_is_reported_against_the_last_head_seen(store_url: str) -> None:
    with Store(store_url, create=False) as s:
        led = Ledger(s)
        _runs(led, 3)
    assert runner.invoke(ledger_app, ["verify", "--store", store_url]).exit_code == 0  # remembered: 3 records
    with Store(store_url, create=False) as s:
        s.execute("DELETE FROM ledger WHERE seq = 3")  # the chain of seq 1..2 is intact
        assert Ledger(s, create=False).verify().ok  # without memory nothing can tell
    res = runner.invoke(ledger_app, ["verify", "--store", store_url])
    assert res.exit_code == 1
    assert res.stdout.startswith("ledger REGRESSED (shorter): the ledger has 2 records, fewer than the 3 seen here")
    res = runner.invoke(ledger_app, ["verify", "--store", store_url])  # still reported: the memory is not lowered
    assert res.exit_code == 1


def test_tail_deleted_and_forged_append_is_reported(store: Store) -> None:
    led = Ledger(store)
    _runs(led, 3)
    assert led.verify(remember=True).ok
    store.execute("DELETE FROM ledger WHERE seq = 3")
    rec = led.records()[-1]
    forged = dict(rec, seq=3, run_id="e" * 32, kind="optimise", prev_hash=rec["record_hash"])
    forged["record_hash"] = record_hash(forged)
    store.execute(
        "INSERT INTO ledger (seq, run_id, kind, status, prev_hash, record_hash, schema_version, claims_sha256, "
        "params, packages, inputs, outputs) SELECT ?, ?, ?, status, ?, ?, schema_version, claims_sha256, params, "
        "packages, inputs, outputs FROM ledger WHERE seq = 2",
        [3, forged["run_id"], "optimise", forged["prev_hash"], "x"],
    )
    full = next(r for r in led.records() if r["seq"] == 3)
    store.execute("UPDATE ledger SET record_hash = ? WHERE seq = 3", [record_hash(full)])
    assert led.verify().ok  # chain intact, same length
    v = led.verify(remember=True)
    assert (v.ok, v.status, v.problem, v.first_bad_seq) == (False, "regressed", "rewritten", 3)
    assert "record seq 3 is not the one seen here" in v.message


def test_legitimate_appends_move_the_remembered_head(store: Store) -> None:
    led = Ledger(store)
    _runs(led, 2)
    assert led.verify(remember=True).ok
    _runs(led, 2)
    v = led.verify(remember=True)
    assert v.ok and v.n == 4
    (entry,) = json.loads(heads_file().read_text()).values()
    assert (entry["count"], entry["head"]) == (4, v.head_hash)


@pytest.mark.postgres
def test_password_never_shown(pg_url: str, tmp_path: Path) -> None:
    url = pg_url.replace("postgres@", "postgres:s3cr3t-pw@")  # trust auth: accepted, and must never be printed
    with Store(url, create=False) as s:
        s.drop_all()
        _runs(Ledger(s), 1)
    outs = [runner.invoke(ledger_app, [*cmd, "--store", url], env={"COLUMNS": "200"})
            for cmd in (["list"], ["verify"], ["show", "nosuchrun"], ["reproduce", "1"])]  # fmt: skip
    assert [o.exit_code for o in outs] == [0, 0, 2, 2]  # reproduce: the run has no entrypoint
    assert "postgres:***@127.0.0.1" in outs[0].stdout and "postgres:***@127.0.0.1" in outs[2].stderr
    for o in outs:
        assert "s3cr3t" not in o.output
    assert "s3cr3t" not in heads_file().read_text() and "postgres:***@" in heads_file().read_text()
    bad = url.replace("127.0.0.1:5432", "127.0.0.1:1")
    res = runner.invoke(ledger_app, ["list", "--store", bad])
    assert res.exit_code == 2 and "s3cr3t" not in res.output and "Traceback" not in res.output


def test_missing_workspace_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(ledger_app, ["list", "--store", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert res.output.startswith(f"error: no workspace at {tmp_path / 'none.duckdb'} (it does not exist)")
    assert "--store" in res.output


def test_help_names_each_command_not_a_shell_pipe() -> None:
    res = runner.invoke(ledger_app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for cmd in ("coreduce ledger list", "coreduce ledger show RUN", "coreduce ledger verify",
                "coreduce ledger reproduce RUN"):  # fmt: skip
        assert cmd in " ".join(res.output.split())
    assert "list | show" not in res.output
