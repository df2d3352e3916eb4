"""`python -m thex landing`: the report's landing page (thex/report.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.io import write_text
    from thex.report import landing_rst

    parser = argparse.ArgumentParser(prog="python -m thex landing", description="The report's landing page: verdicts, headline table, main figure.")
    parser.add_argument("--tables-dir", type=Path, required=True, help="a results folder's tables/ (headline.csv, orderings.csv)")
    parser.add_argument("--figure", type=Path, required=True, help="the main figure (PNG), embedded")
    parser.add_argument("--check", type=Path, help="the reproduction check's one line (python -m thex check), shown first")
    parser.add_argument("--out", type=Path, required=True, help="reStructuredText, included by workflow/report/workflow.rst")
    args = parser.parse_args(argv)
    check = args.check.read_text().strip() if args.check else None
    write_text(args.out, landing_rst(args.tables_dir, args.figure, check))
    print(f"wrote {args.out}")
    return 0
