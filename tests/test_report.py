"""The report leads with the result: its landing page shows what was compared, the
verdicts, the headline table with intervals and the main figure (thex/report.py)."""

from __future__ import annotations

import base64
import html
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from thex.report import landing_rst

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "snapshots" / "reference" / "tables"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _headline_cells(tables: Path) -> list[str]:
    """The headline table's exact match with its interval, as the landing page writes it."""
    headline = pd.read_csv(tables / "headline.csv")
    return [f"{r.em_mean:.3f} [{r.em_ci_low:.3f}, {r.em_ci_high:.3f}]" for r in headline.itertuples()]


def test_the_landing_page_holds_the_comparison_the_verdicts_the_table_and_the_figure(tmp_path):
    figure = tmp_path / "main.png"
    figure.write_bytes(PNG)
    text = landing_rst(REFERENCE, figure)
    assert text.startswith("Results at a glance\n===")
    assert "Compared: gpt2, hyena, thex-3 on <b>globals</b>" in text
    for cell in _headline_cells(REFERENCE):
        assert cell in text
    orderings = pd.read_csv(REFERENCE / "orderings.csv")
    for r in orderings.itertuples():  # every claim with its verdict and interval
        assert f"<td>{html.escape(r.claim)}</td><td>{r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]</td>" in text
    assert "data:image/png;base64," + base64.b64encode(PNG).decode() in text
    assert max(map(len, text.splitlines())) < 10_000  # docutils drops longer lines


def test_without_a_headline_the_landing_page_says_so(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    for name in ("headline", "orderings"):
        pd.read_csv(REFERENCE / f"{name}.csv").iloc[0:0].to_csv(tables / f"{name}.csv", index=False)
    figure = tmp_path / "main.png"
    figure.write_bytes(PNG)
    assert "This config has no headline setting" in landing_rst(tables, figure)



@pytest.fixture(scope="module")
def figures_report(tmp_path_factory) -> Path:
    """`make figures`'s report from the committed reference summary (what a fresh clone gets)."""
    from test_workflow import snakemake

    workdir = tmp_path_factory.mktemp("figures")
    args = ["--configfile", str(REPO / "config" / "config.yaml"), "--config", "regenerate=True",
            f"summary_dir={REPO / 'snapshots' / 'reference' / 'summary'}"]  # fmt: skip
    run = snakemake(workdir, "figures", "--cores", "2", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    report = snakemake(workdir, "--report", str(workdir / "report.html"), *args)
    assert report.returncode == 0, report.stderr[-3000:]
    return workdir


def test_the_reports_landing_page_in_its_html_leads_with_the_headline_table(figures_report):
    # The report embeds its landing page as HTML in a JSON string; the headline table comes
    # before the rule graph and the About section, and every headline cell is there.
    page = (figures_report / "report.html").read_text()
    start = page.index("Results at a glance")
    for cell in _headline_cells(figures_report / "results" / "tables"):
        assert start < page.index(cell) < page.index("About this report")


def test_the_landing_page_in_a_browser_shows_the_headline_table_first(figures_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's); the report's HTML is checked above")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1000",
             "--virtual-time-budget=8000"]  # fmt: skip
    dom = subprocess.run([chromium, *flags, "--dump-dom", (figures_report / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    landing = dom.index('id="results-at-a-glance"')
    assert landing < dom.index('id="rulegraph"')  # the result comes before the graph of rules
    for cell in _headline_cells(figures_report / "results" / "tables"):
        assert landing < dom.index(f"<td>{cell}</td>")
    assert 'alt="em_by_architecture: exact match by architecture"' in dom[landing:]
