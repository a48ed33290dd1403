"""The trust layer's run ledger: who ran what, on which data, with which factors and model, what came out,
why, what it cost in energy and emissions, what it claims to reduce, and whether anything was altered since.

Modules, by job:

- :mod:`coreduce.ledger.hashing` — canonical JSON and content hashes (frozen by golden tests);
- :mod:`coreduce.ledger.records` — record-schema versions, the fields each version's hash covers, (de)serialisation;
- :mod:`coreduce.ledger.ledger` — :class:`Ledger` and :class:`Run` (append, stored outputs, claims, reading);
- :mod:`coreduce.ledger.audit` — :func:`~coreduce.ledger.audit.verify` and
  :func:`~coreduce.ledger.audit.reproduce`;
- :mod:`coreduce.ledger.decorator` — the entrypoint registry (reproduce's allow-list), :func:`recorded`,
  and :func:`explain` / :func:`claim` for library code inside a run.

Examples
--------
>>> from coreduce.ledger import Ledger
>>> led = Ledger("ws.duckdb")                                                   # doctest: +SKIP
>>> with led.run("optimise", params={"episode": "2024-01"}) as run:             # doctest: +SKIP
...     run.write("inventory", inventory)        # stored in the same transaction as the record
...     run.claim("CO2e", 840.0, basis="counterfactual: no curtailment")
...     run.claim("SO2", 12.5)
>>> led.verify().ok, led.reproduce(1).status                                    # doctest: +SKIP
(True, 'matched')
"""

from __future__ import annotations

from coreduce.ledger.audit import OutputDiff, ReproduceResult, VerifyResult, heads_file
from coreduce.ledger.decorator import (
    ENTRYPOINT_MODULES,
    claim,
    current_run,
    entrypoint,
    entrypoint_of,
    explain,
    get_entrypoint,
    recorded,
    registered,
    resolve_entrypoint,
    use_ledger,
)
from coreduce.ledger.hashing import LedgerError, canonical_json, hash_frame, hash_value, sha256_file
from coreduce.ledger.ledger import (
    Ledger,
    Run,
    claims_summary,
    current_user,
    factor_library_version,
    footprint_summary,
    package_versions,
    seed_everything,
)
from coreduce.ledger.records import CURRENT_VERSION, FIELD_TYPES, GENESIS, RECORD_FIELDS, record_hash

_SQL = {"string": "TEXT", "json": "TEXT", "float": "DOUBLE PRECISION", "int": "BIGINT", "timestamp": "TIMESTAMPTZ"}
#: ``(column, SQL type)`` of every ledger field (kept for callers of the old ``runs.COLUMNS``).
COLUMNS: tuple[tuple[str, str], ...] = tuple((c, _SQL[t]) for c, t in FIELD_TYPES.items())

__all__ = [
    "COLUMNS",
    "CURRENT_VERSION",
    "ENTRYPOINT_MODULES",
    "GENESIS",
    "RECORD_FIELDS",
    "Ledger",
    "LedgerError",
    "OutputDiff",
    "ReproduceResult",
    "Run",
    "VerifyResult",
    "canonical_json",
    "claim",
    "claims_summary",
    "current_run",
    "current_user",
    "entrypoint",
    "entrypoint_of",
    "explain",
    "factor_library_version",
    "footprint_summary",
    "get_entrypoint",
    "hash_frame",
    "hash_value",
    "heads_file",
    "package_versions",
    "record_hash",
    "recorded",
    "registered",
    "resolve_entrypoint",
    "seed_everything",
    "sha256_file",
    "use_ledger",
]
