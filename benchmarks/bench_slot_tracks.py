"""Do a perception model's slots follow objects through a video? Track purity of the raw slot indices and of the
tracks `perception.tracking` matches (issue 30: the QA stage's object-track tokens read one slot index as one
object).

    python benchmarks/bench_slot_tracks.py --data runs/reproduce/data \\
        --run "ODDN w/o relation (demo)=perception/pretrained/oddn_no_relation_cpu.pt" --videos 20

The frames are the ones slot extraction reads: every `frames.frame_stride`-th frame of each validation video from
frame 0 (`--frames` of them), with each frame's latent noise seeded as extraction seeds it. Purity: for each
annotated object, the share of its visible frames in which it falls in its most frequent slot (or track).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from run_tables import load_source, named_runs, report  # noqa: E402

from perception.extract import video_seeds  # noqa: E402
from perception.registry import decompose, feature_dims, slot_features  # noqa: E402
from perception.tracking import track_order, track_purity  # noqa: E402
from qa_data.clevrer.datasets import ClipConfig  # noqa: E402
from qa_data.sources import open_clips, video_frames  # noqa: E402


def purity_of(source: Path, data: Path, split: str, videos: int, frames: int) -> dict[str, float]:
    loaded = load_source(source)
    cfg, model = loaded.cfg, loaded.model.eval()
    stride = cfg.frames.frame_stride
    total = video_frames(data, split, cfg.frames.dataset)
    clip = ClipConfig(clip_len=min(frames, len(range(0, total, stride))), stride=stride, random_start=False,
                      start_frame=0, with_masks=True, expected_frames=total, preprocess=cfg.frames.preprocess)
    ds = open_clips(data, split, clip, cfg.frames.dataset)
    raw = matched = 0.0
    n = min(videos, len(ds))
    for i in range(n):
        item = ds[i]
        video = item["frames"][None]  # [1, T, 3, H, W]
        true_ids = torch.as_tensor(item["masks"])[None].long()  # [1, T, H, W]
        seeds = video_seeds(torch.tensor([item["video_index"]]), torch.arange(video.shape[1]) * stride, total)
        masks = decompose(model, cfg, video, seeds).masks  # [1, T, K, H, W]
        static = slot_features(model, cfg, video, seeds)[..., :feature_dims(model, cfg)[0]]  # [1, T, K, D]
        identity = torch.arange(masks.shape[2]).expand(*masks.shape[:3])
        raw += track_purity(true_ids, masks, identity)
        matched += track_purity(true_ids, masks, track_order(static))
    return {"step": loaded.step, "videos": n, "frames": clip.clip_len, "frame stride": stride,
            "purity, slot index": raw / n, "purity, matched tracks": matched / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="CLEVRER-sim root with masks")
    ap.add_argument("--run", action="append", required=True, metavar="NAME=RUN", help="a run directory or .pt file")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--frames", type=int, default=32, help="frames per video, at the model's training stride")
    ap.add_argument("--out", type=Path, default=None, help="Markdown table (and a .csv beside it)")
    args = ap.parse_args()
    rows = [{"run": name, **purity_of(path, args.data, args.split, args.videos, args.frames)}
            for name, path in named_runs(ap, args.run)]
    report(rows, args.out, "Do slots follow objects? Track purity of raw slot indices and matched tracks",
           "bench_slot_tracks.py")

if __name__ == "__main__":
    main()
