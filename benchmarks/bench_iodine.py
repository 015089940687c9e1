"""IODINE training throughput on CPU: our implementation vs a compute-equivalent of the PyTorch port.

    python benchmarks/bench_iodine.py [--steps 3] [--threads 2]

One step = forward (all refinement iterations, with the per-step gradient inputs) + backward +
gradient clipping + Adam, on random images. Each configuration runs in a fresh process (so peak
memory is its own): one warm-up step, then the median of `--steps` timed steps.

Rows:
- `ours, reference config`: K=7, R=5, latent 64, 64x64, batch 4 (the issue's reference point).
- `ours, no broadcast trick`: the same with the decoder's first layer run as a plain convolution on
  the tiled latent, to show what `BroadcastConv2d` saves.
- `port-equivalent`: the PyTorch port's (MichaelKevinKelly/IODINE) per-step compute, re-created
  here for timing only: stride-1 refinement trunk + AvgPool(4) + Linear(16384, 128) + LSTMCell(128),
  its feature-extractor stand-in (a Conv2d(3, 128, 5, stride 4) on the image upsampled to 257, then
  3 convs to 16 channels), T=5 decodes with T-1 refinements, per-channel mixture, three
  autograd.grad calls per refinement. Same decoder as ours.
- `ours, tiny preset`: configs/perception/iodine_tiny.yaml at its batch size.
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

from summary import emit  # noqa: E402  (benchmarks/summary.py)

REPO = Path(__file__).resolve().parents[1]


def tiled_first_layer(first, z):
    """The decoder's first layer as a plain convolution of the tiled latent (what the port does)."""
    import torch
    h, w = first.coords.shape[-2:]
    tiles = torch.cat([first.coords.expand(z.shape[0], -1, -1, -1), z[:, :, None, None].expand(-1, -1, h, w)], 1)
    return first.conv(tiles)


def _port_equivalent(k: int, t_iters: int, z_dim: int, size: int):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    from perception.decoder import SpatialBroadcastDecoder

    class PortEquivalent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lam0 = nn.Parameter(torch.rand(1, 2 * z_dim) - 0.5)
            self.decoder = SpatialBroadcastDecoder(z_dim, (size, size), [64] * 4)
            first = self.decoder.first
            first.forward = lambda z: tiled_first_layer(first, z)  # the port convolves the tiled latent
            self.extractor = nn.Sequential(nn.Conv2d(3, 128, 5, stride=4), nn.Conv2d(128, 64, 3, padding=1), nn.ELU(),
                                           nn.Conv2d(64, 32, 3, padding=1), nn.ELU(), nn.Conv2d(32, 16, 3, padding=1),
                                           nn.ELU())
            convs = []
            for cin in (32, 64, 64, 64):
                convs += [nn.Conv2d(cin, 64, 3, padding=1), nn.ELU()]
            self.trunk = nn.Sequential(*convs, nn.AvgPool2d(4), nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128),
                                       nn.ELU())
            self.lstm = nn.LSTMCell(128 + 4 * z_dim, 128)
            self.head = nn.Linear(128, 2 * z_dim)

        def forward(self, x):
            n = x.shape[0]
            lam = self.lam0.expand(n * k, -1)
            h = torch.zeros(n * k, 128)
            c = torch.zeros_like(h)
            feats = self.extractor(F.interpolate(x, size=257))[..., :size, :size]  # [N, 16, H, W]
            coords = self.decoder.first.coords
            total = 0.0
            for it in range(t_iters):
                mu, logvar = lam.chunk(2, 1)
                z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                means, logits = self.decoder(z)
                means, logits = means.view(n, k, 3, size, size), logits.view(n, k, 1, size, size)
                masks = logits.softmax(1)
                dev = -(means - x[:, None]) ** 2
                ll = (masks * (dev / 0.6).exp()).sum(1, keepdim=True).log().sum(2, keepdim=True)
                nll = -ll.flatten(1).sum(1).mean()
                kl = (-0.5 * (1 + logvar - logvar.exp() - mu ** 2).sum(1)).view(n, k).sum(1).mean()
                loss = 5 * nll + kl
                total = total + (it + 1) / t_iters * loss
                if it == t_iters - 1:
                    break
                d_means = torch.autograd.grad(loss, means, retain_graph=True)[0]
                d_masks = torch.autograd.grad(loss, masks, retain_graph=True)[0]
                d_lam = torch.autograd.grad(loss, lam, retain_graph=True)[0]

                def ln(t):
                    return F.layer_norm(t, t.shape[-3:]).detach()
                p_masks = (dev / 0.6).exp().prod(2, keepdim=True).softmax(1)
                img = torch.cat([x[:, None].expand(-1, k, -1, -1, -1), means, masks, logits, ln(d_means), ln(d_masks),
                                 p_masks, ln(ll).expand(-1, k, -1, -1, -1),
                                 coords[None].expand(n, k, -1, -1, -1),
                                 feats[:, None].expand(-1, k, -1, -1, -1)], 2).flatten(0, 1)
                vec = torch.cat([lam, F.layer_norm(d_lam, d_lam.shape[-1:]).detach()], 1)
                h, c = self.lstm(torch.cat([self.trunk(img), vec], 1), (h, c))
                lam = lam + self.head(h)
            return total

    return PortEquivalent()


def run_one(spec: dict) -> dict:
    """Times one configuration in this process."""
    import torch

    from perception.config import PerceptionConfig
    from perception.registry import build_model
    from qa_data.config import load_config

    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    if spec["kind"] == "port":
        model = _port_equivalent(7, 5, 64, 64)
        batch, size = 4, (64, 64)

        def loss_of(x):
            return model(x)
    else:
        cfg = load_config(PerceptionConfig, REPO / spec["config"], spec.get("overrides", []))
        model = build_model(cfg)
        if spec["kind"] == "no_trick":
            first = model.decoder.first
            first.forward = lambda z: tiled_first_layer(first, z)
        batch, size = cfg.train.batch_size, tuple(cfg.frames.preprocess.size)

        def loss_of(x):
            return model(x).loss
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, 3e-4)
    x = torch.rand(batch, 3, *size)
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
    return {"model": spec["name"], "batch": batch, "size": f"{size[0]}x{size[1]}",
            "params": sum(p.numel() for p in params), "s_per_step": round(s, 3),
            "frames_per_s": round(batch / s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


REFERENCE = ["iodine.num_slots=7", "iodine.num_iters=5", "iodine.latent_dim=64", "train.batch_size=4"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one spec (JSON) and print its row
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    specs = [
        {"name": "ours, reference config", "kind": "ours", "config": "configs/perception/iodine_clevrer.yaml",
         "overrides": REFERENCE},
        {"name": "ours, no broadcast trick", "kind": "no_trick", "config": "configs/perception/iodine_clevrer.yaml",
         "overrides": REFERENCE},
        {"name": "port-equivalent (Kelly)", "kind": "port"},
        {"name": "ours, tiny preset", "kind": "ours", "config": "configs/perception/iodine_tiny.yaml"},
    ]
    import pandas as pd
    rows = []
    for spec in specs:
        spec.update(steps=args.steps, threads=args.threads)
        done = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], cwd=REPO, capture_output=True,
                              text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    table = pd.DataFrame(rows)
    port = table.set_index("model").loc["port-equivalent (Kelly)", "s_per_step"]
    table["speedup_vs_port"] = (port / table.s_per_step).round(2)
    table.loc[table.model.str.contains("tiny"), "speedup_vs_port"] = None
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, median of {args.steps} steps")
    print(table.to_markdown(index=False))
    emit("IODINE training",
         [{"setup": f"{r.model}, batch {r.batch}, {r.size}", "figure": "s/step", "value": r.s_per_step,
                              "unit": "s", "reference": "" if r.model.startswith("port") or "tiny" in r.model
                              else f"port-equivalent (Kelly) {port} s: x{r.speedup_vs_port} faster"}
                             for r in table.itertuples()])


if __name__ == "__main__":
    main()
