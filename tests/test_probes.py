"""The probe stage's measurements (thex/probes.py): ablations that remove exactly what they
say, probes that find what is linearly there and nothing else, and a probe set that never
holds an evaluation item."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from thex.config import from_dict
from thex.data import TokenizedSplit
from thex.datasets import DatasetConfig, generate_dataset
from thex.models import ModelConfig
from thex.models.lm import build_model
from thex.probes import COMPONENTS, ProbeError, ablated, ablation_scores, component_means, fit_probe, probe_items, probe_run
from thex.run_config import RunConfig
from thex.training import train

CPU = torch.device("cpu")
DATA = {
    "seed": 3,
    "programs": {"n_statements": [1, 2], "depth": [0, 1], "operators": ["add", "sub"], "modulus": 10, "name_words": [1, 1]},
    "splits": {"train": {"n": 600}, "valid": {"n": 32}, "test": {"n": 120}},
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    generate_dataset(DatasetConfig.from_dict(DATA), out)
    return out


def tiny_model(arch: str = "thex-2", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = from_dict(ModelConfig, {"vocab_size": 81, "max_len": 64, "n_layer": 2, "d_model": 16, "n_head": 2, "mixers": {"hyena": {"filter_order": 8}}})
    return build_model(cfg, arch).eval()


@pytest.mark.parametrize("component", COMPONENTS)
def test_ablating_a_block_that_writes_nothing_changes_no_prediction(data_dir, component):
    model = tiny_model()
    out_proj = getattr(model.blocks[1], component).out_proj
    with torch.no_grad():
        out_proj.weight.zero_()
        if out_proj.bias is not None:
            out_proj.bias.zero_()
    test = {"test": TokenizedSplit.load(data_dir / "test.parquet")}
    means = component_means(model, TokenizedSplit.load(data_dir / "train.parquet").head(100), CPU)
    assert torch.equal(means[(1, component)], torch.zeros(16))
    idx = torch.randint(3, 81, (3, 20))
    with ablated(model, {(1, component): means[(1, component)]}):
        ablated_logits = model(idx)
    torch.testing.assert_close(ablated_logits, model(idx), rtol=0, atol=0)
    table = ablation_scores(model, test, CPU, means).to_pandas()
    intact = table[table.component == "none"].exact_match.to_numpy()
    assert (table[(table.block == 2) & (table.component == component)].exact_match.to_numpy() == intact).all()
    # ... while ablating a block that does write something changes the logits
    with ablated(model, {(0, "mixer"): means[(0, "mixer")]}):
        assert not torch.allclose(model(idx), ablated_logits)


@pytest.mark.parametrize("arch", ["gpt2", "hyena", "thex-1"])
def test_ablating_every_block_leaves_only_the_embedding_and_head(arch):
    model = tiny_model(arch)
    d = model.cfg.d_model
    everything = {(b, c): torch.randn(d) for b in range(2) for c in COMPONENTS}
    idx = torch.randint(3, 81, (2, 12))
    changed = idx.clone()
    changed[:, :6] = torch.randint(3, 81, (2, 6))  # different earlier tokens
    with ablated(model, everything):
        a, b = model(idx), model(changed)
    # position t then sees token t (and position t) only: the later logits do not move
    torch.testing.assert_close(a[:, 6:], b[:, 6:], rtol=0, atol=1e-6)
    assert not torch.allclose(model(idx)[:, 6:], model(changed)[:, 6:])  # intact, they do


def test_a_probe_finds_a_planted_linear_feature_and_nothing_in_shuffled_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 24))
    direction = rng.normal(size=(24, 5))
    y = (x @ direction).argmax(axis=1)  # 5 classes, linearly decodable by construction
    probe = fit_probe(x[:2000], y[:2000])
    assert (probe.predict(x[2000:]) == y[2000:]).mean() >= 0.95
    shuffled = rng.permutation(y[:2000])
    chance = fit_probe(x[:2000], shuffled)
    assert (chance.predict(x[2000:]) == y[2000:]).mean() <= 0.2 + 0.05
    with pytest.raises(ProbeError, match="one answer only"):
        fit_probe(x[:10], np.zeros(10, dtype=int))


def test_the_probe_set_holds_no_evaluation_program(tmp_path):
    # memorization-style splits repeat train programs in test on purpose
    config = {
        "seed": 5,
        "programs": {"n_statements": [1, 1], "depth": [0, 1], "operators": ["add"], "name_words": [1, 1], "n_globals": 4,
                     "recall_fraction": 0.5},
        "splits": {"train": {"exposures": 20}, "test": {"exposures": 2, "recall_fraction": 1.0, "disjoint_from_train": False}},
    }  # fmt: skip
    generate_dataset(DatasetConfig.from_dict(config), tmp_path)
    train_split = TokenizedSplit.load(tmp_path / "train.parquet")
    test = TokenizedSplit.load(tmp_path / "test.parquet")
    test_prompts = set(test.table.column("prompt").to_pylist())
    train_prompts = train_split.table.column("prompt").to_pylist()
    assert any(p in test_prompts for p in train_prompts)  # the overlap the probe set must avoid
    chosen = probe_items(tmp_path / "train.parquet", [test], n=10_000)
    assert not test_prompts.intersection(chosen.table.column("prompt").to_pylist())
    assert len(chosen) == sum(p not in test_prompts for p in train_prompts)
    assert chosen.table.column("prompt").to_pylist() == [p for p in train_prompts if p not in test_prompts]
    with pytest.raises(ProbeError, match="no probe set"):
        probe_items(tmp_path / "train.parquet", [train_split], n=10)


@pytest.fixture(scope="module")
def trained_dir(data_dir, tmp_path_factory):
    """A GPT-2 of 2 blocks trained far enough to get some test items right."""
    out = tmp_path_factory.mktemp("run")
    run = from_dict(RunConfig, {"model": {"n_layer": 2, "d_model": 32, "n_head": 2, "mixers": {"hyena": {"filter_order": 16}}},
                                "training": {"steps": 200, "batch_size": 32, "lr": 3e-3, "warmup_steps": 10, "checkpoint_every": 200}})  # fmt: skip
    train(run, data_dir, out, "gpt2", seed=0)
    return out


def test_mean_ablation_puts_the_mean_in_and_zero_ablation_zeros(trained_dir, data_dir):
    from thex.evaluation import score_split
    from thex.models.saved import load_model

    # Known activations: block 2's MLP writes the constant v at every position. Its mean
    # over any items is v, so mean ablation changes nothing; zero ablation removes v, which
    # is the model with that MLP writing 0.
    model, _ = load_model(trained_dir, CPU)
    v = torch.randn(32, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        model.blocks[1].mlp.out_proj.weight.zero_()
        model.blocks[1].mlp.out_proj.bias.copy_(v)
    test = TokenizedSplit.load(data_dir / "test.parquet")
    means = component_means(model, TokenizedSplit.load(data_dir / "train.parquet").head(100), CPU)
    torch.testing.assert_close(means[(1, "mlp")], v)
    scores = {kind: ablation_scores(model, {"test": test}, CPU, means, kind).to_pandas() for kind in ("mean", "zero")}
    rows = lambda kind, block, component: scores[kind].query("block == @block and component == @component").sort_values("id").exact_match.to_numpy()  # noqa: E731
    intact = rows("mean", 0, "none")
    assert (rows("mean", 2, "mlp") == intact).all()
    with torch.no_grad():
        model.blocks[1].mlp.out_proj.bias.zero_()
    zeroed = score_split(model, test, CPU)["exact_match"]
    assert (rows("zero", 2, "mlp") == zeroed).all()
    assert (zeroed != intact).sum() >= 5  # the two kinds differ here, so a swap cannot pass


def test_the_answer_probe_reads_before_the_answer_and_finds_nothing_in_a_blank_residual(data_dir):
    from thex.probes import answer_reads, probe_scores
    from thex.tokenizer import SEP_ID

    test = TokenizedSplit.load(data_dir / "test.parquet")
    items, positions, labels = answer_reads(test)
    # The read is the <sep> input position, strictly before the answer's first token.
    assert (positions < test.answer_starts).all() and (test.ids[test.starts + positions] == SEP_ID).all()
    assert (labels == test.ids[test.starts + test.answer_starts]).all()
    # A model whose residual at every position is its own token's embedding and nothing
    # else (no positions, every block writing 0): at <sep> all items look the same, so the
    # probe can only learn the commonest label. Read at the answer token, it would be right.
    model = tiny_model("gpt2")
    with torch.no_grad():
        model.wpe.weight.zero_()
        for block in model.blocks:
            for component in COMPONENTS:
                getattr(block, component).out_proj.weight.zero_()
                getattr(block, component).out_proj.bias.zero_()
    probe_set = TokenizedSplit.load(data_dir / "train.parquet").head(300)
    probes = probe_scores(model, probe_set, {"test": test}, CPU).to_pandas()
    by_depth = probes.groupby("depth")[["correct", "majority_correct"]].mean()
    assert (by_depth.correct == by_depth.majority_correct).all() and by_depth.correct.max() < 0.5


@pytest.mark.slow
def test_probe_command_on_a_trained_model(trained_dir, data_dir, tmp_path, capsys):
    from thex.__main__ import main

    out = tmp_path / "probes"
    args = ["probe", "--model-dir", str(trained_dir), "--data-dir", str(data_dir), "--out-dir", str(out), "--threads", "1"]
    assert main([*args, "--n-probe", "300"]) == 0
    assert "mean ablation of 2 blocks" in capsys.readouterr().out
    ablations = pq.read_table(out / "ablations.parquet").to_pandas()
    probes = pq.read_table(out / "probes.parquet").to_pandas()
    info = json.loads((out / "probe.json").read_text())
    assert info["n_probe"] == 300 and info["ablation"] == "mean"
    # every test item under the intact model and each of the 2 blocks x 2 components
    assert len(ablations) == 120 * 5 and set(zip(ablations.block, ablations.component)) == {
        (0, "none"), (1, "mixer"), (1, "mlp"), (2, "mixer"), (2, "mlp")}
    # the intact rows are the evaluation's own scores, item by item
    from thex.evaluation import score_split
    from thex.models.saved import load_model

    model, _ = load_model(trained_dir, CPU)
    evaluated = score_split(model, TokenizedSplit.load(data_dir / "test.parquet"), CPU)["exact_match"]
    intact = ablations[ablations.component == "none"].sort_values("id").exact_match.to_numpy()
    assert (intact == evaluated).all() and evaluated.mean() > 0.1  # trained: something to ablate
    # probes at 3 depths; the label is the answer's first character; the majority baseline is one class
    assert set(probes.target) == {"first_answer_token"}  # no world of globals in this dataset
    assert len(probes) == 120 * 3 and sorted(probes.depth.unique()) == [0, 1, 2]
    test = pq.read_table(data_dir / "test.parquet").to_pandas()
    first = test.set_index("id").answer.str[0]
    from thex.tokenizer import VOCAB
    assert (probes.label.map(lambda i: VOCAB[i]).to_numpy() == first.loc[probes.id].to_numpy()).all()
    assert probes.groupby("label").majority_correct.nunique().max() == 1
    with pytest.raises(SystemExit):
        main([*args, "--n-probe", "1"])
    assert "--n-probe 1: at least 2 items are needed" in capsys.readouterr().err


@pytest.mark.parametrize("language", ["lola", "meme"])
def test_every_character_has_exactly_one_role_from_the_parser(language):
    from thex.languages import lola, meme
    from thex.languages.program import Assign, BinOp, Global, Lit, Program, Var
    from thex.languages.roles import ROLES, character_roles

    program = Program((Assign(("apple", "red"), Lit(7)),
                       Assign(("cat",), BinOp("add", BinOp("mul", Var(("apple", "red")), Lit(3)), Global(("king", "x"))))),
                      Var(("cat",)))  # fmt: skip
    text = (lola if language == "lola" else meme).render(program)
    roles = character_roles(text, language)
    assert len(roles) == len(text) and set(roles) <= set(ROLES) - {"sep"}
    spans = {}
    for ch, role in zip(text, roles):
        spans.setdefault(role, []).append(ch)
    word = {"lola": ("appleRed", "KING_X", "print(cat);", "+*"), "meme": ("apple_red", "KING_X", "show cat", "addmul")}[language]
    assert "".join(spans["global"]) == word[1]
    assert "".join(spans["literal"]) == "73"
    assert "".join(spans["var_def"]) == word[0] + "cat" and "".join(spans["var_use"]) == word[0]
    assert "".join(spans["query"]) == word[2] and sorted("".join(spans["operator"])) == sorted(word[3])


def test_attention_weights_are_the_ones_the_mixer_uses_and_roles_sum_to_one(data_dir):
    from thex.probes import attention_roles

    model = tiny_model("gpt2")
    attn = model.blocks[0].mixer
    x = torch.randn(2, 9, 16)
    w = attn.attention_weights(x)  # (B, H, L, L)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 9))
    assert (w.triu(1) == 0).all()  # causal
    _, _, v = attn.qkv(x).split(16, dim=2)
    v = v.view(2, 9, 2, 8).transpose(1, 2)
    by_hand = attn.out_proj((w @ v).transpose(1, 2).reshape(2, 9, 16))
    torch.testing.assert_close(by_hand, attn(x), rtol=1e-5, atol=1e-6)
    table = attention_roles(model, TokenizedSplit.load(data_dir / "test.parquet"), CPU).to_pandas()
    assert len(table) == 2 * 2 * 8  # 2 attention blocks x 2 heads x 8 roles
    assert np.allclose(table.groupby(["block", "head"]).weight.sum(), 1.0)
    assert (table.n == 120).all()
    # an even head's weights: each role's share of the positions up to <sep>, the same for every head
    assert np.allclose(table.groupby(["block", "head"]).uniform.sum(), 1.0)
    assert table.groupby("role").uniform.nunique().max() == 1 and table.set_index(["block", "head", "role"]).uniform.loc[1, 0, "sep"] < 0.2
    assert attention_roles(tiny_model("hyena"), TokenizedSplit.load(data_dir / "test.parquet"), CPU).num_rows == 0


# --- the probe tables (thex/aggregate.py) --------------------------------------------------

def _identity(frame, seed):
    return frame.assign(experiment="globals", condition="with_globals", split="test", d_model=32, pos_emb="auto",
                        model="gpt2", arch="gpt2", lr=0.01, seed=seed)  # fmt: skip


def test_ablation_table_pairs_each_seed_with_its_own_intact_model():
    import pandas as pd
    from scipy import stats as scipy_stats

    from thex.aggregate import ablation_table

    intact = {0: [1, 1, 0], 1: [1, 0, 0]}
    ablated = {0: [0, 1, 0], 1: [0, 0, 0]}
    rows = []
    for seed in (0, 1):
        for i in range(3):
            rows.append({"id": i, "block": 0, "component": "none", "exact_match": intact[seed][i]})
            rows.append({"id": i, "block": 1, "component": "mixer", "exact_match": ablated[seed][i]})
    ablations = pd.concat([_identity(pd.DataFrame([r for r in rows[s * 6 : s * 6 + 6]]), s) for s in (0, 1)])
    evaluations = _identity(pd.DataFrame({"id": [0, 1, 2], "majority_correct": [True, False, False]}), 0)
    (row,) = ablation_table(ablations, evaluations).to_dict("records")
    assert (row["em_intact"], row["em_ablated"], row["drop"]) == (pytest.approx(0.5), pytest.approx(1 / 6), pytest.approx(1 / 3))
    # by hand: per (seed, item) drops [[1,0,0],[1,0,0]]: the seeds agree, so only the items vary
    half = scipy_stats.t.ppf(0.975, 2) * (np.var([1, 0, 0], ddof=1) / 3) ** 0.5
    assert row["drop_ci_low"] == pytest.approx(max(-1, 1 / 3 - half)) and row["drop_ci_high"] == pytest.approx(min(1, 1 / 3 + half))
    assert row["majority_baseline"] == pytest.approx(1 / 3) and (row["n_seeds"], row["n_items"]) == (2, 3)
    assert ablation_table(ablations.iloc[0:0], evaluations).empty


def test_probe_and_attention_tables():
    import pandas as pd

    from thex.aggregate import attention_table, probe_table

    probes = pd.concat([_identity(pd.DataFrame({"target": "first_answer_token", "id": [0, 1, 2, 3], "read": 0, "depth": 1, "label": [5, 5, 6, 7],
                                                "correct": correct, "majority_correct": [True, True, False, False]}), seed)
                        for seed, correct in ((0, [1, 1, 1, 0]), (1, [1, 0, 1, 0]))])  # fmt: skip
    (row,) = probe_table(probes).to_dict("records")
    assert row["accuracy"] == pytest.approx(5 / 8) and row["majority_baseline"] == pytest.approx(0.5)
    assert row["ci_low"] < 5 / 8 < row["ci_high"] and row["above_baseline"] is False
    heads = pd.DataFrame({"block": 1, "head": [0, 1, 0, 1], "role": ["global", "global", "literal", "literal"],
                          "weight": [0.6, 0.2, 0.4, 0.8], "weight_sd": 0.1, "n": 10, "uniform": [0.25, 0.25, 0.75, 0.75]})  # fmt: skip
    other = heads.assign(weight=[0.3, 0.3, 0.7, 0.7])
    table = attention_table(pd.concat([_identity(heads, 0), _identity(other, 1)])).set_index("role")
    assert table.loc["global", "weight"] == pytest.approx((0.4 + 0.3) / 2)  # mean over heads, then seeds
    assert table.loc["global", "top_head_weight"] == pytest.approx((0.6 + 0.3) / 2)  # each seed's most focused head
    assert table.loc["literal", "weight"] + table.loc["global", "weight"] == pytest.approx(1.0)
    assert table.loc["global", "weight_ci_low"] < 0.35 < table.loc["global", "weight_ci_high"]
    assert table.loc["global", "uniform_weight"] == 0.25 and table.loc["literal", "uniform_weight"] == 0.75
    assert attention_table(_identity(heads.drop(columns="uniform"), 0)).uniform_weight.isna().all()  # probed before it was recorded


def test_global_reads_sit_at_the_end_of_each_global_name_with_its_world_value(tmp_path):
    from thex.datasets import read_metadata
    from thex.probes import global_reads

    config = {"seed": 2, "programs": {"n_statements": [1, 3], "depth": [0, 1], "operators": ["add"], "modulus": 10,
                                      "name_words": [1, 1], "n_globals": 6, "p_global": 0.5, "languages": {"lola": 1.0, "meme": 1.0}},
              "splits": {"train": {"n": 200}}}  # fmt: skip
    generate_dataset(DatasetConfig.from_dict(config), tmp_path)
    world = read_metadata(tmp_path / "train.parquet")["world"]
    split = TokenizedSplit.load(tmp_path / "train.parquet")
    items, positions, labels = global_reads(split, world)
    prompts = split.table.column("prompt").to_pylist()
    # as many reads as global names in the texts, each at a name's last character
    assert len(items) == sum(sum(p.count(name) for name in world) for p in prompts) > 50
    import re

    for item, position, label in zip(items, positions, labels):
        text = prompts[item]
        name = re.search(r"[A-Z_]+$", text[: position + 1]).group()
        assert name in world and world[name] == label and not (position + 1 < len(text) and text[position + 1].isupper())
    # the prompt's characters are the sequence's first tokens: the same character there
    from thex.tokenizer import VOCAB

    for item, position in list(zip(items, positions))[:50]:
        assert VOCAB[split.ids[split.starts[item] + position]] == prompts[item][position]
