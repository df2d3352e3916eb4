"""`python -m thex schema`: the workflow config's JSON schema."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.schema import workflow_schema_yaml

    parser = argparse.ArgumentParser(
        prog="python -m thex schema",
        description="Print (or write) the workflow config's JSON schema as YAML, and the config reference, derived from the config classes.",
    )
    parser.add_argument("--out", type=Path, help="write here (workflow/schemas/config.schema.yaml) instead of stdout")
    parser.add_argument("--docs", type=Path, help="write the config reference (config/README.md) here as well")
    args = parser.parse_args(argv)
    if args.docs is not None:
        from thex.io import write_text
        from thex.schema import config_reference_markdown

        write_text(args.docs, config_reference_markdown())
    text = workflow_schema_yaml()
    if args.out is None:
        print(text, end="")
    else:
        from thex.io import write_text

        write_text(args.out, text)
    return 0
