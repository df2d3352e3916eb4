"""What a trained model computes inside: block ablations and linear probes.

Ablation. A block's mixer output, or separately its MLP output, is replaced by a constant
before it is added to the residual stream: its mean over the probe set (mean ablation: the
block still writes what it writes on average, only its dependence on the input is removed)
or zero (zero ablation). Exact match is then scored on every evaluation split by the rule
evaluation uses (thex.evaluation.exact_matches), per item, so that each drop is paired
item by item with the intact model's score.

Linear probes. The residual stream after the embedding and after every block (before the
final LayerNorm) is read by a multinomial logistic regression (scikit-learn, on
standardised features) fit on the probe set and scored on each evaluation split, for two
targets: at the position that predicts the first answer token (the `<sep>` position, P - 1
in thex/data.py's terms), that token (`first_answer_token`); and, in datasets with a world
of globals, at the last character of every global's name in a program, the global's value
(`global_value`): whether the model has looked up the value where the name is read.

Attention roles. For every head of every attention block, the attention weight from that
position to each role of the program's characters (thex/languages/roles.py: a global's
name, a literal, a variable at its definition and at its use, an operator, syntax, the
query statement, `<sep>` itself), summed over the role's positions; per item the roles'
weights sum to 1. Programs of LoLa and MeMe only (ListOps has no such roles).

The probe set is the first `n_probe` items of the train split whose program appears in no
evaluation split (`probe_items`): the probes never train on a test item.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from thex.data import TokenizedSplit, evaluation_splits
from thex.errors import ThexError
from thex.evaluation import _batches_by_length, answer_correct, exact_matches
from thex.datasets import read_metadata
from thex.languages.roles import ROLES, character_roles, global_spans
from thex.models.lm import model_precision

COMPONENTS = ("mixer", "mlp")
ABLATIONS = ("mean", "zero")


class ProbeError(ThexError, ValueError):
    """A probe that cannot be run as asked (e.g. test items in the probe set)."""


def _component(model: torch.nn.Module, block: int, component: str) -> torch.nn.Module:
    return getattr(model.blocks[block], component)


@torch.no_grad()
def component_means(model: torch.nn.Module, split: TokenizedSplit, device: torch.device,
                    max_tokens: int = 16384) -> dict[tuple[int, str], torch.Tensor]:
    """Mean output (d,) of every block's mixer and MLP over the real (non-pad) input
    positions of `split`: the constants of mean ablation."""
    sums: dict[tuple[int, str], torch.Tensor] = {}
    count = 0
    mask = None  # (B, L-1) real positions of the batch being run

    def accumulate(key):
        def hook(module, args, output):
            total = (output.float() * mask[..., None]).sum(dim=(0, 1))  # (d,)
            sums[key] = sums.get(key, 0) + total
        return hook

    handles = [_component(model, b, c).register_forward_hook(accumulate((b, c)))
               for b in range(len(model.blocks)) for c in COMPONENTS]
    was_training = model.training
    model.eval()
    try:
        for indices in _batches_by_length(split, max_tokens):
            batch = split.batch(indices).to(device)
            mask = batch.all_mask.float()
            count += int(batch.all_mask.sum())
            with model_precision(device):
                model(batch.inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {key: total / count for key, total in sums.items()}


@contextlib.contextmanager
def ablated(model: torch.nn.Module, replacements: Mapping[tuple[int, str], torch.Tensor]) -> Iterator[None]:
    """Within the context, each (block, component) of `replacements` outputs its constant
    (d,) at every position instead of what it computes."""
    def constant(value):
        return lambda module, args, output: value.to(output.dtype).expand_as(output)

    handles = [_component(model, b, c).register_forward_hook(constant(v)) for (b, c), v in replacements.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def ablation_scores(model: torch.nn.Module, splits: Mapping[str, TokenizedSplit], device: torch.device,
                    means: Mapping[tuple[int, str], torch.Tensor], kind: str = "mean",
                    max_tokens: int = 16384) -> pa.Table:
    """Exact match per item of every split: intact (block 0, component "none") and with
    each block's mixer and MLP ablated in turn (blocks numbered from 1). An ablation of
    block k runs blocks k.. from the residual stream that enters block k, computed once per
    batch with the model intact (blocks before k are not touched by it): the scores of the
    full forward with the ablation, from 24 block passes instead of 36 with 4 blocks."""
    if kind not in ABLATIONS:
        raise ProbeError(f"ablation {kind!r}: expected one of {', '.join(ABLATIONS)}")
    ablations = [(block, component, mean if kind == "mean" else torch.zeros_like(mean))
                 for (block, component), mean in sorted(means.items())]
    columns: dict[str, list] = {"split": [], "id": [], "block": [], "component": [], "exact_match": []}
    was_training = model.training
    model.eval()
    try:
        for name, split in splits.items():
            exact = np.zeros((1 + len(ablations), len(split)), dtype=bool)  # (conditions, items)
            for indices in _batches_by_length(split, max_tokens):
                batch = split.batch(indices).to(device)
                with model_precision(device):
                    stream = model.residual_stream(batch.inputs)  # n_layer + 1 of (B, L-1, d)
                    logits = [model.head(model.ln_f(stream[-1])).float()]
                    for block, component, value in ablations:
                        with ablated(model, {(block, component): value}):
                            x = stream[block]  # what enters block `block` (0-based)
                            for later in model.blocks[block:]:
                                x = later(x)
                        logits.append(model.head(model.ln_f(x)).float())
                for k, condition_logits in enumerate(logits):
                    exact[k, indices] = exact_matches(answer_correct(condition_logits, batch), batch).cpu().numpy()
            ids = split.table.column("id").to_pylist()
            for k, (block, component) in enumerate([(0, "none")] + [(b + 1, c) for b, c, _ in ablations]):
                columns["split"] += [name] * len(split)
                columns["id"] += ids
                columns["block"] += [block] * len(split)
                columns["component"] += [component] * len(split)
                columns["exact_match"] += exact[k].tolist()
    finally:
        model.train(was_training)
    return pa.table(columns)


@torch.no_grad()
def residuals_at(model: torch.nn.Module, split: TokenizedSplit, items: np.ndarray, positions: np.ndarray,
                 device: torch.device, max_tokens: int = 16384) -> np.ndarray:
    """The residual stream of item `items[k]` at input position `positions[k]`, after the
    embedding and every block: (n_layer + 1, len(items), d) float32."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(model.blocks) + 1, len(items), model.cfg.d_model), dtype=np.float32)
    for indices in _batches_by_length(split, max_tokens):
        wanted = np.flatnonzero(np.isin(items, indices))  # the reads that fall in this batch
        if not len(wanted):
            continue
        batch = split.batch(indices).to(device)
        row_of = {int(i): r for r, i in enumerate(indices)}
        rows = torch.as_tensor([row_of[int(items[k])] for k in wanted], device=device)
        at = torch.as_tensor(positions[wanted], device=device)
        with model_precision(device):
            stream = model.residual_stream(batch.inputs)
        for d, x in enumerate(stream):
            out[d, wanted] = x[rows, at].float().cpu().numpy()  # (reads, d_model)
    model.train(was_training)
    return out


def answer_reads(split: TokenizedSplit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, positions, labels) of the first-answer-token probe: every item at its `<sep>`
    position, labelled with the answer's first token id."""
    items = np.arange(len(split))
    labels = split.ids[split.starts + split.answer_starts].astype(np.int64)
    return items, split.answer_starts - 1, labels


def global_reads(split: TokenizedSplit, world: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, positions, labels) of the global-value probe: every global's name in every
    LoLa/MeMe program, at the name's last character, labelled with its value in `world`."""
    items, positions, labels = [], [], []
    prompts = split.table.column("prompt").to_pylist()
    languages = split.table.column("language").to_pylist()
    for i, (prompt, language) in enumerate(zip(prompts, languages)):
        if language not in ("lola", "meme"):
            continue
        for _, end, name in global_spans(prompt, language):
            items.append(i)
            positions.append(end - 1)  # the prompt's characters are its first tokens
            labels.append(world[name])
    return np.asarray(items, dtype=np.int64), np.asarray(positions, dtype=np.int64), np.asarray(labels, dtype=np.int64)


def fit_probe(features: np.ndarray, labels: np.ndarray, seed: int = 0):
    """A multinomial logistic regression on standardised features. One BLAS thread: these
    fits are small, and BLAS threads competing with the workflow's other jobs for the
    cores made one 200 times slower (10 s instead of 0.05 s, measured)."""
    if len(np.unique(labels)) < 2:
        raise ProbeError("the probe set has one answer only: nothing to classify")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    with threadpool_limits(1):
        return probe.fit(features, labels)


def probe_scores(model: torch.nn.Module, probe_set: TokenizedSplit, splits: Mapping[str, TokenizedSplit],
                 device: torch.device, world: Mapping[str, int] | None = None) -> pa.Table:
    """Per probe target, depth (0: after the embedding, k: after block k), split and read
    (an item, and for `global_value` one of its globals: `read` numbers them within the
    item): whether the probe fit on `probe_set` predicts the label; with the label and
    whether the probe set's most frequent label (the majority baseline) is it."""
    targets = {"first_answer_token": answer_reads}
    if world:
        targets["global_value"] = lambda split: global_reads(split, world)

    def read_all(split: TokenizedSplit) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per target (residuals (depth, reads, d), items, labels): one forward pass of the
        split serves every target."""
        reads = {target: read(split) for target, read in targets.items()}
        x = residuals_at(model, split, np.concatenate([r[0] for r in reads.values()]),
                         np.concatenate([r[1] for r in reads.values()]), device)  # fmt: skip
        bounds = np.cumsum([0] + [len(r[0]) for r in reads.values()])
        return {target: (x[:, lo:hi], items, labels) for (target, (items, _, labels)), lo, hi in zip(reads.items(), bounds, bounds[1:])}

    columns: dict[str, list] = {"target": [], "split": [], "id": [], "read": [], "depth": [], "label": [], "correct": [],
                                "majority_correct": []}  # fmt: skip
    probe_reads = read_all(probe_set)
    test_reads = {name: read_all(split) for name, split in splits.items()}
    for target, (train_x, _, labels) in probe_reads.items():
        if len(np.unique(labels)) < 2:
            continue  # nothing to classify (e.g. no global read in the probe set)
        values, counts = np.unique(labels, return_counts=True)
        majority = int(values[np.argmax(counts)])
        probes = [fit_probe(train_x[d], labels) for d in range(train_x.shape[0])]
        for name, split in splits.items():
            test_x, test_items, test_labels = test_reads[name][target]
            if not len(test_items):
                continue
            ids = np.asarray(split.table.column("id").to_pylist())[test_items]
            read = np.zeros(len(test_items), dtype=np.int64)
            for k in range(1, len(test_items)):  # the k-th read of its item
                read[k] = read[k - 1] + 1 if test_items[k] == test_items[k - 1] else 0
            for d, probe in enumerate(probes):
                with threadpool_limits(1):
                    predicted = probe.predict(test_x[d])
                columns["target"] += [target] * len(test_items)
                columns["split"] += [name] * len(test_items)
                columns["id"] += ids.tolist()
                columns["read"] += read.tolist()
                columns["depth"] += [d] * len(test_items)
                columns["label"] += test_labels.tolist()
                columns["correct"] += (predicted == test_labels).tolist()
                columns["majority_correct"] += (test_labels == majority).tolist()
    return pa.table(columns)


def attention_blocks(model: torch.nn.Module) -> list[int]:
    """The (0-based) blocks whose mixer has attention weights to read (the mixer contract's
    `attention_weights`), whatever the mixer is called."""
    return [i for i, block in enumerate(model.blocks) if callable(getattr(block.mixer, "attention_weights", None))]


@torch.no_grad()
def attention_roles(model: torch.nn.Module, split: TokenizedSplit, device: torch.device,
                    max_tokens: int = 16384) -> pa.Table:
    """Per attention block (numbered from 1), head and role: the mean over the split's
    items of the weight the `<sep>` position gives the role, its SD over items, the number
    of items, and `uniform`: the weight a head attending evenly to positions 0..<sep> would
    give the role (its share of those positions; what a weight is compared with). No rows
    for a model without attention or a split that is not LoLa/MeMe."""
    attention = attention_blocks(model)
    languages = split.table.column("language").to_pylist()
    if not attention or not set(languages) <= {"lola", "meme"}:
        return pa.table({"block": pa.array([], pa.int64()), "head": pa.array([], pa.int64()), "role": pa.array([], pa.string()),
                         "weight": pa.array([], pa.float64()), "weight_sd": pa.array([], pa.float64()), "n": pa.array([], pa.int64()),
                         "uniform": pa.array([], pa.float64())})
    prompts = split.table.column("prompt").to_pylist()
    role_index = {role: k for k, role in enumerate(ROLES)}
    n_head = model.blocks[attention[0]].mixer.n_head
    weights = np.zeros((len(attention), n_head, len(split), len(ROLES)))  # (blocks, heads, items, roles)
    uniform = np.zeros((len(split), len(ROLES)))  # (items, roles): each role's share of positions 0..<sep>
    inputs: dict[int, torch.Tensor] = {}
    handles = [model.blocks[b].mixer.register_forward_pre_hook(lambda m, args, b=b: inputs.__setitem__(b, args[0]))
               for b in attention]
    was_training = model.training
    model.eval()
    try:
        for indices in _batches_by_length(split, max_tokens):
            batch = split.batch(indices).to(device)
            with model_precision(device):
                model(batch.inputs)
            # one weight matrix per block and batch: causal, so a row's weights up to <sep>
            # do not see the padding after it
            batch_weights = [model.blocks[b].mixer.attention_weights(inputs[b].float()).double().cpu().numpy()
                             for b in attention]  # each (B, H, L, L)
            for row, i in enumerate(indices):
                sep = int(split.answer_starts[i]) - 1  # the position predicting the answer
                roles = [role_index[r] for r in character_roles(prompts[i], languages[i])] + [role_index["sep"]]
                one_hot = np.eye(len(ROLES))[roles]  # (sep + 1, roles)
                uniform[i] = one_hot.mean(axis=0)
                for k, w in enumerate(batch_weights):
                    weights[k, :, i] = w[row, :, sep, : sep + 1] @ one_hot  # (H, roles)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    columns: dict[str, list] = {"block": [], "head": [], "role": [], "weight": [], "weight_sd": [], "n": [], "uniform": []}
    for k, b in enumerate(attention):
        for h in range(n_head):
            for r, role in enumerate(ROLES):
                values = weights[k, h, :, r]
                columns["block"].append(b + 1)
                columns["head"].append(h)
                columns["role"].append(role)
                columns["weight"].append(float(values.mean()))
                columns["weight_sd"].append(float(values.std(ddof=1)) if len(values) > 1 else 0.0)
                columns["n"].append(len(values))
                columns["uniform"].append(float(uniform[:, r].mean()))
    return pa.table(columns)


def probe_items(train_path: str | os.PathLike, evaluation: Iterable[TokenizedSplit], n: int) -> TokenizedSplit:
    """The first `n` train items whose program is in no evaluation split (train is disjoint
    from test where the dataset says so; memorization's test splits repeat train programs
    on purpose, and those are left out of the probe set); only those are tokenized."""
    held_out = set()
    for split in evaluation:
        held_out.update(split.table.column("prompt").to_pylist())

    def first_outside(table: pa.Table) -> list[int]:
        keep = [i for i, prompt in enumerate(table.column("prompt").to_pylist()) if prompt not in held_out][:n]
        if len(keep) < 2:
            raise ProbeError(f"the train split has {len(keep)} items outside the evaluation splits: no probe set")
        return keep

    return TokenizedSplit.load(train_path, "train", rows=first_outside)


def probe_run(model: torch.nn.Module, data_dir: str | os.PathLike, device: torch.device, n_probe: int = 2000,
              ablation: str = "mean") -> tuple[pa.Table, pa.Table, pa.Table, dict[str, Any]]:
    """Ablation, probe and attention-role tables of one trained model on a dataset
    directory, with timings."""
    start = time.perf_counter()
    splits = {name: TokenizedSplit.load(path, name) for name, path in evaluation_splits(data_dir).items()}
    probe_set = probe_items(os.path.join(data_dir, "train.parquet"), splits.values(), n_probe)
    means = component_means(model, probe_set, device)
    ablations = ablation_scores(model, splits, device, means, ablation)
    ablation_s = time.perf_counter() - start
    world = read_metadata(os.path.join(data_dir, "train.parquet")).get("world")
    probes = probe_scores(model, probe_set, splits, device, world)
    probe_s = time.perf_counter() - start - ablation_s
    attention = pa.concat_tables(
        [_with_split(attention_roles(model, split, device), name) for name, split in splits.items()]
    )
    info = {"n_probe": len(probe_set), "ablation": ablation, "ablation_s": ablation_s, "probe_s": probe_s,
            "attention_s": time.perf_counter() - start - ablation_s - probe_s}
    return ablations, probes, attention, info


def _with_split(table: pa.Table, name: str) -> pa.Table:
    return table.add_column(0, "split", pa.array([name] * table.num_rows, pa.string()))
