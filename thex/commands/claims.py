"""`python -m thex claims`: the claims several studies test, each study's difference and
interval against width in one figure (docs/verdicts.md draws the confirmation beside the
three-seed study with it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from thex.errors import ThexError


def _study(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LABEL=PATH to an orderings.csv")
    return label, Path(path)


def main(argv: list[str]) -> int:
    from thex.plots import claims_across_studies

    parser = argparse.ArgumentParser(
        prog="python -m thex claims",
        description="The claims every given study tests: difference (95% CI) against width, one marker per study.",
    )
    parser.add_argument("--study", type=_study, action="append", required=True, metavar="LABEL=ORDERINGS_CSV",
                        help="a study's label and its tables/orderings.csv (give two or more)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="the figure (.png or .svg)")
    args = parser.parse_args(argv)
    studies = dict(args.study)
    if len(studies) != len(args.study):
        raise ThexError("--study: a label is given twice")
    for label, path in studies.items():
        if not path.is_file():
            raise ThexError(f"--study {label}: {path}: no such orderings table")
    if args.out.suffix not in (".png", ".svg"):
        raise ThexError(f"--out: {args.out}: the figure must end in .png or .svg")
    try:
        rows = claims_across_studies(studies, args.out)
    except ValueError as err:
        raise ThexError(str(err)) from None
    print(f"wrote {args.out}: {len(rows)} claims at {rows['d_model'].nunique()} widths from {len(studies)} studies")
    return 0
