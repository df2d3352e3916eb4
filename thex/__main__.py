"""`python -m thex COMMAND ...`: see thex/cli.py."""

import sys

from thex.cli import main

if __name__ == "__main__":
    sys.exit(main())
