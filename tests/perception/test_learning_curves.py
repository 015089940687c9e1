"""The seed summary of perception learning curves: each run's last evaluation, and per variant the mean and
range over the runs that reached its last step."""
from __future__ import annotations

import pandas as pd

from perception.learning_curves import final_table


def _curves(rows):
    return pd.DataFrame(rows, columns=["model", "step", "train_minutes", "FG-ARI (per frame)", "MSE (per frame)"])


def test_final_table_takes_each_runs_last_evaluation_and_averages_finished_runs():
    curves = _curves([
        ("oddn seed 0", 500, 2.0, 0.10, 0.0030), ("oddn seed 0", 1000, 4.0, 0.30, 0.0020),
        ("oddn seed 1", 1000, 4.5, 0.50, 0.0010), ("oddn seed 1", 500, 2.2, 0.20, 0.0040),  # rows out of order
        ("oddn seed 2", 500, 2.1, 0.90, 0.0001),  # unfinished: listed, left out of the mean
        ("oddn_no_relation seed 0", 1000, 4.1, 0.70, 0.0011),
    ])
    t = final_table(curves).set_index("run")
    assert t.loc["oddn seed 0", "FG-ARI"] == "0.300" and t.loc["oddn seed 1", "MSE"] == "0.00100"
    assert t.loc["oddn seed 2", "step"] == 500
    assert t.loc["**oddn: mean [min, max] of 2 run(s)**", "FG-ARI"] == "0.400 [0.300, 0.500]"
    assert t.loc["**oddn_no_relation: mean [min, max] of 1 run(s)**", "MSE"] == "0.00110 [0.00110, 0.00110]"
