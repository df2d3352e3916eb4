"""Exact match, token accuracy and answer loss per sample, in one teacher-forced pass.

Greedy decoding reproduces the gold answer (its digits and `<eos>`) exactly if and only
if, under teacher forcing, the argmax at every answer position is the gold token: both
see the same prefix at each answer position as long as every earlier argmax was right.
So exact match needs one batched forward pass instead of one pass per generated token;
`greedy_exact_match` is the slow reference the tests and the benchmark compare against.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from thex import tokenizer
from thex.data import Batch, TokenizedSplit, evaluation_splits
from thex.io import atomic_path, write_json
from thex.models.lm import model_precision

# Dataset columns that are not carried into the results (the text itself).
_TEXT_COLUMNS = ("prompt", "answer")


def _batches_by_length(split: TokenizedSplit, max_tokens: int) -> list[np.ndarray]:
    """Sample indices grouped into batches of similar length, at most `max_tokens` padded tokens."""
    batches, current = [], []
    for i in np.argsort(split.lengths, kind="stable"):  # ascending, so the newest is the widest
        if current and int(split.lengths[i]) * (len(current) + 1) > max_tokens:
            batches.append(np.asarray(current))
            current = []
        current.append(i)
    if current:
        batches.append(np.asarray(current))
    return batches


def answer_correct(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """(B, L-1) bool: the answer targets the model's most likely token gets right."""
    return (logits.argmax(dim=-1) == batch.targets) & batch.answer_mask


def exact_matches(correct: torch.Tensor, batch: Batch) -> torch.Tensor:
    """(B,) bool: a sample is an exact match when all of its answer targets are right."""
    return correct.sum(dim=1) == batch.answer_mask.sum(dim=1)


@torch.no_grad()
def score_split(
    model: torch.nn.Module, split: TokenizedSplit, device: torch.device, max_tokens: int = 16384
) -> dict[str, np.ndarray]:
    """Per-sample exact_match, token_accuracy and answer_loss, in the split's row order."""
    was_training = model.training
    model.eval()
    n = len(split)
    exact = np.zeros(n, dtype=bool)
    accuracy = np.zeros(n, dtype=np.float64)
    loss = np.zeros(n, dtype=np.float64)
    for indices in _batches_by_length(split, max_tokens):
        batch = split.batch(indices).to(device)
        with model_precision(device):
            logits = model(batch.inputs)  # (B, L-1, vocab)
        per_token = torch.nn.functional.cross_entropy(
            logits.float().transpose(1, 2), batch.targets, reduction="none"
        )  # (B, L-1)
        correct = answer_correct(logits, batch)
        n_answer = batch.answer_mask.sum(dim=1)  # (B,)
        exact[indices] = exact_matches(correct, batch).cpu().numpy()
        accuracy[indices] = (correct.sum(dim=1) / n_answer).cpu().numpy()
        loss[indices] = ((per_token * batch.answer_mask).sum(dim=1) / n_answer).cpu().numpy()
    model.train(was_training)
    return {"exact_match": exact, "token_accuracy": accuracy, "answer_loss": loss}


@torch.no_grad()
def greedy_exact_match(model: torch.nn.Module, split: TokenizedSplit, device: torch.device, batch_size: int = 64) -> np.ndarray:
    """Exact match by real greedy decoding: generate after `prompt <sep>` until `<eos>` (or
    one token past the gold length) and compare with `answer <eos>`. Prompts of equal
    length are decoded together."""
    exact = np.zeros(len(split), dtype=bool)
    prompt_lengths = split.answer_starts  # prompt + <sep>
    for length in np.unique(prompt_lengths):
        same = np.flatnonzero(prompt_lengths == length)
        for chunk in np.array_split(same, max(1, -(-len(same) // batch_size))):
            gold = [split.ids[split.starts[i] + length : split.starts[i] + split.lengths[i]] for i in chunk]
            prompts = np.stack([split.ids[split.starts[i] : split.starts[i] + length] for i in chunk]).astype(np.int64)
            longest = max(len(g) for g in gold)
            with model_precision(device):  # the precision of score_split
                out = model.generate_greedy(
                    torch.from_numpy(prompts).to(device), max_new_tokens=longest, eos_id=tokenizer.EOS_ID
                )[:, length:].cpu().numpy()
            for row, (i, g) in enumerate(zip(chunk, gold)):
                produced = out[row]
                stop = np.flatnonzero(produced == tokenizer.EOS_ID)
                produced = produced[: stop[0] + 1] if len(stop) else produced
                exact[i] = len(produced) == len(g) and bool((produced == g).all())
    return exact


def evaluate_model(
    model: torch.nn.Module, data_dir: str | os.PathLike, device: torch.device, max_tokens: int = 16384
) -> tuple[pa.Table, dict[str, Any]]:
    """Score every evaluation split of a dataset directory: one row per sample."""
    tables, per_split = [], {}
    start = time.perf_counter()
    for name, path in evaluation_splits(data_dir).items():
        split = TokenizedSplit.load(path, name)
        scores = score_split(model, split, device, max_tokens)
        rows = split.table.drop_columns(list(_TEXT_COLUMNS))
        for column, values in scores.items():
            rows = rows.append_column(column, pa.array(values))
        tables.append(rows)
        per_split[name] = {
            "n": len(split),
            "exact_match": float(scores["exact_match"].mean()),
            "token_accuracy": float(scores["token_accuracy"].mean()),
            "answer_loss": float(scores["answer_loss"].mean()),
            "content_hash": split.content_hash,
        }
    return pa.concat_tables(tables), {"splits": per_split, "eval_wall_s": time.perf_counter() - start}


def write_results(table: pa.Table, summary: dict[str, Any], out: str | os.PathLike, summary_out: str | os.PathLike) -> None:
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    write_json(summary_out, summary)
