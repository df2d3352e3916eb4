"""The workflow config: experiments, their conditions, architectures, seeds; the job list.

`config/*.yaml` is checked before any job runs by building `WorkflowConfig` (thex/config.py
says where each kind of rule is declared): every key and value where it is written, then
the rules between sections (`WorkflowConfig.check`), which build every condition's dataset
config, every job's run config and every architecture, so a misspelled knob or `thex-17`
on a 16-block model fails with a message naming where it is and, for a key, the nearest
valid one. The workflow then validates the same config against the JSON schema derived
from these classes (workflow/schemas/config.schema.yaml), which other tools can read.

An experiment has a base dataset config (`data`) and named `conditions`, each either
overrides deep-merged onto `data` (e.g. `{programs: {n_globals: 100}}`) or a reference
`{dataset: other_experiment/condition}` to reuse that dataset. A `sweep` (top level, or
per experiment) varies settings across jobs: every width (`d_model`) and position
embedding (`pos_emb`) is its own *cell*, reported side by side, and the learning rate
(`lr`) is *tuned*: each rate of the grid is trained with the tuning seeds, and per cell the
rate with the best validation exact match is the one whose runs are evaluated and reported
(thex/tuning.py). Outputs live at paths that encode all of it:

    {results}/{experiment}/{condition}/data/{split}.parquet
    {results}/{experiment}/{condition}/{arch}/d{d_model}-pos_{pos_emb}/selected_lr.json
    {results}/{experiment}/{condition}/{arch}/d{d_model}-pos_{pos_emb}/lr{lr}/seed{seed}/...
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import re
from pathlib import Path
from itertools import product
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterator, Literal, Mapping, NamedTuple

from thex.config import AT_LEAST_0, AT_LEAST_1, FRACTION, POSITIVE, SOME_DISTINCT, Checked, ConfigError, Overrides, Schema, at_least, from_dict, to_dict
from thex.datasets import DatasetConfig, DatasetError
from thex.models import ModelConfig, parse_architecture
from thex.models.architecture import (ANY_ARCHITECTURE, ANY_MIXER, ARCHITECTURE_RULE, FAMILIES, KNOWN_ARCHITECTURES, KNOWN_MIXERS,
                                      MIXER_PATTERN, NAME_PATTERN, THEX_PATTERN, architecture_name, family)
from thex.run_config import ModelOverrides, RunConfig, TrainOverrides

# The eight experiment groups of the study (README, "What the default run does"); each config names its own.
KNOWN_EXPERIMENTS = ("memorization", "globals", "length", "operators", "multilang", "latent_types", "listops", "placement")
# Experiment and condition names become folders below `results`: no dot first (so never
# `.` or `..`), no separator, and not the name of a folder the workflow writes there
NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
RESERVED_NAMES = ("summary", "tables", "figures", "logs", "report", "check")
# The committed snapshots (summaries, tables and figures of real runs; README, "Where things
# are"): read-only inputs of `make figures`, so no config's outputs may go there
SNAPSHOTS = "snapshots"
# The job-memory check (WorkflowConfig._check_memory): the sequence length assumed where a
# config leaves model.max_len to the data (the longest programs of the verdict study's
# data are 92 and 105 tokens), and the memory of the GPUs the GPU profiles target (80 GB)
ASSUMED_SEQ_LEN, GPU_MEMORY_MB = 128, 80_000

# Types that say more than their Python type: `Schema` keywords, checked by from_dict and
# written into the JSON schema (thex/schema.py)
# An architecture: a name, or a list of mixer names (one per block), which becomes the
# name with the mixers joined by dots (models/architecture.py)
Architecture = (Annotated[str, Schema({"pattern": NAME_PATTERN, "message": KNOWN_ARCHITECTURES, "description": ARCHITECTURE_RULE,
                                       "jsonSchema": {"pattern": ANY_ARCHITECTURE}})]
                | tuple[Annotated[str, Schema({"pattern": MIXER_PATTERN, "message": KNOWN_MIXERS, "description": "a registered mixer",
                                               "jsonSchema": {"pattern": ANY_MIXER}})], ...])  # fmt: skip
DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?|claim)$"
Seed = Annotated[int, AT_LEAST_0]
Architectures = Annotated[tuple[Architecture, ...], SOME_DISTINCT]
Seeds = Annotated[tuple[Seed, ...], SOME_DISTINCT]
FOLDER_NAME = "a name that can be a folder (letters, digits, _ - and ., not first a dot)"
Named = Schema({"propertyNames": {"pattern": NAME_RE.pattern, "description": FOLDER_NAME}, "minProperties": 1})
NamedExperiments = Schema({"propertyNames": {"pattern": NAME_RE.pattern, "description": FOLDER_NAME,
                                             "not": {"enum": list(RESERVED_NAMES)}}, "minProperties": 1})  # fmt: skip
DatasetOverrides = Annotated[Mapping[str, Any], Overrides(DatasetConfig)]
PosEmb = Literal["auto", "learned", "none"]
# A claim of the paper's ordering, in family names ("thex" is a headline's THEX variant)
Claim = Literal["thex > hyena", "hyena > gpt2", "thex > gpt2"]
LrGrid = Annotated[tuple[Annotated[float, POSITIVE], ...], SOME_DISTINCT]
# The run-path layout, the one definition: the workflow's wildcard patterns (RUN with
# {lr}, {seed}) and every run folder it names (run_path) are made from it. What a folder
# holds is read from its train_summary.json ("run": run_identity), never from its path.
CELL_LAYOUT = "{experiment}/{condition}/{arch}/{scale}"
RUN_LAYOUT = CELL_LAYOUT + "/lr{lr}/seed{seed}"
# A cell's {scale}: what scale_name writes.
SCALE_RE = re.compile(r"d(?P<d_model>[0-9]+)-pos_(?P<pos_emb>auto|learned|none)")


@dataclass(frozen=True)
class Sweep(Checked):
    """Settings varied across an experiment's jobs (docs/outputs.md, "Learning rates are chosen per architecture on validation")."""

    # widths: every value is its own cell, reported side by side (a scale axis)
    d_model: Annotated[tuple[Annotated[int, AT_LEAST_1], ...], SOME_DISTINCT] | None = None
    # position embeddings: every value is its own cell (an ablation; see ModelConfig.pos_emb)
    pos_emb: Annotated[tuple[PosEmb, ...], SOME_DISTINCT] | None = None
    # learning rates, tuned: per cell, the rate with the best validation exact match (mean
    # over tune_seeds) is selected, and only its runs are evaluated on the test splits
    lr: LrGrid | None = None
    # a grid per architecture (a name, or a family: gpt2, hyena, thex), in place of `lr`
    # for that architecture: optima differ by architecture (docs/calibration.md), so a grid
    # can stay narrow around each one; the name wins over its family
    lr_by_arch: Mapping[str, LrGrid] | None = None
    # the seeds that train every rate of the grid (default: the reported seeds); seeds not
    # among them train the selected rate only
    tune_seeds: Seeds | None = None
    # a committed summary whose tuning runs (same cell, rate and seed, the same token
    # budget) count as this config's instead of being trained again: their final validation
    # exact match is read from its curves.parquet (thex/tuning.py, prior_scores)
    prior_tuning: str | None = None

    def over(self, base: "Sweep") -> "Sweep":
        """This sweep's keys, and `base`'s where this one leaves them out."""
        return Sweep(**{k: getattr(self, k) if getattr(self, k) is not None else getattr(base, k) for k in Sweep.__dataclass_fields__})


class Cell(NamedTuple):
    """What a row of the tables is about: one architecture at one setting of the sweep's
    axes, trained on one condition. Its learning rate is selected, not part of it."""

    experiment: str
    condition: str
    arch: str
    d_model: int
    pos_emb: str


RUN_KEYS = (*Cell._fields, "lr", "seed")  # a run: its cell, the rate it trained and its seed


def scale_name(d_model: int, pos_emb: str) -> str:
    """The directory of a cell below its architecture, e.g. `d32-pos_auto`."""
    return f"d{d_model}-pos_{pos_emb}"


def cell_path(cell: "Cell") -> str:
    """A cell's folder below the config's results, e.g. `globals/with_globals/gpt2/d64-pos_auto`."""
    return CELL_LAYOUT.format(**cell._asdict(), scale=scale_name(cell.d_model, cell.pos_emb))


def run_path(cell: "Cell", lr: float, seed: int) -> str:
    """A run's folder below the config's results: its cell's, then `lr0.0032/seed2` (the
    rate's repr, so that the float reads back equal)."""
    return RUN_LAYOUT.format(**cell._asdict(), scale=scale_name(cell.d_model, cell.pos_emb), lr=repr(float(lr)), seed=seed)


def run_identity(run_dir: str | os.PathLike) -> dict[str, Any]:
    """{experiment, condition, arch, d_model, pos_emb, lr, seed} of a trained run, from its
    train_summary.json (written by `thex train --condition`, as the workflow runs it)."""
    path = Path(run_dir) / "train_summary.json"
    try:
        identity = json.loads(path.read_text())["run"]
        return {key: identity[key] for key in RUN_KEYS}
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing; {run_dir} is not a finished run") from None
    except (ValueError, KeyError, TypeError):
        raise DatasetError(f"{path}: no run identity (experiment, condition, ...): trained by an older version or "
                          f"without `thex train --condition`; train it again (the workflow passes both)") from None


@dataclass(frozen=True)
class DatasetReference(Checked):
    """A condition that reuses another condition's dataset: `{dataset: experiment/condition}`."""

    dataset: Annotated[str, Schema({"pattern": "^[^/]+/[^/]+$"})]

    @property
    def source(self) -> tuple[str, str]:
        """(experiment, condition) of the dataset it names."""
        experiment, _, condition = self.dataset.partition("/")
        return experiment, condition


@dataclass(frozen=True)
class Headline(Checked):
    """Where the paper's headline numbers are compared: which condition and THEX variant."""

    experiment: str  # the experiment holding the setting
    condition: str  # its condition
    thex: Annotated[str, Schema({"pattern": f"^{THEX_PATTERN}$"})]  # the THEX variant standing for the paper's (THEX-12 / THEX-13 on 16 blocks)
    # author-reported exact match of each family
    reported: Annotated[Mapping[str, Annotated[float, FRACTION]], Schema({"propertyNames": {"enum": list(FAMILIES)}})] = field(default_factory=dict)
    reported_thex: str = ""  # the paper's THEX variant that `reported.thex` is for, e.g. THEX-12
    split: str | None = None  # one evaluation split, or the mean over all of them
    # THEX variants (trained in the experiment) among which one is chosen on validation
    # exact match; the claims are then tested for it too (thex.aggregate.chosen_placement)
    placements: tuple[Annotated[str, Schema({"pattern": f"^{THEX_PATTERN}$"})], ...] = ()
    # what `thex` stands for in the tables (the paper's relative depth, by default)
    thex_role: str = "paper depth"
    # the claims of the primary (pre-registered) family, tested against 0 with Holm over
    # exactly these on every setting; the table's other claims are secondary (raw p-values)
    primary: Annotated[tuple[Claim, ...], Schema({"uniqueItems": True})] = ()


@dataclass(frozen=True)
class ExperimentConfig(Checked):
    """An experiment: a base dataset config and named conditions (overrides of it, or
    another condition's dataset), trained with every architecture and seed."""

    description: str = ""  # what the experiment shows, in words
    data: DatasetOverrides = field(default_factory=dict)  # the base dataset (DatasetConfig keys)
    # named conditions: overrides merged onto `data`, or {dataset: experiment/condition} to reuse one
    conditions: Annotated[Mapping[str, DatasetOverrides | DatasetReference | None], Named] = field(
        default_factory=lambda: {"base": {}}
    )
    architectures: Architectures | None = None  # default: the top-level list
    seeds: Seeds | None = None  # default: the top-level list
    model: ModelOverrides = field(default_factory=dict)  # overrides of the top-level model
    training: TrainOverrides = field(default_factory=dict)  # overrides of the top-level training
    sweep: Sweep = field(default_factory=Sweep)  # overrides of the top-level sweep, key by key

    def check(self) -> None:
        if self.architectures is not None:  # a list of mixers becomes its name (hyena.attn)
            object.__setattr__(self, "architectures", tuple(map(architecture_name, self.architectures)))


@dataclass(frozen=True)
class Probes(Checked):
    """The probe stage (thex/probes.py): ablations, linear probes and attention roles of
    every reported run."""

    enabled: bool = True
    n_probe: Annotated[int, at_least(2)] = 2000  # train items the ablation means and the probes are fit on
    ablation: Literal["mean", "zero"] = "mean"  # an ablated output replaced by its mean over those items, or by 0


@dataclass(frozen=True)
class WorkflowConfig(Checked):
    """The workflow config (config/*.yaml): experiments, architectures, seeds, and how jobs run."""

    results: str = "results"  # the folder every output of this config goes under (datasets, runs, summary, tables, figures, logs)
    seeds: Seeds = (0, 1)  # the reported seeds of every experiment (an experiment may give its own)
    # models trained in every experiment: a name (gpt2, hyena, thex-N) or a list of mixers, one per block
    architectures: Architectures = ("gpt2", "hyena")
    model: ModelOverrides = field(default_factory=dict)  # the model of every job (ModelConfig keys)
    training: TrainOverrides = field(default_factory=dict)  # the training of every job (TrainConfig keys)
    # Training overrides per architecture, e.g. {gpt2: {lr: 1.0e-3}, hyena: {lr: 1.0e-2}}:
    # the best learning rate differs by architecture (docs/calibration.md). A key is an
    # architecture name or a family (gpt2, hyena, thex: every thex-N); the name wins.
    training_by_arch: Mapping[str, TrainOverrides] = field(default_factory=dict)
    # widths, position embeddings and a learning-rate grid varied across jobs (Sweep)
    sweep: Sweep = field(default_factory=Sweep)
    # auto | cpu | cuda | cuda:N | claim (one free GPU of several, see thex.devices)
    device: Annotated[str, Schema({"pattern": DEVICE_PATTERN})] = "auto"
    gpus: Annotated[int, AT_LEAST_0] = 0  # GPUs per machine for training jobs (0: CPU); jobs then ask for resources gpu=1
    threads: Annotated[int, AT_LEAST_1] = 1  # torch threads per training job
    mem_mb: Annotated[int, at_least(100)] = 2000  # memory per training job
    runtime: Annotated[int, AT_LEAST_1] = 60  # minutes per training job (cluster time limit)
    workers: Annotated[int, AT_LEAST_1] = 2  # generator processes per dataset job
    summary_dir: str = ""  # where the collected results are (default: {results}/summary)
    # a committed summary of this config that `snakemake check` / `python -m thex check` compares this run with
    reference: str = ""
    regenerate: bool = False  # tables/figures/report from summary_dir only; no data, training
    headline: Mapping[str, Headline] = field(default_factory=dict)  # settings compared with the paper's numbers, tested as its claims
    probes: Probes = field(default_factory=Probes)  # what the probe stage measures in every reported run
    experiments: Annotated[Mapping[str, ExperimentConfig], NamedExperiments] = field(default_factory=dict)  # the experiments, by name

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WorkflowConfig":
        return from_dict(cls, data)

    # -- the rules between sections (Checked: run on construction) ----------------------

    def check(self) -> None:
        """Every rule that reads more than one section, each with its own message; it builds
        everything a job will build, so that errors surface before any job runs."""
        object.__setattr__(self, "architectures", tuple(map(architecture_name, self.architectures)))
        self._check_output_paths()
        self._check_training_by_arch()
        self._check_dataset_references()
        self._check_headline()
        top_level = self._top_level_error()
        for name in self.experiments:
            self._check_experiment(name, top_level)

    def _check_output_paths(self) -> None:
        """What a run writes (results, and summary_dir unless regenerating, when it is only
        read) stays out of the committed snapshots, here or in this checkout."""
        roots = {Path(SNAPSHOTS).resolve(), Path(__file__).resolve().parents[1] / SNAPSHOTS}
        written = [("results", self.results)] + ([] if self.regenerate else [("summary_dir", self.summary_dir)])
        for key, path in written:
            target = Path(path).resolve()
            if path and any(target == root or root in target.parents for root in roots):
                raise ConfigError(f"{key}: {path!r} is inside {SNAPSHOTS}/, the committed snapshots, which runs only read; "
                                  f"write to a folder under results/ (python -m thex snapshot copies a finished run there)")

    def _check_training_by_arch(self) -> None:
        every_arch = {a for name in self.experiments for a in self.architectures_of(name)}
        families = every_arch | {family(a) for a in every_arch}
        for key in self.training_by_arch:
            if key not in families:
                raise ConfigError(f"training_by_arch.{key}: no architecture {key!r} is trained (trained: {', '.join(sorted(every_arch))})")

    def _check_dataset_references(self) -> None:
        """A condition `{dataset: experiment/condition}` names a condition with data of its own."""
        for name, experiment in self.experiments.items():
            for condition, reference in experiment.conditions.items():
                if not isinstance(reference, DatasetReference):
                    continue
                where = f"experiments.{name}.conditions.{condition}.dataset"
                source, source_condition = reference.source
                if source not in self.experiments or source_condition not in self.experiments[source].conditions:
                    raise ConfigError(f"{where}: {reference.dataset!r} is not an experiment/condition of this config")
                if isinstance(self.experiments[source].conditions[source_condition], DatasetReference):
                    raise ConfigError(f"{where}: {reference.dataset!r} itself reuses a dataset; name the original")

    def _check_headline(self) -> None:
        for name, headline in self.headline.items():
            where = f"headline.{name}"
            if headline.experiment not in self.experiments:
                raise ConfigError(f"{where}.experiment: no experiment {headline.experiment!r}")
            experiment = self.experiments[headline.experiment]
            if headline.condition not in experiment.conditions:
                raise ConfigError(f"{where}.condition: experiment {headline.experiment!r} has no condition {headline.condition!r}")
            for key, arch in [("thex", headline.thex)] + [(f"placements[{i}]", a) for i, a in enumerate(headline.placements)]:
                if arch not in self.architectures_of(headline.experiment):
                    raise ConfigError(f"{where}.{key}: {arch!r} is not trained in experiment {headline.experiment!r}")

    def _top_level_error(self) -> ConfigError | None:
        """What is wrong with the top-level model and training on their own (a rule between
        their keys, such as one budget of two), or None."""
        try:
            from_dict(RunConfig, {"model": self.model, "training": self.training}).model_config(data_max_len=1)
        except ConfigError as err:
            return err
        return None

    def _check_experiment(self, name: str, top_level: ConfigError | None) -> None:
        """The experiment's run config, its sweep, and every job's run config and dataset."""
        exp, sweep = self.experiments[name], self.sweep_of(name)
        try:
            n_layer = self.run_config(name).model_config(data_max_len=1, where=f"experiments.{name}.model").n_layer
        except ConfigError:
            if top_level is not None and not exp.model and not exp.training:
                raise top_level from None  # the top level's own error, named there: the experiment adds nothing
            raise
        self._check_sweep(name)
        for arch in self.architectures_of(name):
            try:
                parse_architecture(arch, n_layer)
            except (ValueError, ConfigError) as err:
                raise ConfigError(f"experiments.{name}: {err}") from None  # the message names the architecture
            for d_model, pos_emb, lr in product(sweep.d_model or (None,), sweep.pos_emb or (None,), self.swept_lrs(name, arch) or (None,)):
                job = ", ".join(f"{k} {v}" for k, v in (("d_model", d_model), ("pos_emb", pos_emb), ("lr", lr)) if v is not None)
                where = f"experiments.{name} ({arch}" + (f", sweep {job})" if job else ")")
                run = self.run_config(name, arch, d_model, pos_emb, lr, where=where)
                self._check_memory(run, run.model_config(data_max_len=1, where=f"{where}: model"), where)
        for condition in exp.conditions:
            self.dataset_config(name, condition)

    def _check_memory(self, run: RunConfig, model: ModelConfig, where: str) -> None:
        """A job whose estimated memory (ModelConfig.training_bytes) exceeds what it may use:
        mem_mb or the machine's memory on a CPU, GPU_MEMORY_MB with GPUs. Without model.max_len the sequence length
        is taken as ASSUMED_SEQ_LEN (the data is not generated yet)."""
        seq_len = run.model.get("max_len") or ASSUMED_SEQ_LEN
        parameters, activations = dataclasses.replace(model, max_len=seq_len).training_bytes(run.training.batch_size, seq_len)
        # on a CPU: what the job may ask a scheduler for, or this machine's memory if larger
        # (run here, mem_mb is not enforced)
        limit_mb, limit = (GPU_MEMORY_MB, "a GPU's memory") if self.gpus else max((self.mem_mb, "mem_mb"), (machine_memory_mb(), "this machine's memory"))
        if parameters + activations > limit_mb * 1e6:
            raise ConfigError(
                f"{where}: model.d_model {model.d_model} x n_layer {model.n_layer} at training.batch_size "
                f"{run.training.batch_size} needs about {(parameters + activations) / 1e9:.3g} GB (parameters and optimizer "
                f"state {parameters / 1e9:.3g} GB, activations {activations / 1e9:.3g} GB at {seq_len} tokens), more than "
                f"{limit} ({limit_mb:,} MB); make the model or batch smaller"
                + ("" if self.gpus else ", or raise mem_mb if the machine has the memory")
            )

    # -- resolution -------------------------------------------------------------------

    def architectures_of(self, experiment: str) -> tuple[str, ...]:
        return self.experiments[experiment].architectures or self.architectures

    def seeds_of(self, experiment: str) -> tuple[int, ...]:
        return self.experiments[experiment].seeds or self.seeds

    def dataset_source(self, experiment: str, condition: str) -> tuple[str, str]:
        """(experiment, condition) whose data directory this condition uses (references are
        checked on construction: _check_dataset_references)."""
        reference = self.experiments[experiment].conditions[condition]
        return reference.source if isinstance(reference, DatasetReference) else (experiment, condition)

    def dataset_config(self, experiment: str, condition: str) -> DatasetConfig:
        source = self.dataset_source(experiment, condition)
        exp = self.experiments[source[0]]
        merged = deep_merge(exp.data, exp.conditions[source[1]] or {})
        return DatasetConfig.from_dict(merged, where=f"experiments.{source[0]}.conditions.{source[1]}")

    def dataset_dict(self, experiment: str, condition: str) -> dict[str, Any]:
        return to_dict(self.dataset_config(experiment, condition))

    def sweep_of(self, experiment: str) -> Sweep:
        return self.experiments[experiment].sweep.over(self.sweep)

    def run_config(self, experiment: str, arch: str | None = None, d_model: int | None = None,
                   pos_emb: str | None = None, lr: float | None = None, where: str | None = None) -> RunConfig:
        """The model and training of `experiment`'s jobs of architecture `arch`: the
        top-level sections, then the architecture's overrides, then the experiment's, then
        the job's setting of the sweep (width, position embedding, learning rate)."""
        exp = self.experiments[experiment]
        training = deep_merge(deep_merge(self.training, self.arch_training(arch) if arch else {}), exp.training)
        model = deep_merge(self.model, exp.model)
        where = where or f"experiments.{experiment}" + (f" ({arch})" if arch else "")
        sweep = self.sweep_of(experiment)
        lr_key, lr_grid = self._lr_grid(experiment, arch) if arch else ("lr", sweep.lr)
        swept = {"d_model": sweep.d_model, "pos_emb": sweep.pos_emb, "lr": lr_grid}
        names = {"d_model": "d_model", "pos_emb": "pos_emb", "lr": lr_key}
        for section, key, value in (("model", "d_model", d_model), ("model", "pos_emb", pos_emb), ("training", "lr", lr)):
            if value is None:
                continue
            if swept[key] is None:
                raise ConfigError(f"{where}: sweep.{key} is not set, so a job cannot set {section}.{key}")
            if value not in swept[key]:
                raise ConfigError(f"{where}: {key} {value!r} is not in sweep.{names[key]} {list(swept[key])}")
            (model if section == "model" else training)[key] = value
        return from_dict(RunConfig, {"model": model, "training": training}, where=where)

    def swept_lrs(self, experiment: str, arch: str) -> tuple[float, ...] | None:
        """The learning-rate grid `arch` is tuned on in `experiment` (sweep.lr_by_arch's for
        its name, else its family, else sweep.lr), unsorted; None when nothing is tuned."""
        return self._lr_grid(experiment, arch)[1]

    def _lr_grid(self, experiment: str, arch: str) -> tuple[str, tuple[float, ...] | None]:
        """(the sweep key that sets it, e.g. `lr_by_arch.thex`, and the grid) of `swept_lrs`."""
        sweep = self.sweep_of(experiment)
        by_arch = sweep.lr_by_arch or {}
        key = next((k for k in (arch, family(arch)) if k in by_arch), None)
        return (f"lr_by_arch.{key}", by_arch[key]) if key else ("lr", sweep.lr)

    def arch_training(self, arch: str) -> Mapping[str, Any]:
        """training_by_arch's entry for `arch`: its own name, else its family."""
        return self.training_by_arch.get(arch, self.training_by_arch.get(family(arch), {}))

    def _check_sweep(self, experiment: str) -> None:
        """A key the sweep varies is not also fixed elsewhere for the same jobs: one of the
        two would be ignored."""
        sweep, exp = self.sweep_of(experiment), self.experiments[experiment]
        trained = self.architectures_of(experiment)
        for key in sweep.lr_by_arch or {}:
            if key not in set(trained) | {family(a) for a in trained}:
                raise ConfigError(f"experiments.{experiment}: sweep.lr_by_arch.{key}: no architecture {key!r} is trained (trained: {', '.join(trained)})")
        for section, key in (("model", "d_model"), ("model", "pos_emb"), ("training", "lr")):
            if getattr(sweep, key) is None and not (key == "lr" and sweep.lr_by_arch):
                continue
            fixed = [f"experiments.{experiment}.{section}.{key}"] if key in getattr(exp, section) else []
            if section == "training":
                tuned = {n for a in trained if self.swept_lrs(experiment, a) for n in (a, family(a))}
                fixed += [f"training_by_arch.{a}.lr" for a in self.training_by_arch if "lr" in self.training_by_arch[a] and a in tuned]
            if fixed:
                raise ConfigError(f"{fixed[0]}: sweep.{key} varies it for experiment {experiment!r}; set it in one place")
        for key in ("tune_seeds", "prior_tuning"):
            if getattr(sweep, key) is not None and not sweep.lr and not sweep.lr_by_arch:
                raise ConfigError(f"experiments.{experiment}: sweep.{key} is set but there is no sweep.lr grid to tune")

    # -- the job list -----------------------------------------------------------------

    def datasets(self) -> Iterator[tuple[str, str]]:
        """Every (experiment, condition) that generates its own data."""
        for name, exp in self.experiments.items():
            for condition in exp.conditions:
                if self.dataset_source(name, condition) == (name, condition):
                    yield name, condition

    def cells(self) -> Iterator[Cell]:
        """Every cell: (experiment, condition, arch) at every width and position embedding."""
        for name, exp in self.experiments.items():
            model = self.run_config(name).model_config(data_max_len=1)
            sweep = self.sweep_of(name)
            for condition in exp.conditions:
                for arch in self.architectures_of(name):
                    for d_model in sweep.d_model or (model.d_model,):
                        for pos_emb in sweep.pos_emb or (model.pos_emb,):
                            yield Cell(name, condition, arch, d_model, pos_emb)

    def lr_grid(self, cell: Cell) -> tuple[float, ...]:
        """The learning rates a cell trains: the sweep's grid, else its one configured rate."""
        grid = self.swept_lrs(cell.experiment, cell.arch)
        return tuple(sorted(grid)) if grid else (self.run_config(cell.experiment, cell.arch).training.lr,)

    def tune_seeds(self, experiment: str) -> tuple[int, ...]:
        return self.sweep_of(experiment).tune_seeds or self.seeds_of(experiment)

    def cell_run_config(self, cell: Cell, lr: float) -> RunConfig:
        """The run config of one job of `cell` at learning rate `lr`."""
        sweep = self.sweep_of(cell.experiment)
        return self.run_config(
            cell.experiment,
            cell.arch,
            cell.d_model if sweep.d_model else None,
            cell.pos_emb if sweep.pos_emb else None,
            lr if self.swept_lrs(cell.experiment, cell.arch) else None,
        )

    def cell_of(self, experiment: str, condition: str, arch: str, scale: str) -> Cell:
        """The cell of a run directory's parts; an error when the config has no such cell."""
        match = SCALE_RE.fullmatch(scale)
        cell = match and Cell(experiment, condition, arch, int(match["d_model"]), match["pos_emb"])
        if not cell or cell not in set(self.cells()):
            raise ConfigError(f"{experiment}/{condition}/{arch}/{scale}: not a cell of this config")
        return cell

    @property
    def summary_path(self) -> str:
        return self.summary_dir or f"{self.results}/summary"


@functools.cache
def machine_memory_mb() -> int:
    """This machine's physical memory (read once: the memory check runs for every job)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1_000_000


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
