"""The main job's outputs: statistics table and contact sheet."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.reports.contact_sheet import contact_sheet
from qa_data.reports.stats import summary_table, video_table
from qa_data.sim.generate import split_ranges
from qa_data.slots.slot_cache import SlotFrames, SlotSampling


def test_statistics_match_the_files(sim_data, tiny_cfg):
    layout = ClevrerLayout(sim_data)
    videos = video_table(layout)
    assert len(videos) == 6 and list(videos.split.unique()) == ["train", "validation", "test"]
    for row in videos.itertuples():
        raw = json.loads(layout.annotation_path(row.split, row.video_index).read_text())
        assert row.objects == len(raw["object_property"])
        assert row.collisions == len(raw["collision"])
        tail = json.loads(layout.tail_events_path(row.video_index).read_text())
        assert row.tail_collisions == len(tail["collision"])
        # enters counted independently from inside_camera_view transitions
        vis = np.array([[o["inside_camera_view"] for o in sorted(f["objects"], key=lambda o: o["object_id"])]
                        for f in raw["motion_trajectory"]])
        assert row.enters == int((vis[1:] & ~vis[:-1]).sum())
    table = summary_table(videos)
    assert table.videos.tolist() == [4, 1, 1, 6]
    mean = videos.collisions.mean()
    assert table.iloc[-1]["collisions"].startswith(f"{mean:.2f} [")


def test_contact_sheet_is_written(tmp_path, sim_data, tiny_cfg):
    a = split_ranges(tiny_cfg)["train"][0]
    b = a + 1
    out = contact_sheet(sim_data, "train", [a, b], tmp_path / "sheet.png", frames=(0, 127))
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 100 and img.shape[1] > 300 and img.std() > 10  # two rows of real pictures


def test_main_job_runs_and_resumes(tmp_path, capsys):
    from pipelines.main_job import run

    small = ["train.steps=2", "train.batch_size=2", "iodine.num_iters=2", "eval.num_videos=1",
             "eval.frames_per_video=2", "eval.frame_gap=32", "frames.frame_stride=16", "eval.predict_starts=[0]",
             "eval.predict_steps=2"]
    qa = ["train.steps=2", "aloe.d_model=16", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=16", "data.num_frames=4",
          "train.batch_size=8"]
    out = run(tmp_path / "demo", num_videos=9, workers=1, perception_overrides=small, qa_overrides=qa)
    report = tmp_path / "demo" / "report"
    for name in ("dataset_stats.md", "question_stats.md", "baselines.md", "baselines.csv", "contact_sheet.png"):
        assert (report / name).is_file(), name
    printed = capsys.readouterr().out
    assert "blind majority" in printed and "executor oracle" in printed
    oracle = out["questions"].baselines.query("method == 'executor oracle' and type == 'mean over types'")
    assert (oracle["per_question"] == 100.0).all()
    perception = out["perception"]
    assert (perception["run"] / "eval" / "validation_step_2" / "decomposition.png").is_file()
    assert "FG-ARI (per frame)" in set(perception["metrics"].metric)
    assert perception["prediction"].step.tolist() == [1, 2] and "repeat last frame" in perception["prediction"]
    assert (report / "perception_rollout.png").is_file() and "prediction MSE per step" in printed
    for name in ("decomposition.png", "metrics.md", "prediction.md"):
        assert (report / f"perception_{name}").is_file(), name
    slots = out["slots"]
    for split in ("train", "validation"):
        cache = SlotFrames(slots["dir"] / f"{split}.h5", SlotSampling(num_frames=4))
        assert cache.videos == ClevrerLayout(out["data"]).video_indices(split) and not cache.skipped
        assert cache[0]["slots"].shape == (4, 7, 16 + 4)  # oddn_tiny: K=7, 16 static + 4 dynamics dims
        assert (report / f"slots_{split}.md").is_file()
        cache.close()  # HDF5 refuses to reopen a file for writing while this process reads it
    train = (out["data"] / "questions" / "train.json").read_bytes()
    cache_bytes = (slots["dir"] / "train.h5").read_bytes()
    assert out["qa"]["table"].feature.tolist() == ["ODDN", "ODDN -dyn", "states", "blind"]
    states = SlotFrames(tmp_path / "demo" / "slots" / "states" / "validation.h5", SlotSampling(num_frames=4))
    assert states.attrs["producer"] == "annotations" and states.attrs["frame_stride"] == 16  # the slots' stride
    states.close()
    assert (report / "qa_table2.md").is_file() and (report / "qa_table2.png").is_file()
    assert "QA accuracy (%) on validation" in printed
    assert out["times"].stage.tolist()[-1] == "total" and (report / "stage_times.csv").is_file()
    assert out["times"].seconds.iloc[:-1].sum() <= out["times"].seconds.iloc[-1] + 1e-6
    written = json.loads((report / "outputs.json").read_text())  # what the stages returned, for the results page
    assert Path(written["perception"]["evaluation"]["rollout.png"]).is_file() and written["perception"]["step"] == 2
    assert [r["feature"] for r in written["qa"]["runs"]] == ["ODDN", "ODDN -dyn", "states", "blind"]
    assert all((Path(r["eval_dir"]) / "accuracy.md").is_file() for r in written["qa"]["runs"])
    from pipelines.results_page import build

    page = build(tmp_path / "demo", tmp_path / "docs" / "results.md").read_text()
    for title in ("Wall time per stage", "Baselines (validation)", "Perception: prediction", "Slot cache: validation",
                  "QA per type and subtype: blind"):
        assert f"## {title}" in page, title
    assert "descriptive: query_color" in page and (tmp_path / "docs" / "figures" / "results" / "rollout.png").is_file()
    qa_model = out["qa"]["dir"] / "ODDN" / "seed_0" / "checkpoints" / "step_0000002" / "model.pt"
    qa_bytes = qa_model.read_bytes()
    run(tmp_path / "demo", num_videos=9, workers=1, perception_overrides=small, qa_overrides=qa)  # resumes
    printed = capsys.readouterr().out
    assert "questions: already generated" in printed and "oddn already trained (2 steps)" in printed
    assert "slots train: 0 videos extracted" in printed and (slots["dir"] / "train.h5").read_bytes() == cache_bytes
    assert (out["data"] / "questions" / "train.json").read_bytes() == train
    assert qa_model.read_bytes() == qa_bytes  # QA runs are not retrained


def test_main_job_starts_from_a_pretrained_checkpoint(tmp_path, capsys):
    """With `pretrained`, the perception stage installs, evaluates and extracts that model; nothing is trained."""
    from perception.config import PerceptionConfig
    from perception.pretrained import export_pretrained
    from perception.registry import build_model
    from pipelines.main_job import REPO, run
    from qa_data.config import load_config
    from qa_data.provenance import file_sha256
    from qa_data.runtime.checkpoints import write_model_file
    from qa_data.slots.slot_cache import read_attrs

    small = ["iodine.num_iters=2", "eval.num_videos=1", "eval.frames_per_video=2", "eval.frame_gap=32",
             "frames.frame_stride=16", "eval.predict_starts=[0]", "eval.predict_steps=2"]
    cfg = load_config(PerceptionConfig, REPO / "configs" / "perception" / "oddn_cpu.yaml", small)
    ckpt = tmp_path / "made" / "checkpoints" / "step_0000005"
    ckpt.mkdir(parents=True)
    write_model_file(build_model(cfg), cfg, ckpt / "model.pt", 5)
    pretrained = export_pretrained(tmp_path / "made", tmp_path / "oddn_cpu.pt")
    qa = ["train.steps=2", "aloe.d_model=16", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=16", "data.num_frames=4",
          "train.batch_size=8"]
    out = run(tmp_path / "demo", num_videos=9, workers=1, qa_overrides=qa, pretrained=pretrained)
    printed = capsys.readouterr().out
    assert "pretrained oddn (oddn_cpu.pt, step 5), not trained here" in printed
    run_dir = out["perception"]["run"]
    assert not (run_dir / "train_log.jsonl").exists()  # evaluated, never trained
    assert (run_dir / "eval" / "validation_step_5" / "prediction.csv").is_file()
    attrs = read_attrs(out["slots"]["dir"] / "train.h5")
    assert attrs["producer_id"] == file_sha256(pretrained) and attrs["frame_stride"] == 16
    assert out["qa"]["table"].feature.tolist() == ["ODDN", "ODDN -dyn", "states", "blind"]
