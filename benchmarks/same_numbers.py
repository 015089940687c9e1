"""Fixed-seed runs whose figures must not change when code is only reorganised: one perception run and one QA run.

    python benchmarks/same_numbers.py --out DIR [--data DATA]      # writes DIR/figures.json
    python benchmarks/same_numbers.py --out DIR --data DATA --compare OTHER/figures.json

Uses a copy of DATA, or generates 8 tiny CLEVRER-sim videos with questions. The generator's video pixels are
not bit-identical from run to run, so compare two checkouts on the same DATA. Then it trains `iodine_tiny` for
20 steps in float32, extracts its slots, and trains `aloe_tiny` for 20 steps on them. It records the logged
losses (not their wall times), the evaluation metrics and a SHA-256 of every checkpoint's weights; `--compare`
prints what differs (exit status 1 if anything does).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def weights_sha256(model_pt: Path) -> str:
    state = torch.load(model_pt, map_location="cpu", weights_only=True)["model"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run(out: Path, source: Path | None = None) -> dict:
    from perception.config import PerceptionConfig
    from perception.extract import ExtractConfig, extract
    from perception.loaded_run import load_run
    from perception.train import train
    from qa_data.config import load_config
    from qa_data.qgen.config import build_question_config
    from qa_data.qgen.generate import generate_questions
    from qa_data.sim.config import build_config
    from qa_data.sim.generate import generate_dataset
    from reasoning.config import QAConfig
    from reasoning.train import train_qa

    data = out / "data"
    if source is not None:
        shutil.copytree(source, data, ignore=shutil.ignore_patterns(".lock"))
    else:
        generate_dataset(build_config("tiny", 8, 0, []), data, workers=1, progress=False)
        generate_questions(data, build_question_config(), workers=1, progress=False)
    pcfg = load_config(PerceptionConfig, REPO / "configs/perception/iodine_tiny.yaml",
                       ["train.steps=20", "train.checkpoint_every=10", "train.log_every=5", "eval.num_videos=2",
                        "iodine.num_iters=2", "train.mixed_precision=no"])  # float32: one Accelerator state per process
    perception = train(pcfg, data, out / "perception")
    for split in ("train", "validation"):
        extract(load_run(out / "perception"), data, out / "slots", ExtractConfig(split=split, frame_stride=16),
                progress=False)
    qcfg = load_config(QAConfig, REPO / "configs/qa/aloe_tiny.yaml",
                       ["train.steps=20", "train.batch_size=8", "train.log_every=5", "data.num_frames=4",
                        "train.eval_batch_size=32"])
    qa = train_qa(qcfg, data, out / "slots", out / "qa", progress=False)
    return {
        "perception weights": weights_sha256(perception.checkpoint / "model.pt"),
        "perception log": [json.loads(x) for x in (out / "perception/train_log.jsonl").read_text().splitlines()],
        "perception metrics": {m: round(float(v), 6) for m, v in zip(perception.metrics.metric,
                                                                   perception.metrics["mean"])},
        "qa weights": weights_sha256(qa.checkpoint / "model.pt"),
        "qa log": [{k: v for k, v in json.loads(x).items() if not k.endswith("seconds")}  # wall time is no figure
                   for x in (out / "qa/train_log.jsonl").read_text().splitlines()],
        "qa summary": qa.summary,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, help="a dataset to copy (default: generate one)")
    ap.add_argument("--compare", type=Path, help="figures.json of another checkout to compare with")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    args.out.mkdir(parents=True, exist_ok=True)
    figures = run(args.out, args.data)
    (args.out / "figures.json").write_text(json.dumps(figures, indent=1, sort_keys=True))
    print(f"written {args.out / 'figures.json'}")
    if args.compare:
        other = json.loads(args.compare.read_text())
        mine = json.loads(json.dumps(figures, sort_keys=True))
        differ = [k for k in sorted(set(mine) | set(other)) if mine.get(k) != other.get(k)]
        for k in sorted(mine):
            print(f"{k}: {'same' if k not in differ else 'DIFFERS'}")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
