"""The Table-2 claims an ablation can decide, from its runs.csv: per row and type the mean ± std over seeds with
the 95 % t-interval, then each claim of `make reproduce`'s results page whose two rows the ablation trained, with
its Welch test and verdict (pipelines.claims_page). Prints Markdown; `--out` also writes it.

    python benchmarks/ablation_claims.py --runs RUNS/runs.csv [--out docs/.../claims.md]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.claims_page import oracle_claims, qa_table, table2_claims  # noqa: E402


def claims_markdown(runs: pd.DataFrame) -> str:
    rows = set(runs.feature)
    decidable = []
    for claim in table2_claims(runs) + oracle_claims(runs):
        a, b = re.match(r"(.+?) - (.+?): ", claim.ours).groups()
        if a in rows and b in rows:
            decidable.append(vars(claim))
    table = qa_table(runs).to_markdown(index=False)
    claims = pd.DataFrame(decidable).to_markdown(index=False) if decidable else "(no claim has both of its rows here)"
    return (f"Per question, mean ± std over seeds [95 % t-interval of the mean]:\n\n{table}\n\n"
            f"Claims whose two rows this ablation trained (Welch over seeds; several types: Benjamini-Hochberg):\n\n"
            f"{claims}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, required=True, help="an ablation's runs.csv (scripts/ablate.py)")
    ap.add_argument("--out", type=Path, help="also write the Markdown here")
    args = ap.parse_args(argv)
    if not args.runs.is_file():
        raise SystemExit(f"{args.runs}: no such file (an ablation's runs.csv)")
    text = claims_markdown(pd.read_csv(args.runs))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
