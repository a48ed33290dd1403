"""CLI tests see the environment a user's piped command sees: no ``$COLUMNS`` (pytest-xdist workers export
``COLUMNS=80``; the CLI honours an explicit ``$COLUMNS``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
