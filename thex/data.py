"""Tokenized dataset splits and padded batches with answer / all-token target masks.

A sample is `prompt <sep> answer <eos>`. The model at position t predicts token t+1, so
the answer tokens (the digits and `<eos>`) are predicted at positions P .. P+A, where P is
the prompt length (position P holds `<sep>`) and A the number of answer digits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from thex import tokenizer
from thex.datasets import DatasetError, read_split

# Splits that are not evaluation sets: the model trains on one and validates on the other.
TRAINING_SPLITS = ("train", "valid")


@dataclass
class TokenizedSplit:
    """All sequences of a split in one flat array, with per-sample offsets."""

    name: str
    ids: np.ndarray  # (total tokens,) uint8: every sequence, back to back
    starts: np.ndarray  # (n,) int64: where each sequence begins in `ids`
    lengths: np.ndarray  # (n,) int64: tokens in each sequence
    answer_starts: np.ndarray  # (n,) int64: index of the first answer token within its sequence
    table: pa.Table  # the dataset rows (slice columns for the results)
    content_hash: str

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def max_len(self) -> int:
        return int(self.lengths.max()) if len(self) else 0

    @classmethod
    def load(cls, path: str | os.PathLike, name: str | None = None,
             rows: Callable[[pa.Table], Sequence[int]] | None = None) -> "TokenizedSplit":
        """The split at `path`; with `rows`, only the rows it picks from the split's table,
        in that order (tokenizing a 250,000-row train split for the 2,000 items a probe
        needs took most of a probe job)."""
        table, meta = read_split(path)
        row_numbers = np.arange(table.num_rows)
        if rows is not None:
            row_numbers = np.asarray(rows(table), dtype=np.int64)
            table = table.take(pa.array(row_numbers))
        pieces, lengths, answer_starts = [], [], []
        prompts = table.column("prompt").to_pylist()
        answers = table.column("answer").to_pylist()
        for i, (prompt, answer) in enumerate(zip(prompts, answers)):
            try:
                ids, answer_start = tokenizer.encode_sample(prompt, answer)
            except tokenizer.TokenizerError as err:
                raise DatasetError(f"{path}: row {row_numbers[i]}: {err}") from None
            pieces.append(ids.astype(np.uint8))
            lengths.append(len(ids))
            answer_starts.append(answer_start)
        lengths_arr = np.asarray(lengths, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64) if lengths else np.zeros(0, np.int64)
        return cls(
            name=name or Path(path).stem,
            ids=np.concatenate(pieces) if pieces else np.zeros(0, np.uint8),
            starts=starts,
            lengths=lengths_arr,
            answer_starts=np.asarray(answer_starts, dtype=np.int64),
            table=table,
            content_hash=meta["content_hash"],
        )

    def head(self, n: int) -> "TokenizedSplit":
        """The first `n` samples (a validation slice)."""
        return self.take(np.arange(min(n, len(self))))

    def take(self, indices: np.ndarray) -> "TokenizedSplit":
        """Samples `indices`, in that order (the probe set of thex/probes.py)."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        pieces = [self.ids[self.starts[i] : self.starts[i] + self.lengths[i]] for i in indices]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(indices) else np.zeros(0, np.int64)
        return TokenizedSplit(
            self.name, np.concatenate(pieces) if pieces else np.zeros(0, np.uint8), starts, lengths,
            self.answer_starts[indices], self.table.take(indices), self.content_hash,
        )

    def batch(self, indices: np.ndarray | list[int]) -> "Batch":
        """Samples `indices`, right-padded to the longest of them."""
        indices = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[indices]
        width = int(lengths.max())
        ids = np.full((len(indices), width), tokenizer.PAD_ID, dtype=np.int64)
        for row, i in enumerate(indices):
            ids[row, : lengths[row]] = self.ids[self.starts[i] : self.starts[i] + lengths[row]]
        return Batch.from_padded(torch.from_numpy(ids), torch.from_numpy(lengths), torch.from_numpy(self.answer_starts[indices]))


@dataclass
class Batch:
    """Inputs and next-token targets with their masks; all (B, L-1) but `lengths`."""

    inputs: torch.Tensor  # (B, L-1) token ids at positions 0..L-2
    targets: torch.Tensor  # (B, L-1) the token that follows each input position
    answer_mask: torch.Tensor  # (B, L-1) bool: target is an answer digit or <eos>
    all_mask: torch.Tensor  # (B, L-1) bool: target is a real (non-pad) token
    lengths: torch.Tensor  # (B,) sequence lengths

    @classmethod
    def from_padded(cls, ids: torch.Tensor, lengths: torch.Tensor, answer_starts: torch.Tensor) -> "Batch":
        positions = torch.arange(ids.shape[1] - 1)[None, :]  # (1, L-1): the position predicting t+1
        all_mask = positions < (lengths - 1)[:, None]
        answer_mask = all_mask & (positions >= (answer_starts - 1)[:, None])
        return cls(ids[:, :-1], ids[:, 1:], answer_mask, all_mask, lengths)

    def to(self, device: torch.device) -> "Batch":
        return Batch(*(t.to(device, non_blocking=True) for t in (self.inputs, self.targets, self.answer_mask, self.all_mask, self.lengths)))

    @property
    def n_tokens(self) -> int:
        return int(self.lengths.sum())


def masked_losses(logits: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy over answer targets, mean over all targets) of a batch."""
    per_token = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), batch.targets.reshape(-1), reduction="none"
    ).view(batch.targets.shape)  # (B, L-1)
    answer = (per_token * batch.answer_mask).sum() / batch.answer_mask.sum().clamp(min=1)
    every = (per_token * batch.all_mask).sum() / batch.all_mask.sum().clamp(min=1)
    return answer, every


def dataset_splits(data_dir: str | os.PathLike) -> dict[str, Path]:
    """The Parquet splits in a dataset directory, by name."""
    data_dir = Path(data_dir)
    paths = {p.stem: p for p in sorted(data_dir.glob("*.parquet"))}
    if not paths:
        raise DatasetError(f"{data_dir}: no dataset splits (*.parquet) found")
    return paths


def evaluation_splits(data_dir: str | os.PathLike) -> dict[str, Path]:
    """Every split but train and valid: the ones results are reported on."""
    splits = {name: p for name, p in dataset_splits(data_dir).items() if name not in TRAINING_SPLITS}
    if not splits:
        raise DatasetError(f"{data_dir}: no evaluation split (any split but {', '.join(TRAINING_SPLITS)})")
    return splits
