"""The parallel runner (stages/study/parallel.py): DVC's graph scheduled on a real Dask cluster, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from stages.study import parallel
from tests.conftest import ROOT, dvc, make_study

# Each toy stage appends "<name> <start> <end>" to log.txt and writes its output; `b` fails while fail.txt exists.
TOY = """
stages:
  a:
    cmd: python ../step.py a
    outs: [a.txt]
  b:
    cmd: python ../step.py b
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: python ../step.py c
    outs: [c.txt]
  d:
    cmd: python ../step.py d
    deps: [b.txt, c.txt]
    outs: [d.txt]
"""
STEP = """
import sys, time
from pathlib import Path
name = sys.argv[1]
if name == "b" and Path("fail.txt").exists():
    sys.exit("b cannot run: fail.txt is there")
start = time.time()
time.sleep(0.5)
Path(name + ".txt").write_text(name)
with open("log.txt", "a") as log:
    log.write(f"{name} {start} {time.time()}\\n")
"""


@pytest.fixture
def toy(tmp_path, monkeypatch) -> Path:
    """A DVC project of four one-second stages: a → b → d and c → d."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "step.py").write_text(STEP)
    repo = tmp_path / "toy"
    repo.mkdir()
    (repo / "dvc.yaml").write_text(TOY)
    assert dvc(repo, "init", "--no-scm", "-q").returncode == 0
    return repo


def spans(repo: Path) -> dict[str, tuple[float, float]]:
    lines = (repo / "log.txt").read_text().split("\n")
    return {name: (float(start), float(end)) for name, start, end in (line.split() for line in lines if line)}


def test_the_graph_comes_from_dvc(toy):
    assert parallel.stage_graph(parallel.open_repo(toy)) == {"a": [], "b": ["a"], "c": [], "d": ["b", "c"]}


def test_stages_run_after_their_inputs_and_side_by_side_otherwise(toy):
    lines: list[str] = []
    run = parallel.run_local(toy, jobs=2, force=False, log=lines.append)
    done, failed = run.done, run.failed
    assert failed == [] and sorted(r.name for r in done) == ["a", "b", "c", "d"] and all(r.ran for r in done), lines
    span = spans(toy)
    assert span["a"][1] <= span["b"][0] and span["b"][1] <= span["d"][0] and span["c"][1] <= span["d"][0]
    assert span["c"][0] < span["a"][1]  # c did not wait for a: two workers
    assert dvc(toy, "status", "--json").stdout.strip() == "{}"  # all recorded in dvc.lock
    assert parallel.run_local(toy, jobs=2, force=False, log=lambda _: None).done == []


def test_a_failure_stops_what_depends_on_it_and_a_rerun_resumes(toy):
    (toy / "fail.txt").write_text("")
    lines: list[str] = []
    run = parallel.run_local(toy, jobs=2, force=False, log=lines.append)
    done, failed = run.done, run.failed
    assert [name for name, _ in failed] == ["b"] and "fail.txt is there" in failed[0][1]
    assert "d" not in {r.name for r in done} and not (toy / "d.txt").exists()
    assert any(line.startswith("FAILED b:") for line in lines)
    status = json.loads(dvc(toy, "status", "--json").stdout)
    assert "a" not in status and "b" in status  # a is recorded as done, b is not
    (toy / "fail.txt").unlink()
    run = parallel.run_local(toy, jobs=2, force=False, log=lambda _: None)
    done, failed = run.done, run.failed
    assert failed == [] and {r.name for r in done} == {"b", "d"} | ({"c"} if "c" in status else set())


def test_stale_stages_include_everything_downstream(toy):
    parallel.run_local(toy, jobs=1, force=False, log=lambda _: None)
    (toy / "a.txt").write_text("changed by hand")
    repo = parallel.open_repo(toy)
    assert parallel.stale_stages(repo, parallel.stage_graph(repo)) == {"a", "b", "d"}


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(toy):
    result = subprocess.run([sys.executable, "-m", "stages.study.parallel", "--scheduler", "tcp://127.0.0.1:9",
                             "--connect-timeout", "1"], cwd=toy, capture_output=True, text=True, timeout=90,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: could not reach the Dask scheduler at tcp://127.0.0.1:9 within 1 s")


def test_threads_divide_the_cores_through_the_environment(monkeypatch):
    import torch

    from recipes.kit import engine

    monkeypatch.setenv(parallel.THREADS_ENV, "1")
    engine.set_threads(0)  # one per core, capped at one
    assert torch.get_num_threads() == 1
    monkeypatch.setenv(parallel.THREADS_ENV, "8")
    engine.set_threads(1)  # the cap never raises the params' count
    assert torch.get_num_threads() == 1


def test_the_tiny_study_ran_on_two_workers_and_dvc_recorded_every_stage(study):
    log = (study.parent / "run.log").read_text()
    stages = parallel.stage_graph(parallel.open_repo(study))
    assert f"{len(stages)} stages to run on 2 local worker(s)" in log
    assert all(f"] {name} ran in" in log for name in stages)
    assert "dvc.lock writes" in log
    assert dvc(study, "status", "--json").stdout.strip() == "{}"  # dvc.lock is what `dvc repro` would write


def test_a_sequential_dvc_repro_gives_the_two_workers_metrics_bit_for_bit(tmp_path, study):
    """One recipe of the tiny study again, with a plain `dvc repro`, for a plain and a gated cell whose states
    differ in kind (rnn: h; lstm: h and c): every stage ran, and its runs' test metrics equal those of the
    session's study, run by the parallel runner (threads: 1 in both)."""
    name = "sentiment"
    repo = make_study(tmp_path, run="dvc", recipes=[name])
    ran = {line.split("'")[1] for line in (tmp_path / "run.log").read_text().splitlines()
           if line.startswith("Running stage")}
    assert ran == set(parallel.stage_graph(parallel.open_repo(repo)))
    assert dvc(repo, "status", "--json").stdout.strip() == "{}"
    runs = sorted(p.relative_to(repo) for p in repo.glob("metrics/runs/*/*.json"))
    assert len(runs) == len(yaml.safe_load((repo / "params.yaml").read_text())["cells"])
    for path in runs:
        ours, theirs = json.loads((repo / path).read_text()), json.loads((study / path).read_text())
        assert ours["test"] == theirs["test"], path


def test_gpu_workers_are_named_by_their_device():
    spec = parallel.gpu_worker_specs(2)
    assert [w["options"]["resources"] for w in spec.values()] == [{"GPU": 1}, {"GPU": 1}]
    assert list(spec) == ["gpu-0", "gpu-1"]


def test_make_run_checks_params_then_runs_in_parallel_and_jobs_1_is_sequential():
    def commands(*args: str) -> list[str]:
        out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return [line.strip() for line in out.stdout.splitlines() if "stages." in line]

    assert commands() == ["python -m stages.check", "python -m stages.study.parallel"]
    assert commands("JOBS=1")[1] == "python -m stages.study.parallel --jobs 1"
    assert commands("SCHEDULER=tcp://h:8786")[1] == "python -m stages.study.parallel  --scheduler tcp://h:8786"


def start(argv: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_two_worker_clones_and_a_coordinator_share_a_dvc_remote(tmp_path):
    """The README's multi-machine recipe on one machine: `dask scheduler`, two `dask worker`s each in its own
    clone, one shared folder as the DVC remote; the coordinator's final `dvc repro` re-runs nothing."""
    coordinator = make_study(tmp_path, run=None)
    params = yaml.safe_load((coordinator / "params.yaml").read_text())
    params.update(recipes=[params["recipes"][0]], cells=["lstm"])  # the sharing, not the cells, is under test
    (coordinator / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert dvc(coordinator, "remote", "add", "-d", "shared", str(tmp_path / "remote")).returncode == 0
    clones = [tmp_path / f"worker{i}" for i in (1, 2)]
    for clone in clones:
        shutil.copytree(coordinator, clone)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    scheduler_file = tmp_path / "scheduler.json"
    processes = [start([str(bin_dir / "dask"), "scheduler", "--scheduler-file", str(scheduler_file),
                        "--no-dashboard", "--port", "0"], tmp_path, env)]
    try:
        for _ in range(60):
            if scheduler_file.exists():
                break
            time.sleep(0.5)
        address = json.loads(scheduler_file.read_text())["address"]
        for clone in clones:
            processes.append(start([str(bin_dir / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                    "--no-dashboard"], clone, {**env, "PYTHONPATH": str(clone)}))
        result = subprocess.run([sys.executable, "-m", "stages.study.parallel", "--scheduler", address],
                                cwd=coordinator, env={**env, "PYTHONPATH": str(coordinator)}, capture_output=True,
                                text=True, timeout=600)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    on_workers = parallel.restorable_stages(parallel.open_repo(coordinator))
    # download, prepare, timing, and the cell's tune, train, evaluate; not compare: its report is git-tracked
    assert len(on_workers) == 6 and "compare" not in on_workers
    final = output[output.index("[6/6]"):]  # what the coordinator's own `dvc repro` printed
    assert all(f"Stage '{name}' is cached - skipping run" in final for name in on_workers), final[-3000:]
    assert final.count("Running stage") == 1 and "Running stage 'compare'" in final
    assert dvc(coordinator, "status", "--json").stdout.strip() == "{}"
    assert all((coordinator / "metrics" / "runs").glob("*/*.json"))


def test_the_simulations_bound_is_the_longest_chain_of_stage_seconds():
    from benchmarks.simulate import critical_path

    upstream = {"a": [], "b": ["a"], "c": [], "d": ["b", "c"]}
    assert critical_path(upstream, {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0}) == 6.0  # c → d, not a → b → d
    assert critical_path(upstream, {"a": 4.0, "b": 2.0, "c": 5.0, "d": 1.0}) == 7.0
