"""PROVIDE on CPU: training throughput against a compute-equivalent of the official code, and how
inference time grows with the video length for IODINE and PROVIDE.

    python benchmarks/bench_provide.py [--steps 3] [--threads 2] [--lengths 4 8 16 32] [--figure PATH]

Training (one step = forward over the grid + backward + clip + Adam, random clips; each row in a
fresh process, one warm-up step, then the median of `--steps`):
- `ours, reference config`: provide_clevrer with K=7, R=5, latent 64, 64x64, 4-frame clips, batch 4.
- `official-equivalent`: the per-step compute of BorealisAI/PROVIDE's `Model.forward`, re-created for
  timing only: the official grid (frame f runs max(R - f, 2) decodes, refining after the last one
  for f > 0), Kelly's stride-1 refinement trunk + AvgPool(4) + Linear(16384, 128), LSTM2dCell(128),
  the SqueezeNet stand-in feature extractor on every frame, the prior MLP and the decoder's pre-MLP,
  the decoder convolving the tiled latent, per-channel mixture and three autograd.grad calls per
  refinement. Same decoder widths as ours.
- `ours, tiny preset`: configs/perception/provide_tiny.yaml.

Complexity: seconds per video (inference, no parameter gradients) for T frames, IODINE (R decodes
on every frame) vs PROVIDE (the triangular grid), at K=7, R=5, latent 16, 32x48; a least-squares line
t = a + b T per model. The paper claims O(R^2 + T) against IODINE's O(RT): PROVIDE's slope b should be
a fraction of IODINE's (about 2 / (2R - 1): one decode and one refinement per late frame).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from summary import emit  # noqa: E402  (benchmarks/summary.py)

REFERENCE = ["iodine.num_slots=7", "iodine.num_iters=5", "iodine.latent_dim=64", "train.batch_size=4",
             "provide.curriculum=[[0,4]]"]
COMPLEXITY = ["iodine.num_slots=7", "iodine.num_iters=5", "iodine.latent_dim=16",
              "iodine.decoder_channels=[32,32,32,32]",
              "iodine.refine_channels=[32,32,32,32]", "iodine.refine_mlp=[128]", "iodine.refine_hidden=128",
              "frames.preprocess.size=[32,48]"]


def _official_equivalent(k: int, r_iters: int, z_dim: int, size: int):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from bench_iodine import tiled_first_layer

    from perception.decoder import SpatialBroadcastDecoder
    from perception.provide import LSTM2dCell

    class OfficialEquivalent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lam0 = nn.Parameter(torch.rand(1, 2 * z_dim) - 0.5)
            self.decoder = SpatialBroadcastDecoder(z_dim, (size, size), [64] * 4)
            first = self.decoder.first
            first.forward = lambda z: tiled_first_layer(first, z)
            self.pre_mlp = nn.Sequential(nn.Linear(z_dim + 128, z_dim), nn.ELU(), nn.Linear(z_dim, z_dim), nn.ELU())
            self.prior = nn.Sequential(nn.Linear(128, 128), nn.ReLU())
            self.prior_mean, self.prior_var = nn.Linear(128, z_dim), nn.Sequential(nn.Linear(128, z_dim), nn.Softplus())
            self.extractor = nn.Sequential(nn.Conv2d(3, 128, 5, stride=4), nn.Conv2d(128, 64, 3, padding=1), nn.ELU(),
                                           nn.Conv2d(64, 32, 3, padding=1), nn.ELU(), nn.Conv2d(32, 16, 3, padding=1),
                                           nn.ELU())
            convs = []
            for cin in (32, 64, 64, 64):
                convs += [nn.Conv2d(cin, 64, 3, padding=1), nn.ELU()]
            self.trunk = nn.Sequential(*convs, nn.AvgPool2d(4), nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128),
                                       nn.ELU())
            self.cell = LSTM2dCell(128 + 4 * z_dim, 128)
            self.head = nn.Linear(128, 2 * z_dim)

        def forward(self, clips):
            n, frames = clips.shape[:2]
            mu0, logvar0 = self.lam0.expand(n * k, -1).chunk(2, 1)
            z_first = mu0 + torch.randn_like(mu0) * (0.5 * logvar0).exp()
            h_hor = torch.zeros(n * k, 128)
            c_hor = torch.zeros_like(h_hor)
            coords = self.decoder.first.coords
            total = 0.0
            for f in range(frames):
                x = clips[:, f]
                feats = self.extractor(F.interpolate(x, size=257))[..., :size, :size]
                a = self.prior(h_hor)
                p_mean, p_logvar = self.prior_mean(a), self.prior_var(a)
                lam = self.lam0.expand(n * k, -1)
                h, c = torch.zeros_like(h_hor), torch.zeros_like(c_hor)
                iters = max(r_iters - f, 2)
                for it in range(iters):
                    mu, logvar = lam.chunk(2, 1)
                    z = z_first if it == 0 else mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                    means, logits = self.decoder(self.pre_mlp(torch.cat([z, h_hor], 1)))
                    means, logits = means.view(n, k, 3, size, size), logits.view(n, k, 1, size, size)
                    masks = logits.softmax(1)
                    dev = -(means - x[:, None]) ** 2
                    ll = (masks * (dev / 0.6).exp()).sum(1, keepdim=True).log().sum(2, keepdim=True)
                    nll = -ll.flatten(1).sum(1).mean()
                    kl = (0.5 * (p_logvar - logvar + (logvar.exp() + (mu - p_mean) ** 2) / p_logvar.exp() - 1)
                          ).sum(1).view(n, k).sum(1).mean()
                    loss = 100 * nll + 10 * kl
                    total = total + (it + 1) / r_iters * loss
                    if f == 0 and it == iters - 1:
                        break
                    d_means = torch.autograd.grad(loss, means, retain_graph=True)[0]
                    d_masks = torch.autograd.grad(loss, masks, retain_graph=True)[0]
                    d_lam = torch.autograd.grad(loss, lam, retain_graph=True)[0]

                    def ln(t):
                        return F.layer_norm(t, t.shape[-3:]).detach()
                    p_masks = (dev / 0.6).exp().prod(2, keepdim=True).softmax(1)
                    img = torch.cat([x[:, None].expand(-1, k, -1, -1, -1), means, masks, logits, ln(d_means),
                                     ln(d_masks), p_masks, ln(ll).expand(-1, k, -1, -1, -1),
                                     coords[None].expand(n, k, -1, -1, -1),
                                     feats[:, None].expand(-1, k, -1, -1, -1)], 2).flatten(0, 1)
                    vec = torch.cat([lam, F.layer_norm(d_lam, d_lam.shape[-1:]).detach()], 1)
                    h, c = self.cell(torch.cat([self.trunk(img), vec], 1), ((h, c), (h_hor, c_hor)))
                    lam = lam + self.head(h)
                h_hor, c_hor = h, c
            return total

    return OfficialEquivalent()


def train_row(spec: dict) -> dict:
    import torch

    from perception.config import PerceptionConfig
    from perception.registry import build_model
    from qa_data.config import load_config

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    if spec["kind"] == "official":
        model = _official_equivalent(7, 5, 64, 64)
        batch, frames, size = 4, 4, (64, 64)

        def loss_of(x):
            return model(x)
    else:
        cfg = load_config(PerceptionConfig, REPO / spec["config"], spec.get("overrides", []))
        model = build_model(cfg)
        batch, frames, size = cfg.train.batch_size, cfg.provide.curriculum[0][1], tuple(cfg.frames.preprocess.size)

        def loss_of(x):
            return model(x).loss
    params = list(model.parameters())
    opt = torch.optim.Adam(params, 3e-4)
    x = torch.rand(batch, frames, 3, *size)
    times = []
    for i in range(spec["steps"] + 1):
        t0 = time.perf_counter()
        loss = loss_of(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    s = statistics.median(times)
    return {"model": spec["name"], "clips": batch, "frames": frames, "size": f"{size[0]}x{size[1]}",
            "params": sum(p.numel() for p in params), "s_per_step": round(s, 3),
            "frames_per_s": round(batch * frames / s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def complexity(lengths: list[int], threads: int, repeats: int = 2) -> list[dict]:
    import torch

    from perception.config import PerceptionConfig
    from perception.registry import build_model, decompose
    from qa_data.config import load_config

    torch.set_num_threads(threads)
    rows = []
    for name, config in (("IODINE", "iodine_tiny"), ("PROVIDE", "provide_tiny")):
        cfg = load_config(PerceptionConfig, REPO / f"configs/perception/{config}.yaml", COMPLEXITY)
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        for t in lengths:
            video = torch.rand(1, t, 3, 32, 48)
            seeds = torch.arange(t)[None]
            decompose(model, cfg, video[:, :2], seeds[:, :2])  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                decompose(model, cfg, video, seeds)
                times.append(time.perf_counter() - t0)
            rows.append({"model": name, "frames": t, "s_per_video": round(min(times), 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--figure", type=Path, default=REPO / "docs/figures/provide_complexity.png")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one training spec (JSON) and print its row
    args = ap.parse_args()
    if args.one:
        print(json.dumps(train_row(json.loads(args.one))))
        return
    import numpy as np
    import pandas as pd

    print(f"{platform.processor() or platform.machine()}, {args.threads} threads")
    if not args.skip_training:
        specs = [
            {"name": "ours, reference config", "kind": "ours", "config": "configs/perception/provide_clevrer.yaml",
             "overrides": REFERENCE},
            {"name": "official-equivalent (BorealisAI)", "kind": "official"},
            {"name": "ours, tiny preset", "kind": "ours", "config": "configs/perception/provide_tiny.yaml"},
        ]
        rows = []
        for spec in specs:
            spec.update(steps=args.steps, threads=args.threads)
            done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], cwd=REPO,
                                  capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        table = pd.DataFrame(rows)
        official = table.set_index("model").loc["official-equivalent (BorealisAI)", "s_per_step"]
        table["speedup_vs_official"] = (official / table.s_per_step).round(2)
        table.loc[table.model.str.contains("tiny"), "speedup_vs_official"] = None
        print(f"training, median of {args.steps} steps")
        print(table.to_markdown(index=False))
        emit("PROVIDE training", [{"setup": f"{r['model']}, {r['clips']} x {r['frames']} frames, {r['size']}",
                                   "figure": "s/step", "value": r["s_per_step"], "unit": "s",
                                   "reference": "" if r["model"].startswith("official") or "tiny" in r["model"]
                                   else f"official-equivalent {official} s: x{r['speedup_vs_official']} faster"}
                                  for r in table.to_dict("records")])

    rows = pd.DataFrame(complexity(args.lengths, args.threads))
    fits = []
    for name, part in rows.groupby("model", sort=False):
        slope, intercept = np.polyfit(part.frames, part.s_per_video, 1)
        fits.append({"model": name, "s_per_frame (slope)": round(slope, 4), "intercept_s": round(intercept, 4)})
    fits = pd.DataFrame(fits)
    ratio = fits.set_index("model")["s_per_frame (slope)"]
    print("\ninference time per video against length")
    print(rows.pivot(index="frames", columns="model", values="s_per_video").reset_index().to_markdown(index=False))
    print(fits.to_markdown(index=False))
    print(f"PROVIDE slope / IODINE slope = {ratio['PROVIDE'] / ratio['IODINE']:.3f} (expected about 2 / (2R - 1) = "
          f"{2 / 9:.3f} for R = 5)")
    emit("PROVIDE inference", [{"setup": "per-frame cost, PROVIDE / IODINE", "figure": "slope ratio",
                                "value": round(ratio["PROVIDE"] / ratio["IODINE"], 3), "unit": "",
                                "reference": f"about 2 / (2R - 1) = {2 / 9:.3f} for R = 5"}])
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for name, part in rows.groupby("model", sort=False):
            f = fits.set_index("model").loc[name]
            ax.plot(part.frames, part.s_per_video, "o", label=f"{name}: {f['s_per_frame (slope)']:.3f} s/frame")
            ax.plot(part.frames, f["intercept_s"] + f["s_per_frame (slope)"] * part.frames, "-",
                    color=ax.lines[-1].get_color())
        ax.set_xlabel("frames T")
        ax.set_ylabel("seconds per video (inference)")
        ax.set_title("K=7, R=5, latent 16, 32x48, CPU", fontsize=8)
        ax.legend(fontsize=7)
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=130)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
