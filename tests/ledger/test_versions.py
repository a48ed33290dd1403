"""Versioned ledger records: golden hashes, records of older coreduce, and adding a column later.

The golden files in ``golden/`` were written once and are never regenerated: ``canonical_json.json`` and
``hash_frame.json`` (outputs of the ledger of commit 522c6fd for ``golden_cases.py``), ``ledger_v1_records.json``
(three records written by that ledger, with its DDL) and ``ledger_v2_records.json`` (records of schema version
2 with their claims). A change to hashing makes these tests fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden_cases import frame_cases, json_cases

import coreduce.ledger.ledger as ledger_mod
import coreduce.ledger.records as records
from coreduce.ledger import GENESIS, Ledger, canonical_json, hash_frame, record_hash
from coreduce.ledger.records import RECORD_FIELDS, claims_hash
from coreduce.store import Store

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- frozen hashing
@pytest.mark.parametrize("case", sorted(json_cases()))
def test_canonical_json_golden(case: str) -> None:
    assert canonical_json(json_cases()[case]) == _golden("canonical_json.json")["outputs"][case]


@pytest.mark.parametrize("case", sorted(frame_cases()))
def test_hash_frame_golden(case: str) -> None:
    assert hash_frame(frame_cases()[case]) == _golden("hash_frame.json")["outputs"][case]


def test_v1_records_of_older_coreduce_hash_alike() -> None:
    g = _golden("ledger_v1_records.json")
    recs = g["records"]
    assert [r["seq"] for r in recs] == [1, 2, 3] and all("schema_version" not in r for r in recs)
    for r in recs:
        assert record_hash(r) == r["record_hash"]
    assert recs[0]["prev_hash"] == GENESIS and recs[2]["prev_hash"] == recs[1]["record_hash"]
    # version 1 covers exactly the 31 columns of that ledger but record_hash
    assert RECORD_FIELDS[1] == tuple(line.strip().split()[0].strip('"') for line in g["ddl"].splitlines()[1:32])


def test_v2_records_and_claims_hash_alike() -> None:
    g = _golden("ledger_v2_records.json")
    recs, claims = g["records"], g["claims"]
    assert [r["schema_version"] for r in recs] == [2, 2]
    for r in recs:
        assert record_hash(r) == r["record_hash"]
        assert claims_hash([c for c in claims if c["run_id"] == r["run_id"]]) == r["claims_sha256"]
    assert [(c["pollutant"], c["amount"], c["unit"]) for c in claims] == [
        ("CO2e", 840.0, "t"), ("SO2", 12.5, "t"), ("PM2.5", 900.0, "kg")]  # fmt: skip
    # net = 840 t - footprint [kg] / 1000 - training 1000 kg / 4 uses / 1000
    r = recs[0]
    assert r["net_reduction_t"] == pytest.approx(840.0 - r["emissions_kg"] / 1000 - 1000.0 / 4 / 1000, abs=1e-9)
    assert claims_hash([]) == recs[1]["claims_sha256"]


# ----------------------------------------------------------------------------- old ledgers, migrated
def _legacy_ledger(store: Store) -> list[dict]:
    """The three records of the 522c6fd ledger, in a table made by its own DDL."""
    g = _golden("ledger_v1_records.json")
    names = list(g["records"][0])
    cols = ", ".join('"' + c + '"' for c in names)
    marks = ", ".join("?" for _ in names)
    with store.transaction() as tx:
        tx.execute(g["ddl"])
        for r in g["records"]:
            tx.execute(f"INSERT INTO ledger ({cols}) VALUES ({marks})", [r[c] for c in names])
    return g["records"]


def test_ledger_of_older_coreduce_migrates_and_still_verifies(store: Store) -> None:
    old = _legacy_ledger(store)
    led = Ledger(store)  # adds schema_version and claims_sha256 with ALTER TABLE
    cols = led._columns()
    assert cols[-2:] == ["schema_version", "claims_sha256"]
    res = led.verify()
    assert res.ok and res.n == 3 and res.head_hash == old[2]["record_hash"]
    with led.run("optimise", params={"after": "upgrade"}) as run:
        run.claim("NOx", 3.0)
    recs = led.records()
    assert recs[3]["schema_version"] == 2 and recs[3]["prev_hash"] == old[2]["record_hash"]
    assert [r["schema_version"] for r in recs[:3]] == [None, None, None]
    assert led.verify().ok and led.verify().n == 4
    assert led.show(2)["claimed_reduction_t"] == 0.5  # the old scalar claim reads back as it was
    store.execute("UPDATE ledger SET training_uses = 5 WHERE seq = 2")  # an old record is still protected
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq) == (False, "altered", 2)


def test_adding_a_column_later_keeps_every_record_verifying(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    led = Ledger(store)
    with led.run("optimise", params={"i": 1}) as run:
        run.claim("CO2e", 10.0)
        run.claim("SO2", 0.5)
    with led.run("forecast", params={"i": 2}):
        pass
    before = led.records()
    # a later coreduce: tables.csv gains ledger.reviewer, and record-schema version 3 covers it
    store.execute('ALTER TABLE ledger ADD COLUMN "reviewer" TEXT')
    monkeypatch.setitem(records.FIELD_TYPES, "reviewer", "string")
    monkeypatch.setitem(records.RECORD_FIELDS, 3, (*RECORD_FIELDS[2], "reviewer"))
    monkeypatch.setattr(ledger_mod, "CURRENT_VERSION", 3)
    monkeypatch.setattr(ledger_mod, "db_columns", lambda: (*records.db_columns(), "reviewer"))
    with led.run("decide", params={"i": 3}) as run:
        run.fields["reviewer"] = "alice"
    recs = led.records()
    assert [r["schema_version"] for r in recs] == [2, 2, 3] and recs[2]["reviewer"] == "alice"
    assert [r["record_hash"] for r in recs[:2]] == [r["record_hash"] for r in before]
    res = led.verify()
    assert res.ok and res.n == 3
    store.execute("UPDATE ledger SET reviewer = 'mallory' WHERE seq = 3")  # the new field is covered in v3
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq) == (False, "altered", 3)


def test_unknown_schema_version_is_named(store: Store) -> None:
    led = Ledger(store)
    with led.run("demo"):
        pass
    store.execute("UPDATE ledger SET schema_version = 99 WHERE seq = 1")
    res = led.verify()
    assert (res.ok, res.problem, res.first_bad_seq) == (False, "unreadable", 1)
    assert "schema_version 99 is not one this coreduce knows (1, 2)" in res.message
