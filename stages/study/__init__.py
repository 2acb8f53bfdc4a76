"""The study as a whole: the compare stage's report, plots and summary, the tuning report, and the parallel
runner with its DVC ledger."""
