//! "Did you mean" suggestions: the closest known name by edit distance.

/// The candidate closest to `unknown`, if one is close enough to be a likely typo: at most one
/// edit per three characters (at least one edit), as rustc's own suggestions allow, and fewer
/// edits than `unknown` has characters (`p` is not a typo of `s`). A candidate that differs only
/// in case always qualifies. Ties go to the candidate listed first.
pub(crate) fn closest<'a>(
    unknown: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let length = unknown.chars().count();
    let limit = (length / 3).max(1).min(length.saturating_sub(1));
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = if candidate.eq_ignore_ascii_case(unknown) {
            0
        } else {
            edit_distance(unknown, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The optimal-string-alignment distance between `a` and `b`: the number of single-character
/// insertions, deletions, substitutions and swaps of two adjacent characters that turn one into
/// the other. Swaps count once because `raadr` for `radar` is one slip of the fingers, not two.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows of the dynamic-programming table: two rows back is needed for swaps.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a.get(i - 1) == Some(&cb) && b.get(j - 1) == Some(&ca) {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn distances() {
        assert_eq!(edit_distance("radar", "radar"), 0);
        assert_eq!(edit_distance("radr", "radar"), 1);
        assert_eq!(edit_distance("raadr", "radar"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn suggestions() {
        let names = ["radar", "optical", "normalize", "archive"];
        assert_eq!(closest("radr", names), Some("radar"));
        assert_eq!(closest("normalise", names), Some("normalize"));
        assert_eq!(closest("Archive", names), Some("archive"));
        assert_eq!(closest("dedup", names), None);
        assert_eq!(closest("x", ["y"]), None);
        assert_eq!(closest("X", ["y", "x"]), Some("x"));
        assert_eq!(closest("ab", ["ba", "ax"]), Some("ba"));
        assert_eq!(closest("xyz", ["abc"]), None);
    }
}
