//! Kafka topic names, checked offline.

/// The longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// Whether Kafka accepts `name` as a topic name: 1 to 249 ASCII letters, digits, `.`, `_`
/// and `-`, and not `.` or `..`.
pub(crate) fn check_topic_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("an empty topic name".to_owned());
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = name.chars().find(|c| !legal(*c)) {
        return Err(format!(
            "`{name}` is not a Kafka topic name: {bad:?} is not allowed (only ASCII letters, \
             digits, `.`, `_` and `-`)"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a Kafka topic name"));
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(format!(
            "a topic name of {} characters: Kafka allows at most {MAX_TOPIC_LEN}",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_s_topic_name_rules() {
        for good in ["shop.public.orders", "a", "A-b_c.9", &"x".repeat(249)] {
            assert_eq!(check_topic_name(good), Ok(()), "{good}");
        }
        for (bad, needle) in [
            ("", "an empty topic name"),
            ("  ", "an empty topic name"),
            ("orders events", "' ' is not allowed"),
            ("shop/orders", "'/' is not allowed"),
            ("commandes-é", "'é' is not allowed"),
            (".", "not a Kafka topic name"),
            ("..", "not a Kafka topic name"),
            (&"x".repeat(250), "at most 249"),
        ] {
            let err = check_topic_name(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
