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
from typing import Any, Literal, Mapping

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
from thex import tokenizer
from thex.config import ConfigError, from_dict, to_dict
from thex.data import TokenizedSplit, dataset_splits, masked_losses
from thex.datasets import read_metadata
from thex.errors import ThexError
from thex.evaluation import score_split
from thex.io import atomic_path, progress_bar, sha256_file, write_json, write_text
from thex.models import ModelConfig, autocast, build_model, count_parameters, flops_per_token
from thex.optim import AdamW


class TrainingError(ThexError):
    """Training cannot go on (a non-finite loss, a damaged checkpoint, ...)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = 1000  # optimizer steps; or give `tokens` instead (and steps: null)
    tokens: int | None = None  # a token budget, turned into steps from the mean train length
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    filter_lr: float | None = None  # Hyena filter group (default: lr)
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    loss_on: Literal["answer", "all"] = "answer"  # what is optimised; both are logged
    # by_length: batches of samples of similar length (BatchOrder): padding fell from 45% to
    # 1% of the computed positions (python -m thex.bench train); random: uniform batches
    batching: Literal["by_length", "random"] = "by_length"
    eval_every: int = 0  # validation exact match every so many steps (0: at the end only)
    eval_samples: int = 256  # validation samples scored (the first ones of the valid split)
    checkpoint_every: int = 100  # steps between checkpoints
    deterministic: bool = True  # torch deterministic algorithms (exact resume on CPU)
    compile: bool = False  # torch.compile the model

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.tokens is None):
            raise ConfigError("give exactly one budget: steps or tokens (set the other to null)")
        for key in ("steps", "tokens", "batch_size", "checkpoint_every", "eval_samples"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{key}: must be >= 1, got {value}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0 or self.eval_every < 0:
            raise ConfigError("lr must be > 0, min_lr_ratio in [0, 1], warmup_steps and eval_every >= 0")


@dataclass(frozen=True)
class RunConfig:
    """What one training job needs besides its data: the model (without vocab_size, set by
    the tokenizer, and with max_len optional: by default the longest sequence of the
    dataset's splits) and the training settings."""

    model: Mapping[str, Any] = field(default_factory=dict)
    training: TrainConfig = field(default_factory=TrainConfig)

    def model_config(self, data_max_len: int) -> ModelConfig:
        model = dict(self.model)
        if "vocab_size" in model:
            raise ConfigError("model.vocab_size: set by the tokenizer, leave it out")
        max_len = model.pop("max_len", None) or data_max_len
        if max_len < data_max_len:
            raise ConfigError(f"model.max_len: {max_len} is shorter than the dataset's longest sequence, {data_max_len}")
        return from_dict(ModelConfig, {**model, "vocab_size": tokenizer.VOCAB_SIZE, "max_len": max_len}, "model")


# ---------------------------------------------------------------------------------------
# Device, threads, determinism


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when present, else CPU; `claim`: a free GPU of several (thex.gpus)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "claim":
        from thex.gpus import claim

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return torch.device("cuda", claim(count))
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    return device


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def _set_determinism(enabled: bool, device: torch.device, compiled: bool) -> None:
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    warn_only = device.type == "cuda"
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if compiled or setter is None:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    else:
        # The public function also sets a torch.compile option, importing the whole
        # compiler stack to do so: 3 s of every job's start on a laptop CPU. Without
        # compile the flag below is all it changes.
        setter(enabled, warn_only=warn_only)


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
    ]
)


def _metrics_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)


def _write_safetensors(save, what, path: Path) -> None:
    """safetensors' save_file / save_model, whose write errors (a full disk) are not OSErrors."""
    try:
        save(what, str(path))
    except SafetensorError as err:
        raise TrainingError(f"{path}: cannot write ({err})") from None


CHECKPOINT_FILES = ("model.safetensors", "optimizer.safetensors", "metrics.parquet")  # checksummed in state.json


def save_checkpoint(ckpt_dir: Path, model, optimizer, state: dict[str, Any], metrics: list[dict[str, Any]]) -> None:
    step_dir = ckpt_dir / f"step-{state['step']:08d}"
    tmp_dir = ckpt_dir / f".{step_dir.name}.tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    _write_safetensors(save_weights, model, tmp_dir / "model.safetensors")
    opt_state = optimizer.state_dict()
    tensors = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    for index, per_param in opt_state["state"].items():
        for key, value in per_param.items():
            tensors[f"state.{index}.{key}"] = value.detach().cpu().contiguous()
    _write_safetensors(save_file, tensors, tmp_dir / "optimizer.safetensors")
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
    for group, saved in zip(opt_state["param_groups"], state["param_groups"]):
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
# The model files a finished job leaves: model.safetensors + model.json


def save_final_model(out_dir: Path, model, sidecar: dict[str, Any]) -> None:
    with atomic_path(out_dir / "model.safetensors") as tmp:
        _write_safetensors(save_weights, model, tmp)
        weights_sha256 = sha256_file(tmp)
    write_json(out_dir / "model.json", {**sidecar, "weights_sha256": weights_sha256})


def load_model(model_dir: str | os.PathLike, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained model from `model_dir` (model.json + model.safetensors); never unpickles."""
    model_dir = Path(model_dir)
    try:
        sidecar = json.loads((model_dir / "model.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise TrainingError(f"{model_dir / 'model.json'}: cannot read the model description ({err})") from None
    model = build_model(from_dict(ModelConfig, sidecar["model_config"], "model"), sidecar["blocks"]).to(device)
    weights = model_dir / "model.safetensors"
    expected = sidecar.get("weights_sha256")  # models saved by earlier versions have none
    if expected is not None and weights.exists() and sha256_file(weights) != expected:
        raise TrainingError(
            f"{weights}: damaged (its SHA-256 differs from the one recorded in model.json when it was saved); delete "
            f"{model_dir / 'train_summary.json'} and rerun the workflow to retrain this job"
        )
    try:
        load_weights(model, str(weights), strict=True, device=str(device))
    except (OSError, SafetensorError, RuntimeError, ValueError) as err:
        raise TrainingError(f"{model_dir / 'model.safetensors'}: cannot load the weights ({err})") from None
    model.eval()
    return model, sidecar


# ---------------------------------------------------------------------------------------
# The training loop


def _peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def train(
    run: RunConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    arch: str,
    seed: int,
    experiment: str = "",
    device: torch.device | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train (or resume) one model; writes model.safetensors, model.json, metrics.parquet
    and, last, train_summary.json into `out_dir`. Returns the summary."""
    out_dir, cfg = Path(out_dir), run.training
    device = device or resolve_device()
    ckpt_dir = out_dir / "checkpoints"
    _set_determinism(cfg.deterministic, device, cfg.compile)

    splits = dataset_splits(data_dir)
    if "train" not in splits:
        raise ConfigError(f"{data_dir}: no train split (train.parquet)")
    train_split = TokenizedSplit.load(splits["train"], "train")
    valid = TokenizedSplit.load(splits["valid"], "valid") if "valid" in splits else None
    # (longest sequence, content hash) of every split: the model's max_len covers them all
    facts = {s.name: (s.max_len, s.content_hash) for s in (train_split, valid) if s is not None}
    facts.update({name: _longest_and_hash(path) for name, path in splits.items() if name not in facts})
    model_cfg = run.model_config(max(longest for longest, _ in facts.values()))
    steps = total_steps(cfg, train_split)
    identity = {
        "experiment": experiment,
        "arch": arch,
        "seed": seed,
        "model_config": to_dict(model_cfg),
        "train_config": to_dict(cfg),
        "dataset_hashes": {name: digest for name, (_, digest) in sorted(facts.items())},
    }

    if (ckpt_dir / "latest").exists() and _checkpoint_identity(ckpt_dir, identity) != identity:
        # Made for another config (the workflow re-runs a job whose params changed): stale.
        print(f"ignoring {ckpt_dir}: made with a different configuration", file=sys.stderr)
        shutil.rmtree(ckpt_dir)
    torch.manual_seed(seed)
    model = build_model(model_cfg, arch).to(device)
    groups = model.optimizer_groups(lr=cfg.lr, weight_decay=cfg.weight_decay, filter_lr=cfg.filter_lr)
    for group in groups:
        group["base_lr"] = group["lr"]
    optimizer = AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    forward = torch.compile(model) if cfg.compile else model
    start_step, tokens_seen, wall_before, metrics = 0, 0, 0.0, []
    if (ckpt_dir / "latest").exists():
        state, metrics = load_checkpoint(ckpt_dir, model, optimizer, device)
        start_step, tokens_seen, wall_before = state["step"], state["tokens"], state["wall_s"]
        print(f"resuming from {ckpt_dir / 'latest'} at step {start_step}", file=sys.stderr)

    lengths = train_split.lengths if cfg.batching == "by_length" else None
    order = BatchOrder(len(train_split), cfg.batch_size, seed, lengths)
    bar = progress_bar(steps, f"train {experiment} {arch} seed{seed}".strip(), progress, initial=start_step)
    session_start = time.perf_counter()
    window_tokens, window_start = 0, time.perf_counter()
    model.train()
    for step in range(start_step, steps):
        factor = learning_rate_factor(step, steps, cfg)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        batch = train_split.batch(order.indices(step)).to(device)
        with autocast(device):
            logits = forward(batch.inputs)
        loss_answer, loss_all = masked_losses(logits, batch)
        loss = loss_answer if cfg.loss_on == "answer" else loss_all
        if not torch.isfinite(loss):
            raise TrainingError(
                f"non-finite loss ({loss.item()}) at step {step + 1} of experiment {experiment!r}, "
                f"architecture {arch!r}, seed {seed}; no result is written"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()

        tokens_seen += batch.n_tokens
        window_tokens += batch.n_tokens
        now = time.perf_counter()
        row = {
            "step": step + 1,
            "tokens": tokens_seen,
            "loss_answer": loss_answer.item(),
            "loss_all": loss_all.item(),
            "lr": cfg.lr * factor,
            "tokens_per_s": window_tokens / max(now - window_start, 1e-9),
            "wall_s": wall_before + now - session_start,
            "valid_exact_match": None,
            "valid_answer_loss": None,
        }
        window_tokens, window_start = 0, now
        last = step + 1 == steps
        if valid is not None and ((cfg.eval_every and (step + 1) % cfg.eval_every == 0) or last):
            scores = score_split(model, valid.head(cfg.eval_samples), device)
            row["valid_exact_match"] = float(scores["exact_match"].mean())
            row["valid_answer_loss"] = float(scores["answer_loss"].mean())
        metrics.append(row)
        bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
        bar.update(1)
        if (step + 1) % cfg.checkpoint_every == 0 or last:
            state = {**identity, "step": step + 1, "tokens": tokens_seen, "wall_s": row["wall_s"], "package_version": thex.__version__}
            save_checkpoint(ckpt_dir, model, optimizer, state, metrics)
    bar.close()

    wall = metrics[-1]["wall_s"] if metrics else wall_before
    params = count_parameters(model)
    summary = {
        "experiment": experiment,
        "arch": arch,
        "blocks": model.blocks_spec,
        "seed": seed,
        "steps": steps,
        "train_tokens": tokens_seen,
        "train_wall_s": wall,
        "tokens_per_s": tokens_seen / wall if wall else 0.0,
        "parameters": params["total"],
        "non_embedding_parameters": params["non_embedding"],
        "flops_per_token": flops_per_token(model_cfg, arch, int(round(float(train_split.lengths.mean())))),
        "peak_memory_bytes": _peak_memory_bytes(device),
        "final_loss_answer": metrics[-1]["loss_answer"] if metrics else None,
        "final_loss_all": metrics[-1]["loss_all"] if metrics else None,
        "final_valid_exact_match": metrics[-1]["valid_exact_match"] if metrics else None,
        "device": str(device),
        "torch_version": torch.__version__,
        "package_version": thex.__version__,
    }
    sidecar = {**identity, "blocks": model.blocks_spec, "step": steps, "package_version": thex.__version__}
    save_final_model(out_dir, model, sidecar)
    with atomic_path(out_dir / "metrics.parquet") as tmp:
        pq.write_table(_metrics_table(metrics), tmp)
    write_json(out_dir / "train_summary.json", summary)  # last: marks the job complete
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return summary


def _longest_and_hash(path: Path) -> tuple[int, str]:
    """(tokens in the longest `prompt <sep> answer <eos>`, content hash) of a split that is
    not loaded for training, without tokenizing it."""
    digest = read_metadata(path)["content_hash"]
    table = pq.read_table(path, columns=["length", "answer"])
    if table.num_rows == 0:
        return 0, digest
    answer_lengths = pc.utf8_length(table.column("answer"))
    return int(pc.max(pc.add(table.column("length"), answer_lengths)).as_py()) + 2, digest


# ---------------------------------------------------------------------------------------
# Command line


def load_run_config(text_or_path: str) -> RunConfig:
    """A run config from a YAML/JSON file, or inline JSON (as the workflow passes it)."""
    from thex.cli import load_config_source

    return from_dict(RunConfig, load_config_source(text_or_path) or {})


def cli_train(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m thex train", description="Train (or resume) one model.")
    parser.add_argument("--config", required=True, help="run config: a YAML/JSON file or inline JSON {model:, training:}")
    parser.add_argument("--data-dir", type=Path, required=True, help="dataset directory with train.parquet (+ valid)")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--arch", required=True, help="gpt2, hyena, thex-N, thex-N+M, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment", default="")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N, or 'claim'")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    run = load_run_config(args.config)
    summary = train(
        run, args.data_dir, args.out_dir, args.arch, args.seed, args.experiment, resolve_device(args.device), not args.quiet
    )
    print(
        f"{args.arch} seed {args.seed}: {summary['steps']} steps, {summary['train_tokens']:,} tokens, "
        f"{summary['tokens_per_s']:,.0f} tokens/s, final answer loss {summary['final_loss_answer']:.4f}"
    )
    return 0
