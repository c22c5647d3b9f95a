"""policy_search.benchmark.stats against scipy on known numbers."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from policy_search.benchmark.stats import holm, paired_comparison, summarize


def test_summarize_matches_scipy_t_interval():
    values = [0.91, 0.93, 0.90, 0.94, 0.92]
    s = summarize(values)
    low, high = sps.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert s["n"] == 5 and s["mean"] == pytest.approx(0.92)
    assert s["std"] == pytest.approx(np.std(values, ddof=1))
    assert (s["ci_low"], s["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def test_summarize_edge_cases():
    assert summarize([])["n"] == 0 and math.isnan(summarize([])["mean"])
    one = summarize([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["ci_low"])
    assert summarize([1.0, float("nan"), 3.0])["n"] == 2  # NaNs are dropped


def test_paired_comparison_matches_ttest_rel_and_bootstrap_brackets_mean():
    a = [0.90, 0.91, 0.92, 0.95, 0.93]
    b = [0.89, 0.90, 0.90, 0.91, 0.92]
    c = paired_comparison(a, b)
    ref = sps.ttest_rel(a, b)
    assert c["t"] == pytest.approx(ref.statistic) and c["p_value"] == pytest.approx(ref.pvalue)
    assert c["mean_diff"] == pytest.approx(0.018)
    assert c["boot_low"] <= c["mean_diff"] <= c["boot_high"]
    assert c["significant"] is bool(ref.pvalue < 0.05)
    assert paired_comparison(a, b) == c  # the bootstrap is seeded


def test_paired_comparison_degenerate_and_bad_input():
    same = paired_comparison([0.5, 0.6], [0.5, 0.6])
    assert same["p_value"] == 1.0 and same["significant"] is False
    assert paired_comparison([0.5], [0.4])["significant"] is False
    with pytest.raises(ValueError, match="equal lengths"):
        paired_comparison([1.0, 2.0], [1.0])


def test_holm_adjusts_in_input_order_and_keeps_undefined_tests_out():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.02, float("nan"), 0.5])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.5)
    assert holm([0.9, 0.8]) == [1.0, 1.0] and holm([]) == []  # 0.8 * 2 caps at 1


def _simulated(rng, searches, seeds, spread, seed_sd, noise, effect):
    """A recipe and a method's searches on the same test seeds: common seed difficulty, each side's own seed
    effects (shared by all of a method's searches), a search effect of sd ``spread`` and search x seed noise."""
    base = rng.normal(size=seeds) * 2
    recipe_seed, method_seed = rng.normal(size=seeds) * seed_sd, rng.normal(size=seeds) * seed_sd
    reference = {j: base[j] + recipe_seed[j] for j in range(seeds)}
    runs = [
        {j: base[j] + effect + a + method_seed[j] + noise * rng.normal() for j in range(seeds)}
        for a in rng.normal(size=searches) * spread
    ]
    return runs, reference


def test_replicated_effect_is_the_mean_of_searches_with_the_crossed_variance():
    """Three searches, ten test seeds: the effect is the mean of the searches' paired gains; its CI adds the
    between-search part of a two-way (search x seed) random-effects model to the seeds' part, so it is about as
    wide as the t over the three search gains when the searches disagree and near the paired t over seeds when
    they agree."""
    from scipy import stats as sps

    from policy_search.benchmark.stats import replicated_effect

    rng = np.random.default_rng(0)
    seeds = range(100, 110)
    reference = {s: 90 + rng.normal() for s in seeds}
    offsets = (0.2, 1.0, 1.8)  # searches that found policies of different worth
    searches = [{s: reference[s] + o + 0.1 * rng.normal() for s in seeds} for o in offsets]
    result = replicated_effect(searches, reference)
    gains = [float(np.mean([acc[s] - reference[s] for s in seeds])) for acc in searches]
    assert result["search_gains"] == pytest.approx(gains)
    assert result["effect"] == pytest.approx(np.mean(gains))
    assert result["df"] == pytest.approx(2, abs=0.3) and result["between_search_share"] > 0.95
    half = sps.t.ppf(0.975, 2) * np.std(gains, ddof=1) / np.sqrt(3)
    assert result["ci_high"] - result["ci_low"] == pytest.approx(2 * half, rel=0.1)
    noise = 0.3 * rng.normal(size=(3, 10))
    noise -= noise.mean(axis=1, keepdims=True)  # three searches of exactly equal worth
    agree = [{s: reference[s] + 1.0 + noise[i, j] for j, s in enumerate(seeds)} for i in range(3)]
    tight = replicated_effect(agree, reference)
    assert tight["between_search_share"] == 0 and tight["df"] == 9  # no spread beyond noise: the seeds' t
    pooled = [np.mean([acc[s] for acc in agree]) - reference[s] for s in seeds]
    assert tight["p_value"] == pytest.approx(sps.ttest_1samp(pooled, 0).pvalue)
    missing = [dict(list(acc.items())[: 5 + i]) for i, acc in enumerate(searches)]  # only seeds every policy has
    partial = replicated_effect(missing, reference)
    assert partial["searches"] == 3 and partial["seeds"] == 5
    assert np.mean(partial["search_gains"]) == pytest.approx(partial["effect"])  # the gains on those same seeds
    empty = [*searches, {s: float("nan") for s in seeds}]  # a search with no score is left out, not every seed
    assert replicated_effect(empty, reference)["searches"] == 3 and replicated_effect(empty, reference)["seeds"] == 10


@pytest.mark.parametrize("spread,seed_sd,noise", [(0.0, 1.0, 0.5), (1.0, 0.5, 0.5), (0.3, 0.7, 0.7)])
def test_replicated_effect_intervals_cover_at_their_level(spread, seed_sd, noise):
    """Simulated searches (3) on shared test seeds (10): the 95% interval covers the true effect 93-98.5% of
    the time whether the searches agree or not. The t over the three search gains (the previous statistic) left
    out the seed effects the searches share: it covered about 53% when they agree (first case)."""
    from scipy import stats as sps

    from policy_search.benchmark.stats import replicated_effect

    rng = np.random.default_rng(7)
    covered = old_covered = 0
    for _ in range(800):
        runs, reference = _simulated(rng, 3, 10, spread, seed_sd, noise, effect=0.5)
        r = replicated_effect(runs, reference)
        covered += r["ci_low"] <= 0.5 <= r["ci_high"]
        g = r["search_gains"]
        half = sps.t.ppf(0.975, 2) * np.std(g, ddof=1) / np.sqrt(3)
        old_covered += abs(np.mean(g) - 0.5) <= half
    assert 0.93 <= covered / 800 <= 0.985
    if spread == 0.0:
        assert old_covered / 800 < 0.7


def test_replicated_difference_pairs_two_methods_by_seed():
    from policy_search.benchmark.stats import replicated_difference

    reference = {s: 80.0 + s % 3 for s in range(10)}
    a = [{s: reference[s] + g + 0.01 * (s % 2) for s in range(10)} for g in (1.0, 1.5, 2.0)]
    b = [{s: reference[s] + g for s in range(10)} for g in (0.0, 0.2, 0.7)]
    result = replicated_difference(a, b)
    assert result["difference"] == pytest.approx(1.5 - 0.3 + 0.005)
    assert result["ci_low"] < result["difference"] < result["ci_high"] and result["p_value"] < 0.1
    assert result["searches_a"] == result["searches_b"] == 3 and result["seeds"] == 10
    assert 2 <= result["df"] <= 9  # the two between-search parts (2 df each) dominate
    one = replicated_difference(a[:1], b)  # one search of a: its spread between searches is unknown, so no CI
    assert one["difference"] == pytest.approx(1.0 + 0.005 - 0.3) and math.isnan(one["p_value"])
    assert math.isnan(one["ci_low"]) and one["searches_a"] == 1
