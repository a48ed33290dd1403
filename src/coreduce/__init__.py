"""coreduce — co-reduction of air pollution and carbon emissions (减污降碳协同增效).

The public API is imported lazily so that ``coreduce --help`` stays fast::

    import coreduce as cr
    inv = cr.compute_inventory(activity, cr.FactorLibrary.default())
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "compute_inventory": "coreduce.account.inventory",
    "aggregate": "coreduce.account.aggregate",
    "aggregate_observations": "coreduce.account.aggregate",
    "FactorLibrary": "coreduce.account.factors",
    "Store": "coreduce.store",
    "validate": "coreduce.schema",
    "read_table": "coreduce.ingest.files",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coreduce' has no attribute {name!r}")


__all__ = [*_LAZY, "__version__"]
