"""The report's verdicts, on hand-made numbers: trainability against one bar, cost from the controlled timing."""

from stages.study import report


def history(*scores: float) -> list[dict]:
    return [{"epoch": i + 1, "valid_metric": s} for i, s in enumerate(scores)]


def test_trainability_uses_one_bar_for_all_cells_and_says_never():
    histories = {
        "rnn": [history(0.000, 0.001, 0.001)] * 3,  # its own best is 0.001: it must not count as "trained"
        "gru": [history(0.50, 0.96, 0.98), history(0.40, 0.90, 0.97)],
        "lstm": [history(0.95, 0.99), history(0.20, 0.30)],
    }
    text = report.claim_trainability(histories)
    assert "≥ 0.941" in text  # 95 % of the best score of any cell: 0.99 × 0.95 = 0.9405
    assert "- rnn: **never** reaches it (seeds: never, never, never)" in text
    assert "- gru: 2.5 epochs in the 2 of 2 runs" in text and "(seeds: 2, 3)" in text
    assert "- lstm: 1.0 epochs in the 1 of 2 runs that reach it (seeds: 1, never)" in text


def test_trainability_for_a_lower_is_better_metric():
    histories = {"rnn": [history(3.0, 2.5)], "gru": [history(2.4, 2.0)]}
    text = report.claim_trainability(histories, direction="lower")
    assert "≤ 2.105" in text  # 2.0 / 0.95
    assert "- rnn: **never**" in text and "- gru: 2.0 epochs" in text


def test_cost_claim_reads_the_controlled_timing_not_the_runs_wall_clock():
    summary = {c: {"parameters": {"mean": p}, "seconds_per_epoch": {"mean": wall}}
               for c, p, wall in [("rnn", 100, 9.0), ("gru", 300, 1.0), ("lstm", 400, 5.0)]}
    timing = {"method": "interleaved", "cells": {"rnn": {"seconds_per_epoch": 1.0}, "gru": {"seconds_per_epoch": 2.0},
                                                 "lstm": {"seconds_per_epoch": 3.0}}}
    text = report.claim_complexity(summary, False, timing)
    assert report.verdicts(text) == {"parameters": "holds", "seconds per epoch": "holds"}
    assert "rnn 1 < gru 2 < lstm 3" in text and "interleaved" in text
    timing["cells"]["rnn"]["seconds_per_epoch"] = 2.5
    assert report.verdicts(report.claim_complexity(summary, False, timing))["seconds per epoch"] == "does not hold"


def test_verdicts_are_read_back_from_the_claims():
    claims = ("1. x\n- gru vs rnn: **holds** (Δ 0.1)\n- lstm vs rnn: **not significant** (…)\n"
              "- rnn: **never** reaches it")
    assert report.verdicts(claims) == {"gru vs rnn": "holds", "lstm vs rnn": "not significant", "rnn": "never"}
