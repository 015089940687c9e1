"""`make reproduce` end to end at toy sizes, and the verdicts of its results page."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.claims_page import (
    QA_TYPES,
    balls_claims,
    balls_table,
    compare,
    decomposition_claims,
    mean_interval,
    qa_claim,
)
from pipelines.reproduce import PRESETS, ReproduceConfig, reproduce
from qa_data.config import ConfigError, load_config
from qa_data.slots.slot_cache import read_attrs
from reasoning.train import load_qa_run


def test_toy_reproduction_writes_every_table_and_figure_and_resumes(tmp_path):
    cfg = load_config(ReproduceConfig, PRESETS / "toy.yaml")
    work, docs = tmp_path / "work", tmp_path / "docs"
    # The oracle stage first, alone: it makes its own render-free data, not the perception stages' WORK/data.
    reproduce(cfg, work, only="oracle")
    assert not (work / "data").exists() and not (work / "perception").exists()
    oracle_runs = (work / "oracle" / "qa" / "runs.csv").read_bytes()
    reproduce(cfg, work, docs=docs)
    for name in ("learning/curves.csv", "learning/learning_curves.png", "table1/table1.csv", "table1/lengths.csv",
                 "table3/decomposition.csv", "table3/prediction.csv", "table2/table2.md", "table2/runs.csv",
                 "stage_times.json", "commands.json", "reproduce_config.yaml", "balls/lengths.csv",
                 "balls/table1_s1/video_decomposition.png"):
        assert (work / name).is_file(), name
    # Bouncing Balls: both models trained once per seed on its own data, the lengths table of every seed
    balls = pd.read_csv(work / "balls" / "lengths.csv")
    assert sorted(balls.seed.unique()) == cfg.balls.seeds and set(balls.length) == set(cfg.balls.lengths)
    assert set(balls.model) == {"IODINE", "SEQ-IODINE", "PROVIDE"}
    for seed in cfg.balls.seeds:
        for name in ("iodine", "provide"):
            saved = (work / "balls" / "perception" / f"{name}_s{seed}" / "config.yaml").read_text()
            assert f"seed: {seed}" in saved and "dataset: bouncing_balls" in saved, (name, seed)
    curves = pd.read_csv(work / "learning" / "curves.csv")
    assert set(curves.model) == {"IODINE", "ODDN", "ODDN w/o relation", "PROVIDE"}
    assert set(pd.read_csv(work / "table1" / "lengths.csv").model) == {"IODINE", "SEQ-IODINE", "PROVIDE"}
    assert pd.read_csv(work / "table3" / "decomposition.csv").model.tolist() == [
        "IODINE", "ODDN", "ODDN w/o relation", "PROVIDE"]
    assert {"ODDN", "ODDN w/o relation", "repeat last frame"} <= set(pd.read_csv(work / "table3" / "prediction.csv"))
    runs = pd.read_csv(work / "table2" / "runs.csv")
    assert runs.feature.unique().tolist() == ["ODDN", "ODDN -dyn", "ODDN w/o relation", "IODINE", "PROVIDE", "states",
                                              "ODDN + rollout", "blind"]
    for split in ("train", "validation"):
        attrs = read_attrs(work / "slots" / "oddn_rollout" / f"{split}.h5")
        assert attrs["model_label"] == "oddn+rollout" and attrs["observed_frames"] == 16, split
        assert attrs["frames_per_video"] == 16 + cfg.perception.rollout
    assert sorted(runs.seed.unique()) == cfg.qa.seeds
    # the ground-truth state row trains the grounded preset with its own overrides; the others the shared one
    for row in ("states", "ODDN", "blind"):
        _, qa_cfg, *_ = load_qa_run(work / "table2" / row / f"seed_{cfg.qa.seeds[0]}")
        grounded = row == "states"
        assert qa_cfg.aloe.pair_head == grounded and (qa_cfg.aloe.mention_weight > 0) == grounded, row
        assert qa_cfg.train.steps == (3 if grounded else 2) and qa_cfg.aloe.d_model == 16, row
    # The oracle rows: states, states -dyn, the simulator's future and blind, over the oracle's seeds, on its own
    # render-free data (no pixels), with the oracle's preset and overrides; the full run kept what it had trained.
    o = cfg.oracle
    assert (work / "oracle" / "qa" / "runs.csv").read_bytes() == oracle_runs
    oracle = pd.read_csv(work / "oracle" / "qa" / "runs.csv")
    assert oracle.feature.unique().tolist() == ["states", "states -dyn", "states + future", "blind"]
    assert sorted(oracle.seed.unique()) == o.seeds
    assert not list((work / "oracle" / "data").glob("**/*.mp4"))
    assert len(list((work / "oracle" / "data").glob("annotations/**/*.json"))) == o.num_videos
    for split in ("train", "validation"):
        attrs = read_attrs(work / "oracle" / "slots" / "states_future" / f"{split}.h5")
        assert attrs["model_label"] == "states+future" and attrs["frame_stride"] == o.frame_stride, split
        assert attrs["frames_per_video"] == attrs["observed_frames"] + o.future, split
    for folder in ("states", "states_-dyn", "states___future", "blind"):
        _, qa_cfg, *_ = load_qa_run(work / "oracle" / "qa" / folder / f"seed_{o.seeds[0]}")
        assert qa_cfg.aloe.pair_head == (folder != "blind"), folder  # the grounded preset; blind has no objects
        assert qa_cfg.train.steps == 2 and qa_cfg.aloe.d_model == 16, folder
    page = (docs / "results.md").read_text()
    for section in ("## The claims", "## Wall time per stage", "## Perception learning curves", "## Table 1 (PROVIDE)",
                    "## Table 1 (PROVIDE) on binary Bouncing Balls", "0.4063", "PROVIDE keeps each object",
                    "## Table 3 (ODDN)", "## Table 2 (ODDN)", "python scripts/train_perception.py",
                    "python scripts/ablate.py", "95.8", "0.9312", "## Table 2's oracle rows",
                    "| Ground-truth states beat the blind model", "| The simulator's future helps predictive",
                    "--future 2", "--no-render"):
        assert section in page, section
    for fig in ("perception_learning_curves.png", "video_decomposition.png", "balls_decomposition.png",
                "prediction_mse.png", "table2.png", "oracle_table2.png", "oracle_qa_learning_curves.png",
                "qa_learning_curves.png", "decomposition_oddn.png"):
        assert (docs / "figures" / "reproduce" / fig).is_file(), fig
        assert f"figures/reproduce/{fig}" in page, fig

    # A rerun of one table retrains nothing and keeps what was written.
    logs = {p: p.read_bytes() for p in (work / "perception").glob("*/train_log.jsonl")}
    table1 = (work / "table1" / "table1.csv").read_bytes()
    reproduce(cfg, work, only="table1")
    assert {p: p.read_bytes() for p in logs} == logs and (work / "table1" / "table1.csv").read_bytes() == table1

    # The page alone is rebuilt from what exists, running nothing.
    reproduce(cfg, work, only="page", docs=tmp_path / "docs2")
    assert {p: p.read_bytes() for p in logs} == logs
    assert "## Table 2 (ODDN)" in (tmp_path / "docs2" / "results.md").read_text()

    # Another preset in the same work directory is refused before anything runs.
    other = load_config(ReproduceConfig, PRESETS / "toy.yaml", ["qa.seeds=[0]"])
    with pytest.raises(ConfigError, match="other settings"):
        reproduce(other, work)


def test_the_page_goes_where_it_is_named_and_never_over_another_settings_page(tmp_path, capsys):
    """Without --docs the page goes into the work folder; a folder holding a page that other settings made (the
    committed docs/results.md, say) is refused, and the page there is kept."""
    from pipelines.cli import reproduce_main as main

    assert main(["--config", str(PRESETS / "toy.yaml"), "--work", str(tmp_path / "w"), "--only", "page"]) == 0
    assert (tmp_path / "w" / "results" / "results.md").is_file()
    assert f"results page: {tmp_path / 'w' / 'results' / 'results.md'}" in capsys.readouterr().out
    docs = tmp_path / "docs"
    reproduce(load_config(ReproduceConfig, PRESETS / "toy.yaml"), tmp_path / "w", only="page", docs=docs)
    before = (docs / "results.md").read_bytes()
    other = load_config(ReproduceConfig, PRESETS / "toy.yaml", ["qa.seeds=[0]"])
    with pytest.raises(ConfigError, match="written from a reproduction with other settings"):
        reproduce(other, tmp_path / "w2", only="page", docs=docs)
    assert (docs / "results.md").read_bytes() == before and not (tmp_path / "w2").exists()
    # the same settings from another work folder may rewrite it
    reproduce(load_config(ReproduceConfig, PRESETS / "toy.yaml"), tmp_path / "w3", only="page", docs=docs)


def _runs(values: dict[str, list[float]], column: str = "Predictive per ques.") -> pd.DataFrame:
    return pd.DataFrame([{"feature": f, "seed": i, column: v} for f, vs in values.items() for i, v in enumerate(vs)])


def test_mean_interval_is_the_t_interval_of_the_seeds():
    m, s, lo, hi = mean_interval(np.array([10.0, 12.0, 14.0]))
    # mean 12, sd 2, t(0.975, 2) = 4.3027: half width 4.3027 * 2 / sqrt(3) = 4.968
    assert (m, s) == (12.0, 2.0) and lo == pytest.approx(7.032, abs=1e-3) and hi == pytest.approx(16.968, abs=1e-3)
    assert np.isnan(mean_interval(np.array([5.0]))[2])


def test_claim_verdicts_follow_the_seed_noise():
    col = ("Predictive per ques.",)
    sane = {"states": [60.0, 61.0, 62.0], "blind": [20.0, 21.0, 22.0]}
    clear = _runs({"ODDN": [50.0, 51.0, 52.0], "ODDN -dyn": [40.0, 41.0, 42.0], **sane})
    assert qa_claim(clear, "c", "p", "ODDN", "ODDN -dyn", col).verdict == "supports"
    assert qa_claim(clear, "c", "p", "ODDN -dyn", "ODDN", col).verdict == "contradicts"
    noisy = _runs({"ODDN": [50.0, 30.0, 40.0], "ODDN -dyn": [41.0, 35.0, 44.0], **sane})
    assert qa_claim(noisy, "c", "p", "ODDN", "ODDN -dyn", col).verdict == "cannot tell"
    # one type ahead beyond the noise, one within it: cannot tell, and the reason names which is which
    two = ("Descriptive", "Predictive per ques.")
    mixed = _runs({"ODDN": [50.0, 30.0, 40.0], "ODDN -dyn": [41.0, 35.0, 44.0], **sane}, two[1]).merge(
        _runs({"ODDN": [50.0, 51.0, 52.0], "ODDN -dyn": [40.0, 41.0, 42.0]}, two[0]),
        on=["feature", "seed"], how="left")
    partly = qa_claim(mixed, "c", "p", "ODDN", "ODDN -dyn", two)
    assert partly.verdict == "cannot tell"
    assert "ODDN is ahead beyond the seed noise on Descriptive" in partly.why and "Predictive: within" in partly.why
    # several types are tested together: a p of about 0.03 on one of four is not beyond the noise after
    # Benjamini-Hochberg (0.03 x 4 > 0.05), while the same difference alone is
    edge = {"ODDN": [50.0, 52.0, 54.0], "ODDN -dyn": [45.0, 47.0, 49.0]}  # +5, Welch p = 0.03
    alone = _runs(edge, "Descriptive")
    assert compare(alone, "ODDN", "ODDN -dyn", "Descriptive")[1] == pytest.approx(0.03, abs=0.01)
    assert qa_claim(alone, "c", "p", "ODDN", "ODDN -dyn", ("Descriptive",)).verdict == "supports"
    four = alone
    for c in ("Explanatory per ques.", "Predictive per ques.", "Counterfactual per ques."):
        four = four.merge(_runs({"ODDN": [50.0, 30.0, 40.0], "ODDN -dyn": [41.0, 35.0, 44.0]}, c),
                          on=["feature", "seed"])
    assert qa_claim(four, "c", "p", "ODDN", "ODDN -dyn", QA_TYPES).verdict == "cannot tell"
    diff, p = compare(clear, "ODDN", "ODDN -dyn", col[0])
    assert diff == pytest.approx(10.0) and p < 0.05
    unlearned = _runs({"ODDN": [50.0, 30.0, 40.0], "ODDN -dyn": [41.0, 35.0, 44.0], "states": [20.0, 22.0, 21.0],
                       "blind": [21.0, 20.0, 22.0]})
    assert "even ground-truth states do not beat blind on Predictive" in qa_claim(
        unlearned, "c", "p", "ODDN", "ODDN -dyn", col).why


def test_decomposition_comparisons_of_single_runs_are_not_verdicts():
    # the variant far ahead in one run each: not taken as evidence against the relation module
    t3 = pd.DataFrame([{"model": "ODDN", "F-ARI": 0.36, "MSE": 0.0020},
                       {"model": "IODINE", "F-ARI": 0.90, "MSE": 0.001},
                       {"model": "ODDN w/o relation", "F-ARI": 0.95, "MSE": 0.0010}])
    pred = pd.DataFrame({"step": [1, 2], "ODDN": [0.001, 0.002], "repeat last frame": [0.002, 0.003]})
    claims = {c.claim: c for c in decomposition_claims(None, t3, pred)}
    relation = claims["The relation module is why ODDN reconstructs and segments better"]
    assert relation.verdict == "cannot tell"
    assert "variant without the relation module is ahead in this run" in relation.why
    assert "one training run per model" in claims["ODDN decomposes scenes at least as well as IODINE"].why
    # a model against a fixed baseline still gets a verdict
    assert claims["ODDN's distilled dynamics predict future frames (better than repeating the last frame)"
                  ].verdict == "supports"


def test_a_cell_of_one_seed_shows_its_value_without_a_spread():
    from pipelines.claims_page import qa_table

    runs = pd.DataFrame({"feature": ["one", "three", "three", "three"], "seed": [0, 0, 1, 2],
                         **{col: [40.0, 50.0, 52.0, 54.0] for col in QA_TYPES}})
    table = qa_table(runs).set_index("feature")
    col = QA_TYPES[0]
    assert table.loc["one", col] == "40.0"
    assert table.loc["three", col].startswith("52.0 ± 2.0 [")


def test_an_ablation_gets_the_claims_of_the_rows_it_trained():
    """benchmarks/ablation_claims.py: the claims whose two rows an ablation trained, each with its verdict; the
    states' dynamics claim compares states with states -dyn on predictive and counterfactual questions."""
    import sys

    sys.path.insert(0, str(PRESETS.parents[1] / "benchmarks"))
    from ablation_claims import claims_markdown

    values = {"states": [60.0, 61.0, 62.0], "states -dyn": [40.0, 41.0, 42.0], "blind": [20.0, 21.0, 22.0]}
    runs = _runs(values, QA_TYPES[0])
    for col in QA_TYPES[1:]:
        runs = runs.merge(_runs(values, col), on=["feature", "seed"])
    text = claims_markdown(runs)
    assert "| Ground-truth states beat the blind model" in text and "| Velocities in the ground-truth states" in text
    assert "ODDN" not in text.split("Claims whose")[1].replace("ODDN vs ODDN -dyn", "")  # no ODDN row trained
    assert text.count("| supports") == 2
    flat = runs.copy()
    flat.loc[flat.feature == "states -dyn", QA_TYPES[2]] = flat.loc[flat.feature == "states", QA_TYPES[2]].values
    assert "states - states -dyn: Predictive +0.0" in claims_markdown(flat)


def _balls(values: dict[str, list[tuple[float, float]]], lengths=(10, 20, 30, 40)) -> pd.DataFrame:
    """A Bouncing Balls lengths table: model -> one (per-video F-ARI, per-frame F-ARI) per seed, at every length."""
    rows = [{"model": m, "length": n, "seed": s, "fg_ari": v, "fg_ari_frame": f, "ari": v / 2, "ari_frame": f / 2,
             "mse": 0.01} for m, per_seed in values.items() for s, (v, f) in enumerate(per_seed) for n in lengths]
    return pd.DataFrame(rows)


def test_the_bouncing_balls_claims_are_decided_over_the_seeds():
    iodine = [(0.9, 0.95)] * 3
    win = _balls({"IODINE": iodine, "SEQ-IODINE": [(0.5, 0.9)] * 3,
                  "PROVIDE": [(0.95, 0.96), (0.92, 0.97), (0.91, 0.9)]})
    keeps, degrades = balls_claims(win)
    assert keeps.verdict == "supports" and "3 of 3 seeds" in keeps.why and "0.950 vs 0.500" in keeps.ours
    assert degrades.verdict == "supports"
    # one seed where SEQ-IODINE is ahead: cannot tell; below 0.9 on one seed: cannot tell
    mixed = _balls({"IODINE": iodine, "SEQ-IODINE": [(0.5, 0.9), (0.5, 0.9), (0.93, 0.9)],
                    "PROVIDE": [(0.95, 0.96), (0.92, 0.97), (0.85, 0.9)]})
    keeps, degrades = balls_claims(mixed)
    assert keeps.verdict == "cannot tell" and "2 of 3 seeds" in keeps.why
    assert degrades.verdict == "cannot tell" and "2 of 3 seeds" in degrades.why
    # behind on every seed: contradicts; PROVIDE separates the balls per frame but loses them over time: contradicts
    lose = _balls({"IODINE": iodine, "SEQ-IODINE": [(0.7, 0.9)] * 3, "PROVIDE": [(0.6, 0.9)] * 3})
    keeps, degrades = balls_claims(lose)
    assert keeps.verdict == "contradicts" and degrades.verdict == "contradicts"
    # nothing decomposes: the length claim cannot tell, and the page says IODINE had nothing to keep
    none = _balls({"IODINE": [(0.1, 0.05)] * 3, "SEQ-IODINE": [(0.02, 0.05)] * 3, "PROVIDE": [(0.03, 0.1)] * 3})
    keeps, degrades = balls_claims(none)
    assert "does not separate the balls" in keeps.why and degrades.verdict == "cannot tell"
    table = balls_table(win).set_index(["model", "length"])
    assert table.loc[("PROVIDE", 40), "F-ARI"] == "0.9267 ± 0.0208" and table.loc[("IODINE", 40), "seeds"] == 3
    assert table.loc[("IODINE", 40), "F-ARI"] == "0.9500 ± 0.0000"  # IODINE: per frame, as in the paper
