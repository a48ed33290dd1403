"""The trust layer's run ledger: who ran what, on which data, with which factors and model, what came out,
why, what it cost in energy and emissions, and whether anything was altered since.

Examples
--------
>>> from coreduce.store import Store
>>> from coreduce.ledger import Ledger
>>> led = Ledger(Store("ws.duckdb"))                                                  # doctest: +SKIP
>>> out = led.call("coreduce.account.jobs:account_files", {"activity": "a.csv"},
...                kind="account", inputs={"activity": "a.csv"})                       # doctest: +SKIP
>>> led.verify().ok, led.reproduce(1).matched                                        # doctest: +SKIP
(True, True)

See :mod:`coreduce.ledger.runs` for the record layout and the entrypoint convention, and
:mod:`coreduce.footprint` for how energy and emissions are measured.
"""

from __future__ import annotations

from coreduce.ledger.runs import (
    COLUMNS,
    GENESIS,
    Ledger,
    LedgerError,
    OutputDiff,
    ReproduceResult,
    Run,
    VerifyResult,
    canonical_json,
    claim,
    current_run,
    current_user,
    entrypoint_of,
    explain,
    factor_library_version,
    footprint_summary,
    hash_frame,
    hash_value,
    package_versions,
    record_hash,
    recorded,
    resolve_entrypoint,
    seed_everything,
    sha256_file,
    use_ledger,
)

__all__ = [
    "COLUMNS",
    "GENESIS",
    "Ledger",
    "LedgerError",
    "OutputDiff",
    "ReproduceResult",
    "Run",
    "VerifyResult",
    "canonical_json",
    "claim",
    "current_run",
    "current_user",
    "entrypoint_of",
    "explain",
    "factor_library_version",
    "footprint_summary",
    "hash_frame",
    "hash_value",
    "package_versions",
    "record_hash",
    "recorded",
    "resolve_entrypoint",
    "seed_everything",
    "sha256_file",
    "use_ledger",
]
