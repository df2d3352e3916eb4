# Shared definitions: the validated config, paths, and the code each stage depends on.
import json
import os
import re
import sys
from pathlib import Path

from snakemake_interface_executor_plugins.settings import DeploymentMethod

from thex.aggregate import (
    PROBE_FILES,
    REQUIRED_SUMMARY_FILES,
    SUMMARY_FILES,
    TABLE_NAMES,
    check_summary,
)
from thex.datasets import DatasetError
from thex.codedeps import stage_files
from thex.config import ConfigError, to_dict
from thex.experiments import (
    CELL_LAYOUT,
    NAME_RE,
    RUN_LAYOUT,
    Cell,
    WorkflowConfig,
    cell_path,
    run_path,
    scale_name,
)
from thex.models.architecture import ARCH_NAME
from thex.plots import FIGURES
from thex.report import MAIN_FIGURE
from thex.tuning import prior_scores

# The config classes are the one validator: their messages name the key and suggest a
# spelling. The JSON schema derived from them (workflow/schemas/config.schema.yaml, by
# python -m thex schema) is for editors and other tools; it says nothing the classes do
# not, so validating against it as well could only refuse what they accepted.
try:
    WORKFLOW_CONFIG = WorkflowConfig.from_dict(config)
except ConfigError as err:
    raise WorkflowError(f"invalid config: {err}") from None

RESULTS = WORKFLOW_CONFIG.results
LOGS = f"{RESULTS}/logs"  # each config's logs beside its results, so configs never share one
# A cell (architecture x width x position embedding on one condition) and its runs, one
# per learning rate and seed (thex/experiments.py).
CELL = f"{RESULTS}/{CELL_LAYOUT}"
RUN = f"{RESULTS}/{RUN_LAYOUT}"
SUMMARY = WORKFLOW_CONFIG.summary_path
TABLES = expand(
    f"{RESULTS}/tables/{{name}}.{{ext}}", name=TABLE_NAMES, ext=["csv", "md"]
)
LANDING = f"{RESULTS}/report/landing.rst"  # workflow/report/workflow.rst includes it
# The committed summary this run is checked against (config `reference`), if any: not
# when regenerating, whose summary is a committed one already.
REFERENCE = "" if WORKFLOW_CONFIG.regenerate else WORKFLOW_CONFIG.reference
CHECK_LINE = f"{RESULTS}/check/reproduction.txt" if REFERENCE else None
CONFIG_FILE = (workflow.overwrite_configfiles or ["config/config.yaml"])[-1]
FIGURES_OUT = expand(
    f"{RESULTS}/figures/{{name}}.{{ext}}", name=list(FIGURES), ext=["png", "svg"]
)
# Targets of `all` and `figures` too: Snakemake does not rebuild a deleted intermediate
# file while the files made from it exist, so a deleted summary file would leave the old
# tables and figures looking current. As a target it is rebuilt (or, when regenerating
# from a committed summary, named as missing). A summary collected before the probe stage
# has no probe files; regenerating from one, its probe tables come out empty.
SUMMARY_OUT = [
    f"{SUMMARY}/{file}"
    for file in SUMMARY_FILES
    if not (
        WORKFLOW_CONFIG.regenerate
        and file in PROBE_FILES
        and not os.path.exists(f"{SUMMARY}/{file}")
    )
]
# Regenerating reads a summary as it is: a damaged one is named now, before any job.
if WORKFLOW_CONFIG.regenerate and os.path.isdir(SUMMARY):
    try:
        check_summary(SUMMARY)
    except DatasetError as err:
        raise WorkflowError(f"invalid summary: {err}") from None
# Every rule runs the package from this repository's source tree, with the Python that
# runs Snakemake (a venv, or an offline install: README "GPU machine without internet"),
# or under --use-conda with the rule's environment (workflow/envs/thex.yaml). Both reach
# the jobs through the environment, not the command or params: a moved checkout or another
# venv must not change any job's params, which would rerun everything.
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
os.environ["THEX_PYTHON"] = "python" if USE_CONDA else sys.executable
if workflow.basedir not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (workflow.basedir, os.environ.get("PYTHONPATH")) if p
    )
THEX_COMMAND = '"$THEX_PYTHON" -m thex'


# Set just above; declared so that Snakemake passes them on to remote jobs.
envvars:
    "THEX_PYTHON",
    "PYTHONPATH",


ENV = "../envs/thex.yaml"


wildcard_constraints:
    experiment=NAME_RE.pattern.strip("^$"),  # the config classes' pattern: no dot first
    condition=NAME_RE.pattern.strip("^$"),
    arch=ARCH_NAME,  # the config classes' and the schema's pattern
    scale="d[0-9]+-pos_(auto|learned|none)",
    lr="[0-9][0-9.e+-]*",
    seed="[0-9]+",


# A change to a stage's code re-runs that stage and what follows, not more: each rule
# lists as inputs the package files its command imports (thex/codedeps.py reads the import
# statements; data files a module reads are listed by hand there, in DATA_FILES). Paths
# are relative to the working directory, so that moving the checkout with its results
# changes nothing.
def stage_code(stage):
    return [os.path.relpath(path) for path in stage_files(stage)]


def data_dir(experiment, condition):
    source = WORKFLOW_CONFIG.dataset_source(experiment, condition)
    return f"{RESULTS}/{source[0]}/{source[1]}/data"


def split_files(experiment, condition):
    """The split files of the dataset that (experiment, condition) trains and is
    evaluated on (another condition's, when it reuses one)."""
    source = WORKFLOW_CONFIG.dataset_source(experiment, condition)
    return [
        f"{data_dir(*source)}/{split}.parquet"
        for split in WORKFLOW_CONFIG.dataset_config(*source).splits
    ]


def generate_rule_name(experiment, condition):
    """generate_<experiment>_<condition>, with what is not a letter, digit or _ as _."""
    return re.sub(r"\W", "_", f"generate_{experiment}_{condition}")


def parent(path):
    return str(Path(path).parent)


def conditions():
    """Every (experiment, condition) that has runs; its data may be another's (dataset:)."""
    return sorted(
        {(cell.experiment, cell.condition) for cell in WORKFLOW_CONFIG.cells()}
    )


def cell_dir(cell):
    return f"{RESULTS}/{cell_path(cell)}"


def run_dir(cell, lr, seed):
    return f"{RESULTS}/{run_path(cell, lr, seed)}"


def wildcard_cell(w):
    return WORKFLOW_CONFIG.cell_of(w.experiment, w.condition, w.arch, w.scale)


def prior_tuning(cell):
    """{(lr, seed): score} of the cell's tuning runs that an earlier study's committed
    summary holds (sweep.prior_tuning): counted, not trained again."""
    summary = WORKFLOW_CONFIG.sweep_of(cell.experiment).prior_tuning
    if not summary:
        return {}
    return prior_scores(
        summary,
        cell._asdict(),
        WORKFLOW_CONFIG.lr_grid(cell),
        WORKFLOW_CONFIG.tune_seeds(cell.experiment),
        WORKFLOW_CONFIG.run_config(cell.experiment, cell.arch).training.tokens,
    )


def tuning_runs(cell):
    """Every run this config trains to compete for the cell's learning rate: each rate x
    tuning seed, but those an earlier study's summary already holds (prior_tuning)."""
    prior = prior_tuning(cell)
    return [
        run_dir(cell, lr, seed)
        for lr in WORKFLOW_CONFIG.lr_grid(cell)
        for seed in WORKFLOW_CONFIG.tune_seeds(cell.experiment)
        if (lr, seed) not in prior
    ]


def selected_lr(cell):
    """The cell's learning rate, from its select_lr checkpoint (which runs first)."""
    choice = checkpoints.select_lr.get(
        experiment=cell.experiment,
        condition=cell.condition,
        arch=cell.arch,
        scale=scale_name(cell.d_model, cell.pos_emb),
    ).output[0]
    return json.loads(Path(choice).read_text())["selected_lr"]


def reported_runs():
    """The runs the tables report: every seed at each cell's selected rate."""
    return [
        run_dir(cell, selected_lr(cell), seed)
        for cell in WORKFLOW_CONFIG.cells()
        for seed in WORKFLOW_CONFIG.seeds_of(cell.experiment)
    ]


def unreported_tuning_runs():
    """Tuning runs not among the reported ones (other rates, or tuning-only seeds):
    collected for their learning curves, never evaluated on the test splits."""
    reported = set(reported_runs())
    return sorted(
        {run for cell in WORKFLOW_CONFIG.cells() for run in tuning_runs(cell)}
        - reported
    )


def gpu_resources():
    """Training and evaluation ask for one GPU each when the config has GPUs."""
    return 1 if WORKFLOW_CONFIG.gpus else 0
