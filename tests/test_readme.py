"""The README's result tables say what the committed tables say.

Each result table in the README follows a marker `<!-- table: PATH.csv -->` naming the
committed table it was taken from; its columns are that table's columns. A row is found by
its text cells; every number must be the table's value at the shown precision. Prose
numbers are not checked here: keep them to what the tables hold.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- table: (?P<path>\S+\.csv) -->\n+(?P<table>(?:\|.*\|\n)+)")


def readme_tables(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(csv path, columns, rows of cells) for every marked table."""
    found = []
    for match in MARKER.finditer(text):
        lines = match["table"].strip().splitlines()
        split = lambda line: [cell.strip() for cell in line.strip().strip("|").split("|")]  # noqa: E731
        found.append((match["path"], split(lines[0]), [split(line) for line in lines[2:]]))
    return found


def check_table(csv: pd.DataFrame, columns: list[str], rows: list[list[str]], where: str) -> None:
    unknown = [c for c in columns if c not in csv.columns]
    assert not unknown, f"{where}: columns {unknown} are not in the table"
    numeric = [c for c in columns if csv[c].dtype.kind == "f"]  # integers (widths, counts) are matched as text
    for cells in rows:
        values = dict(zip(columns, cells))
        match = csv
        for column in columns:
            if column not in numeric:
                match = match[match[column].astype(object).where(match[column].notna(), "-").astype(str) == values[column]]  # empty: -
        assert len(match) == 1, f"{where}: row {cells} matches {len(match)} rows of the table"
        for column in numeric:
            shown, actual = values[column], float(match.iloc[0][column])
            if shown == "-":
                assert math.isnan(actual), f"{where}: {column} of {cells} is {actual}, shown as -"
                continue
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            assert round(actual, decimals) == pytest.approx(float(shown), abs=0.51 * 10**-decimals), (
                f"{where}: {column} of {cells} is {actual}, shown as {shown}"
            )


DOCUMENTS = ["README.md", "config/README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_marked_table_matches_its_csv(document):
    tables = readme_tables((ROOT / document).read_text())
    if document == "README.md":
        assert tables, "no marked result table in the README"
    for path, columns, rows in tables:
        check_table(pd.read_csv(ROOT / path), columns, rows, f"{document} table from {path}")


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    for link in re.findall(r"\]\(((?:docs|config)/[^)#]+)\)", text):  # every page it points to exists
        assert (ROOT / link).is_file(), link
    for document in DOCUMENTS:  # and every page links to pages that exist
        base = (ROOT / document).parent
        for link in re.findall(r"\]\(([^)#:]+\.md)\)", (ROOT / document).read_text()):
            assert (base / link).is_file(), f"{document} links to {link}"


def test_the_layout_names_real_paths_and_every_package_module():
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- layout: checked by tests/test_readme.py -->\n```\n", 1)[1].split("```", 1)[0]
    listed = [line.split()[0] for line in block.splitlines() if line.strip()]
    for path in listed:
        assert (ROOT / path).exists(), f"the layout lists {path}, which does not exist"
    package = {p.name for p in (ROOT / "thex").iterdir() if not p.name.startswith(("_", ".")) and p.name != "__pycache__"}
    unlisted = sorted(name for name in package if f"thex/{name}" + ("/" if (ROOT / "thex" / name).is_dir() else "") not in listed)
    assert not unlisted, f"the layout omits thex/{unlisted[0]}"


def test_the_checker_catches_a_wrong_number_and_an_unknown_row():
    csv = pd.DataFrame({"setting": ["globals", "multilang"], "d_model": [32, 32], "difference": [0.1234, -0.05], "verdict": ["a", "b"]})
    text = "<!-- table: x.csv -->\n| setting | d_model | difference | verdict |\n|---|---|---|---|\n| globals | 32 | 0.123 | a |\n"
    (path, columns, rows), = readme_tables(text)
    check_table(csv, columns, rows, "ok")
    with pytest.raises(AssertionError, match="shown as 0.124"):
        check_table(csv, columns, [["globals", "32", "0.124", "a"]], "wrong")
    with pytest.raises(AssertionError, match="matches 0 rows"):
        check_table(csv, columns, [["globals", "64", "0.123", "a"]], "unknown")
