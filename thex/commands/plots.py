"""`python -m thex plots`: the figures from a results summary."""

from __future__ import annotations


from thex.commands.summary_args import headline_section, summary_parser


def main(argv: list[str]) -> int:
    from thex.plots import write_figures

    args = summary_parser("plots", "The figures from a results summary.").parse_args(argv)
    written = write_figures(args.summary_dir, args.out_dir, headline_section(args.headline))
    print(f"wrote {len(written)} figure files to {args.out_dir}")
    return 0
