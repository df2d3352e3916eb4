"""LoLaMeMe reproduction: synthetic languages, GPT-2 / Hyena / THEX models, evaluation."""

__version__ = "0.1.0"
