"""The expected best of n tuning trials: exact, against brute force over every n-subset."""

from itertools import combinations
from statistics import mean

import pytest

from stages.study.budget import expected_best, expected_best_curve, ranking_changes

SCORES = [0.3, 0.7, 0.7, 0.1, 0.5, 0.9, 0.5]  # with ties


@pytest.mark.parametrize("direction", ["higher", "lower"])
@pytest.mark.parametrize("n", range(1, len(SCORES) + 1))
def test_expected_best_equals_the_mean_best_over_every_subset(n, direction):
    pick = max if direction == "higher" else min
    brute = mean(pick(subset) for subset in combinations(SCORES, n))
    assert expected_best(SCORES, n, direction) == pytest.approx(brute, abs=1e-12)


def test_one_trial_is_the_mean_and_all_trials_the_best():
    curve = expected_best_curve(SCORES)
    assert curve[0] == pytest.approx(mean(SCORES)) and curve[-1] == max(SCORES)
    assert curve == sorted(curve)  # more trials never hurt in expectation
    assert expected_best_curve(SCORES, "lower")[-1] == min(SCORES)
    with pytest.raises(ValueError, match="n must be from 1 to 7"):
        expected_best(SCORES, 8)


def test_the_budget_where_the_ranking_flips_is_found():
    steady, lucky = [0.6, 0.6, 0.6], [0.2, 0.9, 0.4]  # lucky: mean 0.5, best 0.9
    changes = ranking_changes({"gru": expected_best_curve(steady), "rnn": expected_best_curve(lucky)})
    assert changes == [{"trials": 2, "before": ["gru", "rnn"], "after": ["rnn", "gru"]}]


def test_the_tuning_report_records_and_plots_the_budget_curves(tmp_path):
    from stages.study import plots
    from stages.study.tuning_report import budget_record, budget_text

    def tuned(*scores):
        """Trials finished with these scores, one pruned at 0.1 and one that diverged before any score."""
        return {"table": [{"state": "complete", "valid_score": s} for s in scores]
                + [{"state": "pruned", "valid_score": 0.1}, {"state": "pruned", "valid_score": None}]}

    budget = budget_record({"gru": tuned(0.6, 0.6, 0.6), "rnn": tuned(0.2, 0.9, 0.4)}, "higher")
    assert budget["curves"]["gru"] == pytest.approx(expected_best_curve([0.6, 0.6, 0.6, 0.1]))
    assert budget["curves"]["gru"][0] == pytest.approx(0.475) and budget["curves"]["rnn"][-1] == 0.9
    assert budget["counted"]["rnn"] == {"complete": 3, "pruned": 1}
    expected = "The ranking changes with the budget: at 2 trials rnn > gru (was gru > rnn)."
    assert budget_text(budget, "higher") == expected
    plots.expected_best("sentiment", "accuracy", "higher", budget["curves"], tmp_path / "budget.png")
    assert (tmp_path / "budget.png").stat().st_size > 0


def test_fanova_importance_names_the_setting_that_moved_the_score():
    from stages.study.tuning_report import importance, importance_table

    space = {"lr": [1e-4, 1e-1], "dropout": [0.0, 0.5]}
    rows = [{"state": "complete", "lr": lr, "dropout": d, "valid_score": 0.5 + 0.1 * i}
            for i, (lr, d) in enumerate([(1e-4, 0.3), (1e-3, 0.1), (1e-2, 0.4), (3e-2, 0.2), (1e-1, 0.3)])]
    found = importance({"table": rows + [{"state": "pruned"}]}, space)
    assert set(found) == {"lr", "dropout"} and found["lr"] > found["dropout"]
    assert importance({"table": rows[:1]}, space) is None  # one finished trial: nothing to decompose
    same = [dict(row, valid_score=0.5) for row in rows]
    assert importance({"table": same}, space) is None  # no variance to explain
    table = importance_table({"gru": found, "rnn": None}, list(space))
    assert table.splitlines()[0] == "| cell | lr | dropout |" and "| rnn | — | — |" in table


def test_the_claims_table_names_the_trainability_rows_and_shows_a_cell_that_reaches_the_bar():
    from stages.study.tuning_report import claims_table

    untuned = {"gru vs rnn": "holds", "rnn": "never"}  # compare writes a cell's row only when it never gets there
    tuned = {"gru vs rnn": "not significant", "gru": "never"}
    rows = claims_table(tuned, untuned, ["rnn", "gru", "lstm"]).splitlines()[2:]
    assert rows == ["| gru vs rnn | holds | **not significant** |",
                    "| rnn reaches the trainability bar | never | **yes** |",
                    "| gru reaches the trainability bar | yes | **never** |"]
