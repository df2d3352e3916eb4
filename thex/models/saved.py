"""The files a trained model leaves: model.safetensors (weights) and model.json (what
builds it: model config, blocks, and the weights' SHA-256). Loading never unpickles."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model as load_weights
from safetensors.torch import save_model as save_weights

from thex.config import from_dict
from thex.errors import ThexError
from thex.io import atomic_path, sha256_file, shown_path, write_json
from thex.models.config import HyenaSettings, ModelConfig
from thex.models.lm import build_model


class ModelFileError(ThexError):
    """A model or checkpoint file cannot be written or read, or is damaged."""


def write_safetensors(save: Callable[[Any, str], None], what: Any, path: Path) -> None:
    """safetensors' save_file / save_model, whose write errors (a full disk) are not OSErrors."""
    try:
        save(what, str(path))
    except SafetensorError as err:
        raise ModelFileError(f"{path}: cannot write ({err})") from None


def save_model(out_dir: Path, model: torch.nn.Module, sidecar: dict[str, Any]) -> None:
    """Write model.safetensors, then model.json (`sidecar` + the weights' SHA-256)."""
    with atomic_path(out_dir / "model.safetensors") as tmp:
        write_safetensors(save_weights, model, tmp)
        weights_sha256 = sha256_file(tmp)
    write_json(out_dir / "model.json", {**sidecar, "weights_sha256": weights_sha256})


def _current_model_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved model_config in today's form: models saved before mixers carried their own
    settings have Hyena's keys at its top level, which now live under mixers.hyena."""
    hyena_keys = {field.name for field in dataclasses.fields(HyenaSettings)}
    flat = {key: value for key, value in saved.items() if key in hyena_keys}
    if not flat:
        return saved
    mixers = dict(saved.get("mixers", {}))
    mixers["hyena"] = {**flat, **mixers.get("hyena", {})}
    return {**{key: value for key, value in saved.items() if key not in hyena_keys}, "mixers": mixers}


def load_model(model_dir: str | os.PathLike, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A trained model from `model_dir` (model.json + model.safetensors), in eval mode."""
    model_dir = Path(model_dir)
    try:
        sidecar = json.loads((model_dir / "model.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{model_dir / 'model.json'}: cannot read the model description ({err})") from None
    model = build_model(from_dict(ModelConfig, _current_model_config(sidecar["model_config"]), "model"), sidecar["blocks"]).to(device)
    weights = model_dir / "model.safetensors"
    expected = sidecar.get("weights_sha256")  # models saved by earlier versions have none
    if expected is not None and weights.exists() and sha256_file(weights) != expected:
        raise ModelFileError(
            f"{weights}: damaged (its SHA-256 differs from the one recorded in model.json when it was saved); retrain "
            f"this job with `snakemake --forcerun {shown_path(weights)}` (and your --configfile), which reruns its evaluation too"
        )
    try:
        load_weights(model, str(weights), strict=True, device=str(device))
    except (OSError, SafetensorError, RuntimeError, ValueError) as err:
        raise ModelFileError(f"{model_dir / 'model.safetensors'}: cannot load the weights ({err})") from None
    model.eval()
    return model, sidecar
