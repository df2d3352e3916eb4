"""Does a run reproduce a committed one? `python -m thex check` (and `snakemake check`).

Two runs of one config and seed agree bit for bit only where everything that decides the
floating-point result agrees: the torch build, the CPU kernel path it dispatched to (AVX2,
AVX-512, ...; `ATEN_CPU_CAPABILITY` forces another), the device and GPU, the thread count
and the training code (thex.devices.provenance, recorded with every run). Elsewhere
rounding differs in the last bits from the first steps and grows into differences as large
as those between seeds, so the question becomes statistical. Hence two modes:

- **bitwise**, where every run of both summaries has one and the same provenance and the
  runs are the same (cell, rate, seed): every test item's exact match must be equal; the
  first differing one is reported;
- **statistical** otherwise: per cell, a two-sample t test over the per-seed means must
  not reject "both runs draw from one process" after Holm over the cells (alpha 0.05).
  Under that null both samples come from one distribution, so the test pools their
  variances (Student's, S_a + S_b - 2 degrees of freedom); a rerun of the same process
  then fails about 5% of the time (7% with late-starting seeds: tests/test_reproduce.py
  simulates both), where "each mean within the other's 95% interval" failed about two
  reruns in three with 3 seeds a cell and is shown, not decided on. Per claim of the
  headline settings, the verdict (against 0, Holm within its family) must be the same.

The result is one table and one line ("reproduces the reference statistically: 6/6 cells,
6/6 verdicts").
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from thex.aggregate import CELL, IDENTITY, PROVENANCE_KEYS, em_stats, load_summary, orderings_table, run_progress
from thex.experiments import Headline
from thex.stats import holm

BITWISE_KEYS = [f"prov_{key}" for key in PROVENANCE_KEYS if key != "machine"]  # the machine name decides nothing


class Check(NamedTuple):
    mode: str  # "bitwise" or "statistical"
    reproduced: bool
    line: str
    table: pd.DataFrame  # item, mine, reference, test, agrees


def _provenances(runs: pd.DataFrame) -> set[tuple]:
    """The distinct provenances of a summary's runs; empty when a run recorded none."""
    if any(key not in runs for key in BITWISE_KEYS) or runs[BITWISE_KEYS].isna().any().any():
        return set()
    return set(runs[BITWISE_KEYS].astype(str).itertuples(index=False, name=None))


def _describe(provenance: set[tuple]) -> str:
    if not provenance:
        return "not recorded"
    if len(provenance) > 1:
        return f"{len(provenance)} different ones"
    values = dict(zip(BITWISE_KEYS, next(iter(provenance))))
    return ", ".join(f"{key.removeprefix('prov_')} {values[key]}" for key in ("prov_torch_version", "prov_cpu_capability", "prov_device", "prov_threads"))


def _differs(ours: set[tuple], theirs: set[tuple]) -> str:
    """'; differs in: KEY, ...' between two single provenances (a code hash or torch git
    commit that differs is not in `_describe`'s words), else ''."""
    if len(ours) != 1 or len(theirs) != 1:
        return ""
    keys = [key.removeprefix("prov_") for key, a, b in zip(BITWISE_KEYS, next(iter(ours)), next(iter(theirs))) if a != b]
    return f"; differs in: {', '.join(keys)}" if keys else ""


def _bitwise(mine: pd.DataFrame, reference: pd.DataFrame) -> tuple[bool, pd.DataFrame, str]:
    keys = [*IDENTITY, "split", "id"]
    merged = reference[[*keys, "exact_match"]].merge(mine[[*keys, "exact_match"]], on=keys, how="left", suffixes=("_ref", "_mine"))
    differ = merged[merged["exact_match_mine"].isna() | (merged["exact_match_mine"].astype(float) != merged["exact_match_ref"].astype(float))]
    rows = []
    for key, part in merged.groupby(CELL, sort=True):
        bad = differ.merge(part[keys], on=keys)
        rows.append({"item": " ".join(map(str, key)), "mine": f"{part['exact_match_mine'].mean():.3f}",
                     "reference": f"{part['exact_match_ref'].mean():.3f}", "test": "every test item equal",
                     "agrees": bad.empty})  # fmt: skip
    if differ.empty:
        return True, pd.DataFrame(rows), f"{len(merged):,} test items of {merged[IDENTITY].drop_duplicates().shape[0]} runs identical"
    first = differ.iloc[0]
    where = ", ".join(f"{k} {first[k]}" for k in [*IDENTITY, "split", "id"])
    return False, pd.DataFrame(rows), f"{len(differ):,} of {len(merged):,} test items differ; the first: {where}"


ALPHA = 0.05  # a cell disagrees when its Holm-adjusted p-value is below this


def same_process_p_value(seeds: np.ndarray, ref_seeds: np.ndarray) -> float:
    """Two-sided p-value of "these per-seed means and the reference's are draws of one
    process": Student's two-sample t test, variances pooled as that null implies (Welch's,
    which does not assume it, has about 2 degrees of freedom with 3 seeds a side and
    cannot reject a gross difference when one side's seeds agree). NaN with fewer than 2
    seeds on a side."""
    if len(seeds) < 2 or len(ref_seeds) < 2:
        return math.nan
    a, b = np.asarray(seeds, dtype=float), np.asarray(ref_seeds, dtype=float)
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # every seed alike on both sides: the means are equal or not
        return 1.0 if a[0] == b[0] else 0.0
    # from the summary statistics: scipy's ttest_ind warns of precision loss when one side's seeds agree
    result = scipy_stats.ttest_ind_from_stats(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b), equal_var=True)
    return float(result.pvalue)


def _cells(mine: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    # each cell's mean and 95% interval as the tables compute them (aggregate.em_stats)
    ref_stats, my_stats = (em_stats(frame, CELL).set_index(CELL) for frame in (reference, mine))
    rows = []
    for key, ref in reference.groupby(CELL, sort=True):
        item = " ".join(map(str, key))
        if key not in my_stats.index:
            rows.append({"item": item, "mine": "missing", "reference": "", "test": "", "agrees": False, "p_value": math.nan})
            continue
        here = mine[(mine[CELL] == pd.Series(key, index=CELL)).all(axis=1)]
        theirs, ours = ref_stats.loc[key], my_stats.loc[key]
        ref_seeds = ref.groupby("seed")["exact_match"].mean().to_numpy(dtype=float)
        seeds = here.groupby("seed")["exact_match"].mean().to_numpy(dtype=float)
        p = same_process_p_value(seeds, ref_seeds)
        within = bool(theirs.em_ci_low <= ours.em_mean <= theirs.em_ci_high and ours.em_ci_low <= theirs.em_mean <= ours.em_ci_high)
        rows.append({"item": item, "mine": f"{ours.em_mean:.3f} [{ours.em_ci_low:.3f}, {ours.em_ci_high:.3f}] ({len(seeds)} seeds)",
                     "reference": f"{theirs.em_mean:.3f} [{theirs.em_ci_low:.3f}, {theirs.em_ci_high:.3f}] ({len(ref_seeds)} seeds)",
                     "within": within, "p_value": 1.0 if math.isnan(p) else p})  # fmt: skip
    table = pd.DataFrame(rows)
    tested = table["mine"] != "missing"
    table.loc[tested, "p_holm"] = holm(table.loc[tested, "p_value"].to_numpy())
    for i in table.index[tested]:
        row = table.loc[i]
        shown = "means within each other's 95% CI" if row.within else "a mean outside the other's 95% CI"
        table.loc[i, "test"] = f"t test over seeds p {row.p_value:.2g} (Holm {row.p_holm:.2g}); {shown}"
        table.loc[i, "agrees"] = bool(row.p_holm >= ALPHA)
    return table[["item", "mine", "reference", "test", "agrees"]].astype({"agrees": bool})


def _claims(mine: dict[str, Any], reference: dict[str, Any], headline: Mapping[str, Headline]) -> pd.DataFrame:
    def verdicts(summary):
        progress = run_progress(summary["curves"], summary["baselines"])
        table = orderings_table(summary["evaluations"], headline, summary["selection"], progress)
        return table.set_index(["setting", "d_model", "claim"])

    ours, theirs = verdicts(mine), verdicts(reference)
    rows = []
    for key, ref in theirs.iterrows():
        item = f"{key[0]} width {key[1]}: {key[2]}"
        if key not in ours.index:
            rows.append({"item": item, "mine": "missing", "reference": ref.verdict, "test": "", "agrees": False})
            continue
        row = ours.loc[key]
        rows.append({"item": item, "mine": f"{row.verdict} ({row.difference:+.3f})", "reference": f"{ref.verdict} ({ref.difference:+.3f})",
                     "test": f"the verdict, Holm within the {ref.family} family", "agrees": row.verdict == ref.verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=["item", "mine", "reference", "test", "agrees"])


def check_reproduction(summary_dir: str | os.PathLike, reference_dir: str | os.PathLike, headline: Mapping[str, Headline]) -> Check:
    """Whether the summary at `summary_dir` reproduces the one at `reference_dir`: bitwise
    where their provenance is one and the same, statistically otherwise."""
    mine, reference = load_summary(summary_dir), load_summary(reference_dir)
    ours, theirs = _provenances(mine["runs"]), _provenances(reference["runs"])
    same_runs = set(map(tuple, reference["runs"][IDENTITY].drop_duplicates().to_numpy().tolist())) <= set(
        map(tuple, mine["runs"][IDENTITY].drop_duplicates().to_numpy().tolist())
    )
    if ours and ours == theirs and len(ours) == 1 and same_runs:
        ok, table, detail = _bitwise(mine["evaluations"], reference["evaluations"])
        verdict = "reproduces the reference bitwise" if ok else "does not reproduce the reference bitwise, though the provenance is the same"
        return Check("bitwise", ok, f"{verdict}: {detail} ({_describe(ours)})", table)
    cells = _cells(mine["evaluations"], reference["evaluations"])
    claims = _claims(mine, reference, headline) if headline else pd.DataFrame(columns=cells.columns)
    table = pd.concat([cells.assign(kind="cell"), claims.assign(kind="claim")], ignore_index=True).astype({"agrees": bool})
    ok = bool(table["agrees"].all())
    why = "no provenance recorded" if not ours or not theirs else f"provenance here: {_describe(ours)}; reference: {_describe(theirs)}{_differs(ours, theirs)}"
    line = (f"{'reproduces' if ok else 'does not reproduce'} the reference statistically: {int(cells['agrees'].sum())}/{len(cells)} "
            f"cells, {int(claims['agrees'].sum())}/{len(claims)} verdicts agree ({why})")  # fmt: skip
    return Check("statistical", ok, line, table[["kind", "item", "mine", "reference", "test", "agrees"]])
