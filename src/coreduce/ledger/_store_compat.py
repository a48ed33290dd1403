"""The few store features the ledger needs that branch ``store`` is adding (contract 2 of the helpers' brief).

TODO-remove when branch ``store`` lands: use ``tx.lock(table)``, the ``(inserted, updated)`` returned by
``tx.upsert`` and ``coreduce.store.mask_url`` / ``Store.display_url`` directly. Until then this module is
the only place in the ledger that looks at the backend.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from coreduce.store import Store


def mask_url(url: str) -> str:
    """The store URL with its password replaced by ``***`` (for every message and title)."""
    store_mask = _store_attr("mask_url")
    if store_mask is not None:
        return store_mask(url)
    s = str(url)
    if "://" not in s:
        return s
    parts = urlsplit(s)
    if parts.password is None:
        return s
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def display_url(store: Store) -> str:
    """``store.display_url`` when the store offers it, else :func:`mask_url` of its URL."""
    return getattr(store, "display_url", None) or mask_url(store.url)


def _store_attr(name: str) -> Any:
    import coreduce.store as st

    return getattr(st, name, None)


def lock(tx: Any, table: str) -> None:
    """Exclusive append lock on ``table`` for the rest of the transaction (``tx.lock`` when it exists)."""
    if hasattr(tx, "lock"):
        tx.lock(table)
    elif tx.store.backend == "postgres":
        tx.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')


def ddl_lock(tx: Any) -> None:
    """Serialise concurrent ``CREATE TABLE``/``ALTER TABLE`` of the ledger tables on PostgreSQL."""
    if tx.store.backend == "postgres":
        tx.execute("SELECT pg_advisory_xact_lock(7328154901)")  # an arbitrary, fixed key for the ledger DDL


def upsert(tx: Any, table: str, df: Any) -> tuple[int, int]:
    """``tx.upsert(table, df)`` returning ``(inserted, updated)`` (counted around it for the old store)."""
    if hasattr(tx, "lock"):  # the new store counts from the statements
        inserted, updated = tx.upsert(table, df)
        return int(inserted), int(updated)
    before = int(tx.execute(f'SELECT count(*) FROM "{table}"')[0][0])
    tx.upsert(table, df)
    after = int(tx.execute(f'SELECT count(*) FROM "{table}"')[0][0])
    return after - before, len(df) - (after - before)
