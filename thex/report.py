"""The report's landing page: what was compared, the verdicts, the headline table with its
intervals, and the main figure, on the first screen of results/report.html.

Snakemake's report shows the workflow description (workflow/report/workflow.rst) on its
landing page; that file includes the reStructuredText written here from the tables the
workflow has just made, so the page leads with the result instead of the rule graph. The
body is one raw HTML block (tables sized to their content, the figure beside them), and
the figure a data URI: the report is one self-contained HTML file.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

import pandas as pd

MAIN_FIGURE = "em_by_architecture"

# Snakemake's report centres its landing page vertically and keeps it narrow: a long page
# would open scrolled past its top, and every cell of a table would wrap.
STYLE = """<style>
div.h-screen.items-center:has(#results-at-a-glance) {align-items: flex-start}
div.prose:has(#results-at-a-glance) {max-width: 80rem}
#results-at-a-glance table {table-layout: auto; width: auto; margin: 0.2em 0 0.8em; font-size: 0.8rem}
#results-at-a-glance th, #results-at-a-glance td {white-space: nowrap; padding: 0.15em 0.6em 0.15em 0}
</style>"""


def _number(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]], bold: int | None = None) -> str:
    cells = lambda row, tag: "".join(  # noqa: E731
        f"<{tag}>{'<b>' if i == bold and tag == 'td' else ''}{html.escape(str(c))}{'</b>' if i == bold and tag == 'td' else ''}</{tag}>"
        for i, c in enumerate(row)
    )
    body = "\n".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)  # a row a line: docutils limits a line's length
    return f"<table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>\n{body}\n</tbody></table>"


def landing_html(headline: pd.DataFrame, orderings: pd.DataFrame, figure_png: bytes, check: str | None = None) -> str:
    """The landing page's body from the headline and orderings tables, the main figure and,
    where the config names a reference, the reproduction check's line."""
    parts = [STYLE]
    if check:
        parts.append(f"<p><b>Reproduction</b> (python -m thex check; its table is in the results folder's check/): {html.escape(check)}.</p>")
    if headline.empty:
        parts.append("<p>This config has no headline setting (<code>headline:</code>), so there is no comparison with the "
                     "paper to show here; every table and figure is under Tables and Figures (left).</p>")  # fmt: skip
    else:
        settings = ", ".join(f"<b>{html.escape(s)}</b> ({html.escape(src)})"
                             for s, src in headline.drop_duplicates("setting")[["setting", "source"]].itertuples(index=False))  # fmt: skip
        models = ", ".join(dict.fromkeys(headline["arch"]))
        widths = ", ".join(str(w) for w in sorted(headline["d_model"].unique()))
        seeds = ", ".join(str(int(n)) for n in sorted(headline["n_seeds"].dropna().unique()))
        parts.append(f"<p>Compared: {html.escape(models)} on {settings}; width {widths}; {seeds} seeds per model. Exact match "
                     "on the test splits, mean over seeds with a 95% t interval over items and seeds. The paper's numbers are "
                     "the authors', on their own languages and scale.</p>")  # fmt: skip
        claims = [[r.setting, r.d_model, r.claim, f"{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]",
                   f"{r.p_holm:.2g} ({r.family})", r.verdict, r.gap_verdict] for r in orderings.itertuples()]  # fmt: skip
        cells = [[r.setting, r.d_model, r.arch, f"{_number(r.em_mean)} [{_number(r.em_ci_low)}, {_number(r.em_ci_high)}]",
                  _number(r.majority_baseline), _number(r.author_reported_em), r.level_verdict] for r in headline.itertuples()]  # fmt: skip
        parts.append('<div style="display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap"><div>'
                     "<p><b>The paper's claims</b>: paired differences in exact match, Holm-adjusted within each family</p>"
                     + _table(["setting", "width", "claim", "difference [95% CI]", "p_holm", "verdict", "against the paper's gap"], claims, bold=5)
                     + "<p><b>Exact match</b> beside the majority answer and the paper's number</p>"
                     + _table(["setting", "width", "model", "exact match [95% CI]", "majority answer", "paper", "against the paper's level"], cells)
                     + "</div>")  # fmt: skip
    encoded = base64.b64encode(figure_png).decode()
    parts.append(f'<img alt="{MAIN_FIGURE}: exact match by architecture" style="max-width: 34rem; width: 100%" '
                 f'src="data:image/png;base64,{encoded}">' + ("</div>" if not headline.empty else ""))  # fmt: skip
    parts.append("<p>Every table and figure, with its caption, is under Tables and Figures (left).</p>")
    return "\n".join(parts)


def landing_rst(tables_dir: str | os.PathLike, figure: str | os.PathLike, check: str | None = None) -> str:
    """The landing page (reStructuredText: a title and one raw HTML block) from a results
    folder's tables (headline.csv, orderings.csv) and its main figure (a PNG)."""
    tables_dir = Path(tables_dir)
    body = landing_html(pd.read_csv(tables_dir / "headline.csv"), pd.read_csv(tables_dir / "orderings.csv"), Path(figure).read_bytes(), check)
    # docutils drops input lines over 10,000 characters: the data URI goes in lines of 76
    # (browsers ignore whitespace in base64)
    lines = []
    for line in body.splitlines():
        while len(line) > 9000:
            lines.append(line[:9000])
            line = line[9000:]
        lines.append(line)
    return "\n".join(["Results at a glance", "===================", "", ".. raw:: html", ""] + [f"   {line}" for line in lines]) + "\n"
