"""The compare stage's curves CSV: mean over seeds per epoch, a column per cell."""

import csv

from stages.study.plots import write_curves_csv


def history(*values: float) -> list[dict]:
    return [{"epoch": i + 1, "valid_metric": v} for i, v in enumerate(values)]


def test_curves_average_seeds_and_leave_blanks_after_an_early_stop(tmp_path):
    histories = {
        "rnn": [history(0.2, 0.4), history(0.4, 0.6, 0.7)],  # seed 0 stopped after 2 epochs
        "gru": [history(0.5), history(0.7)],
        "lstm": [],  # no runs: no column
    }
    path = tmp_path / "curves.csv"
    write_curves_csv(histories, path)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "rnn", "gru"]
    assert [float(r["rnn"]) for r in rows] == [0.3, 0.5, 0.7]  # epoch 3: the one seed that reached it
    assert [r["gru"] for r in rows] == ["0.600000", "", ""]
