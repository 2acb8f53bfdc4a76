"""DVC's bookkeeping for stages whose commands run elsewhere, with dvc.lock written once per batch.

Around a stage's command, `dvc repro` removes the stage's outputs and tries its
run-cache; afterwards it hashes the deps and outputs, moves the outputs into the
cache, adds a run-cache entry and rewrites dvc.lock. That last step re-reads and
re-writes the whole lock file (ruamel's comment-keeping round trip: about 2 s for
the default study's 375 KB), so one `dvc repro --single-item` per stage made it
serial work growing with the study, paid once per stage.

`Ledger` does the same steps with DVC's own `Stage` methods, in the coordinator,
holding DVC's repository lock for the whole run (no other DVC command can change
the workspace meanwhile). Each finished stage is hashed, cached and given its
run-cache entry at once, so its dependents can start; dvc.lock is written for
all stages finished since the last write (`dump_stages`, as `dvc commit` does),
at most every `write_every_s` seconds and always at the end. A coordinator killed
between two writes loses nothing but the lock lines: the next run finds those
stages in the run-cache and restores their outputs instead of running them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

WRITE_EVERY_S = 60.0


class Ledger:
    """Records stages in DVC (cache, run-cache, dvc.lock) for a coordinator that runs their commands elsewhere."""

    def __init__(self, repo, write_every_s: float = WRITE_EVERY_S):
        self.repo = repo
        self.stages = {stage.name: stage for stage in repo.index.stages}
        self.write_every_s = write_every_s
        self.pending: list = []
        self.seconds = 0.0  # time spent here: DVC's serial work, the coordinator's only work per stage
        self.lock_writes = 0
        self._last_write = time.perf_counter()

    @contextmanager
    def _timed(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def command(self, name: str) -> tuple[list[str], str]:
        """The stage's command lines and the folder DVC runs them in."""
        stage = self.stages[name]
        lines = stage.cmd if isinstance(stage.cmd, list) else stage.cmd.splitlines()
        return lines, stage.wdir

    def begin(self, name: str, force: bool) -> bool:
        """Prepare a stage as `dvc repro` does: remove its outputs, then (unless `force`) try the run-cache.

        True when the run-cache restored the outputs, so the command need not run; then it is recorded.
        """
        from dvc.stage.cache import RunCacheNotFoundError

        stage = self.stages[name]
        with self._timed():
            stage.remove_outs(ignore_remove=False, force=False)
            if not force:
                try:
                    self.repo.stage_cache.restore(stage)
                except RunCacheNotFoundError:
                    stage.save_deps()
                else:
                    self._save(stage)
                    return True
        return False

    def record(self, name: str) -> None:
        """A stage's command has finished: hash, cache and run-cache it now; dvc.lock follows in a batch."""
        with self._timed():
            self._save(self.stages[name])
        self.write(force=False)

    def _save(self, stage) -> None:
        # As Stage.run: no run-cache entry for a stage with an uncached output that is not a metric or plot.
        uncached = any(not out.use_cache for out in stage.outs if not (out.is_metric or out.is_plot))
        stage.save(run_cache=not uncached)
        stage.commit()
        self.pending.append(stage)

    def write(self, force: bool = True) -> None:
        """Write the recorded stages to their dvc.lock (every `write_every_s` seconds, or now with `force`)."""
        if not self.pending or (not force and time.perf_counter() - self._last_write < self.write_every_s):
            return
        with self._timed():
            by_file = defaultdict(list)
            for stage in self.pending:
                by_file[stage.dvcfile.path].append(stage)
            for stages in by_file.values():
                stages[0].dvcfile.dump_stages(stages, update_pipeline=False)
            self.pending.clear()
            self.lock_writes += 1
        self._last_write = time.perf_counter()
