"""The language models: names, configs, causality, parameters, FLOPs, training, decoding."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from thex.config import ConfigError, from_dict
from thex.models import ModelConfig, parse_architecture
from thex.models.flops import flops_per_token
from thex.models.architecture import MIXERS
from thex.models.lm import build_model, count_parameters, mixer_class

TINY = {"vocab_size": 16, "max_len": 24, "n_layer": 3, "d_model": 16, "n_head": 2, "mixers": {"hyena": {"filter_order": 8}}}
ARCHS = ["gpt2", "hyena", "thex-2", "thex-1+3"]
# Causality holds for every architecture above and every registered mixer on its own (a
# newly registered mixer is tested without being added here).
CAUSAL = sorted(set(ARCHS) | set(MIXERS))


def tiny(**overrides) -> ModelConfig:
    return from_dict(ModelConfig, {**TINY, **overrides})


def model_for(arch: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(tiny(**overrides), arch)


# --- architecture names -------------------------------------------------------------


def test_architecture_names():
    assert parse_architecture("gpt2", 3) == ["attn"] * 3
    assert parse_architecture("hyena", 2) == ["hyena"] * 2
    assert parse_architecture("thex-2", 4) == ["hyena", "attn", "hyena", "hyena"]
    assert parse_architecture("THEX-12", 16)[11] == "attn"
    assert parse_architecture("THEX-12", 16).count("attn") == 1
    assert parse_architecture("thex-3+9", 10) == ["attn" if i in (2, 8) else "hyena" for i in range(10)]
    assert parse_architecture(["attn", "hyena"], 2) == ["attn", "hyena"]


@pytest.mark.parametrize(
    "arch,n_layer,message",
    [
        ("thex-17", 16, "block 17 is outside 1..16"),
        ("thex-0", 4, "block 0 is outside 1..4"),
        ("thex-", 4, "unknown architecture 'thex-'"),
        ("thex-2+2", 4, "names a block twice"),
        ("bert", 4, "unknown architecture 'bert' (known: gpt2, attn, hyena, thex-N, thex-N+M, or a list of mixers: attn, hyena)"),
        (["attn"], 2, "lists 1 blocks but n_layer is 2"),
        (["attn", "lstm"], 2, "unknown mixer 'lstm'"),
    ],
)
def test_bad_architecture_names_are_errors(arch, n_layer, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_architecture(arch, n_layer)


def test_build_model_records_its_blocks():
    m = model_for("thex-2")
    assert m.mixer_names == ["hyena", "attn", "hyena"]
    assert [type(b.mixer) for b in m.blocks] == [mixer_class("hyena"), mixer_class("attn"), mixer_class("hyena")]


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"n_heads": 2}, "unknown key 'n_heads' (did you mean 'n_head'?)"),
        ({"d_model": "16"}, "d_model: expected an integer"),
        ({"n_head": 3}, "d_model: 16 is not divisible by n_head (3)"),
        ({"mixers": {"hyena": {"emb_dim": 6}}}, "mixers.hyena.emb_dim: must be odd (time + sin/cos pairs), got 6"),
        ({"mixers": {"hyena": {"emb_dim": 3}}}, "mixers.hyena.emb_dim: must be >= 5, got 3"),
        ({"mixers": {"hyena": {"hyena_order": 1}}}, "mixers.hyena.hyena_order: must be >= 2, got 1"),
        ({"mixers": {"hyena": {"filter_ordr": 8}}}, "unknown key 'mixers.hyena.filter_ordr' (did you mean 'filter_order'?)"),
        ({"mixers": {"hyna": {}}}, "unknown key 'mixers.hyna' (did you mean 'hyena'?)"),
        ({"mixers": {"attn": {}}}, "unknown key 'mixers.attn'; valid keys: hyena"),  # attention has no settings
        ({"filter_order": 8}, "unknown key 'filter_order'"),  # a mixer's setting lives under its name
        ({"pos_emb": "rotary"}, "pos_emb: 'rotary' is not one of"),
        ({"dropout": 1.0}, "dropout: must be in [0, 1), got 1.0"),
        ({"dropout": -0.1}, "dropout: must be in [0, 1), got -0.1"),
        ({"max_len": 0}, "max_len: must be >= 1, got 0"),
    ],
)
def test_bad_configs_are_errors(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny(**overrides)


def test_missing_required_key_is_an_error():
    with pytest.raises(ConfigError, match="max_len"):
        from_dict(ModelConfig, {"vocab_size": 8})


@pytest.mark.parametrize("arch,has_positions", [("gpt2", True), ("thex-2", True), ("hyena", False)])
def test_position_embeddings_auto(arch, has_positions):
    assert (model_for(arch).wpe is not None) == has_positions


def test_position_embeddings_override():
    assert model_for("hyena", pos_emb="learned").wpe is not None
    assert model_for("gpt2", pos_emb="none").wpe is None


# --- forward: shapes, dtypes, causality ---------------------------------------------


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_every_mixer_gives_finite_logits_and_gradients(mixer):
    m = model_for(mixer)
    idx = torch.randint(0, 16, (2, 24))
    logits = m(idx)
    assert logits.shape == (2, 24, 16) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits.view(-1, 16), idx.view(-1)).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_shorter_sequences_and_too_long_ones():
    m = model_for("thex-2")
    assert m(torch.randint(0, 16, (1, 5))).shape == (1, 5, 16)
    with pytest.raises(ValueError, match="sequence length 25 exceeds max_len 24"):
        m(torch.zeros(1, 25, dtype=torch.long))


def test_bf16_autocast_returns_float32_logits_close_to_float32():
    m = model_for("thex-2")
    idx = torch.randint(0, 16, (2, 24))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(idx)
    assert low.dtype == torch.float32
    assert (low - m(idx)).abs().max() < 0.05 * m(idx).abs().max()


def embedding_gradients(m, idx: torch.Tensor, t: int) -> torch.Tensor:
    """d(sum of logits at position t) / d(token embeddings), (B, L, d)."""
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["emb"] = output

    handle = m.wte.register_forward_hook(keep)
    try:
        m(idx)[:, t].sum().backward()
    finally:
        handle.remove()
    return captured["emb"].grad


@pytest.mark.parametrize("arch", CAUSAL)
def test_causality_by_gradient(arch):
    """The gradient of output t with respect to inputs after t is zero. In float64 the FFT's
    round-off is ~1e-16 relative; anything above 1e-12 of the past's gradient is leakage."""
    m = model_for(arch).double()
    idx = torch.randint(0, 16, (2, 24))
    for t in (0, 9, 22):
        g = embedding_gradients(m, idx, t)
        past, future = g[:, : t + 1].abs().max(), g[:, t + 1 :].abs().max()
        assert past > 0
        assert future <= 1e-12 * past, (arch, t, float(future / past))


@pytest.mark.parametrize("arch", CAUSAL)
def test_causality_by_suffix_perturbation(arch):
    """Changing every token after position t leaves the logits up to t unchanged, up to
    float32 FFT round-off (1e-5 of the logits' scale), while later logits do change."""
    m = model_for(arch)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randint(0, 16, (4, 24), generator=gen)
    other = idx.clone()
    other[:, 10:] = torch.randint(0, 16, (4, 14), generator=gen)
    with torch.no_grad():
        a, b = m(idx), m(other)
    scale = a.abs().max()
    assert (a[:, :10] - b[:, :10]).abs().max() <= 1e-5 * scale
    assert (a[:, 10:] - b[:, 10:]).abs().max() > 1e-3 * scale


# --- parameters and FLOPs ----------------------------------------------------------


def expected_parameters(cfg: ModelConfig, blocks: list[str]) -> int:
    h = cfg.mixer_settings("hyena")
    d, V, r, N, Fo, E, K = (cfg.d_model, cfg.vocab_size, cfg.mlp_ratio, h.hyena_order, h.filter_order, h.emb_dim, h.short_filter_order)
    attn = (d * 3 * d + 3 * d) + (d * d + d)
    hyena = (
        (d * (N + 1) * d + (N + 1) * d)  # in_proj
        + (N + 1) * d * K + (N + 1) * d  # short convolution
        + cfg.max_len * E  # filter features z
        + Fo  # shared sine frequencies
        + (E * Fo + Fo) + 2 * (Fo * Fo + Fo) + Fo * (N - 1) * d  # filter MLP
        + (N - 1) * d  # D
        + (d * d + d)  # out_proj
    )
    per_block = 2 * 2 * d + (d * r * d + r * d) + (r * d * d + d)  # 2 LayerNorms, MLP
    positions = cfg.max_len * d if "attn" in blocks else 0
    return V * d + positions + sum(per_block + (attn if b == "attn" else hyena) for b in blocks) + 2 * d


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("order", [2, 3])
def test_parameter_counts_match_the_formula(arch, order):
    cfg = tiny(mixers={"hyena": {"filter_order": 8, "hyena_order": order}})
    m = build_model(cfg, arch)
    blocks = parse_architecture(arch, cfg.n_layer)
    counts = count_parameters(m)
    assert counts["total"] == expected_parameters(cfg, blocks)
    embeddings = cfg.vocab_size * cfg.d_model + (cfg.max_len * cfg.d_model if "attn" in blocks else 0)
    assert counts["non_embedding"] == counts["total"] - embeddings
    assert m.head.weight is m.wte.weight  # tied: counted once


def test_flops_per_token_formula():
    cfg = tiny()
    d, V, L = cfg.d_model, cfg.vocab_size, 20
    gpt2 = 3 * (2 * V * d + cfg.n_layer * (2 * 4 * d * d + 4 * L * d + 2 * 2 * 4 * d * d))
    assert flops_per_token(cfg, "gpt2", L) == pytest.approx(gpt2)
    n = 40  # fft_size(20): 39 -> 40
    hyena_mixer = 2 * 4 * d * d + 2 * 3 * 3 * d + 2 * d + d * (5 * n * math.log2(n) + 6 * 21) / L
    hyena = 3 * (2 * V * d + cfg.n_layer * (hyena_mixer + 2 * 2 * 4 * d * d))
    assert flops_per_token(cfg, "hyena", L) == pytest.approx(hyena)
    thex = flops_per_token(cfg, "thex-2", L)
    assert thex == pytest.approx((2 * hyena + gpt2) / 3)  # one block of three is attention
    with pytest.raises(ValueError, match="seq_len 25 is outside 1..max_len"):
        flops_per_token(cfg, "gpt2", 25)


def test_flops_are_about_six_per_parameter_at_short_length():
    """The standard sanity check: 6 N per token plus the length-dependent mixing."""
    cfg = ModelConfig(vocab_size=128, max_len=256, n_layer=4, d_model=128, n_head=4)
    m = build_model(cfg, "gpt2")
    matmul_params = count_parameters(m)["non_embedding"] + cfg.vocab_size * cfg.d_model
    assert flops_per_token(cfg, "gpt2", 1) == pytest.approx(6 * matmul_params, rel=0.02)


# --- initialisation and optimizer groups -------------------------------------------


def test_gpt2_initialisation():
    cfg = ModelConfig(vocab_size=64, max_len=64, n_layer=8, d_model=128, n_head=4)
    m = build_model(cfg, "thex-2")
    assert m.blocks[0].mlp.fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert m.blocks[1].mixer.qkv.bias.abs().max() == 0
    for block in m.blocks:
        for proj in (block.mixer.out_proj, block.mlp.out_proj):
            assert proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.1)


def test_optimizer_groups():
    m = model_for("thex-2", mixers={"hyena": {"filter_order": 8, "filter_lr": 5e-4}})
    groups = m.optimizer_groups(lr=1e-3, weight_decay=0.1, filter_emb_lr=1e-5)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"decay", "no_decay", "filter", "filter_emb"}
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in m.parameters())  # each parameter once
    assert (by_name["decay"]["weight_decay"], by_name["decay"]["lr"]) == (0.1, 1e-3)
    assert (by_name["filter"]["weight_decay"], by_name["filter"]["lr"]) == (0.0, 5e-4)
    assert (by_name["filter_emb"]["weight_decay"], by_name["filter_emb"]["lr"]) == (0.0, 1e-5)
    assert by_name["no_decay"]["weight_decay"] == 0.0
    decay = {id(p) for p in by_name["decay"]["params"]}
    assert id(m.wte.weight) not in decay and id(m.wpe.weight) not in decay
    assert all(p.dim() == 2 for p in by_name["decay"]["params"])
    hyena = m.blocks[0].mixer
    assert {id(p) for p in by_name["filter_emb"]["params"]} == {id(hyena.filter.z), id(m.blocks[2].mixer.filter.z)}
    assert id(hyena.filter.freq) in {id(p) for p in by_name["filter"]["params"]}
    assert set(model_for("gpt2").optimizer_groups(lr=1e-3, weight_decay=0.1)[i]["name"] for i in (0, 1)) == {
        "decay", "no_decay"}
    torch.optim.AdamW(groups)  # accepted as is


# --- training and decoding ----------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_a_few_steps_reduce_the_loss(arch):
    m = model_for(arch)
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(1, 16, (8, 17), generator=gen)
    opt = torch.optim.AdamW(m.optimizer_groups(lr=1e-2, weight_decay=0.0))
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(m(idx[:, :-1]).reshape(-1, 16), idx[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses


def counting_batch(gen: torch.Generator, batch: int, length: int, vocab: int) -> torch.Tensor:
    """Sequences start, start+1, ... over the ids 1..vocab-1 (wrapping), id 0 unused (pad)."""
    start = torch.randint(0, vocab - 1, (batch, 1), generator=gen)
    return 1 + (start + torch.arange(length)) % (vocab - 1)


@pytest.fixture(scope="module")
def trained_counter():
    """A tiny THEX model (one Hyena and one attention block) trained to count."""
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, {"vocab_size": 12, "max_len": 16, "n_layer": 2, "d_model": 32, "n_head": 2,
                                  "mixers": {"hyena": {"filter_order": 16}}})
    m = build_model(cfg, "thex-2")
    opt = torch.optim.AdamW(m.optimizer_groups(lr=1e-2, weight_decay=0.0))
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):
        seq = counting_batch(gen, 16, 16, 12)
        loss = F.cross_entropy(m(seq[:, :-1]).reshape(-1, 12), seq[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m


def test_greedy_decoding_of_a_trained_model(trained_counter):
    m = trained_counter
    seq = counting_batch(torch.Generator().manual_seed(1), 5, 12, 12)
    out = m.generate_greedy(seq[:, :4], max_new_tokens=8)
    assert out.shape == (5, 12)
    assert torch.equal(out, seq)
    assert m.training  # the mode is restored
    # decoding agrees with the teacher-forced argmax over the same sequence
    assert torch.equal(m(out).argmax(-1)[:, 3:-1], out[:, 4:])


def test_greedy_decoding_stops_at_eos_and_pads(trained_counter):
    m = trained_counter
    prompts = torch.tensor([[1, 2, 3], [6, 7, 8]])  # counting reaches 5 after 2, and 11 after 3 steps
    out = m.generate_greedy(prompts, max_new_tokens=6, eos_id=5, pad_id=0)
    assert out.shape == (2, 9)
    assert out[0].tolist() == [1, 2, 3, 4, 5, 0, 0, 0, 0]
    assert out[1, 3:].tolist() == [9, 10, 11, 1, 2, 3]
    # stops once every row has produced eos
    both = m.generate_greedy(torch.tensor([[1, 2, 3], [2, 3, 4]]), max_new_tokens=6, eos_id=5)
    assert both.tolist() == [[1, 2, 3, 4, 5], [2, 3, 4, 5, 0]]
    with pytest.raises(ValueError, match=re.escape("prompt length 3 + max_new_tokens 14 exceeds max_len 16")):
        m.generate_greedy(prompts, max_new_tokens=14)


# --- the benchmark command ----------------------------------------------------------

# Stand-ins for the reference files, written here from their published structure and
# sharing no code with thex, so that the parameter counts the benchmark compares are an
# independent check of our layouts: nanoGPT's GPT (wte, wpe, per block ln_1, c_attn,
# c_proj, ln_2, c_fc, c_proj; ln_f; head tied to wte), and safari's standalone
# HyenaOperator (in_proj to (order+1)*d, depthwise short conv of width 3, out_proj; a filter
# with a trainable positional embedding z (1, l_max, emb_dim), an implicit MLP emb_dim ->
# filter_order -> filter_order -> filter_order -> d*(order-1) without a last bias, one
# shared Sin activation with a trainable frequency, a bias of d*(order-1), and a
# modulation held in a buffer). Their forward passes are simple: only speed is timed.
FAKE_NANOGPT = '''
from dataclasses import dataclass
import torch, torch.nn as nn, torch.nn.functional as F

@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True

class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.n_embd
        self.n_head = c.n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(d, bias=c.bias), nn.LayerNorm(d, bias=c.bias)
        self.c_attn, self.attn_proj = nn.Linear(d, 3 * d, bias=c.bias), nn.Linear(d, d, bias=c.bias)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d, bias=c.bias), nn.Linear(4 * d, d, bias=c.bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        print("number of parameters: ...")
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)

    def forward(self, idx, targets=None):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
'''

FAKE_SAFARI = '''
import torch, torch.nn as nn

class HyenaOperator(nn.Module):
    def __init__(self, d_model, l_max, order=2, filter_order=64, dropout=0.0, filter_dropout=0.0, emb_dim=3, w=1, **kw):
        super().__init__()
        d, inner, channels = d_model, d_model * (order + 1), d_model * (order - 1)
        self.d = d
        self.in_proj, self.out_proj = nn.Linear(d, inner), nn.Linear(d, d)
        self.short_filter = nn.Conv1d(inner, inner, 3, padding=2, groups=inner)
        self.z = nn.Parameter(torch.randn(1, l_max, emb_dim))
        self.freq = nn.Parameter(w * torch.ones(1, filter_order))
        self.mlp = nn.ModuleList([nn.Linear(emb_dim, filter_order), nn.Linear(filter_order, filter_order),
                                  nn.Linear(filter_order, filter_order), nn.Linear(filter_order, channels, bias=False)])
        self.filter_bias = nn.Parameter(torch.randn(channels))
        self.register_buffer("deltas", torch.linspace(-15.0, -3.0, channels)[None, None])

    def forward(self, u):
        L = u.size(1)
        h = self.z[:, :L]
        for layer in self.mlp[:-1]:
            h = torch.sin(self.freq * layer(h))
        k = self.mlp[-1](h) * torch.exp(-self.deltas.abs())  # (1, L, channels)
        x = self.short_filter(self.in_proj(u).transpose(1, 2))[..., :L].transpose(1, 2)  # (B, L, inner)
        gate = x[..., : self.d] * x[..., self.d : 2 * self.d]
        return self.out_proj(gate + (k.mean(-1, keepdim=True) + self.filter_bias.mean()) * x[..., -self.d :])
'''


def test_benchmark_against_references(tmp_path, capsys):
    """The benchmark's wiring, with stand-ins for nanoGPT's model.py and safari's
    standalone_hyena.py that have their interfaces (the real files are not part of the repo)."""
    from thex.bench.models import main

    (tmp_path / "model.py").write_text(FAKE_NANOGPT)
    (tmp_path / "standalone_hyena.py").write_text(FAKE_SAFARI)
    out = tmp_path / "rows.json"
    args = ["--shape", "2,16,2,16,2,16", "--arch", "gpt2,thex-1", "--reference-dir", str(tmp_path),
            "--warmup", "0", "--steps", "1", "--repeats", "2", "--threads", "1", "--json", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "nanoGPT" in printed and "safari stack" in printed and "number of parameters" not in printed
    rows = json.loads(out.read_text())["rows"]
    assert [(r["arch"], r["impl"]) for r in rows] == [
        ("gpt2", "ours"), ("gpt2", "nanoGPT"), ("thex-1", "ours"), ("thex-1", "safari stack")]
    assert rows[0]["params"] == rows[1]["params"]  # our GPT-2 has nanoGPT's parameters
    ours, ref = rows[2], rows[3]
    assert ours["params"] == ref["params"]  # our Hyena operator has safari's parameters
    assert ref["speedup_of_ours"] > 0 and ours["tokens_per_s"] == pytest.approx(2 * 16 / ours["ms_per_step"] * 1e3)
    assert all(r["mfu"] is None for r in rows)  # no ceiling on CPU unless one is given


def test_benchmark_mfu_is_model_flops_over_the_given_ceiling(tmp_path, capsys):
    from thex.bench.models import main

    out = tmp_path / "rows.json"
    assert main(["--shape", "2,16,2,16,2,16", "--arch", "gpt2", "--warmup", "0", "--steps", "1", "--repeats", "1",
                 "--threads", "1", "--peak-tflops", "0.5", "--json", str(out)]) == 0  # fmt: skip
    assert "MFU against 0.5 TFLOP/s" in capsys.readouterr().out
    (row,) = json.loads(out.read_text())["rows"]
    # nanoGPT's estimate by hand: 6 N + 12 n_layer d L per token, N = the tied head (V d) and
    # 12 d^2 of weight matrices per block (biases and LayerNorms left out)
    by_hand = 6 * (16 * 16 + 2 * 12 * 16 * 16) + 12 * 2 * 16 * 16
    assert row["flops_per_token"] == pytest.approx(by_hand)
    assert row["mfu"] == pytest.approx(by_hand * row["tokens_per_s"] / 0.5e12)
    with pytest.raises(SystemExit):
        main(["--shape", "1,8,1,8,1,8", "--peak-tflops", "lots"])
    assert "--peak-tflops 'lots'" in capsys.readouterr().err


def test_benchmark_without_references(tmp_path, capsys):
    from thex.bench.models import main

    assert main(["--shape", "1,8,1,8,1,8", "--arch", "hyena", "--reference-dir", str(tmp_path / "none"),
                 "--warmup", "0", "--steps", "1", "--repeats", "1"]) == 0
    captured = capsys.readouterr()
    assert "model.py not found" in captured.err and "hyena" in captured.out
    with pytest.raises(SystemExit):
        main(["--shape", "1,8,1"])
    assert "expected n_layer,d_model,n_head,seq_len,batch,vocab" in capsys.readouterr().err


@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_every_registered_mixer_keeps_the_contract(mixer):
    """What any mixer registered in architecture.MIXERS must do beyond causality (tested
    above for every one): a residual projection `out_proj`, FLOPs that grow with width and
    length and at least cover its projections, and parameters counted once each."""
    cls = mixer_class(mixer)
    assert cls.causal is True
    m = model_for(mixer)
    out_proj = m.blocks[0].mixer.out_proj
    assert isinstance(out_proj, torch.nn.Linear)
    small, wide = tiny(), tiny(d_model=2 * tiny().d_model)
    flops = cls.forward_flops_per_token(small, 24)
    assert np.isfinite(flops) and flops >= 2 * out_proj.weight.numel()
    assert cls.forward_flops_per_token(wide, 24) > flops and cls.forward_flops_per_token(small, 24) >= cls.forward_flops_per_token(small, 4)
    assert flops_per_token(small, mixer, 24) > 0
    unique = {id(p): p.numel() for p in m.parameters()}
    assert count_parameters(m)["total"] == sum(unique.values())


def test_what_a_mixer_declares_decides_positions_and_probes_not_its_name(monkeypatch):
    """Attention registered under another name is still given positions and probed; a
    mixer named "attn" is nothing special."""
    from thex.models import architecture
    from thex.probes import attention_blocks

    monkeypatch.setitem(architecture.MIXERS, "focus", architecture.MIXERS["attn"])
    mixer_class.cache_clear()
    try:
        focus = model_for("focus")
        assert focus.wpe is not None and mixer_class("focus").uses_positions is True
        assert not getattr(mixer_class("hyena"), "uses_positions", False) and model_for("hyena").wpe is None
        # the attention-roles probe reads the blocks that have attention weights, whatever they are called
        assert attention_blocks(focus) == list(range(focus.cfg.n_layer)) and attention_blocks(model_for("thex-2")) == [1] and attention_blocks(model_for("hyena")) == []
    finally:
        mixer_class.cache_clear()


def test_a_mixer_that_breaks_the_contract_is_refused_when_first_built(monkeypatch):
    from thex.models import architecture

    monkeypatch.setitem(architecture.MIXERS, "plain", architecture.Mixer("torch.nn:Identity", "identity"))
    mixer_class.cache_clear()
    try:
        with pytest.raises(TypeError, match="mixer 'plain' breaks the mixer contract.*causal = True.*forward_flops_per_token"):
            mixer_class("plain")
        with pytest.raises(ValueError, match="unknown mixer 'nope'"):
            mixer_class("nope")
    finally:
        mixer_class.cache_clear()
