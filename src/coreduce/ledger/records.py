"""Ledger records: schema versions, the fields each version's hash covers, and (de)serialisation.

A record carries ``schema_version``; :func:`record_hash` hashes exactly the fields frozen for that version
in :data:`RECORD_FIELDS`, so a record verifies forever after later versions add columns. To add a field:
append the column to ``schema/tables.csv`` (the table is migrated with ``ALTER TABLE … ADD COLUMN``), add
a new version to :data:`RECORD_FIELDS` (the old tuple unchanged) and set :data:`CURRENT_VERSION` to it.

Versions
--------
1
    Records of coreduce up to commit 522c6fd (no ``schema_version`` column: an empty value means 1):
    every column of that ledger but ``record_hash``.
2
    Version 1's fields plus ``schema_version`` and ``claims_sha256`` (the SHA-256 of the canonical JSON
    list of the run's rows in the ``claims`` table, so the claims are covered by the chain).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from coreduce.ledger.hashing import LedgerError, canonical_json, iso, sha256_bytes

GENESIS = "0" * 64
TABLE = "ledger"
CLAIMS = "claims"

# The type of each field as hashed; frozen (a field never changes type: add a new field instead).
FIELD_TYPES: dict[str, str] = {
    "seq": "int", "run_id": "string", "user": "string", "started_at": "timestamp", "finished_at": "timestamp",
    "kind": "string", "entrypoint": "string", "params": "json", "inputs": "json", "factor_version": "string",
    "model_version": "string", "seed": "int", "packages": "json", "outputs": "json", "explanation": "json",
    "status": "string", "error": "string", "duration_s": "float", "energy_kwh": "float", "cpu_kwh": "float",
    "gpu_kwh": "float", "ram_kwh": "float", "emissions_kg": "float", "grid_factor_id": "string",
    "grid_factor_value": "float", "footprint_method": "string", "claimed_reduction_t": "float",
    "training_kg": "float", "training_uses": "int", "net_reduction_t": "float", "prev_hash": "string",
    "record_hash": "string", "schema_version": "int", "claims_sha256": "string",
}  # fmt: skip

_V1 = (
    "seq", "run_id", "user", "started_at", "finished_at", "kind", "entrypoint", "params", "inputs",
    "factor_version", "model_version", "seed", "packages", "outputs", "explanation", "status", "error",
    "duration_s", "energy_kwh", "cpu_kwh", "gpu_kwh", "ram_kwh", "emissions_kg", "grid_factor_id",
    "grid_factor_value", "footprint_method", "claimed_reduction_t", "training_kg", "training_uses",
    "net_reduction_t", "prev_hash",
)  # fmt: skip

#: Fields covered by ``record_hash``, per record-schema version. Frozen: never edit a tuple, add a version.
RECORD_FIELDS: dict[int, tuple[str, ...]] = {
    1: _V1,
    2: (*_V1, "schema_version", "claims_sha256"),
}
CURRENT_VERSION = 2

JSON_FIELDS = ("params", "inputs", "packages", "outputs", "explanation")
CLAIM_FIELDS = ("seq", "pollutant", "amount", "unit", "basis", "note")

_SQL = {"string": "TEXT", "json": "TEXT", "float": "DOUBLE PRECISION", "int": "BIGINT",
        "timestamp": "TIMESTAMPTZ", "bool": "BOOLEAN"}  # fmt: skip


# =========================================================================== table layout (tables.csv)
def table_columns(table: str) -> tuple[tuple[str, str, bool, bool], ...]:
    """``(column, type, required, key)`` of the ``ledger`` or ``claims`` table, as declared in ``tables.csv``."""
    from coreduce import schema

    return tuple((c.name, c.type, c.required, c.key) for c in schema.spec(table).columns)


def add_column_sql(table: str, column: str) -> str:
    """``ALTER TABLE … ADD COLUMN IF NOT EXISTS`` for a column declared in ``tables.csv`` (migrating a ledger
    written by an older coreduce; the types are those of ``coreduce.store.ddl``)."""
    typ = next(t for c, t, _, _ in table_columns(table) if c == column)
    return f"ALTER TABLE {_q(table)} ADD COLUMN IF NOT EXISTS {_q(column)} {_SQL[typ]}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def db_columns() -> tuple[str, ...]:
    """Ledger columns in ``tables.csv`` order (the order of the DDL and of every full SELECT)."""
    return tuple(c for c, _, _, _ in table_columns(TABLE))


# =========================================================================== hashing
def version_of(record: Mapping[str, Any]) -> int:
    """The record-schema version of a record (an empty ``schema_version`` is 1)."""
    v = record.get("schema_version")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 1
    v = int(v)
    if v not in RECORD_FIELDS:
        known = ", ".join(str(k) for k in sorted(RECORD_FIELDS))
        raise LedgerError(
            f"ledger record seq {record.get('seq')}: schema_version {v} is not one this coreduce knows ({known}); "
            "upgrade coreduce to verify it"
        )
    return v


def canon_field(name: str, v: Any) -> Any:
    """A field's value as hashed: ints as int, floats finite or null, timestamps as UTC ISO text, else text."""
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    t = FIELD_TYPES[name]
    if t == "timestamp":
        return iso(v)
    if t == "int":
        if isinstance(v, float) and math.isnan(v):
            return None
        return int(v)
    if t == "float":
        f = float(v)
        return f if math.isfinite(f) else None
    return str(v)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the fields of the record's schema version (``prev_hash`` included).

    Parameters
    ----------
    record : mapping
        A record as stored (JSON fields as text); timestamps as datetimes or ISO text.
    """
    fields = RECORD_FIELDS[version_of(record)]
    body = {c: canon_field(c, record.get(c)) for c in fields}
    return sha256_bytes(canonical_json(body).encode("utf-8"))


# =========================================================================== claims
def canon_claims(claims: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Claims rows in canonical form, ordered by ``seq``: ``seq`` int, ``amount`` float, the rest text/null."""
    out = []
    for c in sorted(claims, key=lambda c: int(c["seq"])):
        amount = float(c["amount"])
        out.append({
            "seq": int(c["seq"]), "pollutant": str(c["pollutant"]), "amount": amount, "unit": str(c["unit"]),
            "basis": None if c.get("basis") is None else str(c["basis"]),
            "note": None if c.get("note") is None else str(c["note"]),
        })  # fmt: skip
    return out


def claims_hash(claims: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the canonical JSON list of a run's claims (``[]`` when it claims nothing)."""
    return sha256_bytes(canonical_json(canon_claims(claims)).encode("utf-8"))


# =========================================================================== (de)serialisation
def to_db(name: str, v: Any) -> Any:
    """A field's value as written to the database."""
    if v is None:
        return None
    t = FIELD_TYPES[name]
    if t == "float":
        f = float(v)
        return f if math.isfinite(f) else None
    if t == "int":
        return int(v)
    return v


def from_db(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """One stored row as a record dict with every known field (``None`` for columns the table lacks)."""
    rec: dict[str, Any] = dict.fromkeys(FIELD_TYPES)
    rec.update(zip(columns, row, strict=True))
    for c in ("seq", "seed", "training_uses", "schema_version"):
        v = rec.get(c)
        if v is not None and not isinstance(v, int):
            rec[c] = None if isinstance(v, float) and math.isnan(v) else int(v)
    return rec


def decode_json(record: Mapping[str, Any], column: str) -> Any:
    """The decoded JSON of a stored field, or a one-line :class:`LedgerError` naming the record and column."""
    text = record.get(column)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise LedgerError(
            f"ledger record seq {record.get('seq')} (run {record.get('run_id')}): column {column!r} is not valid "
            f"JSON ({str(exc).splitlines()[0]}); the record was altered outside coreduce"
        ) from None
