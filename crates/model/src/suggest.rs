//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
///
/// Closeness is the Damerau–Levenshtein distance (a swapped pair of letters counts once),
/// case-insensitive; a candidate qualifies when at most a third of its letters differ
/// (one edit is always allowed) and the two share at least one letter in place (`z` is
/// no typo of `a`). Ties keep the earlier candidate.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|candidate| *candidate != word)
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let len = candidate.chars().count();
            *distance <= (len / 3).max(1) && *distance < len && *distance < lowered.chars().count()
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// ` (did you mean `x`?)` when there is a close candidate, else an empty string.
pub fn hint<'a, I>(word: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    did_you_mean(word, candidates)
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["retries", "retry_delay", "timeout"];
        assert_eq!(did_you_mean("retires", keys), Some("retries"));
        assert_eq!(did_you_mean("timout", keys), Some("timeout"));
        assert_eq!(did_you_mean("RETRIES", keys), Some("retries"));
        assert_eq!(did_you_mean("command", keys), None);
        assert_eq!(did_you_mean("z", ["a", "b"]), None);
        assert_eq!(did_you_mean("dss", ["ds", "ts"]), Some("ds"));
        assert_eq!(hint("retry_dely", keys), " (did you mean `retry_delay`?)");
        assert_eq!(hint("zzz", keys), "");
    }
}
