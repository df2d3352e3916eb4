"""`python -m thex tables`: comparison tables from a results summary."""

from __future__ import annotations


from thex.commands.summary_args import headline_section, summary_parser


def main(argv: list[str]) -> int:
    from thex.aggregate import write_tables

    parser = summary_parser("tables", "Comparison tables from a results summary.")
    args = parser.parse_args(argv)
    written = write_tables(args.summary_dir, args.out_dir, headline_section(args.headline))
    print(f"wrote {len(written)} table files to {args.out_dir}")
    return 0
