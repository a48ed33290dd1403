"""Auditing a ledger: verify the chain (and its claims), and reproduce a recorded run.

``verify`` recomputes every record's hash over the fields of its schema version, checks the links, the
``seq`` numbering and each run's claims rows, and can compare the head with one the auditor kept
(``expect_head``/``expect_count``). With ``remember=True`` (what ``coreduce ledger verify`` does) it also keeps
the last ``(count, head)`` it saw per workspace in ``~/.cache/coreduce/ledger-heads.json`` (``$XDG_CACHE_HOME``
honoured) and reports a ledger that is now shorter, or whose record at that position changed: a deleted tail,
or a tail deleted and re-appended.

``reproduce`` calls only registered entrypoints (:mod:`coreduce.ledger.decorator`): a row naming anything
else is refused and nothing runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coreduce.errors import CoreduceError
from coreduce.ledger.decorator import get_entrypoint
from coreduce.ledger.hashing import LedgerError, check_readable, hash_value, sha256_file
from coreduce.ledger.records import GENESIS, claims_hash, decode_json, record_hash, version_of

if TYPE_CHECKING:
    from coreduce.ledger.ledger import Ledger


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`.

    ``status``: ``"ok"``; ``"empty"`` (no records, or no ledger table: a warning, and not ``ok`` when an
    expectation was given); ``"broken"`` (``problem`` = ``missing``, ``reordered``, ``broken-link``,
    ``altered``, ``orphan-claims`` or ``unreadable``); ``"unexpected"`` (``problem`` = ``count`` or ``head``:
    differs from ``expect_count``/``expect_head``); ``"regressed"`` (``problem`` = ``shorter`` or ``rewritten``:
    against the last head seen here). ``first_bad_seq`` / ``first_bad_run_id`` name the first bad record;
    ``head_hash`` is the last record's hash (anchor it outside the store); ``warnings`` are one-line notes.
    """

    ok: bool
    n: int
    first_bad_seq: int | None = None
    first_bad_run_id: str | None = None
    problem: str | None = None
    message: str = ""
    head_hash: str | None = None
    status: str = "ok"
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OutputDiff:
    """One output (or input) whose hash differs: ``recorded`` / ``reproduced`` are hashes or ``None``."""

    name: str
    recorded: str | None
    reproduced: str | None


@dataclass
class ReproduceResult:
    """Outcome of :func:`reproduce`.

    ``status``: ``"matched"`` (every output hash equal); ``"differs"`` (an output differs, or the run raised
    where the record did not); ``"input-missing"`` (a recorded input file is gone: nothing was run,
    ``missing`` lists the paths); ``"refused"`` (the entrypoint is not a registered coreduce entrypoint:
    nothing was run). ``matched`` is ``status == "matched"``.
    """

    run_id: str
    entrypoint: str
    matched: bool
    diffs: list[OutputDiff] = field(default_factory=list)
    input_diffs: list[OutputDiff] = field(default_factory=list)
    error: str | None = None
    status: str = "matched"
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# =========================================================================== verify
def _chain(led: Ledger) -> VerifyResult:
    recs = led.records()
    n = len(recs)
    by_hash = {r["record_hash"]: r for r in recs}
    claims = led.claims()
    by_run = {k: g.to_dict("records") for k, g in claims.groupby("run_id", sort=False)} if len(claims) else {}
    prev = GENESIS
    v2_runs: set[str] = set()

    def bad(seq: int, rid: str | None, problem: str, msg: str) -> VerifyResult:
        return VerifyResult(False, n, seq, rid, problem, msg, status="broken")

    for i, r in enumerate(recs, start=1):
        seq, rid = int(r["seq"]), r["run_id"]
        if seq != i:
            after = f"seq {i - 1}" if i > 1 else "the start"
            return bad(i, None, "missing", f"record seq {i} is missing: seq {seq} (run {rid}) follows {after}")
        if r["prev_hash"] != prev:
            moved = by_hash.get(r["prev_hash"])
            if moved is not None and moved is not r:
                return bad(seq, rid, "reordered", f"record seq {seq} (run {rid}) is out of order: it was appended "
                           f"after run {moved['run_id']}, now seq {moved['seq']}")  # fmt: skip
            return bad(seq, rid, "broken-link", f"record seq {seq} (run {rid}): prev_hash does not match seq "
                       f"{i - 1}; records before it were deleted, inserted or altered and re-hashed")  # fmt: skip
        try:
            version = version_of(r)
        except LedgerError as exc:
            return bad(seq, rid, "unreadable", str(exc))
        h = record_hash(r)
        if h != r["record_hash"]:
            msg = f"record seq {seq} (run {rid}) was altered: its fields no longer hash to its record_hash"
            return bad(seq, rid, "altered", msg)
        if version >= 2:
            v2_runs.add(rid)
            if claims_hash(by_run.get(rid, [])) != r["claims_sha256"]:
                msg = (f"record seq {seq} (run {rid}) was altered: its claims rows no longer hash to its "
                       "claims_sha256")  # fmt: skip
                return bad(seq, rid, "altered", msg)
        prev = h
    orphans = sorted(set(by_run) - v2_runs)
    if orphans:
        return bad(n, orphans[0], "orphan-claims",
                   f"the claims table has rows of run {orphans[0]}, which no record of the ledger carries")  # fmt: skip
    head = recs[-1]["record_hash"] if recs else GENESIS
    res = VerifyResult(True, n, message=f"{n} records, chain intact", head_hash=head)
    res._hashes = [r["record_hash"] for r in recs]  # type: ignore[attr-defined]
    return res


def verify(
    led: Ledger, *, expect_head: str | None = None, expect_count: int | None = None, remember: bool = False
) -> VerifyResult:
    """Recompute the chain; name the first missing, reordered or altered record; compare with what is expected.

    Checks, record by record in ``seq`` order: ``seq`` is 1, 2, 3... (a gap = a deleted record);
    ``prev_hash`` equals the previous record's hash (else the record was moved, or records before it
    inserted/deleted and renumbered); the fields of the record's schema version hash to its ``record_hash``;
    its claims rows hash to its ``claims_sha256``. Then, if given, the count and head against
    ``expect_count``/``expect_head``, and with ``remember`` the last count and head seen for this store.

    Parameters
    ----------
    led : Ledger
        The ledger.
    expect_head : str, optional
        The head hash (or a prefix of ≥ 8 hex digits) the auditor kept, e.g. from a published report.
    expect_count : int, optional
        The number of records expected.
    remember : bool
        Compare with, and (when all is well) update, the last ``(count, head)`` seen for this store in
        :func:`heads_file`.

    Returns
    -------
    VerifyResult
    """
    try:
        res = _chain(led)
    except CoreduceError as exc:  # e.g. a column not readable as its type
        return VerifyResult(False, 0, None, None, "unreadable", str(exc), status="broken")
    if not res.ok:
        return res
    hashes: list[str] = res._hashes  # type: ignore[attr-defined]
    key = _store_key(led)
    if remember:
        seen = _load_heads().get(key)
        if seen is not None:
            cnt, head = int(seen["count"]), str(seen["head"])
            when = seen.get("seen_at", "?")
            where = f"(remembered in {heads_file()}; delete that entry if the workspace was recreated on purpose)"
            if res.n < cnt:
                res.ok, res.status, res.problem = False, "regressed", "shorter"
                res.message = (f"the ledger has {res.n} records, fewer than the {cnt} seen here at {when}: "
                               f"records were deleted {where}")  # fmt: skip
                return res
            if hashes[cnt - 1] != head:
                res.ok, res.status, res.problem = False, "regressed", "rewritten"
                res.first_bad_seq = cnt
                res.message = (f"record seq {cnt} is not the one seen here at {when} (head {head[:16]}…, now "
                               f"{hashes[cnt - 1][:16]}…): the ledger was rewritten from there {where}")  # fmt: skip
                return res
    if expect_count is not None and res.n != expect_count:
        res.ok, res.status, res.problem = False, "unexpected", "count"
        res.message = f"the ledger has {res.n} records, expected {expect_count}"
    elif expect_head is not None and not _head_matches(res.head_hash, expect_head):
        res.ok, res.status, res.problem = False, "unexpected", "head"
        at = next((i for i, h in enumerate(hashes, start=1) if h.startswith(expect_head.lower())), None)
        extra = f" (that hash is seq {at}: {res.n - at} records were appended after it)" if at else ""
        res.message = f"head is {res.head_hash}, expected {expect_head}{extra}"
    if res.n == 0:
        where = "has no ledger table (dropped, or never written)" if not led.exists() else "has no records"
        res.warnings.append(f"the store {led.display_url} {where}")
        if res.ok:
            res.message = f"empty ledger: the store {where}"
        if res.ok or res.status == "unexpected":
            res.status = "empty"
    if remember and res.ok and res.n > 0:
        try:
            _save_head(key, res.n, res.head_hash or GENESIS)
        except OSError as exc:
            res.warnings.append(f"could not remember the head in {heads_file()}: {exc.strerror}")
    return res


def _head_matches(head: str | None, expect: str) -> bool:
    """The head equals ``expect``, or starts with it when ``expect`` is a prefix of at least 8 hex digits."""
    e = expect.strip().lower()
    return head is not None and len(e) >= 8 and head.startswith(e)


def heads_file() -> Path:
    """``$XDG_CACHE_HOME/coreduce/ledger-heads.json`` (default ``~/.cache/coreduce/ledger-heads.json``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "coreduce" / "ledger-heads.json"


def _store_key(led: Ledger) -> str:
    url = led.display_url
    if "://" not in url and url != ":memory:":
        return str(Path(url).resolve())
    return url


def _load_heads() -> dict[str, Any]:
    try:
        data = json.loads(heads_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_head(key: str, count: int, head: str) -> None:
    path = heads_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _load_heads()
    data[key] = {"count": count, "head": head, "seen_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    fd, tmp = tempfile.mkstemp(prefix=".ledger-heads-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# =========================================================================== reproduce
def reproduce(led: Ledger, ref: str | int) -> ReproduceResult:
    """Re-run a recorded registered entrypoint with its recorded parameters and seed; compare output hashes.

    Nothing is appended to the ledger and nothing is stored: the entrypoint only computes. The recorded
    absolute paths of file inputs are used (so a run reproduces from any directory); a missing input file
    gives status ``"input-missing"`` without running anything; inputs that changed since the run are listed
    in ``input_diffs``.

    Raises
    ------
    LedgerError
        Unknown run, a run recorded without an entrypoint, or a record whose JSON is invalid.
    """
    from coreduce.ledger.ledger import error_text, seed_everything, with_seed

    rec = led.get(ref)
    entry, rid = rec["entrypoint"], rec["run_id"]
    if not entry:
        raise LedgerError(f"run {rid} was recorded without an entrypoint; it cannot be reproduced")
    try:
        ep = get_entrypoint(entry)
    except LedgerError as exc:
        return ReproduceResult(rid, entry, False, error=str(exc), status="refused")
    params = decode_json(rec, "params") or {}
    recorded_in = decode_json(rec, "inputs") or {}
    recorded_out = {k: v["sha256"] for k, v in (decode_json(rec, "outputs") or {}).items()}
    missing = sorted(d["path"] for d in recorded_in.values() if d.get("path") and not os.path.exists(d["path"]))
    if missing:
        return ReproduceResult(rid, entry, False, error="; ".join(f"input missing: {p}" for p in missing),
                               status="input-missing", missing=missing)  # fmt: skip
    input_diffs = []
    for name, d in sorted(recorded_in.items()):
        if d.get("path"):
            try:
                now: str | None = sha256_file(check_readable(d["path"], allow_dir=True))
            except CoreduceError:
                now = None
            if now != d["sha256"]:
                input_diffs.append(OutputDiff(name, d["sha256"], now))
            if isinstance(params.get(name), str):
                params[name] = d["path"]  # the recorded absolute path, whatever the current directory
    seed = rec["seed"]
    if seed is not None:
        seed_everything(int(seed))
    try:
        out = ep.fn(**with_seed(ep.fn, params, None if seed is None else int(seed)))
    except Exception as exc:
        err = error_text(exc)
        same = rec["status"] == "error" and rec["error"] == err
        return ReproduceResult(rid, entry, same, [], input_diffs, err, "matched" if same else "differs")
    if not isinstance(out, Mapping):
        raise LedgerError(f"entrypoint {entry}: returned {type(out).__name__}, expected a dict of outputs")
    now_out = {k: hash_value(v) for k, v in out.items()}
    names = sorted(set(recorded_out) | set(now_out))
    diffs = [OutputDiff(k, recorded_out.get(k), now_out.get(k)) for k in names]
    diffs = [d for d in diffs if d.recorded != d.reproduced]
    matched = not diffs and rec["status"] == "ok"
    return ReproduceResult(rid, entry, matched, diffs, input_diffs, None, "matched" if matched else "differs")
