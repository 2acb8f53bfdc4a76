"""Shared fixtures: tiny raw datasets written by the tests themselves (no network)."""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from benchmarks.simulate import copy_code

ROOT = Path(__file__).resolve().parents[1]

# `make test` runs the suite on one pytest-xdist worker per core. Each worker's torch, and every stage it
# starts, then gets one thread: two workers of two threads each on two cores ran 20x slower, not 2x faster.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("RNN_RECIPES_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups from the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the session's trained `study` goes to one xdist worker (`--dist loadgroup`): some change
    the study for a moment (a param, a tuning file) and others read it, so they must not interleave, and the
    study is trained once, not once per worker."""
    for item in items:
        if "study" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("study"))

POSITIVE = ["a gorgeous , moving film", "great fun and smart", "warm funny and wise", "a delight from start to end",
            "brilliant acting and a great story", "smart funny moving", "a great warm film"]
NEGATIVE = ["a dull , lifeless mess", "boring and far too long", "bad acting and a weak story",
            "tedious dull and flat", "a mess from start to end", "weak boring film", "lifeless and bad"]


def sentiment_rows(n: int = 60) -> list[dict]:
    """Alternating positive and negative rows in the sentiment raw format."""
    rows = []
    for i in range(n):
        pool, label = (POSITIVE, "pos") if i % 2 == 0 else (NEGATIVE, "neg")
        rows.append({"text": pool[i % len(pool)], "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Rows as JSON lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def params() -> dict:
    """The committed params.yaml, as a dict the tests may change."""
    return copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture
def sentiment_local(tmp_path: Path) -> Path:
    """A folder with a local sentiment dataset (train.jsonl only)."""
    folder = tmp_path / "sentiment_local"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", sentiment_rows())
    return folder


def recipe_tests(name: str) -> ModuleType:
    """A recipe's own test module, which supplies its data for the shared tests (`tiny`, `SIZING_META`, …)."""
    return importlib.import_module(f"tests.test_{name}")


TINY_TRIALS = 2
# One cell per kind of state the recipes handle (rnn: h; lstm: the pair h, c); every registered cell's
# contract is checked in-process by tests/test_cell_conformance.py, so the end-to-end study needs no more.
TINY_CELLS = ["rnn", "lstm"]


def tiny_params(params: dict, fixtures: Path) -> dict:
    """The committed params shrunk to seconds of work: one seed, two cells (TINY_CELLS), each recipe's own
    `tiny` settings, and tuning on with 2 trials per recipe × cell (so the tiny study runs every stage's
    full code path)."""
    params["seeds"] = [0]
    params["cells"] = TINY_CELLS
    params["tune"]["trials"] = TINY_TRIALS
    for name in params["recipes"]:
        recipe_tests(name).tiny(params[name], fixtures / name)
        section = params[name]  # trial 0 is the tiny settings: the space must hold them
        params["tune"]["space"][name].update(batch_size=[section["train"]["batch_size"]],
                                             hidden_size=[section["model"]["hidden_size"]])
    return params


def project_env(repo: Path, env: dict | None = None) -> dict:
    """The environment for DVC and the project's commands in `repo`: this interpreter, the repo's package cache."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                RNN_RECIPES_CACHE=str(repo / ".cache"), **(env or {}))


def dvc(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run DVC in `repo` with this interpreter, the repo's own package cache, and extra `env`."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=project_env(repo, env),
                          capture_output=True, text=True)


def run_parallel(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m stages.study.parallel` (the README's `make run`) in `repo`, importing the repo's own code."""
    return subprocess.run([sys.executable, "-m", "stages.study.parallel", *args], cwd=repo, capture_output=True,
                          text=True, env=project_env(repo, {"PYTHONPATH": str(repo), **(env or {})}))


def run_in_process(module: str, args: list[str], cwd: Path, monkeypatch, capsys, stdin: str = ""
                   ) -> tuple[int, str, str]:
    """`python -m stages.<module> args` in this process, the way `stages.common.cli.run` runs it (seconds
    cheaper than a subprocess that imports torch again): (exit code, stdout, stderr)."""
    from stages.common import cli

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [f"stages.{module}", *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    code = 0
    try:
        cli.run(importlib.import_module(f"stages.{module}").main)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def make_study(root: Path, dvc_yaml: str | None = None, run: str | None = "parallel",
               recipes: list[str] | None = None, cells: list[str] | None = None) -> Path:
    """A copy of the project's code in root/repo with tiny params (only `recipes` and `cells`, if given),
    reproduced once.

    `run`: "parallel" runs it as `make run` does, on two Dask workers (output in root/run.log);
    "dvc" with a plain sequential `dvc repro`; None leaves it unrun.
    root/trace.jsonl holds what each stage imported and read (stages/common/cli.py)."""
    repo = root / "repo"
    copy_code(ROOT, repo)
    if dvc_yaml is not None:
        (repo / "dvc.yaml").write_text(dvc_yaml)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["recipes"] = recipes or params["recipes"]
    params = tiny_params(params, root / "fixtures")
    params["cells"] = cells or params["cells"]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert dvc(repo, "init", "--no-scm", "-q").returncode == 0
    if run is None:
        return repo
    trace = {"RNN_RECIPES_TRACE": str(root / "trace.jsonl")}
    result = run_parallel(repo, "--jobs", "2", env=trace) if run == "parallel" else dvc(repo, "repro", env=trace)
    (root / "run.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return repo


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """The tiny study, run once per test session by the parallel runner (tests must not change its results)."""
    return make_study(tmp_path_factory.mktemp("study"))
