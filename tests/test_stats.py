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


def test_replicated_effect_treats_each_search_as_one_unit():
    """Three searches, ten test seeds: the effect is the mean of the searches' paired gains and its CI is the
    t interval over those three means (2 degrees of freedom), not over the 30 pooled runs."""
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
    half = sps.t.ppf(0.975, 2) * np.std(gains, ddof=1) / np.sqrt(3)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((np.mean(gains) - half, np.mean(gains) + half))
    assert result["p_value"] == pytest.approx(sps.ttest_1samp(gains, 0).pvalue)
    pooled = [acc[s] - reference[s] for acc in searches for s in seeds]  # what ignoring the searches would say
    assert sps.ttest_1samp(pooled, 0).pvalue < result["p_value"]
    missing = [dict(list(acc.items())[:5]) for acc in searches]  # seeds missing on one side are left out
    assert replicated_effect(missing, reference)["searches"] == 3


def test_replicated_difference_is_welch_on_search_gains():
    from scipy import stats as sps

    from policy_search.benchmark.stats import replicated_difference

    reference = {s: 80.0 + s % 3 for s in range(10)}
    a = [{s: reference[s] + g for s in range(10)} for g in (1.0, 1.5, 2.0)]
    b = [{s: reference[s] + g for s in range(10)} for g in (0.0, 0.2, 0.7)]
    result = replicated_difference(a, b, reference)
    assert result["difference"] == pytest.approx(1.5 - 0.3)
    assert result["p_value"] == pytest.approx(sps.ttest_ind([1.0, 1.5, 2.0], [0.0, 0.2, 0.7], equal_var=False).pvalue)
    assert result["ci_low"] < result["difference"] < result["ci_high"]
    assert np.isnan(replicated_difference(a[:1], b[:1], reference)["p_value"])  # one search each: no test
