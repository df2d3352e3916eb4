"""The workflow config model: defaults, references between conditions, the job list, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from thex.config import ConfigError
from thex.experiments import KNOWN_EXPERIMENTS, WorkflowConfig, deep_merge

REPO = Path(__file__).resolve().parents[1]


def load(name: str) -> WorkflowConfig:
    return WorkflowConfig.from_dict(yaml.safe_load((REPO / "config" / name).read_text()))


def test_default_config_has_the_two_headline_settings_with_three_seeds_and_tuned_rates():
    cfg = load("config.yaml")
    assert {"globals", "multilang"} <= set(cfg.experiments)  # an added experiment is fine
    assert {(h.experiment, h.condition) for h in cfg.headline.values()} == {("globals", "with_globals"), ("multilang", "mix")}
    assert len(cfg.seeds) >= 3 and {"gpt2", "hyena", "thex-3"} <= set(cfg.architectures)
    # Each architecture's learning rate is its own (chosen in the verdict study).
    assert {arch: cfg.run_config("globals", arch).training.lr for arch in ("gpt2", "hyena", "thex-3")} == {
        "gpt2": 1e-2, "hyena": 1e-2, "thex-3": 3.2e-3}  # fmt: skip
    # Training sets hold more programs than a job's token budget reads: nothing repeats.
    for experiment, condition in cfg.datasets():
        train, _ = cfg.dataset_config(experiment, condition).split("train")
        assert train.n * 40 > cfg.run_config(experiment).training.tokens


def test_laptop_config_has_every_experiment_and_the_placement_sweep():
    cfg = load("laptop.yaml")
    assert set(cfg.experiments) >= set(KNOWN_EXPERIMENTS)  # every group of the study (others may be added)
    assert {"gpt2", "hyena"} <= set(cfg.architectures) and any(a.startswith("thex-") for a in cfg.architectures)
    n_layer = cfg.run_config("placement").model_config(1).n_layer
    assert cfg.architectures_of("placement") == tuple(f"thex-{i}" for i in range(1, n_layer + 1))


def test_conditions_merge_onto_the_experiment_data_and_can_reuse_datasets():
    cfg = load("laptop.yaml")
    g100 = cfg.dataset_config("memorization", "G100")
    exposures = cfg.experiments["memorization"].conditions["G100"]["splits"]["train"]["exposures"]
    assert g100.programs.n_globals == 100 and g100.split("train")[0].n == 100 * exposures
    source = cfg.dataset_source("placement", "globals")
    assert source == ("globals", "with_globals")
    assert cfg.dataset_config("placement", "globals") == cfg.dataset_config(*source)
    assert ("placement", "globals") not in set(cfg.datasets())
    cells = list(cfg.cells())
    assert len(cells) == len(set(cells))


def test_paper_config_is_paper_scale():
    cfg = load("paper.yaml")
    model = cfg.run_config("globals").model_config(1)
    assert model.n_layer == 16 and model.d_model >= 256
    assert {"thex-11", "thex-12", "thex-13", "thex-14", "thex-15"} <= set(cfg.architectures_of("placement"))
    tokens = sum(cfg.run_config(c.experiment).training.tokens * len(cfg.seeds_of(c.experiment)) for c in cfg.cells())
    assert tokens >= 1e9


def test_deep_merge():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [2]}) == {"a": {"b": 3, "c": 2}, "d": [2]}


def _minimal(**changes):
    raw = {"model": {"n_layer": 2}, "experiments": {"e": {"data": {"programs": {}, "splits": {"train": {"n": 10}}}}}}
    raw.update(changes)
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        (_minimal(architectures=["thex-3"]), "experiments.e: architecture 'thex-3'"),
        (_minimal(experiments={"e": {"conditions": {"c": {"dataset": "nowhere/x"}}}}), "experiments.e.conditions.c.dataset: 'nowhere/x' is not an experiment/condition"),
        (_minimal(headline={"h": {"experiment": "e", "condition": "base", "thex": "thex-2"}}), "headline.h.thex: 'thex-2' is not trained"),
        (_minimal(model={"n_layer": 2, "d_modle": 8}), "unknown key 'model.d_modle'"),
        (_minimal(experiments={"e": {"data": {"programs": {}}, "tranining": {}}}), "unknown key 'experiments.e.tranining'"),
        (_minimal(experiments={}), "experiments: at least one experiment is needed"),
        (_minimal(training={"lr": float("nan")}), "training.lr: must be a finite number, got nan"),
        (_minimal(training={"lr": float("inf")}), "training.lr: must be a finite number, got inf"),
        (_minimal(training={"lr": "fast"}), "training.lr: expected a number, got 'fast' (write numbers unquoted"),
        (_minimal(training_by_arch={"gtp2": {"lr": 1e-3}}), "training_by_arch.gtp2: no architecture 'gtp2' is trained"),
        (_minimal(training_by_arch={"hyena": {"lrr": 1e-3}}), "unknown key 'training_by_arch.hyena.lrr' (did you mean 'lr'?)"),
        (_minimal(sweep={"lrs": [1e-3]}), "unknown key 'sweep.lrs' (did you mean 'lr'?)"),
        # a top-level section's error names that section, not an experiment it is merged into
        (_minimal(training={"batch_size": "big"}), "training.batch_size: expected an integer, got 'big'"),
        (_minimal(model={"n_layer": 2, "d_model": "wide"}), "model.d_model: expected an integer, got 'wide'"),
        (_minimal(sweep={"lr": [1e-3, 1e-3]}), "sweep.lr: 0.001 is given twice in [0.001, 0.001]"),
        (_minimal(seeds=[0, 1, 0]), "seeds: 0 is given twice in [0, 1, 0]"),
        (_minimal(sweep={"lr": [1e-3, 0.0]}), "sweep.lr[1]: must be > 0, got 0.0"),
        (_minimal(sweep={"lr": []}), "sweep.lr: at least one"),
        (_minimal(sweep={"pos_emb": ["learnt"]}), "sweep.pos_emb[0]: 'learnt' is not one of"),
        (_minimal(sweep={"d_model": [30]}, model={"n_layer": 2, "n_head": 4}), "experiments.e (gpt2, sweep d_model 30): model.d_model: 30 is not divisible by n_head (4)"),
        (_minimal(sweep={"tune_seeds": [5]}), "experiments.e: sweep.tune_seeds is set but there is no sweep.lr grid"),
        (_minimal(sweep={"lr": [1e-3, 1e-2]}, training_by_arch={"gpt2": {"lr": 1e-3}}, architectures=["gpt2"]),
         "training_by_arch.gpt2.lr: sweep.lr varies it for experiment 'e'; set it in one place"),
        (_minimal(experiments={"e": {"data": {"programs": {}}, "model": {"d_model": 8}, "sweep": {"d_model": [8, 16]}}}),
         "experiments.e.model.d_model: sweep.d_model varies it"),
        # a rule on one value, named where the value is written, at the top level too
        (_minimal(training={"lr": -1.0}), "training.lr: must be > 0, got -1.0"),
        (_minimal(training={"batch_size": 0}), "training.batch_size: must be >= 1, got 0"),
        (_minimal(training_by_arch={"gpt2": {"warmup_steps": -1}}), "training_by_arch.gpt2.warmup_steps: must be >= 0, got -1"),
        (_minimal(model={"n_layer": 2, "dropout": 1.0}), "model.dropout: must be in [0, 1), got 1.0"),
        # a rule between top-level keys, named at the top level when no experiment changes them
        (_minimal(training={"tokens": 1000}), "training.tokens: a token budget (1000) and steps (1000) are both given; set one to null"),
        (_minimal(training={"steps": None}), "training.steps: no training budget; give steps or tokens"),
        (_minimal(model={"n_layer": 2, "n_head": 3}), "model.d_model: 256 is not divisible by n_head (3)"),
        # ... and in the experiment where one does
        (_minimal(experiments={"e": {"data": {"programs": {}}, "training": {"tokens": 10}}}),
         "experiments.e.training.tokens: a token budget (10) and steps (1000) are both given"),
        # a reference to another condition's data: its own errors, not those of the overrides form
        (_minimal(experiments={"e": {"conditions": {"c": {"dataset": "nowhere"}}}}),
         "experiments.e.conditions.c.dataset: 'nowhere' does not match"),
        (_minimal(experiments={"e": {"data": {"programs": {}, "splits": {"train": {"n": 10}}}, "conditions": {"a": {}, "b": {"dataset": "e/a"}, "c": {"dataset": "e/b"}}}}),
         "experiments.e.conditions.c.dataset: 'e/b' itself reuses a dataset; name the original"),
        # outputs never go into the committed snapshots (a run only reads them)
        (_minimal(results="snapshots/mine"), "results: 'snapshots/mine' is inside snapshots/, the committed snapshots"),
        (_minimal(results=str(Path(__file__).resolve().parents[1] / "snapshots" / "reference")), "results: '/"),
        (_minimal(summary_dir="snapshots/reference/summary"), "summary_dir: 'snapshots/reference/summary' is inside snapshots/"),
        (_minimal(experiments={"report": {"data": {"programs": {}}}}), "experiments: 'report' is reserved"),
    ],
)
def test_config_errors_name_the_place(raw, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):  # named where it is written
        WorkflowConfig.from_dict(raw)


def test_a_regenerating_config_reads_its_summary_from_a_snapshot():
    config = WorkflowConfig.from_dict(_minimal(regenerate=True, summary_dir="snapshots/reference/summary", results="results/mine"))
    assert config.summary_path == "snapshots/reference/summary"
    assert WorkflowConfig.from_dict(_minimal(results="results/snapshots")).results == "results/snapshots"  # only the top folder is reserved


def test_training_overrides_by_architecture_name_or_family():
    raw = _minimal(
        architectures=["gpt2", "hyena", "thex-1", "thex-2"],
        training={"lr": 3e-3, "steps": 7},
        training_by_arch={"gpt2": {"lr": 1e-3}, "thex": {"lr": 5e-3}, "thex-2": {"lr": 7e-3}},
    )
    raw["experiments"]["e"]["training"] = {"steps": 9}
    cfg = WorkflowConfig.from_dict(raw)
    lrs = {arch: cfg.run_config("e", arch).training.lr for arch in cfg.architectures}
    assert lrs == {"gpt2": 1e-3, "hyena": 3e-3, "thex-1": 5e-3, "thex-2": 7e-3}
    assert cfg.run_config("e", "gpt2").training.steps == 9  # the experiment's own override wins


def test_exponent_numbers_that_yaml_1_1_reads_as_strings_are_numbers():
    # PyYAML (YAML 1.1) reads `1.0e6` and `1e-3` as strings; they are meant as numbers.
    text = "model: {n_layer: 2}\ntraining: {lr: 1e-3, steps: null, tokens: 4e6}\nexperiments: {e: {data: {programs: {}, splits: {train: {n: 10}}}}}\n"
    raw = yaml.safe_load(text)
    assert raw["training"]["lr"] == "1e-3"
    training = WorkflowConfig.from_dict(raw).run_config("e").training
    assert training.lr == 0.001 and training.tokens == 4_000_000


def test_gpu_config_has_16_blocks_and_the_paper_hybrids():
    cfg = load("gpu.yaml")
    model = cfg.run_config("globals").model_config(1)
    assert model.n_layer == 16 and model.d_model >= 256 and cfg.gpus == 1
    assert {"thex-11", "thex-12", "thex-13", "thex-14", "thex-15"} <= set(cfg.architectures_of("placement"))
    assert len(cfg.seeds_of("globals")) == len(cfg.seeds_of("multilang")) == 3


@pytest.mark.parametrize("path", sorted((REPO / "config").rglob("*.yaml")), ids=lambda p: str(p.relative_to(REPO / "config")))
def test_every_shipped_config_is_valid(path):
    from thex.config import load_yaml  # as the workflow reads it: duplicate keys are errors

    cfg = WorkflowConfig.from_dict(load_yaml(path))
    assert list(cfg.cells())


# --- the JSON schema, derived from the same classes -------------------------------------

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def schema_accepts(config: dict) -> bool:
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA), set_default=False)
    except WorkflowError:
        return False
    return True


def classes_accept(config: dict) -> bool:
    try:
        WorkflowConfig.from_dict(config)
    except ConfigError:
        return False
    return True


def test_committed_schema_is_the_one_generated_from_the_config_classes():
    from thex.schema import workflow_schema_yaml

    assert SCHEMA.read_text() == workflow_schema_yaml(), "run: python -m thex schema --out workflow/schemas/config.schema.yaml"


def test_every_mixer_and_architecture_name_is_accepted_by_schema_and_classes():
    from thex.models.architecture import MIXERS, UNIFORM_ALIASES

    base = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    for name in [*MIXERS, *UNIFORM_ALIASES, "thex-1", "thex-1+2", "hyena.attn"]:
        config = {**base, "architectures": [name], "headline": {}}
        assert schema_accepts(config) and classes_accept(config), name
    for name in ["transformer", "thex-", "thex-1+", "mamba"]:
        config = {**base, "architectures": [name], "headline": {}}
        assert not classes_accept(config), name
    # The schema names no registered mixer (registering one changes no committed file): it
    # takes any well-formed name, and the classes, the one validator, know the registry.
    assert schema_accepts({**base, "architectures": ["mamba"], "headline": {}})
    assert not schema_accepts({**base, "architectures": ["Thex 1"], "headline": {}})


@pytest.mark.parametrize(
    "path, value",
    [
        (("training", "lrr"), 1.0e-3),  # a misspelled key, at each level where keys are merged
        (("model", "d_modle"), 32),
        (("training_by_arch", "gpt2", "lrr"), 1.0e-3),
        (("experiments", "globals", "data", "programs", "n_global"), 10),
        (("experiments", "globals", "data", "splits", "train", "nn"), 10),
        (("experiments", "globals", "conditions", "with_globals", "programs", "p_globl"), 0.5),
        (("experiments", "globals", "training", "stepz"), 10),
        (("training", "lr"), "fast"),  # a wrong type
        (("training", "loss_on"), "prompt"),
        (("model", "bias"), "yes"),
        (("seeds",), [-1]),  # a value out of range
        (("threads",), 0),
        (("device",), "tpu"),
        (("architectures",), []),
        (("experiments", "globals", "conditions", "with_globals"), {"dataset": "globals"}),
        (("headline", "globals", "reported", "mamba"), 0.5),
        # rules on one value, declared once (a Schema mark) and checked by both layers
        (("training", "batch_size"), 0),
        (("training", "lr"), -1.0e-3),
        (("training", "min_lr_ratio"), 1.5),
        (("model", "dropout"), 1.0),
        (("seeds",), [0, 0]),
        (("sweep", "lr"), [1.0e-3, 1.0e-3]),
        (("experiments", "globals", "data", "programs", "modulus"), 1),
        (("experiments", "globals", "data", "programs", "p_variable"), 1.5),
        (("experiments", "globals", "data", "programs", "languages"), {"python": 1.0}),
        (("experiments", "globals", "data", "splits", "train", "n"), 0),
    ],
)
def test_schema_and_classes_reject_the_same_mistakes(path, value):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert schema_accepts(config) and classes_accept(config)
    target = config
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    assert not classes_accept(config), path
    assert not schema_accepts(config), path


def test_numbers_in_exponent_notation_pass_both_checks():
    # YAML 1.1 (PyYAML) reads 1e-3 and 4e6 as strings; both layers take them as numbers.
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["training"].update(yaml.safe_load("{lr: 1e-3, tokens: 4e6}"))
    assert isinstance(config["training"]["lr"], str)
    assert schema_accepts(config) and classes_accept(config)
    assert WorkflowConfig.from_dict(config).run_config("globals").training.tokens == 4_000_000


def test_a_sweep_expands_into_cells_and_each_cell_into_a_rate_grid():
    raw = _minimal(architectures=["gpt2", "hyena"], seeds=[0, 1], training={"lr": 3e-3, "steps": 5},
                   sweep={"d_model": [8, 16], "lr": [1e-2, 1e-3], "tune_seeds": [9]})  # fmt: skip
    raw["experiments"]["ablation"] = {"data": {"programs": {}}, "architectures": ["gpt2"], "sweep": {"pos_emb": ["auto", "none"], "lr": [3e-3]}}
    cfg = WorkflowConfig.from_dict(raw)
    cells = list(cfg.cells())
    assert [(c.arch, c.d_model, c.pos_emb) for c in cells if c.experiment == "e"] == [
        ("gpt2", 8, "auto"), ("gpt2", 16, "auto"), ("hyena", 8, "auto"), ("hyena", 16, "auto")]  # fmt: skip
    # An experiment's sweep overrides the top level key by key: its own lr and pos_emb, the top-level widths.
    assert [(c.d_model, c.pos_emb) for c in cells if c.experiment == "ablation"] == [(8, "auto"), (8, "none"), (16, "auto"), (16, "none")]
    gpt2_16 = next(c for c in cells if c.experiment == "e" and c.arch == "gpt2" and c.d_model == 16)
    assert cfg.lr_grid(gpt2_16) == (1e-3, 1e-2) and cfg.tune_seeds("e") == (9,) and cfg.seeds_of("e") == (0, 1)
    run = cfg.cell_run_config(gpt2_16, 1e-2)
    assert run.training.lr == 1e-2 and run.model_config(1).d_model == 16 and run.training.steps == 5
    with pytest.raises(ConfigError, match=r"lr 0.5 is not in sweep.lr \[0.01, 0.001\]"):
        cfg.cell_run_config(gpt2_16, 0.5)
    assert cfg.cell_of("e", "base", "gpt2", "d16-pos_auto") == gpt2_16
    with pytest.raises(ConfigError, match="not a cell of this config"):
        cfg.cell_of("e", "base", "gpt2", "d32-pos_auto")
    # Without a sweep a job's run config is what it was: nothing set from the cell.
    plain = WorkflowConfig.from_dict(_minimal(training={"lr": 3e-3, "steps": 5}))
    cell = next(plain.cells())
    assert plain.lr_grid(cell) == (3e-3,) and plain.cell_run_config(cell, 3e-3) == plain.run_config("e", cell.arch)


@pytest.mark.parametrize(
    "training, message",
    [
        ({"lr": -1.0}, "lr: must be > 0, got -1.0"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio: must be in [0, 1], got 1.5"),
        ({"warmup_steps": -2}, "warmup_steps: must be >= 0, got -2"),
        ({"eval_every": -1}, "eval_every: must be >= 0, got -1"),
    ],
)
def test_each_training_check_has_its_own_message(training, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        WorkflowConfig.from_dict(_minimal(training={"steps": 5, **training}))


def _config_classes(tp, seen: set) -> set:
    """Every config dataclass reachable from type `tp`: fields, list items, mapping values,
    and the classes an Overrides mapping holds keys of."""
    import dataclasses
    import typing

    from thex.config import Overrides, _field_types

    if typing.get_origin(tp) is typing.Annotated:
        base, *marks = typing.get_args(tp)
        for mark in marks:
            if isinstance(mark, Overrides):
                for cls in mark.classes:
                    _config_classes(cls, seen)
        return _config_classes(base, seen)
    if dataclasses.is_dataclass(tp):
        if tp not in seen:
            seen.add(tp)
            for field_type in _field_types(tp).values():
                _config_classes(field_type, seen)
        return seen
    for arg in typing.get_args(tp):
        _config_classes(arg, seen)
    return seen


def test_every_config_class_checks_its_values_however_it_is_built():
    from thex.config import Checked
    from thex.datasets import DatasetConfig
    from thex.languages.generate import ProgramConfig
    from thex.models.config import ModelConfig
    from thex.run_config import RunConfig, TrainConfig

    classes = _config_classes(WorkflowConfig, set()) | _config_classes(RunConfig, set()) | _config_classes(DatasetConfig, set())
    assert {WorkflowConfig, TrainConfig, ModelConfig, DatasetConfig, ProgramConfig} <= classes
    assert [c.__name__ for c in classes if not issubclass(c, Checked)] == []
    # built in code, a config is coerced and checked as one read from YAML
    assert TrainConfig(lr="1e-3").lr == 0.001
    with pytest.raises(ConfigError, match=r"^modulus: must be >= 2, got 1$"):
        ProgramConfig(modulus=1)
    with pytest.raises(ConfigError, match=r"^n_layer: expected an integer, got '4'$"):
        ModelConfig(vocab_size=10, max_len=8, n_layer="4")


def test_a_mapping_of_one_of_two_forms_gets_that_forms_error_only():
    # {dataset: ...} is a reference; {programs: ...} overrides: each error names its own form
    reference = _minimal(experiments={"e": {"conditions": {"c": {"dataset": "no-slash"}}}})
    with pytest.raises(ConfigError) as err:
        WorkflowConfig.from_dict(reference)
    assert "does not match" in str(err.value) and "unknown key" not in str(err.value) and "fits none" not in str(err.value)
    overrides = _minimal(experiments={"e": {"data": {"programs": {}, "splits": {"train": {"n": 10}}},
                                            "conditions": {"c": {"programs": {"modulus": 1}}}}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"^experiments.e.conditions.c.programs.modulus: must be >= 2, got 1$"):
        WorkflowConfig.from_dict(overrides)
    # a mapping that fits neither form names both
    with pytest.raises(ConfigError, match="fits none of its 2 forms"):
        WorkflowConfig.from_dict(_minimal(experiments={"e": {"conditions": {"c": {"dataset": "a/b", "seed": 1}}}}))


def test_a_grid_per_architecture_replaces_the_sweeps_for_that_architecture():
    config = {
        "architectures": ["gpt2", "hyena", "thex-1"],
        "model": {"n_layer": 2, "d_model": 16, "n_head": 2},
        "sweep": {"lr": [1.0e-3, 1.0e-2], "lr_by_arch": {"hyena": [1.0e-2, 3.2e-2, 1.0e-1], "thex": [3.2e-3]}},
        "experiments": {"e": {"data": {"programs": {}, "splits": {"train": {"n": 10}, "valid": {"n": 4}}}}},
    }
    cfg = WorkflowConfig.from_dict(config)
    grids = {cell.arch: cfg.lr_grid(cell) for cell in cfg.cells()}
    assert grids == {"gpt2": (1e-3, 1e-2), "hyena": (1e-2, 3.2e-2, 1e-1), "thex-1": (3.2e-3,)}  # the family's grid for THEX
    hyena = next(c for c in cfg.cells() if c.arch == "hyena")
    assert cfg.cell_run_config(hyena, 1e-1).training.lr == 1e-1
    with pytest.raises(ConfigError, match=r"lr 0.001 is not in sweep.lr_by_arch.hyena \[0.01, 0.032, 0.1\]"):
        cfg.cell_run_config(hyena, 1e-3)
    with pytest.raises(ConfigError, match=r"sweep.lr_by_arch.mamba: no architecture 'mamba' is trained"):
        WorkflowConfig.from_dict({**config, "sweep": {"lr_by_arch": {"mamba": [1.0e-3]}}})
    with pytest.raises(ConfigError, match=r"training_by_arch.hyena.lr: sweep.lr varies it"):
        WorkflowConfig.from_dict({**config, "training_by_arch": {"hyena": {"lr": 1.0e-3}}})


def test_the_committed_config_reference_is_the_one_generated_from_the_config_classes():
    from thex.schema import config_reference_markdown

    committed = (REPO / "config" / "README.md").read_text()
    assert committed == config_reference_markdown(), "run: python -m thex schema --out workflow/schemas/config.schema.yaml --docs config/README.md"
    from thex.config import _field_types
    from thex.experiments import WorkflowConfig

    for key in _field_types(WorkflowConfig):  # every top-level key has a row that says what it is
        row = next(line for line in committed.splitlines() if line.startswith(f"| `{key}` |"))
        assert not row.rstrip().endswith("|  |"), f"{key}: no description (a comment beside the field)"
