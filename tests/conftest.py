"""Shared test settings: one torch thread (tiny models run fastest so, and results are
reproducible whatever the machine's core count)."""

import torch

torch.set_num_threads(1)
