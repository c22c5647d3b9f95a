"""Statistics over seeds: summaries with Student-t confidence intervals and paired comparisons.

Runs of different policies with the same seed share the model initialisation and batch order (``ChildRun``
seeds both), so policies are compared *paired by seed*: the per-seed differences are tested with a paired t-test
(``scipy.stats.ttest_rel``) and their mean gets a percentile bootstrap CI (resampling seeds with replacement).
With the handful of seeds a CPU benchmark affords, both are reported because neither is reliable alone: the
t-test assumes roughly normal differences, the bootstrap is coarse with five values. A report compares many
policies against one baseline, so ``holm`` adjusts each metric's p-values for that family (Holm 1979; scipy
offers only false-discovery-rate control, which answers a different question).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as sps

__all__ = ["ALPHA", "holm", "paired_comparison", "replicated_difference", "replicated_effect", "summarize"]

ALPHA = 0.05  # significance level used in reports


def summarize(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean, sample std (ddof=1), and the Student-t CI of the mean over ``values`` (NaNs dropped).

    With one value the std and CI are NaN (not zero: one seed says nothing about spread).
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        nan = float("nan")
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan, "half_width": nan}
    mean = float(x.mean())
    if n == 1:
        nan = float("nan")
        return {"n": 1, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan, "half_width": nan}
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "half_width": half}


def paired_comparison(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_boot: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict[str, float | bool | int]:
    """Compare ``a`` against ``b`` paired by position (same seed): differences ``d = a - b``.

    Returns ``n``, ``mean_diff``, ``t``, ``p_value`` (two-sided paired t-test), ``boot_low``/``boot_high``
    (percentile bootstrap CI of the mean difference, ``n_boot`` resamples, seeded), and ``significant``
    (``p_value < alpha``). With fewer than two pairs, or all differences equal, the t-test is undefined:
    p is NaN (or 1.0 when every difference is exactly zero) and ``significant`` is False.
    """
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs equal lengths (one value per seed), got {len(a)} and {len(b)}")
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a_arr - b_arr)  # a seed missing on either side drops the pair
    a_arr, b_arr = a_arr[keep], b_arr[keep]
    d = a_arr - b_arr
    n = int(d.size)
    nan = float("nan")
    out: dict[str, float | bool | int] = {
        "n": n,
        "mean_diff": float(d.mean()) if n else nan,
        "t": nan,
        "p_value": nan,
        "boot_low": nan,
        "boot_high": nan,
        "significant": False,
    }
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    out["boot_low"], out["boot_high"] = (float(v) for v in np.percentile(means, [tail, 100 - tail]))
    if n < 2:
        return out
    if np.all(d == d[0]):
        out["p_value"] = 1.0 if d[0] == 0 else nan
        return out
    result = sps.ttest_rel(a_arr, b_arr)
    out["t"], out["p_value"] = float(result.statistic), float(result.pvalue)
    out["significant"] = bool(out["p_value"] < alpha)
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order: the i-th smallest of m p-values becomes
    max over j <= i of min(1, (m - j + 1) p_(j)). NaN p-values (undefined tests) stay NaN and do not count in m.
    Rejecting where the adjusted p < alpha controls the family-wise error rate at alpha."""
    values = [float(p) for p in p_values]
    finite = sorted((p, i) for i, p in enumerate(values) if math.isfinite(p))
    adjusted = [float("nan")] * len(values)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[i] = running
    return adjusted


def _search_gains(per_search: Sequence[Mapping[int, float]], reference: Mapping[int, float]) -> list[float]:
    """Each search's mean paired gain over ``reference``: the mean over the test seeds both have of
    ``acc[seed] - reference[seed]`` (a seed missing on either side is left out of that search's mean)."""
    gains = []
    for accs in per_search:
        d = [accs[s] - reference[s] for s in accs if s in reference and math.isfinite(accs[s] - reference[s])]
        if d:
            gains.append(float(np.mean(d)))
    return gains


def replicated_effect(
    per_search: Sequence[Mapping[int, float]], reference: Mapping[int, float], confidence: float = 0.95
) -> dict[str, float | int | list[float]]:
    """A search method's effect over ``reference`` (a recipe), from k independent searches, each of whose
    policies was tested on the same seeds as the reference (``{test seed: accuracy}``).

    Each search's gain is its mean paired difference over the test seeds; the method's effect is the mean of the k
    gains, with the Student-t CI over them (k - 1 degrees of freedom) and the one-sample t-test against 0. A
    search is the unit: the CI includes the spread between searches (a user runs a new search, not one of these),
    which a CI over seeds pooled across searches would leave out. With three searches the interval is wide (t with
    2 degrees of freedom is 4.30): it says what three searches can show, no more."""
    gains = _search_gains(per_search, reference)
    out: dict[str, float | int | list[float]] = {"searches": len(gains), "search_gains": gains}
    summary = summarize(gains, confidence)
    out.update(effect=summary["mean"], ci_low=summary["ci_low"], ci_high=summary["ci_high"], p_value=float("nan"))
    if len(gains) >= 2 and float(np.std(gains)) > 0:
        out["p_value"] = float(sps.ttest_1samp(gains, 0.0).pvalue)
    return out


def replicated_difference(
    a: Sequence[Mapping[int, float]],
    b: Sequence[Mapping[int, float]],
    reference: Mapping[int, float],
    confidence: float = 0.95,
) -> dict[str, float | int]:
    """Method ``a`` against method ``b``, each from its own searches: the difference of their mean search gains
    over a common ``reference`` tested on the same seeds (so each gain is paired by seed), with Welch's t-test and
    CI over the two sets of search gains (searches are the units, as in ``replicated_effect``)."""
    ga, gb = _search_gains(a, reference), _search_gains(b, reference)
    nan = float("nan")
    out: dict[str, float | int] = {"searches_a": len(ga), "searches_b": len(gb), "difference": nan}
    out.update(ci_low=nan, ci_high=nan, p_value=nan, df=nan)
    if not ga or not gb:
        return out
    out["difference"] = float(np.mean(ga) - np.mean(gb))
    if len(ga) < 2 or len(gb) < 2:
        return out
    va, vb = float(np.var(ga, ddof=1)) / len(ga), float(np.var(gb, ddof=1)) / len(gb)
    if va + vb == 0:
        return out
    df = (va + vb) ** 2 / (va**2 / (len(ga) - 1) + vb**2 / (len(gb) - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2, df) * math.sqrt(va + vb))
    out.update(
        ci_low=out["difference"] - half,
        ci_high=out["difference"] + half,
        df=df,
        p_value=float(sps.ttest_ind(ga, gb, equal_var=False).pvalue),
    )
    return out
