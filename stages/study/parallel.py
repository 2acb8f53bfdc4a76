"""Run the study's stale stages in parallel on Dask, recorded in DVC as `dvc repro` records them.

    python -m stages.study.parallel                  # all cores: one single-process worker per job
    python -m stages.study.parallel --jobs 1         # one stage at a time
    python -m stages.study.parallel --scheduler tcp://host:8786   # a Dask cluster whose workers share a DVC remote

A stage is submitted as soon as the stages it depends on are done (the graph
is DVC's own, `Repo.index.graph`). Here, workers run only the stage's command
(a `python -m` line in a warm fork that has imported torch already: stages/study/warm.py);
this process holds DVC's repository lock and does DVC's bookkeeping with DVC's
own stage methods (stages/study/ledger.py): outputs removed and the run-cache tried
before, outputs hashed, cached and run-cached after, and dvc.lock written once
per batch of finished stages instead of once per stage. Torch in each stage
gets cores ÷ jobs threads through RNN_RECIPES_THREADS, which changes no result
and no stage's hash. With CUDA, one worker per GPU runs every stage, each
seeing only its own GPU. On a cluster (`--scheduler`), each worker runs
`dvc repro` from its own clone at the same commit: it pulls what a stage needs
from the DVC remote, runs it, and pushes its outputs and run-cache; this
machine then pulls and restores them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from recipes.kit.engine import THREADS_ENV
from recipes.kit.errors import UserError
from stages.common import cli
from stages.study import warm
from stages.study.ledger import WRITE_EVERY_S, Ledger

CONNECT_TIMEOUT_S = 30


@dataclass
class StageResult:
    """What a worker reports of one stage: its name, seconds, and whether it ran or was restored."""

    name: str
    seconds: float
    ran: bool


@dataclass
class StudyRun:
    """A parallel run: the finished stages, the failures, wall seconds, and the coordinator's DVC seconds."""

    done: list[StageResult] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    bookkeeping_seconds: float = 0.0  # serial: DVC's hashing, caching and dvc.lock writes, here
    lock_writes: int = 0


class StageFailed(Exception):
    """A stage's command failed; the message is its last lines of output."""


# ------------------------------------------------------------------ the graph, from DVC

def open_repo(root: Path):
    """DVC's `Repo` for the project at `root` (a context manager)."""
    from dvc.repo import Repo

    return Repo(str(root))


def stage_graph(repo) -> dict[str, list[str]]:
    """Every stage of the DVC `repo` → the stages whose outputs it reads, in DVC's order."""
    graph = repo.index.graph  # an edge points from a stage to a stage it depends on
    return {stage.name: [up.name for up in graph.successors(stage)] for stage in repo.index.stages}


def restorable_stages(repo) -> set[str]:
    """The stages DVC's run-cache can restore elsewhere: every output cached, or a metric or plot.

    DVC keeps no run-cache entry for a stage with an uncached output of another kind.
    """
    return {stage.name for stage in repo.index.stages
            if all(out.use_cache or out.is_metric or out.is_plot for out in stage.outs)}


def stale_stages(repo, upstream: dict[str, list[str]]) -> set[str]:
    """The stages `dvc repro` would run: those DVC reports changed, and everything downstream of them."""
    changed = {name.split(":")[-1] for name in repo.status()}
    stale, grew = set(changed) & set(upstream), True
    while grew:
        more = {name for name, ups in upstream.items() if name not in stale and stale.intersection(ups)}
        stale |= more
        grew = bool(more)
    return stale


# ------------------------------------------------------------------ one stage, on a worker

def _run(argv: list[str], cwd: Path, env: dict, shown: str | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        raise StageFailed(f"`{shown or shlex.join(argv)}` exited {result.returncode}: " + " | ".join(lines[-3:]))
    return output


def stage_env(threads: int) -> dict[str, str]:
    """The environment a stage runs in on this worker: its torch threads, and its GPU if the worker has one."""
    env = dict(os.environ, **{THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads)})
    # A Dask nanny sets a 64 KiB glibc trim threshold for its worker; inherited by torch it turns
    # every freed buffer into syscalls (measured: a training stage ran 2-3x slower). Stages get the default.
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    gpu = _worker_gpu()
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def _run_warm(module: str, args: list[str], cwd: Path, env: dict, shown: str) -> None:
    log = Path(tempfile.mkstemp(prefix="stage-", suffix=".log")[1])
    try:
        code = warm.server_for(env).run(module, args, str(cwd), env, log)
        if code != 0:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise StageFailed(f"`{shown}` exited {code}: " + " | ".join(lines[-3:]))
    finally:
        log.unlink(missing_ok=True)


def run_command(name: str, lines: list[str], cwd: str, root: str, threads: int) -> StageResult:
    """Run one stage's command lines as DVC runs them (`DVC_ROOT` and `DVC_STAGE` set): a `python -m`
    line of this interpreter in a warm fork that has torch imported (stages/study/warm.py), any other
    line in the user's shell."""
    env = dict(stage_env(threads), DVC_ROOT=root, DVC_STAGE=name)
    shell = os.environ.get("SHELL") or "/bin/sh"
    start = time.perf_counter()
    for line in lines:
        if (module := warm.python_module(line, env)) is not None:
            _run_warm(*module, Path(cwd), env, shown=line)
        else:
            _run([shell, "-c", line], Path(cwd), env, shown=line)
    return StageResult(name, time.perf_counter() - start, True)


def git_commit(cwd: Path) -> str | None:
    """The commit checked out at `cwd`, or None outside a git repository."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def run_in_clone(name: str, threads: int, commit: str | None) -> StageResult:
    """On a cluster worker: `dvc repro --pull` one stage in the worker's own clone, then push it to the remote.

    The stages it depends on are restored from the remote's run-cache, not re-run; `commit` must match the clone's.
    """
    cwd = Path.cwd()
    if commit is not None and (here := git_commit(cwd)) != commit:
        raise StageFailed(f"the clone at {socket.gethostname()}:{cwd} is at {here}, not {commit}: "
                          "check out the coordinator's commit in every worker's clone")
    env = stage_env(threads)
    start = time.perf_counter()
    output = _run(["dvc", "--wait-for-lock", "repro", "--pull", name], cwd, env)
    _run(["dvc", "push", "--run-cache", "-q"], cwd, env)
    return StageResult(name, time.perf_counter() - start, f"Running stage '{name}'" in output)


def _worker_gpu() -> str | None:
    """The GPU this Dask worker owns (workers with a GPU resource are named by its index), if any."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return str(worker.name).removeprefix("gpu-") if worker.state.total_resources.get("GPU") else None


# ------------------------------------------------------------------ scheduling

def schedule(upstream: dict[str, list[str]], start: Callable, finish: Callable[[StageResult], None] = lambda r: None,
             log: Callable[[str], None] = print) -> tuple[list[StageResult], list[tuple[str, str]]]:
    """Start each stage once the stages it depends on are done; stop starting new ones after a failure.

    `upstream` holds only the stages to run (dependencies outside it count as done). `start(name)`
    returns a Dask future, or a `StageResult` when nothing had to run; `finish(result)` is called on
    each result before its dependents start. Returns the finished results and the failures.
    """
    from distributed import as_completed

    waiting = {name: {u for u in ups if u in upstream} for name, ups in upstream.items()}
    done: list[StageResult] = []
    failed: list[tuple[str, str]] = []
    running = as_completed()
    names = {}

    def fail(name: str, err: Exception) -> None:  # a StageFailed, DVC's error, or a lost worker (KilledWorker)
        failed.append((name, " ".join(str(err).split()) or type(err).__name__))
        log(f"FAILED {name}: {failed[-1][1]}")
        waiting.clear()  # the others finish what they started; nothing new starts

    def complete(result: StageResult) -> None:
        finish(result)
        done.append(result)
        log(f"[{len(done)}/{len(upstream)}] {result.name} "
            + (f"ran in {result.seconds:.1f} s" if result.ran else "was restored from the run-cache"))
        for ups in waiting.values():
            ups.discard(result.name)

    def start_ready() -> None:
        while ready := [n for n, ups in waiting.items() if not ups]:
            for name in ready:
                if failed:
                    return
                del waiting[name]
                try:
                    outcome = start(name)
                    if isinstance(outcome, StageResult):
                        complete(outcome)
                    else:
                        names[outcome.key] = name
                        running.add(outcome)
                except Exception as err:
                    fail(name, err)

    start_ready()
    for future in running:
        name = names[future.key]
        try:
            complete(future.result())
        except Exception as err:
            fail(name, err)
            continue
        start_ready()
    return done, failed


# ------------------------------------------------------------------ the cluster

def gpu_count() -> int:
    """CUDA devices visible here (0 without torch or CUDA)."""
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def gpu_worker_specs(gpus: int) -> dict[str, dict]:
    """Dask worker specs: one single-thread worker per GPU, named gpu-<index> and holding a GPU resource."""
    from distributed import Nanny

    return {f"gpu-{i}": {"cls": Nanny, "options": {"nthreads": 1, "resources": {"GPU": 1}}} for i in range(gpus)}


def local_cluster(jobs: int, gpus: int):
    """One single-process, single-thread worker per job; with GPUs, one per GPU instead."""
    from distributed import LocalCluster, Scheduler, SpecCluster

    if not gpus:
        return LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.CRITICAL)  # our own lines report progress and failures
    return SpecCluster(workers=gpu_worker_specs(gpus), silence_logs=logging.CRITICAL,
                       scheduler={"cls": Scheduler, "options": {"dashboard_address": None}})


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S):
    """A Dask client for the scheduler at `address`, or a `UserError` within `timeout_s` seconds."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError) as err:
        raise UserError(f"could not reach the Dask scheduler at {address} within {timeout_s:g} s "
                        f"({type(err).__name__}); start one with `dask scheduler` and workers with "
                        "`dask worker <address>` in clones of this repository, or leave out --scheduler") from err


def _threads(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(jobs, 1))


def run_local(root: Path, jobs: int, force: bool, log: Callable[[str], None] = print, gpus: int | None = None,
              write_every_s: float = WRITE_EVERY_S) -> StudyRun:
    """Run the stale stages (every stage with `force`) on a local cluster, recording them in DVC here.

    `gpus`: one worker per GPU instead of `jobs` workers (default: the CUDA devices visible).
    """
    from distributed import Client
    from dvc.repo import lock_repo

    run = StudyRun()
    # DVC resolves some paths against the working directory; the lock is held throughout, so no other
    # DVC command changes the workspace meanwhile.
    with contextlib.chdir(root), open_repo(root) as repo, lock_repo(repo):
        upstream = stage_graph(repo)
        todo = set(upstream) if force else stale_stages(repo, upstream)
        plan = {name: ups for name, ups in upstream.items() if name in todo}
        if not plan:
            log("every stage is up to date")
            return run
        gpus = gpu_count() if gpus is None else gpus
        threads = _threads(jobs)
        log(f"{len(plan)} stages to run on {gpus or jobs} local worker(s), {threads} thread(s) each")
        ledger = Ledger(repo, write_every_s)
        started = time.perf_counter()
        cluster = local_cluster(jobs, gpus)
        client = Client(cluster)

        def start(name: str):
            if ledger.begin(name, force):
                return StageResult(name, 0.0, ran=False)
            lines, wdir = ledger.command(name)
            return client.submit(run_command, name, lines, wdir, str(root), threads, key=f"stage-{name}", pure=False)

        try:
            run.done, run.failed = schedule(plan, start, lambda r: r.ran and ledger.record(r.name), log)
        finally:
            client.close()
            cluster.close()
            ledger.write()  # even when interrupted: what finished is recorded
        run.seconds = time.perf_counter() - started
        run.bookkeeping_seconds, run.lock_writes = ledger.seconds, ledger.lock_writes
    return run


def run_on_cluster(root: Path, scheduler: str, log: Callable[[str], None] = print,
                   connect_timeout_s: float = CONNECT_TIMEOUT_S) -> StudyRun:
    """Run the stale restorable stages on the Dask cluster at `scheduler`, each through DVC in a worker's clone."""
    with open_repo(root) as repo:
        upstream = stage_graph(repo)
        todo = stale_stages(repo, upstream) & restorable_stages(repo)  # the rest runs in the final `dvc repro`
    plan = {name: ups for name, ups in upstream.items() if name in todo}
    run = StudyRun()
    if not plan:
        log("every stage is up to date")
        return run
    log(f"{len(plan)} stages to run on {scheduler}")
    started = time.perf_counter()
    client = connect(scheduler, connect_timeout_s)
    commit, threads = git_commit(root), 1
    try:
        run.done, run.failed = schedule(
            plan, lambda name: client.submit(run_in_clone, name, threads, commit, key=f"stage-{name}", pure=False),
            log=log)
    finally:
        client.close()
    run.seconds = time.perf_counter() - started
    return run


def main() -> None:
    """Parse the options, run the study in parallel, and finish as `dvc repro` would."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="stages at once (default: every core)")
    ap.add_argument("--scheduler", default=None, help="address of a Dask scheduler (tcp://host:8786)")
    ap.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                    help=f"how long to try reaching --scheduler (default: {CONNECT_TIMEOUT_S})")
    ap.add_argument("--force", action="store_true", help="run every stage, changed or not (as dvc repro --force)")
    args = ap.parse_args()
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if args.force and args.scheduler:
        raise UserError("--force runs here only: on a cluster, run `dvc repro --force` or change a dependency")
    root = Path.cwd()
    run = (run_on_cluster(root, args.scheduler, connect_timeout_s=args.connect_timeout) if args.scheduler
           else run_local(root, args.jobs, args.force))
    if run.failed:
        name, why = run.failed[0]
        raise UserError(f"{len(run.failed)} stage(s) failed, {len(run.done)} finished: {name}: {why}; "
                        "fix it and rerun: finished stages are recorded and will not run again")
    if args.scheduler:  # bring the workers' results here: restored from the run-cache, not re-run
        if subprocess.run(["dvc", "repro", "--pull"]).returncode != 0:
            raise UserError("`dvc repro --pull` failed after the workers finished: check the DVC remote")
    if run.done:
        work = sum(r.seconds for r in run.done)
        print(f"{len(run.done)} stages in {run.seconds:.1f} s wall; their commands took {work:.1f} s"
              + (f"; DVC's bookkeeping here {run.bookkeeping_seconds:.1f} s ({run.lock_writes} dvc.lock writes)"
                 if run.lock_writes else ""))


if __name__ == "__main__":
    cli.run(main)
