"""Run the study's stale stages in parallel on Dask, each stage through DVC itself.

    python -m stages.parallel                  # all cores: one single-process worker per job
    python -m stages.parallel --jobs 1         # one stage at a time
    python -m stages.parallel --scheduler tcp://host:8786   # a Dask cluster whose workers share a DVC remote

A stage is submitted as soon as the stages it depends on are done (the graph
is DVC's own, `Repo.index.graph`). Each runs as `dvc --wait-for-lock repro
--single-item <stage>`, so DVC records it in dvc.lock and its run-cache just
as a plain `dvc repro` would. Torch in each stage gets cores ÷ jobs threads
through RNN_RECIPES_THREADS, which changes no result and no stage's hash.
With CUDA, one worker per GPU runs every stage, each seeing only its own GPU.
On a cluster (`--scheduler`), each worker runs from its own clone at the same
commit: it pulls what a stage needs from the DVC remote, runs it, and pushes
its outputs and run-cache; this machine then pulls and restores them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from recipes.engine import THREADS_ENV
from recipes.errors import UserError
from stages import cli

CONNECT_TIMEOUT_S = 30


@dataclass
class StageResult:
    """What a worker reports of one stage: its name, seconds, and whether DVC ran it or restored it."""

    name: str
    seconds: float
    ran: bool


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

def stage_command(name: str, force: bool) -> list[str]:
    """The DVC command that runs exactly one stage, waiting for DVC's lock rather than failing on it."""
    return ["dvc", "--wait-for-lock", "repro", "--single-item", *(["--force"] if force else []), name]


def _run(argv: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip()]
        raise StageFailed(f"`{shlex.join(argv)}` exited {result.returncode}: " + " | ".join(lines[-3:]))
    return output


def git_commit(cwd: Path) -> str | None:
    """The commit checked out at `cwd`, or None outside a git repository."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def run_stage(name: str, root: str | None, threads: int, force: bool = False, remote: bool = False,
              commit: str | None = None) -> StageResult:
    """Run one stage through DVC on this worker (in `root`, or the worker's own clone when None).

    `remote`: pull from the DVC remote (the stages it depends on are restored from the run-cache,
    not re-run) and push the outputs and run-cache after; `commit` must match the clone's.
    """
    cwd = Path(root) if root else Path.cwd()
    if commit is not None and (here := git_commit(cwd)) != commit:
        raise StageFailed(f"the clone at {socket.gethostname()}:{cwd} is at {here}, not {commit}: "
                          "check out the coordinator's commit in every worker's clone")
    env = dict(os.environ, **{THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads)})
    # A Dask nanny sets a 64 KiB glibc trim threshold for its worker; inherited by torch it turns
    # every freed buffer into syscalls (measured: a training stage ran 2-3x slower). Stages get the default.
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    gpu = _worker_gpu()
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    start = time.perf_counter()
    if remote:  # --pull: the stages it depends on come from the remote's run-cache, not re-run
        output = _run(["dvc", "--wait-for-lock", "repro", "--pull", name], cwd, env)
        _run(["dvc", "push", "--run-cache", "-q"], cwd, env)
    else:
        output = _run(stage_command(name, force), cwd, env)
    ran = f"Running stage '{name}'" in output
    return StageResult(name, time.perf_counter() - start, ran)


def _worker_gpu() -> str | None:
    """The GPU this Dask worker owns (workers with a GPU resource are named by its index), if any."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    return str(worker.name).removeprefix("gpu-") if worker.state.total_resources.get("GPU") else None


# ------------------------------------------------------------------ scheduling

def schedule(client, upstream: dict[str, list[str]], submit: Callable, log: Callable[[str], None] = print
             ) -> tuple[list[StageResult], list[tuple[str, str]]]:
    """Submit each stage once the stages it depends on are done; stop submitting after a failure.

    `upstream` holds only the stages to run (dependencies outside it count as done).
    `submit(client, name)` returns a Dask future. Returns the finished results and the failures.
    """
    from distributed import as_completed

    waiting = {name: {u for u in ups if u in upstream} for name, ups in upstream.items()}
    done: list[StageResult] = []
    failed: list[tuple[str, str]] = []
    running = as_completed()
    names = {}

    def submit_ready() -> None:
        for name in [n for n, ups in waiting.items() if not ups]:
            del waiting[name]
            future = submit(client, name)
            names[future.key] = name
            running.add(future)

    submit_ready()
    for future in running:
        name = names[future.key]
        try:
            result = future.result()
        except Exception as err:  # a StageFailed, or a worker lost mid-stage (KilledWorker)
            failed.append((name, " ".join(str(err).split()) or type(err).__name__))
            log(f"FAILED {name}: {failed[-1][1]}")
            waiting.clear()  # the others finish what they started; nothing new starts
            continue
        done.append(result)
        log(f"[{len(done)}/{len(upstream)}] {name} {'ran' if result.ran else 'was up to date'} "
            f"in {result.seconds:.1f} s")
        for ups in waiting.values():
            ups.discard(name)
        if not failed:
            submit_ready()
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


def connect(address: str):
    """A Dask client for the scheduler at `address`, or a `UserError` within CONNECT_TIMEOUT_S."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as err:
        raise UserError(f"could not reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S} s "
                        f"({type(err).__name__}); start one with `dask scheduler` and workers with "
                        "`dask worker <address>` in clones of this repository, or leave out --scheduler") from err


def run_study(root: Path, jobs: int, scheduler: str | None, force: bool, log: Callable[[str], None] = print
              ) -> tuple[list[StageResult], list[tuple[str, str]], float]:
    """Run the stale stages (every stage with `force`) on a local cluster or at `scheduler`."""
    with open_repo(root) as repo:
        upstream = stage_graph(repo)
        todo = set(upstream) if force else stale_stages(repo, upstream)
        if scheduler:  # the rest runs here afterwards, in the final `dvc repro`
            todo &= restorable_stages(repo)
    plan = {name: ups for name, ups in upstream.items() if name in todo}
    if not plan:
        log("every stage is up to date")
        return [], [], 0.0
    gpus = 0 if scheduler else gpu_count()
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    log(f"{len(plan)} stages to run on " + (scheduler or f"{gpus or jobs} local worker(s), {threads} thread(s) each"))
    start = time.perf_counter()
    cluster = None if scheduler else local_cluster(jobs, gpus)
    from distributed import Client

    client = connect(scheduler) if scheduler else Client(cluster)
    commit = git_commit(root) if scheduler else None
    try:
        def submit(client, name):
            return client.submit(run_stage, name, None if scheduler else str(root), threads, force,
                                 bool(scheduler), commit, key=f"stage-{name}", pure=False)

        done, failed = schedule(client, plan, submit, log)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return done, failed, time.perf_counter() - start


def main() -> None:
    """Parse the options, run the study in parallel, and finish as `dvc repro` would."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="stages at once (default: every core)")
    ap.add_argument("--scheduler", default=None, help="address of a Dask scheduler (tcp://host:8786)")
    ap.add_argument("--force", action="store_true", help="run every stage, changed or not (as dvc repro --force)")
    args = ap.parse_args()
    if args.jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {args.jobs}")
    if args.force and args.scheduler:
        raise UserError("--force runs here only: on a cluster, run `dvc repro --force` or change a dependency")
    root = Path.cwd()
    done, failed, seconds = run_study(root, args.jobs, args.scheduler, args.force)
    if failed:
        raise UserError(f"{len(failed)} stage(s) failed, {len(done)} finished: {failed[0][0]}: {failed[0][1]}; "
                        "fix it and rerun: finished stages are recorded and will not run again")
    if args.scheduler:  # bring the workers' results here: restored from the run-cache, not re-run
        if subprocess.run(["dvc", "repro", "--pull"]).returncode != 0:
            raise UserError("`dvc repro --pull` failed after the workers finished: check the DVC remote")
    if done:
        work = sum(r.seconds for r in done)
        print(f"{len(done)} stages in {seconds:.1f} s wall; their own times sum to {work:.1f} s")


if __name__ == "__main__":
    cli.run(main)
