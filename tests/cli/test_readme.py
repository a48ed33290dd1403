"""The README's commands, as a new user pastes them (issue 11 item 9; "Done means": the two commands on a fresh clone,
then every command of the tour, pasted as written, work).

The tour is run line by line with ``bash`` in a scratch folder holding a copy of ``examples/``, after the quick start's
``coreduce demo``; two substitutions keep the test off shared resources: the PostgreSQL URL points at this session's
throw-away database, and ``load`` is skipped (with the reason) when the data set is not present on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(after_heading: str) -> str:
    """The first ```bash block after a heading."""
    start = README.index(after_heading)
    m = re.search(r"```bash\n(.*?)```", README[start:], re.S)
    assert m, after_heading
    return m.group(1)


def _commands(block: str) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_same():
    cmds = _commands(_block("## Quick start"))
    assert len(cmds) == 2
    install, test = cmds
    assert '.venv/bin/pip install -q -e ".[all-light,dev]"' in install
    assert install.endswith(".venv/bin/coreduce demo --out demo-out")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci, "the CI must run exactly the README's test command"
    assert '.venv/bin/pip install -q -e ".[all-light,dev]"' in ci
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"postgres", "report", "footprint"} <= {e for x in extras["all-light"] for e in re.findall(r"[\w-]+", x)}


def test_tour_has_no_pipes_or_placeholders():
    for line in _commands(_block("### Command line")):
        assert "|" not in line, line  # no `list | show RUN | verify` pseudo-pipes
        assert not re.search(r"\b(RUN|FILE|NAME)\b", line), line  # real arguments only


def test_package_data_covers_every_data_file():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["coreduce"]
    pkg = ROOT / "src" / "coreduce"
    files = [
        p for p in pkg.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    missing = [str(p.relative_to(pkg)) for p in files if not any(p.relative_to(pkg).match(g) for g in globs)]
    assert missing == [], f"not shipped in a wheel: {missing}"


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_start_then_every_tour_line_runs(tmp_path, pg_url):
    exe = shutil.which("coreduce", path=str(Path(sys.executable).parent)) or shutil.which("coreduce")
    if exe is None:  # pragma: no cover - the package is installed in every supported setup
        pytest.skip("the coreduce script is not installed")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if k != "COREDUCE_STORE"}  # the default workspace, as a user has
    env["PATH"] = f"{Path(exe).parent}{os.pathsep}{env.get('PATH', '')}"
    pg_db = pg_url.rsplit("/", 1)[1]

    def sh(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    demo = sh("coreduce demo --out demo-out")
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo-out" / "report.html").is_file() and (tmp_path / "coreduce.duckdb").is_file()
    from coreduce.ingest.loaders import available

    present = {r["name"]: r["present"] for r in available().to_dict("records")}
    ran = 0
    for line in _commands(_block("### Command line")):
        if line.startswith("source "):
            continue  # PATH is set above
        if line.startswith("coreduce load ") and not line.startswith("coreduce load list"):
            name = line.split()[2]
            if not present.get(name):
                continue  # the data set is not on this machine (load list says where to get it)
        line = line.replace("127.0.0.1:5432/test", f"127.0.0.1:5432/{pg_db}")
        res = sh(line)
        assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr, line
        ran += 1
        if line == "coreduce ledger list":
            assert "demo" in res.stdout  # the demo's runs are on the default workspace
    assert ran >= 12


def test_python_tour_runs(tmp_path, monkeypatch):
    m = re.search(r"### Python\n\n```python\n(.*?)```", README, re.S)
    assert m
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(m.group(1), "README.md (Python tour)", "exec"), ns)  # the README's own code
    assert ns["store"].count("activity") == 8  # examples/activity.csv has 8 rows
    ns["store"].close()
