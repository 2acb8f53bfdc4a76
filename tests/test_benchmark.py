"""Speed benchmark: both loops train the same batches, and padding waste is read off real shapes."""

from types import SimpleNamespace

import pytest
import torch

from benchmarks import speed
from recipes import sentiment
from recipes.batching import padding_waste, random_batches
from tests.test_sentiment import prepared


def sentiment_run(tmp_path, params):
    section, out = prepared(tmp_path, params)
    section["train"]["batch_size"] = 8  # 48 training rows: 6 batches
    task = sentiment.make_task(section, out, torch.device("cpu"))
    torch.manual_seed(0)
    model = sentiment.build_model(section, task.meta, "gru", 8)
    return SimpleNamespace(task=task), model, section["train"]


def test_interleaved_epochs_train_every_batch_with_both_loops(tmp_path, params):
    run, model, cfg = sentiment_run(tmp_path, params)
    batches = run.task.train_batches(torch.Generator().manual_seed(0))
    assert len(batches) > 2  # so that chunks of 2 interleave
    before = [p.detach().clone() for p in model.parameters()]
    seen = []
    real_step = run.task.step

    def recording_step(model, index):
        seen.append(index)
        return real_step(model, index)

    run.task.step = recording_step

    engine, tight, tokens = speed.time_interleaved(run, model, batches, cfg, reps=3, chunk=2)

    assert len(engine) == len(tight) == 3 and min(engine + tight) > 0
    assert tokens == int(run.task.splits["train"]["lengths"].sum())  # one epoch's real tokens
    assert len(seen) == len(batches) * (1 + 2 * 3)  # warm-up, then engine + tight loop per epoch
    per_batch = [sum(torch.equal(s, b) for s in seen) for b in batches]
    assert per_batch == [7] * len(batches)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bare_timing_reports_the_batches_padding_waste(tmp_path, params):
    run, model, cfg = sentiment_run(tmp_path, params)
    lengths = run.task.splits["train"]["lengths"]
    batches = random_batches(len(lengths), 8, torch.Generator().manual_seed(0))
    calls: list = []
    handles = speed.record_shapes(model, calls)
    speed.time_tight(run, model, torch.optim.Adam(model.parameters()), batches, cfg)
    for handle in handles:
        handle.remove()

    seconds, waste = speed.time_bare(calls, reps=1)

    assert len(calls) == len(batches) and seconds > 0
    assert waste > 0 and waste == pytest.approx(padding_waste(lengths, batches))
