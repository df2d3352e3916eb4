"""Training-step speed of the models, side by side with the reference implementations.

    python -m thex.bench models --shape 4,128,4,256,16,128 --arch gpt2,hyena,thex-2 \
        --reference-dir /tmp/refs

A shape is n_layer,d_model,n_head,seq_len,batch,vocab. A step is forward, cross-entropy
loss, backward and AdamW on a fixed random batch. With --reference-dir (a folder holding
nanoGPT's `model.py` and safari's `standalone_hyena.py`, as fetched, unmodified) each
architecture is also timed as:
  gpt2           nanoGPT's GPT
  hyena, thex-*  our pre-LN block stack (embedding, LayerNorms, MLPs, head; our attention
                 blocks for THEX) with safari's HyenaOperator as every Hyena mixer
Both sides of a pair get the same shapes, batch, optimizer settings, thread count and
autocast; warmup steps are not timed; the timed steps alternate between the two in
rounds, so a load change on the machine hits both, and the ratio is the median of the
per-round ratios. CUDA runs use bf16 autocast by default.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from thex.models import ModelConfig, parse_architecture
from thex.models.flops import flops_per_token
from thex.models.lm import build_model


@dataclass(frozen=True)
class Shape:
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int
    batch: int
    vocab: int

    @classmethod
    def parse(cls, text: str) -> "Shape":
        try:
            values = [int(v) for v in text.split(",")]
            return cls(*values)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(
                f"shape {text!r}: expected n_layer,d_model,n_head,seq_len,batch,vocab (6 integers)"
            ) from None

    def config(self) -> ModelConfig:
        return ModelConfig(vocab_size=self.vocab, max_len=self.seq_len, n_layer=self.n_layer,
                           d_model=self.d_model, n_head=self.n_head)

    def __str__(self) -> str:
        return f"{self.n_layer},{self.d_model},{self.n_head},{self.seq_len},{self.batch},{self.vocab}"


def load_module(path: Path, name: str):
    """Import a reference file as it is, under a private module name."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # torch.compile looks modules up by name
    spec.loader.exec_module(module)
    return module


class References:
    """nanoGPT's model.py and safari's standalone_hyena.py from a folder, each if importable."""

    def __init__(self, folder: Path | None):
        self.nanogpt = self.safari = None
        self.notes: list[str] = []
        if folder is None:
            return
        for attr, filename in (("nanogpt", "model.py"), ("safari", "standalone_hyena.py")):
            path = folder / filename
            if not path.is_file():
                self.notes.append(f"{path} not found: no {attr} reference")
                continue
            try:
                setattr(self, attr, load_module(path, f"_thex_reference_{attr}"))
            except ImportError as err:  # safari's file needs einops
                self.notes.append(f"{path} could not be imported ({err}); `pip install einops` for safari's")

    def build(self, cfg: ModelConfig, arch: str) -> tuple[str, nn.Module] | None:
        blocks = parse_architecture(arch, cfg.n_layer)
        if "hyena" not in blocks:
            return None if self.nanogpt is None else ("nanoGPT", self._nanogpt(cfg))
        return None if self.safari is None else ("safari stack", self._safari_stack(cfg, blocks))

    def _nanogpt(self, cfg: ModelConfig) -> nn.Module:
        gpt_cfg = self.nanogpt.GPTConfig(
            block_size=cfg.max_len, vocab_size=cfg.vocab_size, n_layer=cfg.n_layer, n_head=cfg.n_head,
            n_embd=cfg.d_model, dropout=cfg.dropout, bias=cfg.bias,
        )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter count
            return self.nanogpt.GPT(gpt_cfg)

    def _safari_stack(self, cfg: ModelConfig, blocks: list[str]) -> nn.Module:
        model = build_model(cfg, blocks)
        hyena = cfg.mixer_settings("hyena")
        for block, mixer in zip(model.blocks, blocks):
            if mixer == "hyena":
                block.mixer = self.safari.HyenaOperator(
                    cfg.d_model, cfg.max_len, order=hyena.hyena_order, filter_order=hyena.filter_order,
                    dropout=cfg.dropout, emb_dim=hyena.emb_dim, w=hyena.filter_sine_freq,
                )
        return model


def adamw(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """The same AdamW for every model: lr 1e-3, betas (0.9, 0.95), weight decay 0.1 on 2-D
    weights (our models: their own groups), fused on CUDA."""
    if hasattr(model, "optimizer_groups"):
        groups = model.optimizer_groups(lr=1e-3, weight_decay=0.1)
    else:
        params = list(model.parameters())
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
    return torch.optim.AdamW(groups, lr=1e-3, betas=(0.9, 0.95), fused=device.type == "cuda")


class Runner:
    """One model's training step on a fixed batch."""

    def __init__(self, name: str, model: nn.Module, shape: Shape, device: torch.device, args: argparse.Namespace):
        self.name, self.device, self.autocast = name, device, args.autocast
        self.nanogpt = name == "nanoGPT"  # takes the targets and returns (logits, loss)
        self.params = sum(p.numel() for p in model.parameters())
        model = model.to(device).train()
        self.optimizer = adamw(model, device)
        self.model = torch.compile(model) if args.compile else model
        gen = torch.Generator().manual_seed(0)
        size = (shape.batch, shape.seq_len)
        self.idx = torch.randint(0, shape.vocab, size, generator=gen).to(device)
        self.targets = torch.randint(0, shape.vocab, size, generator=gen).to(device)

    def loss(self) -> torch.Tensor:
        if self.nanogpt:  # its forward computes the same loss when given targets
            return self.model(self.idx, self.targets)[1]
        logits = self.model(self.idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), self.targets.reshape(-1))

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            loss = self.loss()
        loss.backward()
        self.optimizer.step()

    def time_steps(self, n: int) -> float:
        """Milliseconds per step over n steps."""
        sync(self.device)
        start = time.perf_counter()
        for _ in range(n):
            self.step()
        sync(self.device)
        return (time.perf_counter() - start) * 1e3 / n


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(runners: list[Runner], warmup: int, steps: int, repeats: int) -> list[list[float]]:
    """ms/step of each runner in each of `repeats` rounds; the order alternates by round."""
    for r in runners:
        for _ in range(warmup):
            r.step()
    rounds = []
    for i in range(repeats):
        order = runners if i % 2 == 0 else runners[::-1]
        times = {id(r): r.time_steps(steps) for r in order}
        rounds.append([times[id(r)] for r in runners])
    return rounds


def bench_arch(args, shape: Shape, arch: str, refs: References, device: torch.device,
               report: Callable[[dict], None]) -> None:
    cfg = shape.config()
    torch.manual_seed(0)
    runners = [Runner("ours", build_model(cfg, arch), shape, device, args)]
    built = refs.build(cfg, arch)
    if built is not None:
        runners.append(Runner(*built, shape, device, args))
    rounds = measure(runners, args.warmup, args.steps, args.repeats)
    tokens = shape.batch * shape.seq_len
    flops = flops_per_token(cfg, arch, shape.seq_len)  # the same work for both sides of a pair
    for j, r in enumerate(runners):
        ms = [rd[j] for rd in rounds]
        med = statistics.median(ms)
        row = {
            "shape": str(shape), "arch": arch, "impl": r.name, "params": r.params,
            "ms_per_step": med, "ms_min": min(ms), "ms_max": max(ms), "tokens_per_s": tokens / med * 1e3,
            "flops_per_token": flops,
            "mfu": flops * tokens / med * 1e3 / args.peak_flops if args.peak_flops else None,
        }
        if j > 0:
            ratios = [rd[j] / rd[0] for rd in rounds]  # reference time / our time, same round
            row["speedup_of_ours"] = statistics.median(ratios)
            row["speedup_range"] = [min(ratios), max(ratios)]
            # contention on a shared machine only adds time: the best rounds compared
            row["speedup_best_vs_best"] = min(ms) / min(rd[0] for rd in rounds)
        report(row)


def measured_peak_flops(device: torch.device, n: int = 8192, repeats: int = 10) -> float:
    """FLOP/s of a bf16 n x n x n matrix product on random data: the ceiling MFU is taken
    against, measured in the same run (the datasheet's dense figure is higher than any
    kernel reaches)."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return repeats * 2 * n**3 / (time.perf_counter() - start)


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m thex.bench models", description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=Shape.parse, action="append", required=True,
                   help="n_layer,d_model,n_head,seq_len,batch,vocab (repeatable)")
    p.add_argument("--arch", default=None,
                   help="comma-separated architectures (default: gpt2,hyena,thex-K with K = 3/4 of n_layer)")
    p.add_argument("--reference-dir", type=Path, default=None,
                   help="folder with nanoGPT's model.py and safari's standalone_hyena.py")
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--dtype", choices=["auto", "float32", "bf16"], default="auto",
                   help="bf16 = bf16 autocast (default on CUDA); float32 elsewhere")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per model")
    p.add_argument("--steps", type=int, default=2, help="timed steps per model per round")
    p.add_argument("--repeats", type=int, default=11, help="rounds; medians are over rounds")
    p.add_argument("--compile", action="store_true", help="torch.compile every model (ours and references)")
    p.add_argument("--peak-tflops", default="auto",
                   help="the ceiling for MFU in TFLOP/s; auto: measured (bf16 matrix product) on CUDA, none on CPU")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = p.parse_args(argv)

    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.autocast = args.dtype == "bf16" or (args.dtype == "auto" and device.type == "cuda")
    if args.peak_tflops == "auto":
        args.peak_flops = measured_peak_flops(device) if device.type == "cuda" else None
    else:
        try:
            args.peak_flops = float(args.peak_tflops) * 1e12
        except ValueError:
            p.error(f"--peak-tflops {args.peak_tflops!r}: expected a number or 'auto'")
    refs = References(args.reference_dir)
    for note in refs.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"machine: {describe_machine(device)}; {'bf16 autocast' if args.autocast else 'float32'}"
          f"{'; torch.compile' if args.compile else ''}; "
          f"warmup {args.warmup}, {args.repeats} rounds x {args.steps} steps; "
          + (f"MFU against {args.peak_flops / 1e12:.4g} TFLOP/s" if args.peak_flops else "no MFU (no --peak-tflops)"))
    print(f"{'shape':<22} {'arch':<10} {'impl':<13} {'params':>10} {'ms/step':>9} {'range':>17} "
          f"{'tokens/s':>10} {'MFU':>6} {'ours x faster':>14} {'(best/best)':>11}")
    rows: list[dict] = []

    def report(row: dict) -> None:
        rows.append(row)
        speed = best = ""
        if "speedup_of_ours" in row:
            speed, best = f"{row['speedup_of_ours']:.2f}x", f"{row['speedup_best_vs_best']:.2f}x"
        rng = f"{row['ms_min']:.1f}-{row['ms_max']:.1f}"
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "-"
        print(f"{row['shape']:<22} {row['arch']:<10} {row['impl']:<13} {row['params']:>10,} "
              f"{row['ms_per_step']:>9.1f} {rng:>17} {row['tokens_per_s']:>10,.0f} {mfu:>6} {speed:>14} {best:>11}", flush=True)

    for shape in args.shape:
        archs = args.arch.split(",") if args.arch else ["gpt2", "hyena", f"thex-{max(1, 3 * shape.n_layer // 4)}"]
        for arch in archs:
            bench_arch(args, shape, arch.strip(), refs, device, report)
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": describe_machine(device), "autocast": args.autocast,
                                         "compile": args.compile, "peak_flops": args.peak_flops, "rows": rows}, indent=1))
    return 0
