"""Training and evaluation: masks, learning, resume after kill -9, checkpoints, exact match."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

import thex.training as training
from thex import tokenizer
from thex.config import ConfigError
from thex.data import Batch, TokenizedSplit, masked_losses
from thex.datasets import DatasetConfig, generate_dataset
from thex.evaluation import evaluate_model, greedy_exact_match, score_split
from thex.optim import AdamW
from thex.models.saved import ModelFileError, load_model
from thex.run_config import RunConfig, TrainConfig
from thex.training import TrainingError, train
from thex.config import from_dict
from thex.models.config import ModelConfig

DATA = {
    "seed": 0,
    "programs": {
        "n_statements": [1, 2],
        "depth": [0, 1],
        "operators": ["add", "sub"],
        "modulus": 10,
        "name_words": [1, 1],
    },
    "splits": {"train": {"n": 1500}, "valid": {"n": 64}, "test": {"n": 200}},
}
MODEL = {"n_layer": 2, "d_model": 32, "n_head": 2, "mixers": {"hyena": {"filter_order": 16}}}


def run_config(**training_overrides) -> RunConfig:
    training_cfg = {"steps": 150, "batch_size": 32, "lr": 3e-3, "warmup_steps": 10, "checkpoint_every": 50}
    return from_dict(RunConfig, {"model": MODEL, "training": {**training_cfg, **training_overrides}})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(DatasetConfig.from_dict(DATA), out)
    return out


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpt2")
    train(run_config(steps=250), data_dir, out, "gpt2", seed=0, experiment="tiny", condition="base")
    return out


def test_masks_select_answer_targets_and_real_tokens():
    ids, answer_start = tokenizer.encode_sample("x = 1;", "42")  # 6 prompt chars, <sep>, 4, 2, <eos>
    padded = torch.full((1, len(ids) + 3), tokenizer.PAD_ID)
    padded[0, : len(ids)] = torch.from_numpy(ids)
    batch = Batch.from_padded(padded, torch.tensor([len(ids)]), torch.tensor([answer_start]))
    # Position t predicts token t+1: the answer "4", "2", <eos> are predicted at positions 6, 7, 8.
    assert batch.answer_mask[0].nonzero().flatten().tolist() == [6, 7, 8]
    assert tokenizer.decode(batch.targets[0][batch.answer_mask[0]]) == "42<eos>"
    assert batch.all_mask[0].sum() == len(ids) - 1 and not batch.all_mask[0, len(ids) - 1 :].any()
    # Losses average over exactly those positions.
    logits = torch.zeros(1, padded.shape[1] - 1, tokenizer.VOCAB_SIZE)
    logits[0, 6, tokenizer.encode("4")[0]] = 10.0
    answer, every = masked_losses(logits, batch)
    per_token = torch.nn.functional.cross_entropy(logits[0], batch.targets[0], reduction="none")
    assert answer.item() == pytest.approx(per_token[6:9].mean().item())
    assert every.item() == pytest.approx(per_token[: len(ids) - 1].mean().item())


def test_loading_chosen_rows_equals_taking_them_from_the_whole_split(data_dir):
    whole = TokenizedSplit.load(data_dir / "train.parquet", "train")
    picked = [7, 2, 30]
    part = TokenizedSplit.load(data_dir / "train.parquet", "train", rows=lambda table: picked)
    expected = whole.take(np.asarray(picked))
    assert np.array_equal(part.ids, expected.ids) and np.array_equal(part.lengths, expected.lengths)
    assert np.array_equal(part.starts, expected.starts) and np.array_equal(part.answer_starts, expected.answer_starts)
    assert part.table.equals(expected.table) and part.content_hash == whole.content_hash


def test_training_reduces_the_loss_and_writes_its_outputs(trained):
    metrics = pq.read_table(trained / "metrics.parquet").to_pandas()
    first, last = metrics.loss_answer.iloc[:10].mean(), metrics.loss_answer.iloc[-10:].mean()
    assert last < 0.6 * first, (first, last)
    assert metrics.step.tolist() == list(range(1, 251)) and metrics.tokens.is_monotonic_increasing
    assert metrics.loss_all.notna().all()  # both losses are logged whichever is optimised
    assert metrics.valid_exact_match.notna().sum() == 1  # validated at the end
    summary = json.loads((trained / "train_summary.json").read_text())
    assert summary["steps"] == 250 and summary["parameters"] > 0 and summary["tokens_per_s"] > 0
    assert summary["train_tokens"] == int(metrics.tokens.iloc[-1])
    # the run's identity, which tables and the learning-rate choice read (not its path)
    from thex.experiments import run_identity

    assert run_identity(trained) == {"experiment": "tiny", "condition": "base", "arch": "gpt2", "d_model": summary["run"]["d_model"],
                                     "pos_emb": "auto", "lr": run_config(steps=250).training.lr, "seed": 0}  # fmt: skip
    assert summary["run"]["d_model"] == json.loads((trained / "model.json").read_text())["model_config"]["d_model"]
    assert not (trained / "checkpoints").exists()  # removed once the job is complete
    # Every output, the weights included, has the mode of any new file (0644 under umask 022).
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.safetensors", "model.json", "metrics.parquet", "train_summary.json"):
        assert (trained / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_token_budget_sets_the_steps(data_dir):
    split = TokenizedSplit.load(data_dir / "train.parquet")
    # Independently: the tokens a batch of 16 holds on average, from the Parquet rows
    # (prompt, <sep>, answer, <eos>; the model predicts all but the first token).
    table = pq.read_table(data_dir / "train.parquet", columns=["prompt", "answer"]).to_pylist()
    per_sample = np.mean([len(tokenizer.encode(r["prompt"])) + 1 + len(tokenizer.encode(r["answer"])) + 1 for r in table])
    cfg = from_dict(TrainConfig, {"steps": None, "tokens": 100_000, "batch_size": 16})
    steps = training.total_steps(cfg, split)
    # The budget is met: enough steps to read 100,000 tokens, and one step fewer is not.
    assert (steps - 1) * 16 * per_sample < 100_000 <= steps * 16 * per_sample
    with pytest.raises(ConfigError, match=r"tokens: a token budget \(10\) and steps \(10\) are both given"):
        from_dict(TrainConfig, {"steps": 10, "tokens": 10})
    with pytest.raises(ConfigError, match="steps: no training budget; give steps or tokens"):
        TrainConfig(steps=None)  # built in code, checked the same way


def test_schedule_warms_up_then_decays():
    cfg = from_dict(TrainConfig, {"steps": 100, "warmup_steps": 10, "min_lr_ratio": 0.1})
    factors = [training.learning_rate_factor(s, 100, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    # A cosine, not a straight line: a quarter of the way through the decay it has lost
    # (1 - cos(pi/4)) / 2 = 14.6% of the way to the floor, where a line would have lost 25%.
    assert factors[10 + 90 // 4] == pytest.approx(0.1 + 0.9 * (1 + np.cos(np.pi * 22 / 90)) / 2)
    assert factors[10 + 90 // 4] > 0.85
    assert factors[-1] == pytest.approx(0.1, abs=0.01)


def test_the_logged_rate_is_the_one_each_parameter_group_got(data_dir, tmp_path, monkeypatch):
    seen = []
    original = training.train_step

    def recording(forward, model, optimizer, batch, cfg, device, job="", step=0):
        seen.append({g["name"]: g["lr"] for g in optimizer.param_groups})
        return original(forward, model, optimizer, batch, cfg, device, job, step)

    monkeypatch.setattr(training, "train_step", recording)
    cfg = from_dict(RunConfig, {"model": {**MODEL, "mixers": {"hyena": {"filter_order": 16, "filter_lr": 0.002}}},  # Hyena's own setting
                                "training": {"steps": 20, "batch_size": 32, "lr": 0.01, "warmup_steps": 4, "checkpoint_every": 50}})
    train(cfg, data_dir, tmp_path / "run", "hyena", seed=0)
    logged = pq.read_table(tmp_path / "run" / "metrics.parquet").column("lr").to_pylist()
    schedule = [training.learning_rate_factor(s, 20, cfg.training) for s in range(20)]
    # Each group got its own rate times the schedule (the filters theirs), and the log says so.
    assert [step["decay"] for step in seen] == pytest.approx([0.01 * f for f in schedule])
    assert [step["filter"] for step in seen] == pytest.approx([0.002 * f for f in schedule])
    assert logged == pytest.approx([step["decay"] for step in seen])


def test_one_pass_exact_match_equals_greedy_decoding(trained, data_dir):
    model, _ = load_model(trained, torch.device("cpu"))
    split = TokenizedSplit.load(data_dir / "test.parquet")
    fast = score_split(model, split, torch.device("cpu"), max_tokens=2048)["exact_match"]
    slow = greedy_exact_match(model, split, torch.device("cpu"))
    assert 0 < fast.sum() < len(fast)  # some right, some wrong: the comparison means something
    np.testing.assert_array_equal(fast, slow)


def test_evaluation_output_schema(trained, data_dir):
    model, _ = load_model(trained, torch.device("cpu"))
    table, summary = evaluate_model(model, data_dir, torch.device("cpu"))
    dataset_columns = set(pq.read_schema(data_dir / "test.parquet").names) - {"prompt", "answer"}
    assert set(table.schema.names) == dataset_columns | {"exact_match", "token_accuracy", "answer_loss"}
    assert table.num_rows == 200 and set(table.column("split").to_pylist()) == {"test"}
    em = np.asarray(table.column("exact_match").to_pylist())
    assert summary["splits"]["test"]["exact_match"] == pytest.approx(em.mean())
    accuracy = np.asarray(table.column("token_accuracy").to_pylist())
    assert ((accuracy == 1.0) == em).all()  # exact match is "every answer token right"


def test_non_finite_loss_stops_with_a_clear_error_and_no_result(data_dir, tmp_path, monkeypatch):
    real = training.masked_losses
    calls = {"n": 0}

    def nan_on_third(logits, batch):
        calls["n"] += 1
        answer, every = real(logits, batch)
        return (answer * float("nan"), every) if calls["n"] == 3 else (answer, every)

    monkeypatch.setattr(training, "masked_losses", nan_on_third)
    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at step 3 of experiment 'tiny', architecture 'hyena'"):
        train(run_config(steps=10), data_dir, tmp_path, "hyena", seed=0, experiment="tiny")
    assert not (tmp_path / "train_summary.json").exists() and not (tmp_path / "model.safetensors").exists()


def test_checkpoint_round_trip(data_dir, tmp_path):
    cfg = run_config(steps=6, checkpoint_every=3)
    model_cfg = cfg.model_config(64)
    torch.manual_seed(1)
    model = training.build_model(model_cfg, "thex-2")
    optimizer = AdamW(model.optimizer_groups(lr=1e-3, weight_decay=0.1))
    model(torch.randint(3, 50, (2, 10))).sum().backward()
    optimizer.step()
    state = {"step": 3, "tokens": 99, "wall_s": 1.0}
    metrics = [{"step": 1, "tokens": 5, "loss_answer": 1.0, "loss_all": 2.0, "lr": 0.1, "tokens_per_s": 3.0, "wall_s": 0.5}]
    rng_before = torch.get_rng_state()
    training.save_checkpoint(tmp_path, model, optimizer, state, metrics)
    torch.manual_seed(2)
    fresh = training.build_model(model_cfg, "thex-2")
    fresh_opt = AdamW(fresh.optimizer_groups(lr=1e-3, weight_decay=0.1))
    loaded_state, loaded_metrics = training.load_checkpoint(tmp_path, fresh, fresh_opt, torch.device("cpu"))
    assert loaded_state["step"] == 3 and loaded_metrics[0]["loss_all"] == 2.0
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    saved, loaded = optimizer.state_dict(), fresh_opt.state_dict()
    assert saved["state"].keys() == loaded["state"].keys() and len(saved["state"]) > 0
    for index, state in saved["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(state[key], loaded["state"][index][key])
    assert [g["lr"] for g in saved["param_groups"]] == [g["lr"] for g in loaded["param_groups"]]
    assert torch.equal(torch.get_rng_state(), rng_before)


def test_damaged_checkpoint_and_model_files_are_named(trained, data_dir, tmp_path):
    cfg = run_config(steps=4, checkpoint_every=2)
    out = tmp_path / "run"
    torch.manual_seed(0)
    model = training.build_model(cfg.model_config(64), "gpt2")
    optimizer = AdamW(model.parameters())
    training.save_checkpoint(out / "checkpoints", model, optimizer, {"step": 2, "tokens": 1, "wall_s": 0.0}, [])
    weights = next((out / "checkpoints").glob("step-*")) / "model.safetensors"
    intact = weights.read_bytes()
    # 64 bytes in the middle of the tensors overwritten with a finite float32 value: the
    # file still loads, so only the checksum can tell.
    middle = len(intact) // 2 // 4 * 4
    weights.write_bytes(intact[:middle] + np.full(16, 0.25, np.float32).tobytes() + intact[middle + 64 :])
    with pytest.raises(TrainingError, match=r"model.safetensors: checkpoint is damaged \(its SHA-256 differs.*delete the folder .*checkpoints \(all of it\)"):
        training.load_checkpoint(out / "checkpoints", model, optimizer, torch.device("cpu"))
    weights.write_bytes(intact[:100])
    with pytest.raises(TrainingError, match=r"checkpoint is damaged"):
        training.load_checkpoint(out / "checkpoints", model, optimizer, torch.device("cpu"))
    # The message's advice works: with the folder deleted, the job starts again from step 0.
    shutil.rmtree(out / "checkpoints")
    assert train(cfg, data_dir, out, "gpt2", seed=0)["steps"] == 4

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text((trained / "model.json").read_text())
    final = (trained / "model.safetensors").read_bytes()
    middle = len(final) // 2 // 4 * 4
    (broken / "model.safetensors").write_bytes(final[:middle] + np.full(16, 0.25, np.float32).tobytes() + final[middle + 64 :])
    with pytest.raises(ModelFileError, match=r"broken/model.safetensors: damaged \(its SHA-256 differs.*snakemake --forcerun .*broken/model.safetensors"):
        load_model(broken, torch.device("cpu"))
    sidecar = json.loads((trained / "model.json").read_text())
    sidecar.pop("weights_sha256")  # as saved by earlier versions: loading still reports a truncated file
    (broken / "model.json").write_text(json.dumps(sidecar))
    (broken / "model.safetensors").write_bytes(final[:-50])
    with pytest.raises(ModelFileError, match=r"broken/model.safetensors: cannot load the weights"):
        load_model(broken, torch.device("cpu"))


def _train_command(config: Path, data_dir: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "thex", "train", "--config", str(config), "--data-dir", str(data_dir),
        "--out-dir", str(out), "--arch", "thex-2", "--seed", "3", "--threads", "1", "--quiet",
    ]  # fmt: skip


def test_resume_after_kill_9_equals_an_uninterrupted_run(data_dir, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        yaml.safe_dump(
            {"model": MODEL, "training": {"steps": 60, "batch_size": 16, "checkpoint_every": 5, "eval_every": 20, "eval_samples": 32}}
        )
    )
    straight = tmp_path / "straight"
    subprocess.run(_train_command(config, data_dir, straight), check=True, capture_output=True)

    resumed = tmp_path / "resumed"
    _kill_at_step(_train_command(config, data_dir, resumed), resumed, 15)
    assert not (resumed / "train_summary.json").exists()
    run = subprocess.run(_train_command(config, data_dir, resumed), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "resuming from" in run.stderr

    a = pq.read_table(straight / "metrics.parquet").to_pandas()
    b = pq.read_table(resumed / "metrics.parquet").to_pandas()
    for column in ("step", "tokens", "loss_answer", "loss_all", "lr", "valid_exact_match", "valid_answer_loss"):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy(), err_msg=column)
    model_a, _ = load_model(straight, torch.device("cpu"))
    model_b, _ = load_model(resumed, torch.device("cpu"))
    for (name, x), y in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(x, y), name


def _kill_at_step(command: list[str], out: Path, step: int, cwd: Path | None = None) -> None:
    """Start a training command and kill -9 it once it has checkpointed `step`."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = time.time() + 120
    while time.time() < deadline:
        latest = out / "checkpoints" / "latest"
        if latest.exists() and latest.read_text().strip() >= f"step-{step:08d}":
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the run finished before it could be killed"


def test_a_code_change_between_a_kill_and_the_rerun_starts_the_job_afresh(data_dir, tmp_path):
    # The package copied, so that its model code can change between the kill and the rerun.
    package = tmp_path / "package"
    shutil.copytree(Path(training.__file__).parent, package / "thex", ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": MODEL, "training": {"steps": 40, "batch_size": 16, "checkpoint_every": 5}}))
    out = tmp_path / "run"
    _kill_at_step(_train_command(config, data_dir, out), out, 15, cwd=package)  # python -m runs the package in cwd
    with open(package / "thex" / "models" / "hyena.py", "a") as fh:
        fh.write("\n# a change to the model code\n")
    rerun = subprocess.run(_train_command(config, data_dir, out), capture_output=True, text=True, cwd=package)
    assert rerun.returncode == 0, rerun.stderr
    assert "made with a different code; starting from step 0" in rerun.stderr and "resuming from" not in rerun.stderr
    assert pq.read_table(out / "metrics.parquet").column("step").to_pylist() == list(range(1, 41))
    # The same as a run that was never interrupted (the comment changes no arithmetic).
    straight = tmp_path / "straight"
    subprocess.run(_train_command(config, data_dir, straight), check=True, capture_output=True, cwd=package)
    assert (out / "model.safetensors").read_bytes() == (straight / "model.safetensors").read_bytes()


def test_optimizer_state_of_another_layout_is_refused(data_dir, tmp_path):
    train(run_config(steps=4, checkpoint_every=2), data_dir, tmp_path / "clean", "gpt2", seed=0)
    model, _ = load_model(tmp_path / "clean", torch.device("cpu"))
    optimizer = training.build_optimizer(model, run_config().training)
    batch = TokenizedSplit.load(data_dir / "train.parquet", "train").batch(np.arange(4))
    loss_answer, _ = masked_losses(model(batch.inputs), batch)
    loss_answer.backward()
    optimizer.step()
    training.save_checkpoint(tmp_path / "ckpt", model, optimizer, {"step": 1, "tokens": 1, "wall_s": 0.0}, [])
    # The same model, its optimizer with the groups in another order: stored by position,
    # its moments would land on the wrong parameters.
    other = training.build_optimizer(model, run_config().training)
    other.param_groups.reverse()
    with pytest.raises(TrainingError, match="optimizer groups .* are not this model's"):
        training.load_checkpoint(tmp_path / "ckpt", model, other, torch.device("cpu"))


def test_stale_checkpoint_from_another_config_is_not_resumed(data_dir, tmp_path, capsys):
    train(run_config(steps=4, checkpoint_every=2), data_dir, tmp_path / "clean", "gpt2", seed=0)
    # A checkpoint "at step 2" of another run (seed 99) whose model has the same shapes (the
    # clean run's final model): it would load, and resuming from it would end elsewhere.
    out = tmp_path / "stale"
    model, _ = load_model(tmp_path / "clean", torch.device("cpu"))
    training.save_checkpoint(
        out / "checkpoints", model, AdamW(model.parameters()), {"step": 2, "tokens": 1, "wall_s": 0.0, "seed": 99}, []
    )
    summary = train(run_config(steps=4, checkpoint_every=2), data_dir, out, "gpt2", seed=0)
    err = capsys.readouterr().err
    assert "made with a different" in err and "seed" in err and "starting from step 0" in err
    assert summary["steps"] == 4 and not (out / "checkpoints").exists()
    assert pq.read_table(out / "metrics.parquet").column("step").to_pylist() == [1, 2, 3, 4]
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "clean" / "model.safetensors").read_bytes()


class _RecordingOptimizer:
    """Stands in for AdamW in train_step: keeps the gradients it is asked to apply."""

    def __init__(self, model):
        self.model, self.grads = model, None

    def zero_grad(self, set_to_none=True):
        self.model.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.grads = [p.grad.clone() for p in self.model.parameters()]


def _reference_grads(model, batch, loss_name):
    model.zero_grad(set_to_none=True)
    loss_answer, loss_all = masked_losses(model(batch.inputs), batch)
    (loss_answer if loss_name == "answer" else loss_all).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("loss_on", ["answer", "all"])
def test_train_step_optimises_the_chosen_loss_and_clips_the_gradient_norm(data_dir, loss_on):
    torch.manual_seed(0)
    model = training.build_model(run_config().model_config(64), "gpt2")
    split = TokenizedSplit.load(data_dir / "train.parquet", "train")
    batch = split.batch(np.arange(8))
    expected = _reference_grads(model, batch, loss_on)
    other = _reference_grads(model, batch, "all" if loss_on == "answer" else "answer")
    norm = torch.sqrt(sum((g**2).sum() for g in expected))

    unclipped = _RecordingOptimizer(model)
    cfg = run_config(loss_on=loss_on, grad_clip=0.0).training
    losses = training.train_step(model, model, unclipped, batch, cfg, torch.device("cpu"), "test")
    assert all(torch.allclose(g, e) for g, e in zip(unclipped.grads, expected))
    assert not all(torch.allclose(g, o) for g, o in zip(unclipped.grads, other))
    assert losses == pytest.approx([x.item() for x in masked_losses(model(batch.inputs), batch)])

    clipped = _RecordingOptimizer(model)
    cfg = run_config(loss_on=loss_on, grad_clip=float(norm) / 4).training
    training.train_step(model, model, clipped, batch, cfg, torch.device("cpu"), "test")
    assert torch.sqrt(sum((g**2).sum() for g in clipped.grads)) == pytest.approx(float(norm) / 4, rel=1e-4)
    assert all(torch.allclose(g, e / 4, atol=1e-6) for g, e in zip(clipped.grads, expected))  # same direction


def test_deterministic_false_turns_deterministic_algorithms_off(data_dir, tmp_path):
    try:
        summary = train(run_config(steps=2, deterministic=False), data_dir, tmp_path, "hyena", seed=0)
        assert not torch.are_deterministic_algorithms_enabled()
        assert summary["steps"] == 2
        assert json.loads((tmp_path / "model.json").read_text())["train_config"]["deterministic"] is False
        train(run_config(steps=2), data_dir, tmp_path / "on", "hyena", seed=0)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_compile_trains_through_torch_compile_to_the_same_model(data_dir, tmp_path, monkeypatch):
    # Dynamo traces the model for real; the "eager" backend skips code generation (a C
    # compiler and minutes on CPU), which is torch's to test, not ours.
    compiled = []
    real_compile = torch.compile

    def compile_eagerly(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend="eager")

    monkeypatch.setattr(training.torch, "compile", compile_eagerly)
    train(run_config(steps=3, compile=True), data_dir, tmp_path / "compiled", "thex-2", seed=0)
    assert len(compiled) == 1
    monkeypatch.undo()
    train(run_config(steps=3), data_dir, tmp_path / "plain", "thex-2", seed=0)
    with_compile = pq.read_table(tmp_path / "compiled" / "metrics.parquet").column("loss_all").to_pylist()
    without = pq.read_table(tmp_path / "plain" / "metrics.parquet").column("loss_all").to_pylist()
    assert with_compile == pytest.approx(without, rel=1e-4)


def test_model_max_len_must_cover_the_data():
    with pytest.raises(ConfigError, match="model.max_len: 10 is shorter"):
        from_dict(RunConfig, {"model": {"max_len": 10}}).model_config(64)
    with pytest.raises(ConfigError, match="model.vocab_size"):
        from_dict(RunConfig, {"model": {"vocab_size": 10}}).model_config(64)
    with pytest.raises(ConfigError, match="unknown key 'training.lrr'"):
        from_dict(RunConfig, {"training": {"lrr": 1}})


def test_adamw_matches_torch_adamw():
    torch.manual_seed(0)
    model_cfg = run_config().model_config(32)
    ours_model = training.build_model(model_cfg, "thex-2")
    ref_model = training.build_model(model_cfg, "thex-2")
    ref_model.load_state_dict(ours_model.state_dict())
    settings = {"lr": 1e-2, "betas": (0.9, 0.95), "weight_decay": 0.1}
    ours = AdamW(ours_model.optimizer_groups(lr=1e-2, weight_decay=0.1), **settings)
    ref = torch.optim.AdamW(ref_model.optimizer_groups(lr=1e-2, weight_decay=0.1), **settings)
    x = torch.randint(3, 50, (4, 12))
    for _ in range(5):
        for model, optimizer in ((ours_model, ours), (ref_model, ref)):
            optimizer.zero_grad()
            model(x).logsumexp(-1).mean().backward()
            optimizer.step()
    for (name, a), b in zip(ours_model.state_dict().items(), ref_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_length_grouped_batches_see_every_sample_once_per_epoch_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 83, size=1024)
    grouped = training.BatchOrder(1024, 16, seed=3, lengths=lengths, window=8)
    epoch = np.concatenate([grouped.indices(step) for step in range(64)])  # 64 batches of 16 = one epoch
    assert sorted(epoch.tolist()) == list(range(1024))
    # A function of (seed, step): the same batch in any order of access, from a fresh object.
    again = training.BatchOrder(1024, 16, seed=3, lengths=lengths, window=8)
    assert np.array_equal(again.indices(70), grouped.indices(70)) and np.array_equal(again.indices(3), grouped.indices(3))
    # Random batches (the other setting) are the epoch permutation, 16 at a time.
    random_order = training.BatchOrder(1024, 16, seed=3)
    assert np.array_equal(random_order.indices(1), np.random.default_rng([3, 0]).permutation(1024)[16:32])

    def padding(order):
        batches = [lengths[order.indices(step)] for step in range(64)]
        return 1 - sum(b.sum() for b in batches) / sum(b.max() * len(b) for b in batches)

    assert padding(random_order) > 0.25 and padding(grouped) < 0.1
    # Batches are shuffled within a window: lengths do not rise step by step.
    maxima = [lengths[grouped.indices(step)].max() for step in range(8)]
    assert maxima != sorted(maxima)


def test_training_bench_reports_rates_per_batching(data_dir, capsys):
    from thex.bench.train import main

    assert main(["--data-dir", str(data_dir), "--arch", "gpt2", "--steps", "3", "--batch-size", "8",
                 "--model", '{"n_layer": 1, "d_model": 16, "n_head": 2}']) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "gpt2           1     random" in out and "gpt2           1  by_length" in out and "1.00x" in out


def test_unwritable_results_and_a_full_disk_are_one_line_errors(data_dir, tmp_path, monkeypatch, capsys):
    from safetensors import SafetensorError

    from thex.__main__ import main

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"model": MODEL, "training": {"steps": 2, "batch_size": 4, "checkpoint_every": 1}}))
    args = ["train", "--config", str(config), "--data-dir", str(data_dir), "--arch", "gpt2", "--quiet", "--threads", "1"]

    def read_only(*a, **k):  # what mkdir / open raise in a folder the user cannot write (tests run as root)
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked" / "checkpoints"))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main([*args, "--out-dir", str(tmp_path / "locked")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"thex train: error: {tmp_path / 'locked' / 'checkpoints'}: Permission denied"
    monkeypatch.undo()

    def full_disk(*a, **k):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" })")

    monkeypatch.setattr(training, "save_weights", full_disk)
    assert main([*args, "--out-dir", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "model.safetensors: cannot write" in err and "No space left on device" in err
    assert not (tmp_path / "full" / "train_summary.json").exists()


def test_validation_steps_log_each_mixers_gradient_and_output_scale(data_dir, tmp_path):
    train(run_config(steps=6, eval_every=3, eval_samples=16), data_dir, tmp_path / "run", "thex-2", seed=0)
    metrics = pq.read_table(tmp_path / "run" / "metrics.parquet").to_pandas()
    logged = metrics.dropna(subset=["valid_exact_match"])
    assert logged.step.tolist() == [3, 6] and metrics.mixer_grad_norms.isna().sum() == 4
    for grads, outs in zip(logged.mixer_grad_norms, logged.mixer_out_norms):
        assert len(grads) == len(outs) == 2  # one per block
        assert all(g > 0 for g in grads) and all(o > 0 for o in outs)
    # A mixer whose output projection is zero gets no gradient through the rest of it.
    model = training.build_model(run_config().model_config(64), "thex-2")
    torch.nn.init.zeros_(model.blocks[1].mixer.out_proj.weight)
    torch.nn.init.zeros_(model.blocks[1].mixer.out_proj.bias)
    batch = TokenizedSplit.load(data_dir / "train.parquet", "train").batch(np.arange(4))
    masked_losses(model(batch.inputs), batch)[0].backward()
    grads, outs = training.block_diagnostics(model)
    assert outs[1] == 0.0 and grads[0] > 0
    inner = [p.grad.abs().max() for n, p in model.blocks[1].mixer.named_parameters() if not n.startswith("out_proj")]
    assert all(float(g) == 0.0 for g in inner)


TRAIN_STEP = training.train_step  # the real one, whatever a test has patched in since


class _Interrupted(Exception):
    """Raised in place of a step, as a kill would stop the job there."""


def _batches_seen(monkeypatch, data_dir, out, seed, stop_before=None) -> list[torch.Tensor]:
    """The input batches train() feeds its steps, in order (stopping before step
    `stop_before`, 1-based, as an interrupted job would)."""
    seen, real = [], TRAIN_STEP

    def spy(forward, model, optimizer, batch, cfg, device, job, step):
        if step == stop_before:
            raise _Interrupted
        seen.append(batch.inputs.clone())
        return real(forward, model, optimizer, batch, cfg, device, job, step)

    monkeypatch.setattr(training, "train_step", spy)
    try:
        train(run_config(steps=8, checkpoint_every=2, batch_size=16), data_dir, out, "gpt2", seed=seed)
    except _Interrupted:
        pass
    return seen


def test_each_seed_sees_its_own_batches_and_a_resumed_seed_the_same(data_dir, tmp_path, monkeypatch):
    seed0 = _batches_seen(monkeypatch, data_dir, tmp_path / "a", seed=0)
    seed1 = _batches_seen(monkeypatch, data_dir, tmp_path / "b", seed=1)
    assert len(seed0) == len(seed1) == 8
    # Seeds differ in the data order too, not only in the initial weights.
    assert sum(torch.equal(x, y) for x, y in zip(seed0, seed1)) == 0
    # Stopped before step 6 (checkpointed at 4), then run again: steps 5.. resume the order.
    first = _batches_seen(monkeypatch, data_dir, tmp_path / "c", seed=0, stop_before=6)
    rest = _batches_seen(monkeypatch, data_dir, tmp_path / "c", seed=0)
    assert len(first) == 5 and len(rest) == 4
    assert all(torch.equal(x, y) for x, y in zip(first[:4] + rest, seed0))


def test_validation_is_scored_on_the_valid_split_alone(trained, data_dir):
    # The logged validation numbers are recomputable from the final model and the first
    # eval_samples items of the valid split; the train split's give other numbers.
    cfg = run_config().training
    valid = TokenizedSplit.load(data_dir / "valid.parquet")
    train_split = TokenizedSplit.load(data_dir / "train.parquet")
    assert not set(valid.table.column("prompt").to_pylist()) & set(train_split.table.column("prompt").to_pylist())
    metrics = pq.read_table(trained / "metrics.parquet").to_pandas()
    last = metrics.dropna(subset=["valid_exact_match"]).iloc[-1]
    assert last.step == metrics.step.max()
    model, _ = load_model(trained, torch.device("cpu"))
    scores = score_split(model, valid.head(cfg.eval_samples), torch.device("cpu"))
    assert last.valid_exact_match == pytest.approx(float(scores["exact_match"].mean()), abs=1e-12)
    assert last.valid_answer_loss == pytest.approx(float(scores["answer_loss"].mean()), rel=1e-6)
    on_train = score_split(model, train_split.head(cfg.eval_samples), torch.device("cpu"))
    assert abs(float(on_train["answer_loss"].mean()) - last.valid_answer_loss) > 1e-4


def test_a_model_saved_before_mixers_carried_their_settings_still_loads(tmp_path):
    # Saved by earlier versions: Hyena's keys at the top of model_config, not under mixers.hyena.
    from thex.config import to_dict
    from thex.models.lm import build_model
    from thex.models.saved import save_model

    cfg = from_dict(ModelConfig, {"vocab_size": 20, "max_len": 16, "n_layer": 2, "d_model": 16, "n_head": 2,
                                  "mixers": {"hyena": {"filter_order": 8, "short_filter_order": 2}}})  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg, "thex-1")
    save_model(tmp_path, model, {"model_config": to_dict(cfg), "blocks": model.mixer_names})
    sidecar = json.loads((tmp_path / "model.json").read_text())
    old = dict(sidecar["model_config"])
    old.update(old.pop("mixers")["hyena"])
    (tmp_path / "model.json").write_text(json.dumps({**sidecar, "model_config": old}))
    loaded, _ = load_model(tmp_path, torch.device("cpu"))
    assert loaded.cfg.mixer_settings("hyena").filter_order == 8 and loaded.cfg.mixer_settings("hyena").short_filter_order == 2
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
