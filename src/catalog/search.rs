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

/// The words of a match expression built by [`match_expression`], for PostgreSQL: the words
/// every match must contain, space-separated, and the word typed last (a prefix), if any. The
/// SQL turns them into a `tsquery` with `plainto_tsquery`, after folding them with the same
/// `search_fold` (unaccent) as the stored vectors, so user text is never tsquery syntax and
/// both sides fold alike.
pub fn postgres_words(match_expression: &str) -> (String, String) {
    let mut words = Vec::new();
    let mut prefix = String::new();
    for part in match_expression.split(' ') {
        match part.strip_suffix('*') {
            Some(w) => prefix = w.trim_matches('"').to_owned(),
            None => words.push(part.trim_matches('"').to_owned()),
        }
    }
    words.retain(|w| !w.is_empty());
    (words.join(" "), prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_words_split_full_words_from_the_prefix() {
        let q = |s: &str| match_expression(s).map(|e| postgres_words(&e));
        assert_eq!(q("Red shoe"), Some(("red".into(), "shoe".into())));
        assert_eq!(q("red shoe "), Some(("red shoe".into(), String::new())));
        assert_eq!(q("Pót crè"), Some(("pót".into(), "crè".into())));
        assert_eq!(
            q("'; DROP TABLE x; --"),
            Some(("drop table x".into(), String::new()))
        );
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
