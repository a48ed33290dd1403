"""Entrypoints and the helpers library code uses inside a run.

The entrypoint registry is the allow-list of :meth:`Ledger.reproduce`: a function becomes reproducible by
being decorated with :func:`entrypoint` (or :func:`recorded`) in a module that is imported. ``reproduce``
imports only the coreduce modules listed in :data:`ENTRYPOINT_MODULES` and then looks the recorded name up
in the registry; it never imports a module or resolves an attribute named by a ledger row, so a forged row
(``entrypoint="subprocess:getoutput"``) is refused and runs nothing.

Inside a run, library code adds the "why" with :func:`explain` and claimed reductions with :func:`claim`
without knowing about the ledger (both are no-ops outside a run).
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coreduce.ledger.hashing import LedgerError

if TYPE_CHECKING:
    from coreduce.ledger.ledger import Ledger, Run

#: coreduce modules whose decorated functions are reproducible entrypoints (imported by ``reproduce``).
ENTRYPOINT_MODULES: tuple[str, ...] = (
    "coreduce.account.jobs",
    "coreduce.demo",
    "coreduce.evaluate.jobs",
    "coreduce.benefits.jobs",
    "coreduce.forecast.jobs",
    "coreduce.forecast.demo_step",
    "coreduce.optimise.jobs",
)


@dataclass(frozen=True)
class Entrypoint:
    """A registered entrypoint: its name ``module:qualname``, the function (returning a dict of outputs)
    and ``writes`` (output name → canonical table the recorded run stores it in)."""

    name: str
    fn: Callable[..., Mapping[str, Any]]
    writes: Mapping[str, str] = field(default_factory=dict)


_REGISTRY: dict[str, Entrypoint] = {}
_CURRENT: contextvars.ContextVar[Run | None] = contextvars.ContextVar("coreduce_run", default=None)
_DEFAULT_LEDGER: contextvars.ContextVar[Ledger | None] = contextvars.ContextVar("coreduce_ledger", default=None)


def entrypoint_of(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of a function (the name it is registered and recorded under)."""
    fn = getattr(fn, "_coreduce_unrecorded", fn)
    return f"{fn.__module__}:{fn.__qualname__}"


def entrypoint(
    fn: Callable[..., Mapping[str, Any]] | None = None,
    *,
    aliases: tuple[str, ...] = (),
    writes: Mapping[str, str] | None = None,
) -> Any:
    """Register a function as a reproducible entrypoint (decorator; ``@entrypoint`` or ``@entrypoint(...)``).

    Parameters
    ----------
    fn : callable
        ``f(**params) -> dict`` of outputs; deterministic given its parameters, input files and seed.
        It must not write the store itself: :meth:`Ledger.call` stores the outputs named in ``writes``.
    aliases : tuple of str
        Older names the function was recorded under (e.g. before a rename).
    writes : mapping, optional
        Output name → canonical table: :meth:`Ledger.call` upserts those outputs in the same transaction
        as the ledger record.
    """

    def deco(f: Callable[..., Mapping[str, Any]]) -> Callable[..., Mapping[str, Any]]:
        ep = Entrypoint(entrypoint_of(f), getattr(f, "_coreduce_unrecorded", f), dict(writes or {}))
        for name in (ep.name, *aliases):
            _REGISTRY[name] = ep
        return f

    return deco(fn) if fn is not None else deco


def _load_entrypoint_modules() -> dict[str, str]:
    errors = {}
    for mod in ENTRYPOINT_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError as exc:  # an optional dependency of that module is missing
            errors[mod] = str(exc)
    return errors


def registered() -> list[str]:
    """Names of the registered entrypoints (after importing :data:`ENTRYPOINT_MODULES`)."""
    _load_entrypoint_modules()
    return sorted(_REGISTRY)


def get_entrypoint(name: str) -> Entrypoint:
    """The registered entrypoint called ``name``.

    Raises
    ------
    LedgerError
        ``name`` is not a registered coreduce entrypoint (nothing is imported on its behalf).
    """
    errors = _load_entrypoint_modules()
    ep = _REGISTRY.get(name)
    if ep is not None:
        return ep
    mod = name.partition(":")[0]
    if mod in errors:  # a registered module that failed to import: say so rather than "not registered"
        raise LedgerError(f"entrypoint {name!r} cannot be imported: {errors[mod]}")
    raise LedgerError(
        f"entrypoint {name!r} is not a registered coreduce entrypoint; reproduce only runs the functions "
        f"registered with @coreduce.ledger.entrypoint in {', '.join(ENTRYPOINT_MODULES)} (or already imported), "
        "so nothing was run"
    )


def resolve_entrypoint(name: str) -> Callable[..., Mapping[str, Any]]:
    """The function of a registered entrypoint (see :func:`get_entrypoint`; never imports ``name`` itself)."""
    return get_entrypoint(name).fn


# =========================================================================== inside a run
def current_run() -> Run | None:
    """The run open in this context (``None`` outside :meth:`Ledger.run`)."""
    return _CURRENT.get()


def explain(why: Any) -> None:
    """Attach an explanation to the current run; no-op outside a run (library code may always call it)."""
    r = _CURRENT.get()
    if r is not None:
        r.explain(why)


def claim(
    pollutant: str | float,
    amount: float | None = None,
    unit: str = "t",
    *,
    basis: str | None = None,
    note: str | None = None,
    training_kg: float = 0.0,
    n_uses: int = 1,
) -> None:
    """Add a claimed reduction to the current run (see :meth:`Run.claim`); no-op outside a run."""
    r = _CURRENT.get()
    if r is not None:
        r.claim(pollutant, amount, unit, basis=basis, note=note, training_kg=training_kg, n_uses=n_uses)


@contextmanager
def use_ledger(ledger: Ledger | None) -> Iterator[Ledger | None]:
    """Make ``ledger`` the one :func:`recorded` functions write to inside the block."""
    token = _DEFAULT_LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _DEFAULT_LEDGER.reset(token)


def accepts(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name``."""
    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in ps or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ps.values())


def recorded(
    kind: str,
    *,
    ledger: Ledger | None = None,
    inputs: tuple[str, ...] = (),
    model_version: str | None = None,
    writes: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Mapping[str, Any]]], Callable[..., Mapping[str, Any]]]:
    """Decorator: register an entrypoint and make each call a recorded run (when a ledger is active).

    Parameters
    ----------
    kind : str
        Run kind.
    ledger : Ledger or None
        Ledger to write to; default the one set by :func:`use_ledger` (no ledger → the call is not recorded).
    inputs : tuple of str
        Names of parameters holding file paths or DataFrames to hash as inputs.
    model_version : str or None
        Recorded as given.
    writes : mapping, optional
        Output name → canonical table, stored in the same transaction as the record (see :func:`entrypoint`).

    Examples
    --------
    >>> @recorded("forecast", inputs=("history",))          # doctest: +SKIP
    ... def forecast_job(history: str, horizon: int = 24, seed: int = 0) -> dict: ...
    >>> with use_ledger(Ledger(store)):                      # doctest: +SKIP
    ...     forecast_job(history="obs.csv", horizon=48)
    """

    def deco(fn: Callable[..., Mapping[str, Any]]) -> Callable[..., Mapping[str, Any]]:
        sig = inspect.signature(fn)
        entrypoint(fn, writes=writes)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Mapping[str, Any]:
            led = ledger or _DEFAULT_LEDGER.get()
            if led is None:
                return fn(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            params = dict(bound.arguments)
            seed = params.get("seed")
            ins = {n: params[n] for n in inputs if params.get(n) is not None}
            return led.call(fn, params, kind=kind, inputs=ins, seed=seed if isinstance(seed, int) else None,
                            model_version=model_version)  # fmt: skip

        wrapper._coreduce_unrecorded = fn  # type: ignore[attr-defined]
        return wrapper

    return deco
