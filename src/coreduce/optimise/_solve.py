"""Solve a linopy model with HiGHS in memory, and turn an infeasible answer into a sentence.

Every model of :mod:`coreduce.optimise` is solved here: ``solver_name="highs", io_api="direct"`` (the model is
passed to HiGHS in memory; the LP-file path is 2.5x slower at city-year scale, see
``shared/reference/forecast-and-optimise.md`` section 4).  A model that is infeasible is never reported by its
bare solver status: the builder is called again in *elastic* form (every target and cap gets a non-negative
slack), the total normalised slack is minimised, and the targets that cannot be met are named with their
shortfall (:class:`Infeasible`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import linopy
import numpy as np
import pandas as pd

from coreduce.errors import CoreduceError

SOLVER = "highs"
IO_API = "direct"


#: logger that receives HiGHS's own output (its banner and, when verbose, its log)
LOG = logging.getLogger("coreduce.optimise.solver")
_VERBOSE: bool | None = None


def set_verbose(on: bool = True) -> None:
    """Show the solver's own log on stderr (``coreduce optimise … --verbose``); off by default.

    The environment variable ``COREDUCE_SOLVER_VERBOSE=1`` does the same for library use."""
    global _VERBOSE
    _VERBOSE = bool(on)


def verbose() -> bool:
    """Whether the solver's log is shown (:func:`set_verbose`, else ``$COREDUCE_SOLVER_VERBOSE``)."""
    if _VERBOSE is not None:
        return _VERBOSE
    return os.environ.get("COREDUCE_SOLVER_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def _solver_output(log: list[str]) -> Iterator[None]:
    """Keep HiGHS's console output off the user's terminal unless verbose.

    highspy prints its banner ("Running HiGHS …") on file descriptor 1 when a solver object is created, before
    ``output_flag=False`` applies; that would corrupt a command's ``--json`` output and clutter stderr.  Quiet
    (the default): descriptor 1 goes to a temporary file while HiGHS runs, and what it wrote is appended to
    ``log`` and sent to the ``coreduce.optimise.solver`` logger at DEBUG (the run's explanation keeps it as
    ``solver.log``).  Verbose: descriptor 1 goes to stderr, so the solver's log is shown live.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (captured by a test runner, a notebook)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    loud = verbose()
    tmp = None if loud else tempfile.TemporaryFile(mode="w+b")
    try:
        os.dup2(sys.stderr.fileno() if loud else tmp.fileno(), fd)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)
        if tmp is not None:
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
            tmp.close()
            if text:
                log.append(text)
                LOG.debug("%s", text.rstrip())


class OptimiseError(CoreduceError):
    """The solver could not return an optimal answer for a reason other than infeasibility."""


class Infeasible(CoreduceError):
    """No decision meets every target; ``shortfalls`` says which target or cap and by how much.

    Attributes
    ----------
    shortfalls : pandas.DataFrame
        ``constraint, where, required, achievable, shortfall, unit, meaning`` — one row per violated target
        or cap in the least-violation (elastic) answer.
    """

    def __init__(self, problem: str, shortfalls: pd.DataFrame) -> None:
        self.problem = problem
        self.shortfalls = shortfalls
        parts = [str(r.meaning) for r in shortfalls.itertuples()]
        head = f"{problem} is infeasible: " + "; ".join(parts[:5])
        if len(parts) > 5:
            head += f"; and {len(parts) - 5} more (see .shortfalls)"
        super().__init__(head)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "infeasible",
            "message": str(self),
            "shortfalls": self.shortfalls.replace({np.nan: None}).to_dict(orient="records"),
        }


@dataclass
class Solved:
    """Status of a solved model."""

    status: str
    condition: str
    objective: float
    seconds: float
    mip_gap: float | None = None
    log: str = ""

    def solver_info(self) -> dict[str, Any]:
        """What the explanation records about the solve: solver, version, status, seconds, its console output."""
        try:
            from importlib.metadata import version

            ver = version("highspy")
        except Exception:  # pragma: no cover - highspy is what solved it
            ver = None
        return {
            "name": "HiGHS",
            "highspy": ver,
            "status": self.condition,
            "seconds": self.seconds,
            "mip_gap": self.mip_gap,
            "log": self.log[-4000:],
        }


def solve(
    m: linopy.Model,
    *,
    time_limit: float | None = None,
    mip_rel_gap: float | None = None,
    threads: int | None = None,
    start: dict[str, np.ndarray] | None = None,
    options: dict[str, Any] | None = None,
) -> Solved:
    """Solve with HiGHS (``io_api="direct"``); return the status, or raise :class:`OptimiseError`.

    Infeasible models return ``status="infeasible"`` (the caller explains them through its elastic form).
    """
    import time

    opts: dict[str, Any] = {"output_flag": verbose()}
    if time_limit is not None:
        opts["time_limit"] = float(time_limit)
    if mip_rel_gap is not None:
        opts["mip_rel_gap"] = float(mip_rel_gap)
    if threads is not None:
        opts["threads"] = int(threads)
    opts.update(options or {})
    t0 = time.perf_counter()
    log: list[str] = []
    with _solver_output(log):
        if start:
            status, condition = _solve_from(m, opts, start)
        else:
            status, condition = m.solve(solver_name=SOLVER, io_api=IO_API, **opts)
    secs = time.perf_counter() - t0
    condition = str(condition)
    if condition in ("infeasible", "infeasible_or_unbounded") or "infeasible" in condition:
        return Solved("infeasible", condition, float("nan"), secs, log="".join(log))
    if status != "ok" and not (condition == "time_limit" and m.objective.value is not None):
        raise OptimiseError(f"HiGHS returned {status}/{condition}; no optimal decision to report")
    gap = None
    try:
        if str(m.type).startswith(("MI", "I")) and m.solver_model is not None:
            gap = float(m.solver_model.getInfo().mip_gap)
    except Exception:
        gap = None
    return Solved(
        "optimal" if condition == "optimal" else condition, condition, float(m.objective.value), secs, gap, "".join(log)
    )


def _solve_from(m: linopy.Model, opts: dict[str, Any], start: dict[str, np.ndarray]) -> tuple[str, str]:
    """Solve in memory with a starting solution (a MIP incumbent HiGHS may use; ignored if infeasible)."""
    import highspy
    from linopy import solvers

    s = solvers.Highs.from_model(m, io_api=IO_API, options=opts)
    h = s.solver_model
    sol = np.zeros(h.getNumCol())
    for name, val in start.items():
        lab = np.asarray(m.variables[name].labels.values)
        ok = lab >= 0
        sol[lab[ok]] = np.broadcast_to(np.asarray(val, float), lab.shape)[ok]
    hs = highspy.HighsSolution()
    hs.col_value = sol.tolist()
    hs.value_valid = True
    h.setSolution(hs)
    s.solve(assign=True)
    return str(m.status), str(m.termination_condition)


def explain_infeasible(
    problem: str,
    build_elastic: Callable[[], tuple[linopy.Model, list[dict[str, Any]]]],
) -> Infeasible:
    """Re-solve the elastic form and name the violated targets.

    ``build_elastic()`` returns the model with slacks and a list of ``{"slack": <linopy Variable>,
    "constraint", "where" (DataFrame of the slack's coordinates, optional), "required" (array like the slack),
    "unit", "sense" (">=" achievable = required - slack; "<=" achievable = required + slack)}``.
    The objective of that model must be the normalised total slack.
    """
    m, slacks = build_elastic()
    st = solve(m)
    if st.status == "infeasible":
        return Infeasible(
            problem,
            pd.DataFrame(
                [
                    {
                        "constraint": "bounds",
                        "where": "",
                        "required": np.nan,
                        "achievable": np.nan,
                        "shortfall": np.nan,
                        "unit": "",
                        "meaning": "the variable bounds themselves conflict (e.g. minimum output above capacity)",
                    }
                ]
            ),
        )
    rows = []
    for s in slacks:
        val = np.asarray(s["slack"].solution.values, dtype=float)
        req = np.broadcast_to(np.asarray(s["required"], dtype=float), val.shape)
        coords = s["slack"].solution.to_series().index if val.ndim else [()]
        for (idx, v), r in zip(zip(coords, val.ravel(), strict=True), req.ravel(), strict=True):
            if v <= 1e-6 * max(1.0, abs(r)):
                continue
            where = idx if isinstance(idx, tuple) else (idx,)
            where_s = ", ".join(str(w) for w in where if w != ())
            ach = r - v if s["sense"] == ">=" else r + v
            verb = "at most" if s["sense"] == ">=" else "at least"
            meaning = (
                f"{s['constraint']}{' [' + where_s + ']' if where_s else ''} requires "
                f"{'>=' if s['sense'] == '>=' else '<='} {r:.6g} {s['unit']}, but {verb} {ach:.6g} {s['unit']} "
                f"is achievable (short by {v:.6g} {s['unit']})"
            )
            rows.append(
                {
                    "constraint": s["constraint"],
                    "where": where_s,
                    "required": float(r),
                    "achievable": float(ach),
                    "shortfall": float(v),
                    "unit": s["unit"],
                    "meaning": meaning,
                }
            )
    df = pd.DataFrame(rows, columns=["constraint", "where", "required", "achievable", "shortfall", "unit", "meaning"])
    return Infeasible(problem, df.sort_values("shortfall", ascending=False, kind="stable").reset_index(drop=True))


def dual_of(m: linopy.Model, name: str) -> Any:
    """The dual of constraint ``name`` (an xarray DataArray), NaN where the solver gave none."""
    return m.constraints[name].dual
