//! Adjusted p-values for many metrics, variants or segments: Bonferroni, Holm (1979) step-down and
//! Benjamini–Hochberg (1995) step-up false discovery rate, as statsmodels `multipletests` computes
//! them. Reject hypothesis i at level α when its adjusted p-value is ≤ α.

use crate::error::{check, StatsError};

/// A multiple-comparison correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// min(1, m·p): controls the family-wise error rate.
    Bonferroni,
    /// Step-down Bonferroni: controls the family-wise error rate, uniformly more powerful.
    Holm,
    /// Step-up: controls the false discovery rate for independent or positively dependent tests.
    BenjaminiHochberg,
}

/// Adjusted p-values in the input order.
pub fn adjust_p_values(p_values: &[f64], correction: Correction) -> Result<Vec<f64>, StatsError> {
    for &p in p_values {
        check(
            (0.0..=1.0).contains(&p),
            "p_values",
            p,
            "p-values in [0, 1]",
        )?;
    }
    let m = p_values.len();
    let mf = m as f64;
    if correction == Correction::Bonferroni {
        return Ok(p_values.iter().map(|p| (p * mf).min(1.0)).collect());
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    match correction {
        Correction::Holm => {
            let mut running: f64 = 0.0;
            for (rank, &i) in order.iter().enumerate() {
                running = running.max((mf - rank as f64) * p_values[i]);
                adjusted[i] = running.min(1.0);
            }
        }
        Correction::BenjaminiHochberg => {
            let mut running: f64 = f64::INFINITY;
            for (rank, &i) in order.iter().enumerate().rev() {
                running = running.min(p_values[i] * mf / (rank as f64 + 1.0));
                adjusted[i] = running.min(1.0);
            }
        }
        Correction::Bonferroni => unreachable!("handled above"),
    }
    Ok(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        // Benjamini & Hochberg (1995) style hand computation with m = 4.
        let p = [0.01, 0.04, 0.03, 0.005];
        let holm = adjust_p_values(&p, Correction::Holm).unwrap();
        assert_eq!(holm, vec![0.03, 0.06, 0.06, 0.02]);
        let bh = adjust_p_values(&p, Correction::BenjaminiHochberg).unwrap();
        let expect = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in bh.iter().zip(expect) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!(adjust_p_values(&[1.5], Correction::Holm).is_err());
        assert!(adjust_p_values(&[], Correction::BenjaminiHochberg)
            .unwrap()
            .is_empty());
    }
}
