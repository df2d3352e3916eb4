"""`python -m thex schema`: the workflow config's JSON schema."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.schema import workflow_schema_yaml

    parser = argparse.ArgumentParser(
        prog="python -m thex schema",
        description="Print (or write) the workflow config's JSON schema as YAML, derived from the config classes.",
    )
    parser.add_argument("--out", type=Path, help="write here (workflow/schemas/config.schema.yaml) instead of stdout")
    args = parser.parse_args(argv)
    text = workflow_schema_yaml()
    if args.out is None:
        print(text, end="")
    else:
        from thex.io import write_text

        write_text(args.out, text)
    return 0
