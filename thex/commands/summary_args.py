"""The arguments of the commands that read a results summary (tables, plots)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from thex.config import load_config_source


def summary_parser(command: str, description: str) -> argparse.ArgumentParser:
    """The arguments of a command that reads a results summary and writes files."""
    parser = argparse.ArgumentParser(prog=f"python -m thex {command}", description=description)
    parser.add_argument("--summary-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--headline", default="{}", help="JSON (or a YAML file) of the config's `headline` section")
    return parser


def headline_section(text: str) -> dict[str, Any]:
    """The config's `headline` section from --headline (JSON, or a YAML file)."""
    from thex.config import from_dict
    from thex.experiments import Headline

    raw = load_config_source(text)
    return {name: from_dict(Headline, spec, f"headline.{name}") for name, spec in (raw or {}).items()}
