"""Take-off of every finished run of a verdict study, against what its first block is.

    python scripts/takeoff_diagnostics.py results/verdicts/d64

Reads each run's metrics.parquet (run folders EXPERIMENT/CONDITION/ARCH/SCALE/lrR/seedS of
the two headline settings, trained by code that logs `mixer_grad_norms`): the first
validation step at which exact match is 0.05 above the valid split's majority baseline (the
takeoff table's margin), and the gradient norm of block 1's mixer at the first validation
(step 250), grouped by what block 1 is. docs/calibration.md ("Take-off") quotes its output.
"""
import sys
from pathlib import Path
import numpy as np
import pandas as pd

root = Path(sys.argv[1])
baseline = {"globals": 0.1796875, "multilang": 0.173828125}  # valid-split majority of the two settings (takeoff table)
rows = []
for m in sorted(p for p in root.rglob("metrics.parquet") if (p.parent / "train_summary.json").exists()):
    exp, cond, arch, scale, lr, seed = m.parent.relative_to(root).parts
    df = pd.read_parquet(m).dropna(subset=["valid_exact_match"])
    up = df[df.valid_exact_match >= baseline[exp] + 0.05]
    g = np.stack(df.mixer_grad_norms.to_numpy())  # (validations, blocks)
    rows.append(dict(exp=exp, arch=arch, lr=float(lr[2:]), seed=int(seed[4:]), first="attn" if arch in ("gpt2", "thex-1") else "hyena",
                     takeoff=int(up.step.iloc[0]) if len(up) else np.nan, final=df.valid_exact_match.iloc[-1],
                     g1_250=g[0, 0], gmax_250=g[0].max()))
t = pd.DataFrame(rows)
pd.set_option("display.width", 200)
print(t.groupby(["first"]).agg(runs=("takeoff", "size"), never=("takeoff", lambda s: s.isna().sum()),
                                takeoff_median=("takeoff", "median"), takeoff_min=("takeoff", "min"), takeoff_max=("takeoff", "max"),
                                g1_median=("g1_250", "median"), g1_min=("g1_250", "min"), g1_max=("g1_250", "max")))
print(t.groupby(["first", "lr"]).agg(runs=("takeoff", "size"), takeoff_median=("takeoff", "median"), g1_median=("g1_250", "median")))
print(t.groupby(["arch"]).agg(runs=("takeoff", "size"), never=("takeoff", lambda s: s.isna().sum()), takeoff_median=("takeoff", "median")))
corr = t.dropna(subset=["takeoff"])
print("Spearman(g1 at step 250, take-off step):", round(corr[["g1_250", "takeoff"]].corr(method="spearman").iloc[0, 1], 3), "n =", len(corr))
