"""Where the shared real data sets live."""

from __future__ import annotations

import os
from pathlib import Path

from coreduce.errors import CoreduceError

ENV_VAR = "COREDUCE_SHARED_DATA"


def _walk_up(start: Path) -> Path | None:
    """First ``shared/data`` directory in ``start`` or its parents (also ``../shared/data`` beside them)."""
    for d in (start, *start.parents):
        for cand in (d / "shared" / "data", d.parent / "shared" / "data"):
            if cand.is_dir():
                return cand
    return None


def shared_data_dir() -> Path:
    """Directory holding the shared real data sets (one sub-folder per data set, each with a PROVENANCE.md).

    Looked up in this order: the environment variable ``COREDUCE_SHARED_DATA``; the first ``shared/data``
    directory found walking up from the current working directory; the same walking up from this file
    (a checkout at ``/work/main`` finds ``/work/shared/data`` beside it).

    Returns
    -------
    pathlib.Path
        The data directory.

    Raises
    ------
    CoreduceError
        If no such directory can be found (or the environment variable names a missing directory).
    """
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise CoreduceError(f"{ENV_VAR}={env} is not a directory; point it at the shared data folder")
        return p
    for start in (Path.cwd().resolve(), Path(__file__).resolve().parent):
        found = _walk_up(start)
        if found is not None:
            return found
    raise CoreduceError(f"shared data folder not found; set {ENV_VAR} to the directory holding the data sets")


def data_path(*parts: str) -> Path:
    """Path of a file inside :func:`shared_data_dir`."""
    return shared_data_dir().joinpath(*parts)
