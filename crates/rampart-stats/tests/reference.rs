//! Checks every case in `tests/data/reference.json` (written by `scripts/stats_reference.py` with
//! scipy and statsmodels) against the crate, with the relative tolerance stored in each case.

use rampart_stats::*;
use serde_json::Value;

const DATA: &str = include_str!("data/reference.json");

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")),
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn alternative(v: &Value) -> Alternative {
    match v.as_str().expect("alternative") {
        "two-sided" => Alternative::TwoSided,
        "greater" => Alternative::Greater,
        "less" => Alternative::Less,
        other => panic!("unknown alternative {other}"),
    }
}

fn moments(v: &Value) -> Moments {
    let x = nums(v);
    Moments::new(x[0], x[1], x[2])
}

/// Relative closeness; exact match required for infinities, absolute `tol` around zero.
fn close(actual: f64, expected: f64, tol: f64) -> bool {
    if expected.is_infinite() || actual.is_infinite() {
        return actual == expected;
    }
    if expected == 0.0 {
        return actual.abs() <= tol;
    }
    ((actual - expected) / expected).abs() <= tol
}

/// Runs one case; returns the (field, actual, expected) pairs to compare.
fn evaluate(kind: &str, i: &Value, e: &Value) -> Result<Vec<(String, f64, f64)>, StatsError> {
    let f = |k: &str| num(&i[k]);
    let ex = |k: &str| num(&e[k]);
    let one = |name: &str, actual: f64, expected: f64| vec![(name.to_string(), actual, expected)];
    let spec = |alpha: f64| TestSpec::new(alpha, alternative(&i["alternative"]));
    Ok(match kind {
        "norm_cdf" => one("cdf", Normal::cdf(f("x")), num(e)),
        "norm_sf" => one("sf", Normal::sf(f("x")), num(e)),
        "norm_ppf" => one("ppf", Normal::quantile(f("p")), num(e)),
        "t_cdf" => one("cdf", StudentT::new(f("df"))?.cdf(f("x")), num(e)),
        "t_sf" => one("sf", StudentT::new(f("df"))?.sf(f("x")), num(e)),
        "t_ppf" => one("ppf", StudentT::new(f("df"))?.quantile(f("p")), num(e)),
        "chi2_cdf" => one("cdf", ChiSquared::new(f("df"))?.cdf(f("x")), num(e)),
        "chi2_sf" => one("sf", ChiSquared::new(f("df"))?.sf(f("x")), num(e)),
        "beta_cdf" => one("cdf", Beta::new(f("a"), f("b"))?.cdf(f("x")), num(e)),
        "binom_pmf" => one(
            "pmf",
            Binomial::new(f("n") as u64, f("p"))?.pmf(f("k") as u64),
            num(e),
        ),
        "binom_cdf" => one(
            "cdf",
            Binomial::new(f("n") as u64, f("p"))?.cdf(f("k") as u64),
            num(e),
        ),
        "gammaln" => one("gammaln", ln_gamma(f("x")), num(e)),
        "erf" => one("erf", erf(f("x")), num(e)),
        "erfc" => one("erfc", erfc(f("x")), num(e)),
        "gammainc" => one("gammainc", regularized_gamma_p(f("a"), f("x")), num(e)),
        "welch" => {
            let c = welch(
                &moments(&i["control"]),
                &moments(&i["treatment"]),
                spec(f("alpha")),
            )?;
            let a = c.absolute;
            vec![
                ("statistic".into(), a.statistic, ex("statistic")),
                ("p_value".into(), a.p_value, ex("p_value")),
                ("df".into(), a.df.unwrap_or(f64::NAN), ex("df")),
                ("lower".into(), a.interval.lower, ex("lower")),
                ("upper".into(), a.interval.upper, ex("upper")),
            ]
        }
        "welch_stats" => {
            let c = welch(
                &moments(&i["control"]),
                &moments(&i["treatment"]),
                spec(0.05),
            )?;
            vec![
                ("statistic".into(), c.absolute.statistic, ex("statistic")),
                ("p_value".into(), c.absolute.p_value, ex("p_value")),
            ]
        }
        "two_proportions" => {
            let p = |v: &Value| {
                let x = nums(v);
                Proportion::new(x[0] as u64, x[1] as u64)
            };
            let c = two_proportions(&p(&i["control"]), &p(&i["treatment"]), spec(f("alpha")))?;
            let a = c.absolute;
            vec![
                ("statistic".into(), a.statistic, ex("statistic")),
                ("p_value".into(), a.p_value, ex("p_value")),
                ("lower".into(), a.interval.lower, ex("lower")),
                ("upper".into(), a.interval.upper, ex("upper")),
            ]
        }
        "margin" => {
            let cmp = welch(
                &moments(&i["control"]),
                &moments(&i["treatment"]),
                TestSpec::default(),
            )?;
            let direction = match i["direction"].as_str() {
                Some("higher") => Direction::HigherIsBetter,
                _ => Direction::LowerIsBetter,
            };
            let margin = Margin::Absolute(f("margin"));
            let r = match i["test"].as_str() {
                Some("superiority") => superiority(&cmp, margin, direction, 0.05)?,
                _ => non_inferiority(&cmp, margin, direction, 0.05)?,
            };
            vec![
                ("statistic".into(), r.statistic, ex("statistic")),
                ("p_value".into(), r.p_value, ex("p_value")),
                ("threshold".into(), r.threshold, ex("threshold")),
            ]
        }
        "ratio" => {
            let r = |v: &Value| {
                let x = nums(v);
                RatioMoments {
                    n: x[0],
                    numerator_mean: x[1],
                    denominator_mean: x[2],
                    numerator_variance: x[3],
                    denominator_variance: x[4],
                    covariance: x[5],
                }
            };
            let c = ratio(&r(&i["control"]), &r(&i["treatment"]), TestSpec::default())?;
            vec![
                ("difference".into(), c.absolute.estimate, ex("difference")),
                ("std_error".into(), c.absolute.std_error, ex("std_error")),
                ("p_value".into(), c.absolute.p_value, ex("p_value")),
            ]
        }
        "cuped" => {
            let arm = |v: &Value| {
                let cov = nums(&v["covariate"]);
                CupedArm {
                    metric: moments(&v["metric"]),
                    covariate: Covariate {
                        mean: cov[0],
                        variance: cov[1],
                        covariance: cov[2],
                    },
                }
            };
            let (c, t) = (arm(&i["control"]), arm(&i["treatment"]));
            let r = cuped(&c, &t, TestSpec::default())?;
            vec![
                ("theta".into(), cuped_theta(&c, &t), ex("theta")),
                ("difference".into(), r.absolute.estimate, ex("difference")),
                ("statistic".into(), r.absolute.statistic, ex("statistic")),
                ("p_value".into(), r.absolute.p_value, ex("p_value")),
                ("df".into(), r.absolute.df.unwrap_or(f64::NAN), ex("df")),
            ]
        }
        "srm" => {
            let obs: Vec<u64> = nums(&i["observed"]).iter().map(|&x| x as u64).collect();
            let r = sample_ratio_mismatch(&obs, &nums(&i["weights"]))?;
            vec![
                ("statistic".into(), r.statistic, ex("statistic")),
                ("p_value".into(), r.p_value, ex("p_value")),
            ]
        }
        "mann_whitney" => {
            let method = match i["method"].as_str() {
                Some("exact") => MannWhitneyMethod::Exact,
                Some("asymptotic") => MannWhitneyMethod::Asymptotic,
                _ => MannWhitneyMethod::Auto,
            };
            let r = mann_whitney(
                &nums(&i["treatment"]),
                &nums(&i["control"]),
                alternative(&i["alternative"]),
                method,
            )?;
            vec![
                ("u".into(), r.u, ex("u")),
                ("p_value".into(), r.p_value, ex("p_value")),
            ]
        }
        "hodges_lehmann" => one(
            "estimate",
            hodges_lehmann(&nums(&i["treatment"]), &nums(&i["control"]))?,
            ex("estimate"),
        ),
        "binomtest" => {
            let r = binomial_test(
                f("k") as u64,
                f("n") as u64,
                f("p"),
                alternative(&i["alternative"]),
            )?;
            one("p_value", r.p_value, ex("p_value"))
        }
        "multiple" => {
            let method = match i["method"].as_str() {
                Some("bonferroni") => Correction::Bonferroni,
                Some("holm") => Correction::Holm,
                _ => Correction::BenjaminiHochberg,
            };
            let adj = adjust_p_values(&nums(&i["p_values"]), method)?;
            adj.iter()
                .zip(nums(&e["adjusted"]))
                .enumerate()
                .map(|(k, (a, x))| (format!("adjusted[{k}]"), *a, x))
                .collect()
        }
        "power_z" | "power_t" => {
            let ps = PowerSpec::new(f("alpha"), alternative(&i["alternative"]), f("ratio"));
            let p = if kind == "power_z" {
                power_z(f("effect_size"), f("n1"), &ps)?
            } else {
                power_t(f("effect_size"), f("n1"), &ps)?
            };
            one("power", p, ex("power"))
        }
        "sample_size" | "mde" => {
            let ps = PowerSpec::new(f("alpha"), alternative(&i["alternative"]), f("ratio"));
            let test = if i["test"].as_str() == Some("z") {
                PowerTest::Z
            } else {
                PowerTest::T
            };
            if kind == "sample_size" {
                one(
                    "n1",
                    sample_size(test, f("effect_size"), f("power"), &ps)?,
                    ex("n1"),
                )
            } else {
                one(
                    "effect_size",
                    minimum_detectable_effect(test, f("n1"), f("power"), &ps)?,
                    ex("effect_size"),
                )
            }
        }
        "proportion_effect_size" => one(
            "h",
            proportion_effect_size(f("p_treatment"), f("p_control"))?,
            ex("h"),
        ),
        "beta_binomial" => {
            let p = |v: &Value| {
                let x = nums(v);
                Proportion::new(x[0] as u64, x[1] as u64)
            };
            let prior = nums(&i["prior"]);
            let r = beta_binomial(
                &p(&i["control"]),
                &p(&i["treatment"]),
                BetaPrior {
                    a: prior[0],
                    b: prior[1],
                },
            )?;
            vec![
                (
                    "prob_treatment_better".into(),
                    r.prob_treatment_better,
                    ex("prob_treatment_better"),
                ),
                (
                    "expected_loss_treatment".into(),
                    r.expected_loss_treatment,
                    ex("expected_loss_treatment"),
                ),
                (
                    "expected_loss_control".into(),
                    r.expected_loss_control,
                    ex("expected_loss_control"),
                ),
            ]
        }
        "group_sequential" => {
            let spending = match i["spending"].as_str() {
                Some("pocock") => Spending::Pocock,
                _ => Spending::OBrienFleming,
            };
            let d = GroupSequentialDesign::new(
                f("alpha"),
                alternative(&i["alternative"]),
                spending,
                &nums(&i["fractions"]),
            )?;
            d.boundaries()
                .iter()
                .zip(nums(&e["boundaries"]))
                .enumerate()
                .map(|(k, (a, x))| (format!("c[{k}]"), *a, x))
                .collect()
        }
        other => panic!("unknown case kind {other}"),
    })
}

#[test]
fn reference_cases_match_scipy_and_statsmodels() {
    let doc: Value = serde_json::from_str(DATA).expect("reference.json parses");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 300, "only {} reference cases", cases.len());
    let mut failures = vec![];
    let mut checked = 0;
    for (n, case) in cases.iter().enumerate() {
        let kind = case["kind"].as_str().expect("kind");
        let tol = num(&case["tol"]);
        match evaluate(kind, &case["input"], &case["expect"]) {
            Ok(pairs) => {
                for (field, actual, expected) in pairs {
                    checked += 1;
                    if !close(actual, expected, tol) {
                        failures.push(format!(
                            "#{n} {kind}.{field}: got {actual:e}, expected {expected:e} (rel {:.1e}, tol {tol:e}) input {}",
                            ((actual - expected) / expected).abs(),
                            case["input"]
                        ));
                    }
                }
            }
            Err(err) => failures.push(format!(
                "#{n} {kind}: error {err} for input {}",
                case["input"]
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} values differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
