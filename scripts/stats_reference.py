#!/usr/bin/env python3
"""Writes crates/rampart-stats/tests/data/reference.json: reference values from scipy and statsmodels
for every rampart-stats function those libraries compute.

Each case is {"kind", "input", "expect", "tol"}; `tol` is the relative tolerance the Rust test applies
(1e-9 for closed forms, 1e-6 for iterative solutions, looser where the reference itself is a numerical
integration). Run from the repository root:

    python3 scripts/stats_reference.py

Requires scipy, statsmodels and mpmath (pip install scipy statsmodels mpmath). The output is
deterministic.

Student t at 1e5..1e12 degrees of freedom is referenced to mpmath at 60 significant digits rather
than to scipy, whose own relative error there reaches about 1e-13 in the far tail (measured and
printed by `large_df_cases`); those cases assert 1e-12.
"""

import json
import math
import os
import sys

import mpmath
import numpy as np
import scipy
import statsmodels
from scipy import integrate, special, stats
from scipy.optimize import brentq
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (confint_proportions_2indep,
                                          proportion_effectsize,
                                          proportions_ztest)
from statsmodels.stats.weightstats import _tstat_generic

CLOSED = 1e-9
ITERATIVE = 1e-6
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "rampart-stats", "tests", "data",
                   "reference.json")

cases = []
SIDES = {"two-sided": "two-sided", "greater": "greater", "less": "less"}
# statsmodels spells the one-sided alternatives differently.
SM = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def add(kind, inp, expect, tol=CLOSED):
    def clean(v):
        if isinstance(v, (np.floating, float)):
            v = float(v)
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return v
        if isinstance(v, (np.integer,)):
            return int(v)
        if isinstance(v, np.ndarray) and v.size == 1 and v.ndim <= 1:
            # statsmodels' solvers return one-element arrays for scalar answers.
            return clean(v.reshape(-1)[0])
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, np.ndarray)):
            return [clean(x) for x in v]
        return v
    cases.append({"kind": kind, "input": clean(inp), "expect": clean(expect), "tol": tol})


def distributions():
    for x in [-38.0, -20.0, -8.5, -3.0, -1.959963984540054, -0.5, 0.0, 0.3, 1.0, 2.5, 6.0, 9.0]:
        add("norm_cdf", {"x": x}, stats.norm.cdf(x))
        add("norm_sf", {"x": x}, stats.norm.sf(x))
    for p in [1e-300, 1e-50, 1e-10, 1e-4, 0.001, 0.025, 0.05, 0.2, 0.5, 0.8, 0.975, 0.999, 1 - 1e-12]:
        add("norm_ppf", {"p": p}, stats.norm.ppf(p))
    for df in [1.0, 2.0, 3.5, 10.0, 30.7, 1000.0, 1e6]:
        for x in [-40.0, -4.0, -1.5, -0.2, 0.7, 2.2, 12.0]:
            add("t_cdf", {"x": x, "df": df}, stats.t.cdf(x, df))
        for x in [3.0, 25.0]:
            add("t_sf", {"x": x, "df": df}, stats.t.sf(x, df))
        for p in [1e-12, 1e-4, 0.025, 0.3, 0.975]:
            add("t_ppf", {"p": p, "df": df}, stats.t.ppf(p, df), ITERATIVE)
    for df in [1.0, 2.0, 3.0, 7.5, 50.0, 1000.0]:
        for x in [0.001, 0.5, 3.0, 10.0, 80.0, 1200.0]:
            add("chi2_cdf", {"x": x, "df": df}, stats.chi2.cdf(x, df))
            add("chi2_sf", {"x": x, "df": df}, stats.chi2.sf(x, df))
    for a, b in [(0.5, 0.5), (1.0, 1.0), (2.0, 5.0), (30.0, 970.0), (0.3, 4.0), (5000.0, 0.5),
                 (1e5, 2e5)]:
        mean = a / (a + b)
        for x in [mean * 0.5, mean, min(0.999, mean * 1.3 + 1e-3)]:
            add("beta_cdf", {"x": x, "a": a, "b": b}, stats.beta.cdf(x, a, b))
    for n, p in [(10, 0.3), (1000, 0.01), (100000, 0.5), (50, 0.999)]:
        for k in sorted({0, int(n * p) // 2, int(n * p), min(n, int(n * p) * 2 + 1)}):
            add("binom_pmf", {"k": k, "n": n, "p": p}, stats.binom.pmf(k, n, p))
            add("binom_cdf", {"k": k, "n": n, "p": p}, stats.binom.cdf(k, n, p))
    for x in [0.1, 0.7, 3.3, 10.0, 171.5, 1e5]:
        add("gammaln", {"x": x}, special.gammaln(x))
    for x in [-2.0, -0.3, 1e-8, 0.5, 1.0, 3.0]:
        add("erf", {"x": x}, special.erf(x))
    for x in [-1.0, 0.2, 2.0, 5.0, 25.0]:
        add("erfc", {"x": x}, special.erfc(x))
    for a, x in [(0.5, 0.1), (3.0, 2.0), (50.0, 45.0), (500.0, 560.0)]:
        add("gammainc", {"a": a, "x": x}, special.gammainc(a, x))


LARGE_DF_TOL = 1e-12


def mp_t_cdf(x, df):
    """P(T <= x) at 60 digits: ½ I_{df/(df+x²)}(df/2, ½) on the lower side."""
    with mpmath.workdps(60):
        x = mpmath.mpf(x)
        v = mpmath.mpf(df)
        lower = mpmath.betainc(v / 2, mpmath.mpf(1) / 2, 0, v / (v + x * x), regularized=True) / 2
        return lower if x <= 0 else 1 - lower


def large_df_cases():
    worst_scipy = 0.0
    for df in [1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12]:
        for x in [-30.0, -10.0, -5.0, -3.0, -1.5, -0.5, -0.001, 0.7, 2.2, 12.0]:
            ref = mp_t_cdf(x, df)
            add("t_cdf", {"x": x, "df": df}, float(ref), LARGE_DF_TOL)
            if x < 0:
                worst_scipy = max(worst_scipy, float(abs(stats.t.cdf(x, df) - ref) / ref))
        for x in [3.0, 8.0, 25.0]:
            add("t_sf", {"x": x, "df": df}, float(mp_t_cdf(-x, df)), LARGE_DF_TOL)
        # The quantile of p = F(x) is x, to the rounding of p: far below the tolerance where p is not
        # near 1 (there 1 - p keeps only the absolute precision of p).
        for x in [-35.0, -7.0, -4.5, -1.959963984540054, -0.3, 0.9]:
            add("t_ppf", {"p": float(mp_t_cdf(x, df)), "df": df}, x, LARGE_DF_TOL)
    print(f"scipy's t.cdf at df 1e5..1e12: worst relative error {worst_scipy:.1e} against mpmath")


def welch_cases():
    rng = np.random.default_rng(20261126)
    specs = [(20, 0.0, 1.0, 25, 0.3, 2.0), (5, 1.0, 0.5, 7, 2.0, 3.0), (200, 10.0, 4.0, 180, 10.5, 1.0),
             (3, 0.0, 1.0, 3, 0.1, 1.0), (5000, 1.0, 3.0, 5000, 1.02, 3.0),
             (100000, 0.5, 1.0, 90000, 0.49, 1.2), (40, 0.0, 0.01, 60, 0.0, 10.0),
             (1000, 3.0, 1.0, 1000, 3.4, 1.0)]
    for i, (nc, mc, sc, nt, mt, st) in enumerate(specs):
        c = rng.normal(mc, sc, nc)
        t = rng.normal(mt, st, nt)
        for alt in SIDES:
            alpha = 0.05 if i % 2 == 0 else 0.1
            r = stats.ttest_ind(t, c, equal_var=False, alternative=alt)
            ci = r.confidence_interval(1 - alpha)
            add("welch", {"control": [nc, c.mean(), c.var(ddof=1)],
                          "treatment": [nt, t.mean(), t.var(ddof=1)],
                          "alpha": alpha, "alternative": alt},
                {"statistic": r.statistic, "p_value": r.pvalue, "df": r.df,
                 "lower": ci.low, "upper": ci.high})
    # Straight from summary statistics (scipy ttest_ind_from_stats), including extreme p-values.
    for (nc, mc, vc, nt, mt, vt) in [(10, 0.0, 1.0, 12, 5.0, 2.0), (1e6, 0.1, 1.0, 1e6, 0.1021, 1.0),
                                     (2, 1.0, 0.5, 2, 1.5, 0.7)]:
        for alt in SIDES:
            r = stats.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc,
                                           equal_var=False, alternative=alt)
            add("welch_stats", {"control": [nc, mc, vc], "treatment": [nt, mt, vt],
                                "alternative": alt},
                {"statistic": r.statistic, "p_value": r.pvalue})
    # A few million units per arm: Welch's df is in the millions, where the t distribution needs
    # its large-df evaluation; p-values agree with scipy to 1e-12 (scipy is good to ~1e-14 here).
    for (nc, mc, vc, nt, mt, vt) in [(3e6, 0.1, 1.0, 3e6, 0.1012, 1.1),
                                     (5e6, 2.0, 4.0, 4.5e6, 2.003, 3.0),
                                     (8e6, 0.05, 0.0475, 8e6, 0.0502, 0.0477),
                                     (2e6, 1.0, 1.0, 2e6, 1.01, 1.0)]:
        for alt in SIDES:
            r = stats.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc,
                                           equal_var=False, alternative=alt)
            add("welch_stats", {"control": [nc, mc, vc], "treatment": [nt, mt, vt],
                                "alternative": alt},
                {"statistic": r.statistic, "p_value": r.pvalue}, 1e-12)


def proportion_cases():
    for (xc, nc, xt, nt) in [(100, 1000, 120, 1000), (5, 200, 15, 210), (1, 50, 0, 60),
                             (49000, 1000000, 50000, 1000000), (995, 1000, 999, 1000),
                             (30, 30000, 60, 30000), (7, 9, 2, 8)]:
        for alt in SIDES:
            z, p = proportions_ztest([xt, xc], [nt, nc], alternative=SM[alt])
            alpha = 0.05
            if alt == "two-sided":
                lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff",
                                                    alpha=alpha)
            else:
                lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff",
                                                    alpha=2 * alpha)
                lo, hi = (lo, float("inf")) if alt == "greater" else (float("-inf"), hi)
            add("two_proportions", {"control": [nc, xc], "treatment": [nt, xt], "alpha": alpha,
                                    "alternative": alt},
                {"statistic": z, "p_value": p, "lower": lo, "upper": hi})


def margin_cases():
    # Shifted one-sided t-tests of the Welch difference (statsmodels _tstat_generic with diff=value).
    for (nc, mc, vc, nt, mt, vt) in [(400, 10.0, 4.0, 420, 9.9, 4.5), (50, 1.0, 0.2, 45, 1.1, 0.3),
                                     (10000, 0.2, 0.16, 10000, 0.205, 0.17)]:
        se = math.sqrt(vc / nc + vt / nt)
        a, b = vc / nc, vt / nt
        df = (a + b) ** 2 / (a * a / (nc - 1) + b * b / (nt - 1))
        for margin in [0.0, 0.02 * abs(mc), 0.1 * abs(mc)]:
            for direction in ["higher", "lower"]:
                for test in ["non_inferiority", "superiority"]:
                    sign = 1.0 if test == "superiority" else -1.0
                    if direction == "higher":
                        value, alt = sign * margin, "larger"
                    else:
                        value, alt = -sign * margin, "smaller"
                    t, p = _tstat_generic(mt, mc, se, df, alt, diff=value)
                    add("margin", {"control": [nc, mc, vc], "treatment": [nt, mt, vt],
                                   "margin": margin, "direction": direction, "test": test},
                        {"statistic": t, "p_value": p, "threshold": value})


def ratio_and_cuped_cases():
    # Independent path: per-unit linearization / adjustment from raw data, then scipy's tests.
    rng = np.random.default_rng(7)
    for n in [300, 5000]:
        arms = []
        for lift in [0.0, 0.05]:
            d = rng.poisson(5.0, n) + 1.0
            m = rng.binomial(d.astype(int), 0.1 * (1 + lift)).astype(float)
            arms.append((m, d))

        def moments(m, d):
            cov = np.cov(m, d, ddof=1)
            return [n, m.mean(), d.mean(), cov[0, 0], cov[1, 1], cov[0, 1]]

        lin = []
        for m, d in arms:
            mu_m, mu_d = m.mean(), d.mean()
            lin.append(m / mu_d - mu_m * d / mu_d ** 2)
        diff = arms[1][0].mean() / arms[1][1].mean() - arms[0][0].mean() / arms[0][1].mean()
        se = math.sqrt(lin[0].var(ddof=1) / n + lin[1].var(ddof=1) / n)
        z = diff / se
        add("ratio", {"control": moments(*arms[0]), "treatment": moments(*arms[1])},
            {"difference": diff, "std_error": se, "p_value": 2 * stats.norm.sf(abs(z))})
    for n in [200, 3000]:
        x_c = rng.normal(10, 3, n)
        x_t = rng.normal(10, 3, n + 17)
        y_c = 0.8 * x_c + rng.normal(0, 2, n)
        y_t = 0.8 * x_t + 0.3 + rng.normal(0, 2, n + 17)
        # Pooled within-variant slope.
        sxy = ((x_c - x_c.mean()) * (y_c - y_c.mean())).sum() + ((x_t - x_t.mean()) * (y_t - y_t.mean())).sum()
        sxx = ((x_c - x_c.mean()) ** 2).sum() + ((x_t - x_t.mean()) ** 2).sum()
        theta = sxy / sxx
        xbar = np.concatenate([x_c, x_t]).mean()
        adj_c = y_c - theta * (x_c - xbar)
        adj_t = y_t - theta * (x_t - xbar)
        r = stats.ttest_ind(adj_t, adj_c, equal_var=False)

        def arm(y, x):
            return {"metric": [len(y), y.mean(), y.var(ddof=1)],
                    "covariate": [x.mean(), x.var(ddof=1), np.cov(y, x, ddof=1)[0, 1]]}
        add("cuped", {"control": arm(y_c, x_c), "treatment": arm(y_t, x_t)},
            {"theta": theta, "difference": adj_t.mean() - adj_c.mean(), "statistic": r.statistic,
             "p_value": r.pvalue, "df": r.df})


def srm_cases():
    for obs, w in [([5000, 5000], [1, 1]), ([5050, 4950], [1, 1]), ([1000, 1100, 900], [1, 1, 1]),
                   ([9000, 1150], [9, 1]), ([100, 300], [1, 1]), ([50000, 50650], [0.5, 0.5]),
                   ([1, 0, 0], [1, 1, 1])]:
        total = sum(obs)
        exp = [total * x / sum(w) for x in w]
        r = stats.chisquare(obs, exp)
        add("srm", {"observed": obs, "weights": w}, {"statistic": r.statistic, "p_value": r.pvalue})


def nonparametric_cases():
    rng = np.random.default_rng(99)
    samples = [
        (rng.normal(0.3, 1, 6).round(6), rng.normal(0, 1, 5).round(6), "auto"),
        (rng.normal(1, 1, 4).round(6), rng.normal(0, 1, 8).round(6), "auto"),
        (rng.exponential(1, 30).round(1), rng.exponential(1.3, 25).round(1), "auto"),
        (rng.integers(0, 5, 40).astype(float), rng.integers(0, 6, 50).astype(float), "auto"),
        (rng.lognormal(0, 1, 300), rng.lognormal(0.1, 1, 280), "auto"),
        (rng.normal(0, 1, 12).round(6), rng.normal(0.5, 1, 15).round(6), "exact"),
        (rng.normal(0, 1, 7).round(6), rng.normal(0.5, 1, 6).round(6), "asymptotic"),
    ]
    for t, c, method in samples:
        for alt in SIDES:
            r = stats.mannwhitneyu(t, c, alternative=alt, method=method)
            add("mann_whitney", {"treatment": t.tolist(), "control": c.tolist(),
                                 "alternative": alt, "method": method},
                {"u": r.statistic, "p_value": r.pvalue})
        diffs = np.subtract.outer(t, c).ravel()
        add("hodges_lehmann", {"treatment": t.tolist(), "control": c.tolist()},
            {"estimate": np.median(diffs)})
    for k, n, p in [(3, 10, 0.5), (7, 10, 0.5), (0, 20, 0.1), (20, 20, 0.9), (45, 100, 0.3),
                    (682, 925, 0.75), (1, 1000, 0.001), (5100, 10000, 0.5), (12, 13, 0.5)]:
        for alt in SIDES:
            add("binomtest", {"k": k, "n": n, "p": p, "alternative": alt},
                {"p_value": stats.binomtest(k, n, p, alternative=alt).pvalue})


def multiple_cases():
    rng = np.random.default_rng(3)
    vectors = [[0.01, 0.04, 0.03, 0.005], [0.2, 0.2, 0.2], [1e-8, 0.5, 0.049, 0.051, 0.9, 0.0001],
               rng.uniform(0, 0.2, 15).tolist(), [0.0, 1.0]]
    for v in vectors:
        for name, method in [("bonferroni", "bonferroni"), ("holm", "holm"),
                             ("benjamini_hochberg", "fdr_bh")]:
            add("multiple", {"p_values": v, "method": name},
                {"adjusted": multipletests(v, method=method)[1]})


def power_cases():
    for d, n, ratio, alpha in [(0.2, 400, 1.0, 0.05), (0.05, 5000, 1.0, 0.05), (0.5, 20, 2.0, 0.1),
                               (0.1, 1500, 0.5, 0.01), (-0.3, 100, 1.0, 0.05)]:
        for alt in SIDES:
            add("power_z", {"effect_size": d, "n1": n, "ratio": ratio, "alpha": alpha,
                            "alternative": alt},
                {"power": NormalIndPower().power(d, n, alpha, ratio=ratio, alternative=SM[alt])})
            add("power_t", {"effect_size": d, "n1": n, "ratio": ratio, "alpha": alpha,
                            "alternative": alt},
                {"power": TTestIndPower().power(d, n, alpha, ratio=ratio, alternative=SM[alt])}, 1e-8)
    for d, power, ratio, alpha, alt in [(0.2, 0.8, 1.0, 0.05, "two-sided"), (0.1, 0.9, 1.0, 0.05, "greater"),
                                        (0.5, 0.8, 2.0, 0.1, "two-sided"), (-0.25, 0.8, 1.0, 0.05, "less"),
                                        (0.02, 0.8, 1.0, 0.05, "two-sided")]:
        for test, cls in [("z", NormalIndPower), ("t", TTestIndPower)]:
            n = cls().solve_power(effect_size=d, nobs1=None, alpha=alpha, power=power, ratio=ratio,
                                  alternative=SM[alt])
            add("sample_size", {"test": test, "effect_size": d, "power": power, "ratio": ratio,
                                "alpha": alpha, "alternative": alt}, {"n1": n}, ITERATIVE)
    for n, power, ratio, alpha, alt in [(100, 0.8, 1.0, 0.05, "two-sided"), (5000, 0.9, 1.0, 0.05, "greater"),
                                        (30, 0.8, 1.5, 0.1, "two-sided"), (400, 0.8, 1.0, 0.05, "less")]:
        for test, cls in [("z", NormalIndPower), ("t", TTestIndPower)]:
            # solve_power stops at about 1e-6 in power; refine on statsmodels' own power function.
            sign = -1.0 if alt == "less" else 1.0
            d = sign * brentq(lambda e: cls().power(sign * e, n, alpha, ratio=ratio,
                                                     alternative=SM[alt]) - power,
                              1e-6, 2.0, xtol=1e-15)
            add("mde", {"test": test, "n1": n, "power": power, "ratio": ratio, "alpha": alpha,
                        "alternative": alt}, {"effect_size": d}, ITERATIVE)
    for pt, pc in [(0.11, 0.10), (0.5, 0.4), (0.001, 0.002)]:
        add("proportion_effect_size", {"p_treatment": pt, "p_control": pc},
            {"h": proportion_effectsize(pt, pc)})


def bayes_cases():
    # Probability that treatment beats control and expected losses by adaptive quadrature.
    for (nc, xc, nt, xt, a, b) in [(1000, 100, 1000, 120, 1.0, 1.0), (50, 3, 60, 2, 1.0, 1.0),
                                   (20000, 1000, 20000, 1010, 1.0, 1.0), (200, 40, 210, 50, 0.5, 0.5),
                                   (10, 0, 10, 1, 2.0, 3.0)]:
        c = stats.beta(a + xc, b + nc - xc)
        t = stats.beta(a + xt, b + nt - xt)
        lo = min(c.ppf(1e-14), t.ppf(1e-14))
        hi = max(c.isf(1e-14), t.isf(1e-14))
        opts = {"epsabs": 1e-14, "epsrel": 1e-12, "limit": 500}
        prob = integrate.quad(lambda x: t.pdf(x) * c.cdf(x), lo, hi, **opts)[0]
        # E[max(c − t, 0)] = ∫∫_{c>t} (c − t) f_c f_t = ∫ f_c(x) ∫_{0}^{x} (x − y) f_t(y) dy dx.
        def partial(dist, x):
            # ∫_0^x (x − y) f(y) dy = x F(x) − E[Y; Y ≤ x] = x F(x) − mean · F_{a+1,b}(x).
            a_, b_ = dist.args
            return x * dist.cdf(x) - a_ / (a_ + b_) * stats.beta.cdf(x, a_ + 1, b_)
        loss_t = integrate.quad(lambda x: c.pdf(x) * partial(t, x), lo, hi, **opts)[0]
        loss_c = integrate.quad(lambda x: t.pdf(x) * partial(c, x), lo, hi, **opts)[0]
        add("beta_binomial", {"control": [nc, xc], "treatment": [nt, xt], "prior": [a, b]},
            {"prob_treatment_better": prob, "expected_loss_treatment": loss_t,
             "expected_loss_control": loss_c}, 1e-7)


def group_sequential_cases():
    # Boundaries solved look by look with scipy's multivariate normal cdf (Genz), an integration
    # method independent of the recursion in the crate; accurate to about 1e-5 in alpha.
    def spent(kind, alpha, t):
        if kind == "obrien_fleming":
            return 2 * stats.norm.sf(stats.norm.isf(alpha / 2) / math.sqrt(t))
        return alpha * math.log(1 + (math.e - 1) * t)

    for kind in ["obrien_fleming", "pocock"]:
        for alt, alpha, fractions in [("two-sided", 0.05, [1 / 3, 2 / 3, 1.0]),
                                      ("greater", 0.025, [0.25, 0.5, 0.75, 1.0]),
                                      ("two-sided", 0.05, [0.2, 0.5, 1.0])]:
            k = len(fractions)
            cov = np.array([[math.sqrt(min(a, b) / max(a, b)) for b in fractions] for a in fractions])
            bounds = []
            for i in range(k):
                target = spent(kind, alpha, fractions[i])
                sub = cov[: i + 1, : i + 1]
                mvn = stats.multivariate_normal(mean=np.zeros(i + 1), cov=sub, seed=1,
                                                maxpts=2_000_000, abseps=1e-9, releps=1e-9)

                def cum_reject(c):
                    upper = np.array(bounds + [c])
                    lower = -upper if alt == "two-sided" else np.full(i + 1, -np.inf)
                    return 1 - mvn.cdf(upper, lower_limit=lower)
                c = brentq(lambda c: cum_reject(c) - target, 0.5, 8.0, xtol=1e-10)
                bounds.append(c)
            add("group_sequential", {"spending": kind, "alternative": alt, "alpha": alpha,
                                     "fractions": fractions}, {"boundaries": bounds}, 2e-4)


def main():
    distributions()
    large_df_cases()
    welch_cases()
    proportion_cases()
    margin_cases()
    ratio_and_cuped_cases()
    srm_cases()
    nonparametric_cases()
    multiple_cases()
    power_cases()
    bayes_cases()
    group_sequential_cases()
    doc = {"generator": "scripts/stats_reference.py",
           "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                        "scipy": scipy.__version__, "statsmodels": statsmodels.__version__},
           "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
