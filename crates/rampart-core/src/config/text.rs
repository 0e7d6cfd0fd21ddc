//! Helpers for reporting on config-like text files: byte offsets to line numbers, and the edit
//! distance behind "did you mean" hints. The config loader and the simulator's scenario loader
//! both use them.

/// Maps byte offsets of a text to 1-based line numbers.
#[derive(Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { starts }
    }

    /// The line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// The line where `span` starts, when there is a span.
    pub fn of(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        span.map(|s| self.line(s.start))
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_offsets_at_a_line_start_belong_to_it() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(1), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(5), 3);
        assert_eq!(idx.line(6), 4);
        assert_eq!(idx.of(Some(3..4)), Some(2));
        assert_eq!(idx.of(None), None);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("traffic", "traffic"), 0);
    }
}

/// A number as a person would write it in config: at most 10 significant digits, so arithmetic
/// noise (`0.07 × 100 = 7.000000000000001`) does not show.
pub fn short_number(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return if x == 0.0 { "0".into() } else { x.to_string() };
    }
    let digits = (9 - x.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

#[cfg(test)]
mod short_number_tests {
    #[test]
    fn short_numbers_hide_float_noise() {
        use super::short_number;
        assert_eq!(short_number(0.07 * 100.0), "7");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(-0.02), "-0.02");
        assert_eq!(short_number(1e-12), "0.000000000001");
        assert_eq!(short_number(250.0), "250");
        assert_eq!(short_number(0.0), "0");
    }
}
