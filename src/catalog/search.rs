//! Turns what a shopper typed into a safe full-text query. User text is never handed to
//! the FTS5 parser as syntax: it is split into words (letters and digits), each word becomes
//! a quoted string, and only the last one becomes a prefix query (type-ahead) unless the text
//! ends with a space. Quotes, `*`, `NEAR`, `AND`, brackets and the like are therefore plain
//! text or separators and cannot break the query.

/// At most this many words take part in a search.
pub const MAX_TERMS: usize = 8;
/// Words are cut to this many characters.
pub const MAX_TERM_CHARS: usize = 40;

/// The FTS5 match expression for `q`, or `None` when `q` holds no searchable word.
pub fn match_expression(q: &str) -> Option<String> {
    let terms: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| {
            t.chars()
                .take(MAX_TERM_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .collect();
    if terms.is_empty() {
        return None;
    }
    let typing_last_word = q.chars().last().is_some_and(char::is_alphanumeric);
    let last = terms.len() - 1;
    let parts: Vec<String> = terms
        .iter()
        .enumerate()
        .map(|(i, t)| {
            // Terms hold only letters and digits, so no quote needs escaping.
            if i == last && typing_last_word {
                format!("\"{t}\"*")
            } else {
                format!("\"{t}\"")
            }
        })
        .collect();
    Some(parts.join(" "))
}

/// The PostgreSQL `tsquery` (for `to_tsquery('simple', …)`) with the same meaning as a match
/// expression built by [`match_expression`]: every word required, `:*` on a prefix word.
/// Words hold only letters and digits, so nothing in them is tsquery syntax; their accents
/// are removed (the stored vectors are folded with `unaccent` by the migration's trigger).
pub fn tsquery_of(match_expression: &str) -> String {
    match_expression
        .split(' ')
        .filter_map(|part| {
            let (word, prefix) = match part.strip_suffix('*') {
                Some(w) => (w, true),
                None => (part, false),
            };
            let word = fold_accents(word.trim_matches('"'));
            if word.is_empty() {
                None
            } else if prefix {
                Some(format!("{word}:*"))
            } else {
                Some(word.to_owned())
            }
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// `word` without combining marks after canonical decomposition: "pót" → "pot".
#[cfg(feature = "postgres")]
fn fold_accents(word: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    word.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// Without the `postgres` feature no tsquery is ever run.
#[cfg(not(feature = "postgres"))]
fn fold_accents(word: &str) -> String {
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_queries_mean_the_same() {
        let q = |s: &str| match_expression(s).map(|e| tsquery_of(&e));
        assert_eq!(q("Red shoe").as_deref(), Some("red & shoe:*"));
        assert_eq!(q("red shoe ").as_deref(), Some("red & shoe"));
        assert_eq!(q("a:b & c|!d").as_deref(), Some("a & b & c & d:*"));
        assert_eq!(q("'; DROP TABLE x; --"), Some("drop & table & x".into()));
        #[cfg(feature = "postgres")]
        assert_eq!(q("Pót crè").as_deref(), Some("pot & cre:*"));
    }

    #[test]
    fn words_are_quoted_and_the_last_is_a_prefix() {
        assert_eq!(
            match_expression("Red shoe").as_deref(),
            Some("\"red\" \"shoe\"*")
        );
        assert_eq!(
            match_expression("red shoe ").as_deref(),
            Some("\"red\" \"shoe\"")
        );
        assert_eq!(match_expression("sh").as_deref(), Some("\"sh\"*"));
    }

    #[test]
    fn hostile_input_is_inert() {
        for q in [
            "\"",
            "*",
            "\"unbalanced",
            "(shoe",
            "shoe)",
            "NEAR(a b)",
            "a AND OR NOT b",
            "-x",
            "^start",
            "col:term",
            "{a b}",
            "a + b",
            "'; DROP TABLE products; --",
        ] {
            let expr = match_expression(q);
            if let Some(e) = &expr {
                assert!(!e.contains('('), "{q:?} -> {e}");
                assert!(!e.contains(':'), "{q:?} -> {e}");
                assert_eq!(e.matches('"').count() % 2, 0, "balanced quotes for {q:?}");
            }
        }
        assert_eq!(match_expression("***"), None);
        assert_eq!(match_expression("   "), None);
        assert_eq!(match_expression("NEAR").as_deref(), Some("\"near\"*"));
    }

    #[test]
    fn terms_are_bounded() {
        let long = "word ".repeat(50);
        let expr = match_expression(&long).unwrap_or_default();
        assert_eq!(expr.matches('"').count(), MAX_TERMS * 2);
        let huge = "a".repeat(500);
        assert_eq!(
            match_expression(&huge).map(|e| e.len()),
            Some(MAX_TERM_CHARS + 3)
        );
    }

    #[test]
    fn unicode_words_survive() {
        assert_eq!(
            match_expression("Café ñandú").as_deref(),
            Some("\"café\" \"ñandú\"*")
        );
    }
}
