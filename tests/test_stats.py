"""The intervals and tests of thex.stats hold their nominal level with few seeds."""

from __future__ import annotations

import numpy as np
import pytest

from thex.stats import em_interval, holm, paired_difference


def _item_population(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-item chance of being right, like our test splits: many items nearly always right
    or wrong (a 0 answer, an easy program), the rest in between."""
    kind = rng.random(n)
    return np.where(kind < 0.25, 0.97, np.where(kind < 0.5, 0.03, rng.beta(2, 2, n)))


def _seed_outcomes(rng, p_items: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """(seeds, items) 0/1 outcomes: each seed moves every item's chance by its shift."""
    p = np.clip(p_items[None, :] + shifts[:, None], 0, 1)
    return (rng.random(p.shape) < p).astype(np.float64)


def _true_mean(p_population: np.ndarray, shift_sd: float) -> float:
    """E over the item population and seeds of the chance of being right (the clip makes
    it not just the mean of the items), by Gauss-Hermite quadrature over the shift."""
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    shifts = np.sqrt(2) * shift_sd * nodes
    per_shift = np.array([np.clip(p_population + shift, 0, 1).mean() for shift in shifts])
    return float(weights @ per_shift / np.sqrt(np.pi))


@pytest.mark.parametrize("n_seeds", [3, 4])
@pytest.mark.parametrize("seed_sd", [0.05, 0.10, 0.15])
def test_exact_match_interval_covers_the_true_mean_with_few_seeds(n_seeds, seed_sd):
    rng = np.random.default_rng(1000 * n_seeds + int(100 * seed_sd))
    population = _item_population(rng, 200_000)
    truth = _true_mean(population, seed_sd)
    trials, covered = 400, 0
    for _ in range(trials):
        items = rng.choice(population, 1000)  # a test split drawn from the population
        matrix = _seed_outcomes(rng, items, rng.normal(0, seed_sd, n_seeds))
        _, low, high = em_interval(matrix)
        covered += low <= truth <= high
    assert covered / trials >= 0.90, f"nominal 95% interval covered {covered / trials:.1%}"


@pytest.mark.parametrize("seed_sd", [0.05, 0.15])
def test_paired_difference_covers_the_true_difference_with_three_seeds(seed_sd):
    rng = np.random.default_rng(int(1000 * seed_sd))
    population = _item_population(rng, 200_000)
    gain = 0.06  # model A is right more often on every item
    truth = _true_mean(np.clip(population + gain, 0, 1), seed_sd) - _true_mean(population, seed_sd)
    trials, covered = 400, 0
    for _ in range(trials):
        items = rng.choice(population, 1000)
        a = _seed_outcomes(rng, np.clip(items + gain, 0, 1), rng.normal(0, seed_sd, 3))
        b = _seed_outcomes(rng, items, rng.normal(0, seed_sd, 3))
        result = paired_difference(a, b)
        covered += result.ci_low <= truth <= result.ci_high
    assert covered / trials >= 0.90, f"nominal 95% interval covered {covered / trials:.1%}"


def test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(7)
    for _ in range(50):
        a = (rng.random((3, 300)) < rng.uniform(0.3, 0.7)).astype(float)
        b = (rng.random((3, 300)) < rng.uniform(0.3, 0.7)).astype(float)
        result = paired_difference(a, b)
        excludes_zero = result.ci_low > 0 or result.ci_high < 0
        assert excludes_zero == (result.p_value < 0.05)


def test_holm_matches_the_step_down_procedure():
    # Sorted p 0.01, 0.02, 0.04, 0.3 in a family of 4: 0.04, 0.06, 0.08, 0.3 (monotone).
    assert holm([0.04, 0.01, 0.3, 0.02]).tolist() == pytest.approx([0.08, 0.04, 0.3, 0.06])
    assert holm([0.5, 0.5]).tolist() == [1.0, 1.0]
    adjusted = holm([0.01, np.nan, 0.02])  # NaN is not a member of the family
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)
