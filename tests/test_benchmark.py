"""Speed benchmark: both loops train the same batches, and padding waste is read off real shapes."""

from types import SimpleNamespace

import pytest
import torch

from benchmarks import speed
from benchmarks import translation as translation_benchmark
from recipes import pos, sentiment
from recipes.kit.batching import padding_waste, random_batches
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


def test_the_taggers_unpacked_layers_are_timed_as_units_with_their_padding():
    tagger = pos.Tagger("lstm", 20, 3, 4, 5, 1, True, 0.0, pos.CharEncoder("lstm", 9, 4, 3))
    assert speed.recurrent_layers(tagger) == [tagger.chars.rnn, tagger.rnn]  # not the 4 one-direction cells
    calls: list = []
    handles = speed.record_shapes(tagger, calls)
    spellings = torch.tensor([[0, 0], [2, 3], [4, 0]])  # the empty spelling, 2 and 1 characters
    tagger(torch.tensor([[5, 6, 0]]), torch.tensor([2]), spellings, torch.tensor([[1, 2, 0]]))
    for handle in handles:
        handle.remove()
    seconds, waste = speed.time_bare(calls, reps=1)
    assert [shape for _, shape, _ in calls] == [(2, 1, 4), (1, 2, 4), (1, 3, 10)]  # char groups, then the sentence
    assert seconds > 0 and waste == pytest.approx(1 / 7)  # 6 of 7 processed positions are real


def test_translation_benchmark_reports_a_finished_run(study, monkeypatch, tmp_path):
    monkeypatch.chdir(study)
    params = study / "params.yaml"
    quality = translation_benchmark.quality(params, "lstm", 0, wall_seconds=12.0)
    beams = translation_benchmark.beam_speed(params, "lstm", 0)
    assert beams["identical_outputs"] == 1.0 and beams["sentences"] == 20 and beams["speedup"] > 0
    assert 0 <= quality["sacrebleu"] <= 100 and 0 <= quality["token_bleu"] <= 100
    assert quality["epochs_run"] == len(quality["valid_metric_by_epoch"]) and quality["selected_by"] == "exact_match"
    section = translation_benchmark.markdown({"multi30k": quality, "beam_search": beams})
    report = tmp_path / "benchmark.md"
    report.write_text("# Training-speed benchmark\n")
    translation_benchmark.write_section(report, section, translation_benchmark.SECTION_START,
                                        translation_benchmark.SECTION_END)
    translation_benchmark.write_section(report, section, translation_benchmark.SECTION_START,
                                        translation_benchmark.SECTION_END)
    assert report.read_text().count("## Translation on Multi30k") == 1
    assert report.read_text().startswith("# Training-speed benchmark")


def test_the_kernel_benchmark_times_every_cell_and_writes_its_table_and_plot(tmp_path, monkeypatch):
    from benchmarks import cell_speed

    monkeypatch.setattr(cell_speed, "BATCH", 2)
    result = cell_speed.run(["gru", "mingru"], [4, 8], 1, tmp_path)
    assert set(result["tokens_per_second"]) == {"gru", "mingru"}
    assert all(v > 0 for speeds in result["tokens_per_second"].values() for v in speeds.values())
    assert result["speed_over"]["gru"]["gru"] == {4: 1.0, 8: 1.0}
    assert "| mingru |" in (tmp_path / "cell_speed.md").read_text() and (tmp_path / "cell_speed.png").stat().st_size
