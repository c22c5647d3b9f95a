"""Statistics over seeds: summaries with Student-t confidence intervals and paired comparisons.

Runs of different policies with the same seed share the model initialisation and batch order (``ChildRun``
seeds both), so policies are compared *paired by seed*: the per-seed differences are tested with a paired t-test
(``scipy.stats.ttest_rel``) and their mean gets a percentile bootstrap CI (resampling seeds with replacement).
With the handful of seeds a CPU benchmark affords, both are reported because neither is reliable alone: the
t-test assumes roughly normal differences, the bootstrap is coarse with five values. A report compares many
policies against one baseline, so ``holm`` adjusts each metric's p-values for that family (Holm 1979; scipy
offers only false-discovery-rate control, which answers a different question). A search *method* is judged over
several searches tested on shared seeds (``replicated_effect``, ``replicated_difference``): a two-way crossed
random-effects model (search x seed) by ANOVA estimators with Satterthwaite's degrees of freedom, written here
because neither scipy nor statsmodels gives a crossed design's CI of a grand mean in closed form (statsmodels'
MixedLM fits nested groups iteratively and is unstable with three searches).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "ALPHA",
    "holm",
    "method_comparisons",
    "paired_comparison",
    "replicated_difference",
    "replicated_effect",
    "summarize",
]

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


def _scored(per_search: Sequence[Mapping[int, float]]) -> list[Mapping[int, float]]:
    """The searches with at least one finite score (a search with none says nothing and would drop every seed)."""
    return [x for x in per_search if any(math.isfinite(v) for v in x.values())]


def _table(per_search: Sequence[Mapping[int, float]], seeds: list[int]) -> np.ndarray:
    """Searches x seeds accuracies."""
    rows = [[float(accs[s]) for s in seeds] for accs in per_search]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(seeds))


def _between_searches(table: np.ndarray) -> list[tuple[float, float]]:
    """The between-search part of the variance of a method's grand mean, as Satterthwaite terms (coefficient x
    mean square, degrees of freedom): (MS_search - MS_residual) / (n S) from the two-way table searches x seeds
    (E[MS_search] = s_e^2 + n s_a^2), left out when not positive (no spread between searches beyond the noise)."""
    k, n = table.shape
    if k < 2 or n < 2:
        return []
    rows, cols, grand = table.mean(axis=1), table.mean(axis=0), table.mean()
    ms_search = n * float(np.var(rows, ddof=1))
    resid = table - rows[:, None] - cols[None, :] + grand
    ms_resid = float((resid**2).sum()) / ((k - 1) * (n - 1))
    if ms_search <= ms_resid:
        return []
    return [(ms_search / (n * k), k - 1), (-ms_resid / (n * k), (k - 1) * (n - 1))]


def _crossed(ta: np.ndarray, tb: np.ndarray, out: dict, confidence: float) -> None:
    """Fill ``out`` with the difference of the two tables' grand means, paired by seed (columns), its CI, p and
    Satterthwaite df (``replicated_difference``)."""
    n = ta.shape[1]
    d = ta.mean(axis=0) - tb.mean(axis=0)
    out["difference"] = float(d.mean())
    if n < 2:
        return
    terms = [(float(np.var(d, ddof=1)) / n, n - 1), *_between_searches(ta), *_between_searches(tb)]
    var = sum(v for v, _ in terms)
    if var <= 0:
        out["p_value"] = 1.0 if out["difference"] == 0 else float("nan")
        return
    df = var**2 / sum(v**2 / dof for v, dof in terms)
    half = float(sps.t.ppf(0.5 + confidence / 2, df) * math.sqrt(var))
    out.update(ci_low=out["difference"] - half, ci_high=out["difference"] + half, df=float(df))
    out["p_value"] = float(2 * sps.t.sf(abs(out["difference"]) / math.sqrt(var), df))
    out["between_search_share"] = 1 - terms[0][0] / var


def replicated_difference(
    a: Sequence[Mapping[int, float]],
    b: Sequence[Mapping[int, float]],
    confidence: float = 0.95,
    *,
    b_is_recipe: bool = False,
) -> dict[str, float | int]:
    """Method ``a`` against ``b`` (each a list of searches, ``{test seed: accuracy}`` per search's policy), all
    tested on the same seeds: the difference of the two methods' mean accuracies, paired by seed, on the seeds
    every policy has. With ``b_is_recipe``, ``b`` is one fixed recipe (no search, so no spread between searches).

    A search method is a random draw of a search *and* of the test seeds, so the variance of the difference is
    that of a two-way crossed random-effects model (search x seed, ANOVA estimators): the seed part
    ``var_j(D_j) / n`` of the per-seed differences of the two methods' search means ``D_j`` (the seed effects
    every search shares, and the search x seed noise), plus each method's between-search part
    ``(MS_search - MS_residual) / (n S)``. The t-interval and test use Satterthwaite's degrees of freedom.
    Averaging each search's gain and taking the t over the S gains instead (S - 1 = 2 degrees of freedom) would
    leave out the seed effects the searches share (all are tested on the same seeds and against the same
    reference runs) and throw away the seeds' degrees of freedom when the searches agree. A method with one
    search has no CI and no p (its spread between searches cannot be estimated; a seeds-only interval covered
    29% of the time in simulation): only its difference is given."""
    nan = float("nan")
    a, b = _scored(a), _scored(b)
    out: dict[str, Any] = {"searches_a": len(a), "searches_b": len(b), "difference": nan, "ci_low": nan}
    out.update(ci_high=nan, p_value=nan, df=nan, seeds=0, between_search_share=nan, search_gains=[])
    if not a or not b:
        return out
    sides = [*a, *b]
    seeds = sorted(s for s in set.intersection(*(set(x) for x in sides)) if all(math.isfinite(x[s]) for x in sides))
    ta, tb = _table(a, seeds), _table(b, seeds)
    out["seeds"] = len(seeds)
    if seeds:
        out["search_gains"] = [float(g) for g in (ta - tb.mean(axis=0)).mean(axis=1)]
        if len(a) >= 2 and (b_is_recipe or len(b) >= 2):
            _crossed(ta, tb, out, confidence)
        else:
            out["difference"] = float(ta.mean() - tb.mean())
    return out


def replicated_effect(
    per_search: Sequence[Mapping[int, float]], reference: Mapping[int, float], confidence: float = 0.95
) -> dict[str, Any]:
    """A search method's effect over ``reference`` (a recipe), from k independent searches, each of whose
    policies was tested on the same seeds as the reference (``{test seed: accuracy}``): ``replicated_difference``
    against the recipe (the spread between searches and the seeds' sampling both in the CI; a user runs a new
    search, not one of these), with each search's own paired gain on the same seeds (``search_gains``)."""
    result = replicated_difference(per_search, [reference], confidence, b_is_recipe=True)
    keep = ("ci_low", "ci_high", "p_value", "df", "seeds", "between_search_share", "search_gains")
    return {"searches": result["searches_a"], "effect": result["difference"], **{k: result[k] for k in keep}}


def method_comparisons(
    searches: Mapping[str, Sequence[Mapping[int, float]]], references: Mapping[str, Mapping[int, float]]
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Search methods ({method: each search's ``{test seed: score}``}) against each reference recipe
    (``replicated_effect``, Holm over the methods per reference) and each pair of methods
    (``replicated_difference``, Holm over the pairs): ``({reference: {method: effect}}, {"a - b": difference})``.
    Shared by the benchmark report and ``search compare``."""
    by_reference = {
        r: {m: replicated_effect(runs, ref) for m, runs in searches.items()} for r, ref in references.items()
    }
    names = list(searches)
    pairs = {
        f"{a} - {b}": {"a": a, "b": b, **replicated_difference(searches[a], searches[b])}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    for family in (*by_reference.values(), pairs):
        for row, p in zip(family.values(), holm([r["p_value"] for r in family.values()]), strict=True):
            row["p_holm"] = p
            row["significant_holm"] = bool(p < ALPHA)
    return by_reference, pairs
