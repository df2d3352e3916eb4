# Two entry points (see README):
#   make reproduce   set up .venv and run the default reproduction with Snakemake
#   make test        set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
# The pinned CPU wheel on the development machines; on a CUDA machine the same pin
# resolves to PyPI's CUDA build of the same release.
TORCH_VERSION ?= 2.13.0
CORES ?= all
BIN := $(VENV)/bin

.PHONY: reproduce test venv figures lint check

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

reproduce: venv
	$(BIN)/python -m snakemake --cores $(CORES)
	$(BIN)/python -m snakemake --report results/report.html

# Tables, figures and the report from the committed results of a default run; this
# cannot train or generate data (see README, "Regenerate tables and figures"). For the
# laptop study: make figures CONFIG=config/laptop.yaml SUMMARY=snapshots/laptop/summary \
#   REPORT=results/laptop/report.html
CONFIG ?= config/config.yaml
SUMMARY ?= snapshots/reference/summary
REPORT ?= results/report.html
figures: venv
	$(BIN)/python -m snakemake --cores $(CORES) figures --configfile $(CONFIG) --config regenerate=True summary_dir=$(SUMMARY)
	$(BIN)/python -m snakemake --report $(REPORT) --configfile $(CONFIG) --config regenerate=True summary_dir=$(SUMMARY)

test: venv
	@$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)" >&2; exit 1; fi; \
	exit $$rc

lint: venv
	$(BIN)/python -m snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

# Whether your run of CONFIG reproduces its committed reference summary: bitwise where the
# provenance (torch build, CPU kernel path, device, threads, code) is the same, else
# statistically; one table and one line, exit 1 if it does not (thex/reproduce.py).
check: venv
	$(BIN)/python -m thex check --config $(CONFIG) --strict

