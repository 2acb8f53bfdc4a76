"""Every stage in dvc.yaml lists exactly the project files it imports and the params keys it reads.

The truth comes from the code, not from a list kept by hand: during the tiny study's
`dvc repro` each stage appends to a trace the project files in its `sys.modules` and
the leaf params keys it read (stages/common/cli.py, recipes/kit/params.py). The declared side is
dvc.yaml as DVC itself resolves it (foreach/matrix expanded). A code directory (`recipes/kit`,
`recipes/cells`, `recipes/<recipe>`, `stages/common`) covers every file under it, and a stage that
lists one must import from it.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo

from tests.conftest import ROOT, dvc

CODE_ROOTS = ("recipes", "stages")  # deps under these are code; the rest is data


def stage_name(record: dict) -> str:
    """The DVC stage a trace record belongs to (`train@pos-gru-0`, `download@pos`, `compare`)."""
    kind, args = record["module"].split(".")[-1], [a for a in record["argv"] if not a.startswith("--")]
    return f"{kind}@{'-'.join(args)}" if args else kind


def traces(root: Path) -> dict[str, dict]:
    """Trace records by stage name (not the parallel runner's own record: it runs the stages, it is none)."""
    lines = (root / "trace.jsonl").read_text().splitlines()
    return {stage_name(r): r for r in map(json.loads, lines) if r["module"] != "stages.study.parallel"}


def declared(repo: Path) -> dict[str, tuple[set[str], set[str]]]:
    """(deps, params keys) of every stage, as DVC resolves the repo's dvc.yaml."""
    stages = {}
    with Repo(str(repo)) as dvc_repo:
        for stage in dvc_repo.index.stages:
            paths = {d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)}
            keys = {k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params}
            stages[stage.name] = (paths, keys)
    return stages


def problems(trace: dict[str, dict], lock: dict[str, tuple[set[str], set[str]]]) -> list[str]:
    """Each difference between what a stage used and what it declares, as one line."""
    found = [f"{name}: in dvc.yaml but it never ran" for name in sorted(set(lock) - set(trace))]
    for name, record in sorted(trace.items()):
        deps, keys = lock.get(name, (set(), set()))
        code = {d for d in deps if d.endswith(".py")}
        folders = {d for d in deps if d.split("/")[0] in CODE_ROOTS and not d.endswith(".py")}
        imported = set(record["files"])
        covered = {f for f in imported if any(f.startswith(d + "/") for d in folders)}
        found += [f"{name}: imports {f} but dvc.yaml does not list it" for f in sorted(imported - code - covered)]
        found += [f"{name}: lists {f} but never imports it" for f in sorted(code - imported)]
        found += [f"{name}: lists {d}/ but imports nothing from it" for d in sorted(folders)
                  if not any(f.startswith(d + "/") for f in imported)]
        read = set(record["params"])
        found += [f"{name}: reads params key {k} but dvc.yaml does not list it"
                  for k in sorted(read) if not any(k == d or k.startswith(d + ".") for d in keys)]
        found += [f"{name}: lists params key {d} but never reads it"
                  for d in sorted(keys) if not any(k == d or k.startswith(d + ".") for k in read)]
    return found


def test_every_stage_ran_and_was_traced(study):
    assert set(traces(study.parent)) == set(declared(study))


def test_deps_and_params_are_exactly_what_each_stage_uses(study):
    assert problems(traces(study.parent), declared(study)) == []


def test_a_stage_imports_only_its_own_recipe(study):
    params = yaml.safe_load((study / "params.yaml").read_text())
    for name, record in traces(study.parent).items():
        recipes = {r for r in params["recipes"] for f in record["files"] if f.startswith(f"recipes/{r}/")}
        expected = set() if name == "compare" else {name.split("@")[1].split("-")[0]}
        assert recipes == expected, name


MISSING = ["      - stages/common\n", "      - recipes/kit\n", "      - ${item.recipe}.train.eval_batch_size\n"]


@pytest.mark.parametrize("line", MISSING)
def test_a_missing_dep_line_fails_naming_the_stage(study, tmp_path, line):
    text = (ROOT / "dvc.yaml").read_text()
    evaluate = text.index("  evaluate:")
    assert line in text[evaluate:]
    (tmp_path / "dvc.yaml").write_text(text[:evaluate] + text[evaluate:].replace(line, "", 1))
    shutil.copy(study / "params.yaml", tmp_path / "params.yaml")
    assert dvc(tmp_path, "init", "--no-scm", "-q").returncode == 0
    found = problems(traces(study.parent), declared(tmp_path))
    what = line.strip("- \n").replace("${item.recipe}.", "")
    assert found and all(f.startswith("evaluate@") and what in f for f in found), found
