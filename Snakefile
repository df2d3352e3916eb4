# LoLaMeMe reproduction (arXiv 2406.02592): generate LoLa/MeMe/ListOps datasets, train
# GPT-2, Hyena and THEX models, evaluate by exact match, aggregate into tables, figures
# and a report. See README.md; stages live in workflow/rules/.
from snakemake.utils import min_version

min_version("9.0")


# A --configfile replaces the default rather than extending it: Snakemake would deep-merge
# the two, and the default's experiments would leak into every other config.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Snakemake's YAML reader lets a key given twice silently win; ours names it and its line.
from thex.config import ConfigError, load_yaml

for configfile_path in workflow.overwrite_configfiles or ["config/config.yaml"]:
    try:
        load_yaml(configfile_path)
    except ConfigError as err:
        raise WorkflowError(f"invalid config: {err}") from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# With regenerate=True only the summary -> tables/figures stages exist, so nothing can
# trigger data generation or training (see README, "Regenerate tables and figures without retraining").
if not WORKFLOW_CONFIG.regenerate:

    include: "workflow/rules/data.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/evaluate.smk"
    include: "workflow/rules/probe.smk"
    include: "workflow/rules/collect.smk"


include: "workflow/rules/aggregate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/report.smk"


if CHECK_LINE:

    include: "workflow/rules/check.smk"


localrules:
    all,
    figures,


rule all:
    default_target: True
    input:
        SUMMARY_OUT,
        TABLES,
        FIGURES_OUT,
        LANDING,


rule figures:
    input:
        SUMMARY_OUT,
        TABLES,
        FIGURES_OUT,
        LANDING,
