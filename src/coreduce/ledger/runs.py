"""Former home of the ledger, split by job into :mod:`~coreduce.ledger.hashing`, :mod:`~coreduce.ledger.records`,
:mod:`~coreduce.ledger.ledger`, :mod:`~coreduce.ledger.audit` and :mod:`~coreduce.ledger.decorator`; these
names are re-exported so ``from coreduce.ledger.runs import …`` keeps working."""

from __future__ import annotations

from coreduce.ledger import *  # noqa: F403
from coreduce.ledger import __all__  # noqa: F401
