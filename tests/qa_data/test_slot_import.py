"""Slots from other models: SlotFormer's pickle and an .npz give the same cache, checked against the dataset's
videos; a pickle holding anything but containers and arrays is refused without running; the imported cache
trains the QA model like any other."""
from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from qa_data.clevrer.layout import ClevrerLayout
from qa_data.config import load_config
from qa_data.errors import DataError
from qa_data.runtime.command import EXIT_ERROR, run_command
from qa_data.slots.cli import import_slots_main as import_main
from qa_data.slots.slot_cache import SlotFrames, SlotSampling
from qa_data.slots.slot_import import ImportConfig, import_slots
from reasoning.config import QAConfig
from reasoning.train import train_qa

REPO = Path(__file__).resolve().parents[2]
T, K, D = 8, 4, 6


def features(index: int) -> np.ndarray:
    """A video's made-up slots [T, K, D]: distinct per video, frame, slot and dim."""
    return (index * 1000 + np.arange(T)[:, None, None] * 100 + np.arange(K)[:, None] * 10
            + np.arange(D)).astype(np.float32) / 1000


def slotformer_pickle(path: Path, layout: ClevrerLayout) -> Path:
    """SlotFormer's layout: {'train'|'val'|'test': {'video_XXXXX.mp4': [T, K, D]}}."""
    data = {name: {f"video_{i:05d}.mp4": features(i) for i in layout.video_indices(split)}
            for name, split in (("train", "train"), ("val", "validation"), ("test", "test"))}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


def cache_arrays(path: Path) -> dict:
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("slots", "presence", "video_index", "status", "frame_index")}


def test_pickle_and_npz_give_the_same_cache(qa_root, tmp_path):
    layout = ClevrerLayout(qa_root)
    pkl = slotformer_pickle(tmp_path / "stosavi_slots.pkl", layout)
    npz = tmp_path / "stosavi_train.npz"
    np.savez(npz, **{f"video_{i:05d}": features(i) for i in layout.video_indices("train")})
    cfg = ImportConfig(split="train", d_dyn=2, label="stosavi")
    a = import_slots(pkl, qa_root, tmp_path / "from_pickle", cfg)
    b = import_slots(npz, qa_root, tmp_path / "from_npz", cfg)
    assert a.written == b.written == 10 and not a.skipped and not a.extra
    arrays_a, arrays_b = cache_arrays(a.path), cache_arrays(b.path)
    for key in arrays_a:
        np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=key)
    reader = SlotFrames(a.path, SlotSampling(num_frames=T))
    np.testing.assert_allclose(reader[3]["slots"].numpy(), features(3), rtol=1e-3)  # float16 in the cache
    assert reader.layout.d_static == 4 and reader.layout.d_dyn == 2 and reader.attrs["producer"] == "import"
    other = SlotFrames(b.path, SlotSampling(num_frames=T)).attrs
    assert other["producer_id"] == reader.attrs["producer_id"]  # one model, two files
    assert other["source_sha256"] != reader.attrs["source_sha256"]  # each file's own hash


def test_missing_extra_and_misshapen_videos_are_reported(qa_root, tmp_path):
    layout = ClevrerLayout(qa_root)
    arrays = {f"video_{i:05d}": features(i) for i in layout.video_indices("train")}
    del arrays["video_00002"]
    arrays["video_00005"] = features(5)[:, :3]  # 3 slots, the others 4
    arrays["video_99999"] = features(1)  # not a train video of this dataset
    arrays["video_00007"] = np.where(np.arange(D) == 0, np.nan, features(7))  # non-finite
    arrays["video_00008"] = features(8).astype(np.float64) * 1e5  # beyond float16 (max 65504)
    arrays["video_00009"] = features(9) + 1j  # complex: its imaginary part would be dropped
    np.savez(tmp_path / "s.npz", **arrays)
    result = import_slots(tmp_path / "s.npz", qa_root, tmp_path / "out", ImportConfig(split="train"))
    assert result.written == 5 and result.extra == ["video_99999"]
    assert dict(result.skipped) == {2: "not in s.npz", 5: "features of shape [8, 3, 6], the others have [8, 4, 6]",
                                    7: "non-finite features",
                                    8: "features up to 8.735e+05 overflow float16 (import with --dtype float32)",
                                    9: "features of dtype complex64, not real numbers"}
    reader = SlotFrames(result.path, SlotSampling(num_frames=T))
    assert sorted(reader.skipped) == [2, 5, 7, 8, 9]
    assert all(np.isfinite(reader[i]["slots"].numpy()).all() for i in range(len(reader)))
    # float32 holds them
    wide = import_slots(tmp_path / "s.npz", qa_root, tmp_path / "wide", ImportConfig(split="train", dtype="float32"))
    assert wide.written == 6 and 8 not in dict(wide.skipped)


def test_two_keys_naming_one_video_are_refused(qa_root, tmp_path):
    np.savez(tmp_path / "s.npz", video_00000=features(0), video_0=features(1))
    with pytest.raises(DataError, match="'video_00000' and 'video_0' both name video 0"):
        import_slots(tmp_path / "s.npz", qa_root, tmp_path / "out", ImportConfig(split="train"))
    assert not (tmp_path / "out").exists()


def test_a_pickle_carrying_code_is_refused_and_runs_nothing(capsys, qa_root, tmp_path):
    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "ran",))

    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"train": {"video_00000.mp4": Payload()}}, f)
    status = run_command(import_main, ["--input", str(tmp_path / "evil.pkl"), "--data", str(qa_root), "--out",
                                       str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert status == EXIT_ERROR and "evil.pkl: refused: the pickle holds pathlib" in err
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out" / "train.h5").exists()
    np.savez(tmp_path / "objects.npz", video_00000=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="objects.npz: refused: Object arrays cannot be loaded"):
        import_slots(tmp_path / "objects.npz", qa_root, tmp_path / "out2", ImportConfig())


def test_an_imported_source_trains_and_evaluates_the_qa_model(qa_root, tmp_path):
    pkl = slotformer_pickle(tmp_path / "stosavi.pkl", ClevrerLayout(qa_root))
    assert run_command(import_main, ["--input", str(pkl), "--data", str(qa_root), "--split", "train,validation",
                                     "--out", str(tmp_path / "slots"), "--d-dyn", "2"]) == 0
    cfg = load_config(QAConfig, REPO / "configs/qa/aloe_tiny.yaml",
                      ["aloe.d_model=32", "aloe.layers=1", "aloe.heads=2", "aloe.ffn=32", "aloe.head_hidden=16",
                       "data.num_frames=4", "train.batch_size=8", "train.steps=2", "train.eval_batch_size=16",
                       "data.drop_dynamics=true"])
    result = train_qa(cfg, qa_root, tmp_path / "slots", tmp_path / "qa", progress=False)
    assert result.step == 2 and result.accuracy is not None
    assert (tmp_path / "qa" / "run_info.json").read_text().count("stosavi -dyn") == 1
