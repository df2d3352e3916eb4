"""One module per command of `python -m thex` (thex/cli.py dispatches): a workflow stage's
inputs are the files its command module imports, so editing one command reruns its stage
only (thex/codedeps.py)."""
