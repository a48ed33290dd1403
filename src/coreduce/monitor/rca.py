"""Root cause and action: a versioned, cited symptom -> cause -> action graph (``data/rca_graph.csv``).

Each row is one edge pair ``symptom --(condition)--> cause --> action`` with its source.  A condition
``VAR:low`` / ``VAR:high`` (``VAR`` may list aliases, ``load|TEY``) holds when the operating variable is in the
lowest / highest third of its training range (the terciles of the frame the
:class:`~coreduce.monitor.thresholds.ConditionalModel` was fitted on); an empty condition is the fallback of
the symptom.  :func:`explain` walks the graph (networkx) and returns the path of the first matching cause,
preferring causes whose variable is among the top contributors, or ``"unexplained"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import networkx as nx
import pandas as pd

UNEXPLAINED = "unexplained"


@lru_cache(maxsize=1)
def graph_table() -> pd.DataFrame:
    """The bundled graph rows (``version, symptom, condition, cause, action, source``)."""
    with resources.files("coreduce.monitor").joinpath("data/rca_graph.csv").open(encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def graph_version() -> str:
    v = sorted(set(graph_table()["version"]))
    return ",".join(v)


@lru_cache(maxsize=1)
def graph() -> nx.DiGraph:
    """The graph: nodes ``symptom:*``, ``cause:*``, ``action:*``; edges carry ``condition`` and ``source``."""
    g = nx.DiGraph(version=graph_version())
    for r in graph_table().itertuples(index=False):
        s, c, a = f"symptom:{r.symptom}", f"cause:{r.cause}", f"action:{r.action}"
        g.add_edge(s, c, condition=r.condition, source=r.source)
        g.add_edge(c, a, source=r.source)
    return g


@dataclass(frozen=True)
class Explanation:
    path: str  # "symptom -> cause -> action" or "unexplained"
    cause: str | None
    action: str | None
    source: str | None


def _holds(cond: str, state: dict[str, float], terciles: dict[str, tuple[float, float]]) -> bool:
    if not cond:
        return True
    names, _, side = cond.partition(":")
    for var in names.split("|"):  # aliases: "load|TEY" = the load under either name
        if var in state and var in terciles:
            lo, hi = terciles[var]
            return state[var] <= lo if side == "low" else state[var] >= hi
    return False


def explain(
    symptom: str,
    state: dict[str, float] | None = None,
    terciles: dict[str, tuple[float, float]] | None = None,
    contributors: list[tuple[str, float]] | None = None,
) -> Explanation:
    """The graph path for ``symptom`` given the operating ``state`` (e.g. ``{"TEY": 9.1, "TIT": 1060}``).

    Conditional causes whose condition holds come first, ordered by the rank of their variable among
    ``contributors``; the unconditional cause is the fallback; a symptom not in the graph is ``unexplained``.

    Examples
    --------
    >>> explain("NOx_high", {"TEY": 8.0}, {"TEY": (10.0, 13.0)}).cause
    'part-load combustion outside the lean-premix (DLN) range'
    >>> explain("no_such_symptom").path
    'unexplained'
    """
    g = graph()
    node = f"symptom:{symptom}"
    if node not in g:
        return Explanation(UNEXPLAINED, None, None, None)
    state, terciles = state or {}, terciles or {}
    rank = {name: i for i, (name, _) in enumerate(contributors or [])}
    cands = []
    for _, cause, data in g.out_edges(node, data=True):
        cond = data["condition"]
        if cond and _holds(cond, state, terciles):
            names = cond.partition(":")[0].split("|")
            cands.append((min(rank.get(v, len(rank)) for v in names), cause, data))
    if not cands:
        cands = [(0, c, d) for _, c, d in g.out_edges(node, data=True) if not d["condition"]]
    if not cands:
        return Explanation(UNEXPLAINED, None, None, None)
    _, cause, data = sorted(cands, key=lambda t: t[0])[0]
    action = next(iter(g.successors(cause)))
    path = nx.shortest_path(g, node, action)
    text = " -> ".join(p.partition(":")[2] for p in path)
    return Explanation(text, cause.partition(":")[2], action.partition(":")[2], data["source"])


def terciles_of(df: pd.DataFrame, columns: list[str]) -> dict[str, tuple[float, float]]:
    """Training terciles (q1/3, q2/3) of the operating variables, for the graph's ``low``/``high`` conditions."""
    return {c: (float(df[c].quantile(1 / 3)), float(df[c].quantile(2 / 3))) for c in columns}


def as_json_list(contributors: list[tuple[str, Any]]) -> list[list[Any]]:
    return [[str(n), round(float(v), 6)] for n, v in contributors]
