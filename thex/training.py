"""Training one model: one job = one experiment x architecture x seed.

Reads the Parquet splits, trains with AdamW (the model's parameter groups), linear warmup
and cosine decay, gradient clipping, for a step or token budget. Logs both the answer-only
and the all-token loss every step, validates exact match periodically, and checkpoints
atomically so that a job killed at any moment continues where it left off; on CPU with
deterministic algorithms an interrupted-and-resumed run ends bit-identical to an
uninterrupted one, because batches are a function of (seed, step) and every state (weights,
optimizer, RNG, metrics so far) is in the checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights

import thex
from thex.codedeps import code_hash
from thex.config import ConfigError, to_dict
from thex.data import TokenizedSplit, dataset_splits, masked_losses
from thex.datasets import read_metadata
from thex.devices import provenance, resolve_device, set_determinism
from thex.errors import ThexError
from thex.evaluation import score_split
from thex.io import atomic_path, progress_bar, sha256_file, write_json, write_text
from thex.models.config import ModelConfig
from thex.models.flops import flops_per_token
from thex.models.lm import model_precision, build_model, count_parameters
from thex.models.saved import save_model, write_safetensors
from thex.optim import AdamW
from thex.run_config import RunConfig, TrainConfig


class TrainingError(ThexError):
    """Training cannot go on (a non-finite loss, a damaged checkpoint, ...)."""


# ---------------------------------------------------------------------------------------
# Schedule and batches


def learning_rate_factor(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Linear warmup to 1, then cosine decay to min_lr_ratio at the last step."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(1, total_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class BatchOrder:
    """Batch indices as a function of (seed, step), so that a resumed run draws the very
    batches the uninterrupted one would.

    Samples are drawn as a stream of seeded epoch permutations (every sample once per
    epoch). With `lengths` given, the stream is cut into windows of `window` batches; within
    a window the samples are sorted by length and cut into batches, and the batches are
    shuffled. So a batch holds samples of similar length (little padding: a batch is padded
    to its longest sample), while each window still holds a random draw of the data and the
    order of lengths over steps stays random.
    """

    def __init__(self, n: int, batch_size: int, seed: int, lengths: np.ndarray | None = None, window: int = 64):
        self.n, self.batch_size, self.seed, self.window = n, batch_size, seed, window
        self.lengths = lengths
        self._epoch, self._perm = -1, np.zeros(0, dtype=np.int64)
        self._window_index, self._window_batches = -1, np.zeros((0, batch_size), dtype=np.int64)

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perm

    def _stream(self, start: int, stop: int) -> np.ndarray:
        """Samples at stream positions [start, stop) (a span may cross an epoch boundary)."""
        positions = np.arange(start, stop, dtype=np.int64)
        out = np.empty(len(positions), dtype=np.int64)
        for epoch in range(start // self.n, (stop - 1) // self.n + 1):
            here = positions // self.n == epoch
            out[here] = self._permutation(epoch)[positions[here] % self.n]
        return out

    def indices(self, step: int) -> np.ndarray:
        if self.lengths is None:
            return self._stream(step * self.batch_size, (step + 1) * self.batch_size)
        w = step // self.window
        if w != self._window_index:
            span = self.window * self.batch_size
            samples = self._stream(w * span, (w + 1) * span)
            by_length = samples[np.argsort(self.lengths[samples], kind="stable")]  # (window * B,)
            batches = by_length.reshape(self.window, self.batch_size)  # (window, B): similar lengths per row
            order = np.random.default_rng([self.seed, w, 1]).permutation(self.window)
            self._window_index, self._window_batches = w, batches[order]
        return self._window_batches[step % self.window]


def total_steps(cfg: TrainConfig, train: TokenizedSplit) -> int:
    if cfg.steps is not None:
        return cfg.steps
    return max(1, math.ceil(cfg.tokens / (cfg.batch_size * float(train.lengths.mean()))))


# ---------------------------------------------------------------------------------------
# Checkpoints: checkpoints/step-XXXXXXXX/{model,optimizer}.safetensors + state.json +
# metrics.parquet, and checkpoints/latest naming the newest complete one.


METRICS_SCHEMA = pa.schema(
    [
        ("step", pa.int64()),  # 1-based: the number of optimizer steps done
        ("tokens", pa.int64()),  # training tokens seen so far (padding excluded)
        ("loss_answer", pa.float64()),
        ("loss_all", pa.float64()),
        ("lr", pa.float64()),
        ("tokens_per_s", pa.float64()),
        ("wall_s", pa.float64()),
        ("valid_exact_match", pa.float64()),  # null except at validation steps
        ("valid_answer_loss", pa.float64()),
        # Per block, at validation steps: what a block that never takes off would show (a
        # mixer whose gradient and output projection stay near 0): the norm of the mixer's
        # (clipped) gradient at that step and of its output projection's weights.
        ("mixer_grad_norms", pa.list_(pa.float64())),
        ("mixer_out_norms", pa.list_(pa.float64())),
    ]
)


def block_diagnostics(model: torch.nn.Module) -> tuple[list[float], list[float]]:
    """(gradient norm, output-projection weight norm) of each block's mixer."""
    grads, outs = [], []
    for block in model.blocks:
        squares = [p.grad.detach().float().pow(2).sum() for p in block.mixer.parameters() if p.grad is not None]
        grads.append(float(torch.stack(squares).sum().sqrt()) if squares else 0.0)
        outs.append(float(block.mixer.out_proj.weight.detach().float().norm()))
    return grads, outs


def _metrics_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)


CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "metrics.parquet")  # checksummed in state.json


def save_checkpoint(ckpt_dir: Path, model, optimizer, state: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
    step_dir = ckpt_dir / f"step-{state['step']:08d}"
    tmp_dir = ckpt_dir / f".{step_dir.name}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    write_safetensors(save_weights, model, tmp_dir / "model.safetensors")
    opt_state = optimizer.state_dict()
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    for index, per_param in opt_state["state"].items():
        for key, value in per_param.items():
            tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
    write_safetensors(save_file, tensors, tmp_dir / "optimizer.safetensors")
    groups = [{k: v for k, v in g.items() if k != "params"} | {"n_params": len(g["params"])} for g in opt_state["param_groups"]]
    pq.write_table(_metrics_table(metrics), tmp_dir / "metrics.parquet")
    # Checksums of the binary files, verified at load: a damaged checkpoint must not resume
    # into a wrong model (damage can leave the values finite and loadable).
    checksums = {name: sha256_file(tmp_dir / name) for name in CHECKPOINT_FILES}
    (tmp_dir / "state.json").write_text(json.dumps({**state, "param_groups": groups, "checksums": checksums}, indent=2, sort_keys=True))
    for path in tmp_dir.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    shutil.rmtree(step_dir, ignore_errors=True)
    os.replace(tmp_dir, step_dir)
    write_text(ckpt_dir / "latest", step_dir.name + "\n")  # the commit point
    for old in ckpt_dir.glob("step-*"):
        if old != step_dir:
            shutil.rmtree(old, ignore_errors=True)


def _damaged(what: Path, why: str, ckpt_dir: Path) -> TrainingError:
    return TrainingError(
        f"{what}: checkpoint is damaged ({why}); delete the folder {ckpt_dir} (all of it) and run the job again "
        "to restart it from step 0"
    )


def _checkpoint_identity(ckpt_dir: Path, identity: dict[str, Any]) -> dict[str, Any]:
    step_dir = ckpt_dir / (ckpt_dir / "latest").read_text().strip()
    try:
        state = json.loads((step_dir / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise _damaged(step_dir / "state.json", str(err), ckpt_dir) from None
    return {k: state.get(k) for k in identity}


def _check_optimizer_layout(optimizer, saved_groups: list[dict[str, Any]], restored: dict[int, dict[str, torch.Tensor]],
                            step_dir: Path, ckpt_dir: Path) -> None:  # fmt: skip
    """The saved optimizer state fits this model: the same groups by name and size, and
    every parameter's moments of its shape (state is stored by position)."""
    groups = optimizer.param_groups
    layout = [(g.get("name"), len(g["params"])) for g in groups]
    saved = [(g.get("name"), g.get("n_params")) for g in saved_groups]
    if layout != saved:
        raise _damaged(step_dir / "state.json", f"its optimizer groups {saved} are not this model's {layout}", ckpt_dir)
    params = [p for g in groups for p in g["params"]]
    for index, moments in restored.items():
        if index >= len(params):
            raise _damaged(step_dir / "optimizer.safetensors", f"state for parameter {index} of {len(params)}", ckpt_dir)
        for name, value in moments.items():
            if name != "step" and tuple(value.shape) != tuple(params[index].shape):
                raise _damaged(step_dir / "optimizer.safetensors",
                               f"{name} of parameter {index} has shape {tuple(value.shape)}, the parameter {tuple(params[index].shape)}", ckpt_dir)  # fmt: skip


def load_checkpoint(ckpt_dir: Path, model, optimizer, device: torch.device) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Restore model, optimizer and RNG from the latest checkpoint; returns (state, metrics)."""
    step_dir = ckpt_dir / (ckpt_dir / "latest").read_text().strip()
    try:
        state = json.loads((step_dir / "state.json").read_text())
        for name, expected in state["checksums"].items():
            if sha256_file(step_dir / name) != expected:
                raise _damaged(step_dir / name, "its SHA-256 differs from the one recorded when it was saved", ckpt_dir)
        load_weights(model, str(step_dir / "model.safetensors"), strict=True, device=str(device))
        tensors = load_file(str(step_dir / "optimizer.safetensors"), device="cpu")
        metrics = pq.read_table(step_dir / "metrics.parquet").to_pylist()
    except (OSError, ValueError, KeyError, SafetensorError, pa.ArrowException, RuntimeError) as err:
        raise _damaged(step_dir, f"cannot be loaded: {err}", ckpt_dir) from None
    opt_state = optimizer.state_dict()
    restored: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, index, name = key.split(".", 2)
            restored.setdefault(int(index), {})[name] = value
    _check_optimizer_layout(optimizer, state["param_groups"], restored, step_dir, ckpt_dir)
    for group, saved in zip(opt_state["param_groups"], state["param_groups"], strict=True):
        group.update({k: v for k, v in saved.items() if k != "n_params"})
    opt_state["state"] = dict(sorted(restored.items()))
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(tensors["rng.cpu"])
    if device.type == "cuda":
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda_states:
            torch.cuda.set_rng_state_all(cuda_states)
    return state, metrics


# ---------------------------------------------------------------------------------------
# The training loop: set up, resume, step, checkpoint, finish


@dataclass
class TrainingData:
    train: TokenizedSplit
    valid: TokenizedSplit | None
    longest: int  # tokens in the longest sequence of any split: the least max_len
    hashes: dict[str, str]  # split -> content hash: part of the run's identity

    @classmethod
    def load(cls, data_dir: str | os.PathLike) -> "TrainingData":
        splits = dataset_splits(data_dir)
        if "train" not in splits:
            raise ConfigError(f"{data_dir}: no train split (train.parquet)")
        train = TokenizedSplit.load(splits["train"], "train")
        valid = TokenizedSplit.load(splits["valid"], "valid") if "valid" in splits else None
        # (longest sequence, content hash) of every split: the model's max_len covers them all
        facts = {s.name: (s.max_len, s.content_hash) for s in (train, valid) if s is not None}
        facts.update({name: _longest_and_hash(path) for name, path in splits.items() if name not in facts})
        return cls(train, valid, max(n for n, _ in facts.values()), {name: h for name, (_, h) in sorted(facts.items())})


@dataclass
class Progress:
    """Where a run is: what a checkpoint restores."""

    step: int = 0  # optimizer steps done
    tokens: int = 0  # training tokens seen (padding excluded)
    wall_s: float = 0.0  # training time before this session
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one row per step done


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> AdamW:
    groups = model.optimizer_groups(lr=cfg.lr, weight_decay=cfg.weight_decay)
    for group in groups:
        group["base_lr"] = group["lr"]  # the schedule scales each group's own rate
    return AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def resume(ckpt_dir: Path, identity: dict[str, Any], model, optimizer, device: torch.device) -> Progress:
    """The progress of this run's latest checkpoint (restoring model, optimizer and RNG),
    or a fresh start when there is none or it was made for another config."""
    if not (ckpt_dir / "latest").exists():
        return Progress()
    if _checkpoint_identity(ckpt_dir, identity) != identity:
        # Made for another config or other code (the workflow re-runs a job whose params or
        # code changed): resuming would put old weights and optimizer state into new code.
        changed = [key for key, value in _checkpoint_identity(ckpt_dir, identity).items() if value != identity[key]]
        print(f"ignoring {ckpt_dir}: made with a different {', '.join(changed)}; starting from step 0", file=sys.stderr)
        shutil.rmtree(ckpt_dir)
        return Progress()
    state, metrics = load_checkpoint(ckpt_dir, model, optimizer, device)
    print(f"resuming from {ckpt_dir / 'latest'} at step {state['step']}", file=sys.stderr)
    return Progress(state["step"], state["tokens"], state["wall_s"], metrics)


def train_step(forward, model, optimizer, batch, cfg: TrainConfig, device: torch.device, job: str = "", step: int = 0) -> tuple[float, float]:
    """Optimizer step `step` (1-based) of `job` on `batch`; returns (answer loss, all-token loss)."""
    with model_precision(device):
        logits = forward(batch.inputs)
    loss_answer, loss_all = masked_losses(logits, batch)
    loss = loss_answer if cfg.loss_on == "answer" else loss_all
    if not torch.isfinite(loss):
        raise TrainingError(f"non-finite loss ({loss.item()}) at step {step} of {job}; no result is written")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss_answer.item(), loss_all.item()


def train(
    run: RunConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    arch: str,
    seed: int,
    experiment: str = "",
    device: torch.device | None = None,
    show_progress: bool = False,
    condition: str = "",
) -> dict[str, Any]:
    """Train (or resume) one model; writes model.safetensors, model.json, metrics.parquet
    and, last, train_summary.json into `out_dir`. Returns the summary. With `experiment` and
    `condition` (as the workflow trains), the summary's "run" is the run's identity, which
    tables and the learning-rate choice read (thex.experiments.run_identity)."""
    # -- set up: data, model, optimizer, and the identity a checkpoint must match
    out_dir, cfg = Path(out_dir), run.training
    device = device or resolve_device()
    ckpt_dir = out_dir / "checkpoints"
    set_determinism(cfg.deterministic, device, cfg.compile)
    data = TrainingData.load(data_dir)
    model_cfg = run.model_config(data.longest)
    steps = total_steps(cfg, data.train)
    identity = {
        "experiment": experiment,
        "condition": condition,
        "arch": arch,
        "seed": seed,
        "model_config": to_dict(model_cfg),
        "train_config": to_dict(cfg),
        "dataset_hashes": data.hashes,
        "code": code_hash("train"),  # the package files this stage runs (thex/codedeps.py)
    }
    torch.manual_seed(seed)
    model = build_model(model_cfg, arch).to(device)
    optimizer = build_optimizer(model, cfg)
    forward = torch.compile(model, dynamic=True) if cfg.compile else model
    order = BatchOrder(len(data.train), cfg.batch_size, seed, data.train.lengths if cfg.batching == "by_length" else None)

    # -- resume
    progress = resume(ckpt_dir, identity, model, optimizer, device)

    # -- steps, with validation and checkpoints
    bar = progress_bar(steps, f"train {experiment} {arch} seed{seed}".strip(), show_progress, initial=progress.step)
    job = f"experiment {experiment!r}, architecture {arch!r}, seed {seed}"
    valid = data.valid.head(cfg.eval_samples) if data.valid is not None else None
    session_start = window_start = time.perf_counter()
    model.train()
    for step in range(progress.step, steps):
        factor = learning_rate_factor(step, steps, cfg)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = data.train.batch(order.indices(step)).to(device)
        loss_answer, loss_all = train_step(forward, model, optimizer, batch, cfg, device, job, step + 1)
        progress.step, progress.tokens = step + 1, progress.tokens + batch.n_tokens
        now = time.perf_counter()
        row = {
            "step": progress.step,
            "tokens": progress.tokens,
            "loss_answer": loss_answer,
            "loss_all": loss_all,
            "lr": optimizer.param_groups[0]["lr"],  # what the projections got (the decay group: in every model, first)
            "tokens_per_s": batch.n_tokens / max(now - window_start, 1e-9),
            "wall_s": progress.wall_s + now - session_start,
            "valid_exact_match": None,
            "valid_answer_loss": None,
            "mixer_grad_norms": None,
            "mixer_out_norms": None,
        }
        last = progress.step == steps
        if valid is not None and ((cfg.eval_every and progress.step % cfg.eval_every == 0) or last):
            scores = score_split(model, valid, device)
            row["valid_exact_match"] = float(scores["exact_match"].mean())
            row["valid_answer_loss"] = float(scores["answer_loss"].mean())
            row["mixer_grad_norms"], row["mixer_out_norms"] = block_diagnostics(model)
        progress.metrics.append(row)
        bar.set_postfix(loss=f"{loss_answer:.3f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
        bar.update(1)
        if progress.step % cfg.checkpoint_every == 0 or last:
            state = {**identity, "step": progress.step, "tokens": progress.tokens, "wall_s": row["wall_s"], "package_version": thex.__version__}
            save_checkpoint(ckpt_dir, model, optimizer, state, progress.metrics)
        window_start = time.perf_counter()  # the next step's rate leaves out validation and checkpoints
    bar.close()

    # -- finish: the model, its metrics, and last the summary that marks the job complete
    summary = _summary(model, model_cfg, arch, seed, experiment, steps, progress, data, device)
    if experiment and condition:
        summary["run"] = {"experiment": experiment, "condition": condition, "arch": arch, "d_model": model_cfg.d_model,
                          "pos_emb": model_cfg.pos_emb, "lr": cfg.lr, "seed": seed}  # fmt: skip
    save_model(out_dir, model, {**identity, "blocks": model.mixer_names, "step": steps, "package_version": thex.__version__})
    with atomic_path(out_dir / "metrics.parquet") as tmp:
        pq.write_table(_metrics_table(progress.metrics), tmp)
    write_json(out_dir / "train_summary.json", summary)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return summary


def _summary(model, model_cfg: ModelConfig, arch: str, seed: int, experiment: str, steps: int,
             progress: Progress, data: TrainingData, device: torch.device) -> dict[str, Any]:
    wall = progress.metrics[-1]["wall_s"] if progress.metrics else progress.wall_s
    final = progress.metrics[-1] if progress.metrics else {}
    params = count_parameters(model)
    return {
        "experiment": experiment,
        "arch": arch,
        "blocks": model.mixer_names,
        "seed": seed,
        "steps": steps,
        "train_tokens": progress.tokens,
        "train_wall_s": wall,
        "tokens_per_s": progress.tokens / wall if wall else 0.0,
        "parameters": params["total"],
        "non_embedding_parameters": params["non_embedding"],
        "flops_per_token": flops_per_token(model_cfg, arch, int(round(float(data.train.lengths.mean())))),
        "peak_memory_bytes": _peak_memory_bytes(device),
        "final_loss_answer": final.get("loss_answer"),
        "final_loss_all": final.get("loss_all"),
        "final_valid_exact_match": final.get("valid_exact_match"),
        "device": str(device),
        "torch_version": torch.__version__,
        "package_version": thex.__version__,
        "provenance": {**provenance(device), "code_hash": code_hash("train")},
    }


def _peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _longest_and_hash(path: Path) -> tuple[int, str]:
    """(tokens in the longest `prompt <sep> answer <eos>`, content hash) of a split that is
    not loaded for training, without tokenizing it."""
    digest = read_metadata(path)["content_hash"]
    table = pq.read_table(path, columns=["length", "answer"])
    if table.num_rows == 0:
        return 0, digest
    answer_lengths = pc.utf8_length(table.column("answer"))
    return int(pc.max(pc.add(table.column("length"), answer_lengths)).as_py()) + 2, digest
