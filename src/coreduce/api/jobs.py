"""Background jobs: long runs (decisions) queued in a table of the workspace and run by a worker thread.

PostgreSQL: the worker claims the oldest queued job with ``FOR UPDATE SKIP LOCKED`` (any number of service
processes can run workers; no broker).  DuckDB (one process): the same table, claimed under a lock.
A job's ``progress`` goes 0 (queued) → 0.1 (claimed) → 0.2 (inputs ready) → 1 (stored and recorded);
its ``result`` is the pipeline's JSON and ``run_id`` its ledger run (recorded in ``run_tenants`` for the
job's tenant).  The pipelines are the CLI's: :mod:`coreduce.optimise.jobs`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from coreduce.api.db import Database

log = logging.getLogger("coreduce.api.jobs")

KINDS = ("curtail", "dispatch", "portfolio")


def examples_dir() -> Path:
    """``examples/optimise`` of the source tree (the named example problems a request may use)."""
    import coreduce

    return Path(coreduce.__file__).resolve().parents[2] / "examples" / "optimise"


def examples() -> dict[str, list[str]]:
    """Example problem names by kind (file stems), e.g. ``{"curtail": ["curtail_beijing_2016", …]}``."""
    d = examples_dir()
    if not d.is_dir():
        return {k: [] for k in KINDS}
    out: dict[str, list[str]] = {}
    for k in KINDS:
        pat = "portfolio_measures_*.csv" if k == "portfolio" else f"{k}_*.json"
        out[k] = sorted(p.stem for p in d.glob(pat))
    return out


CLAIM_PG = """
UPDATE coreduce_jobs SET status = 'running', progress = 0.1, started_at = %s
WHERE job_id = (SELECT job_id FROM coreduce_jobs WHERE status = 'queued'
                ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING job_id, tenant, user_id, kind, params"""


class Worker:
    """Runs queued jobs one at a time in a daemon thread; :meth:`notify` wakes it after a submit."""

    def __init__(self, db: Database, *, poll_s: float = 1.0) -> None:
        self.db = db
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._claim_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._con: Any = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="coreduce-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._con is not None:
            self._con.close()

    def notify(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.claim()
            except Exception:  # the store is unreachable for a while: try again later
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self.run(job)

    # -- claiming
    def _pg(self) -> Any:
        import psycopg

        if self._con is None or self._con.closed:
            self._con = psycopg.connect(self.db.url, autocommit=False, options="-c TimeZone=UTC")
        return self._con

    def claim(self) -> dict[str, Any] | None:
        """Take the oldest queued job (status ``running``), or None."""
        now = datetime.now(UTC)
        if self.db.backend == "postgres":
            con = self._pg()
            with con.transaction():
                r = con.execute(CLAIM_PG, [now]).fetchone()
        else:
            with self._claim_lock:
                rows = self.db.ops_execute(
                    "SELECT job_id FROM coreduce_jobs WHERE status = 'queued' ORDER BY created_at LIMIT 1"
                )
                if not rows:
                    return None
                self.db.ops_execute(
                    "UPDATE coreduce_jobs SET status = 'running', progress = 0.1, started_at = %s WHERE job_id = %s",
                    [now, rows[0][0]],
                )
                r = self.db.ops_execute(
                    "SELECT job_id, tenant, user_id, kind, params FROM coreduce_jobs WHERE job_id = %s", [rows[0][0]]
                )[0]
        if r is None:
            return None
        return {"job_id": r[0], "tenant": r[1], "user_id": r[2], "kind": r[3], "params": json.loads(r[4])}

    def _update(self, job_id: str, **fields: Any) -> None:
        cols = ", ".join(f"{k} = %s" for k in fields)
        self.db.ops_execute(f"UPDATE coreduce_jobs SET {cols} WHERE job_id = %s", [*fields.values(), job_id])

    # -- running
    def run(self, job: dict[str, Any]) -> None:
        jid = job["job_id"]
        try:
            with tempfile.TemporaryDirectory(prefix="coreduce-job-") as tmp:
                kw = prepare(job["kind"], job["params"], Path(tmp))
                self._update(jid, progress=0.2, message="solving")
                res = execute(job["kind"], kw, self.db.url)
            out = res.as_dict()
            if res.run_id:
                self.db.add_run(res.run_id, job["tenant"], job["user_id"])
            from coreduce.api.db import clean

            self._update(
                jid,
                status="ok",
                progress=1.0,
                message="stored and recorded",
                result=json.dumps(clean(out), default=str),
                run_id=res.run_id,
                finished_at=datetime.now(UTC),
            )
        except Exception as exc:
            from coreduce.cli._common import error_line

            msg = error_line(exc).removeprefix("error: ")[:500]
            log.info("job %s failed: %s", jid, msg)
            self._update(jid, status="error", progress=1.0, message=msg, finished_at=datetime.now(UTC))


def prepare(kind: str, params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """The pipeline's keyword arguments from a job's JSON parameters (an inline problem goes to a file)."""
    from coreduce.errors import InputError

    ex = examples()
    name = params.get("example")
    if kind in ("curtail", "dispatch"):
        if name is not None:
            if name not in ex[kind]:
                raise InputError("example", f"one of {', '.join(ex[kind]) or '(none installed)'}", value=name)
            path = examples_dir() / f"{name}.json"
        else:
            path = tmp / "problem.json"
            path.write_text(json.dumps(params["problem"]))
        kw: dict[str, Any] = {"problem": path}
        if kind == "curtail":
            kw["time_limit"] = float(params.get("time_limit", 60.0))
        else:
            kw["uc"] = bool(params.get("uc", False))
            kw["time_limit"] = float(params.get("time_limit", 120.0))
        return kw
    if name is not None:
        if name not in ex["portfolio"]:
            raise InputError("example", f"one of {', '.join(ex['portfolio']) or '(none installed)'}", value=name)
        measures = examples_dir() / f"{name}.csv"
    else:
        measures = tmp / "measures.csv"
        measures.write_text(params["measures_csv"])
    return {
        "measures": measures,
        "targets": {str(k): float(v) for k, v in params["targets"].items()},
        "rate": float(params.get("rate", 0.04)),
        "year": int(params.get("year", 2025)),
    }


def execute(kind: str, kw: dict[str, Any], store_url: str) -> Any:
    """Run the CLI's pipeline (:mod:`coreduce.optimise.jobs`): stored and recorded on the workspace."""
    from coreduce.optimise import jobs as opt

    fn = {"curtail": opt.curtail, "dispatch": opt.dispatch, "portfolio": opt.portfolio}[kind]
    return fn(**kw, store=store_url)


def new_job_id() -> str:
    return uuid.uuid4().hex
