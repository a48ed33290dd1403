"""Decisions: least-cost co-control portfolios, episode curtailment and economic-emission dispatch.

Every model is a pure ``build_*(data) -> linopy.Model`` solved by HiGHS in memory (``io_api="direct"``), and
every answer comes with its explanation: which target or cap binds and at what shadow price, in plain words, and
— when nothing can meet the targets — which target cannot be met and by how much (:class:`Infeasible`).

- :func:`solve_portfolio`, :func:`macc`, :func:`pareto`, :func:`greedy_macc` — co-control portfolios
- :func:`solve_curtailment` — heavy-pollution episode curtailment (MILP)
- :func:`solve_dispatch`, :func:`dispatch_pareto` — economic-emission dispatch (LP; unit commitment as MILP)
- :mod:`coreduce.optimise.jobs` — the same, stored and recorded on the ledger with per-pollutant claims
"""

from __future__ import annotations

from coreduce import coefficients
from coreduce.optimise._solve import Infeasible, OptimiseError
from coreduce.optimise.portfolio import PortfolioResult, crf, greedy_macc, macc, pareto, read_measures, solve_portfolio

coefficients.register(
    "curtailment_levels",
    package="coreduce.optimise",
    path="data/curtailment_levels.csv",
    columns=("scheme", "alert", "grade", "min_cut", "source"),
    numeric=("min_cut",),
    key=("scheme", "alert", "grade"),
    description="minimum emission cut (fraction of the episode's baseline emissions of SO2, NOx, PM, VOCs) an "
    "enterprise of a performance grade must make at an alert level",
)

__all__ = [
    "Infeasible",
    "OptimiseError",
    "PortfolioResult",
    "crf",
    "greedy_macc",
    "macc",
    "pareto",
    "read_measures",
    "solve_portfolio",
]
