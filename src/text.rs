//! Shared rules for free-text input: trimmed, bounded in characters, no control characters
//! (multi-line fields may hold line breaks and tabs).

/// A single-line field of `min..=max` characters after trimming (`min == 0`: may be empty).
pub fn line(raw: &str, min: usize, max: usize) -> Result<String, String> {
    check(raw, min, max, false)
}

/// Like [`line`], but line breaks and tabs are allowed.
pub fn multiline(raw: &str, min: usize, max: usize) -> Result<String, String> {
    check(raw, min, max, true)
}

fn check(raw: &str, min: usize, max: usize, multi: bool) -> Result<String, String> {
    let s = raw.trim();
    let n = s.chars().count();
    if n == 0 && min > 0 {
        Err("is required".into())
    } else if n < min {
        Err(format!("must be at least {min} characters"))
    } else if n > max {
        Err(format!("must be at most {max} characters"))
    } else if s
        .chars()
        .any(|c| c.is_control() && !(multi && matches!(c, '\n' | '\r' | '\t')))
    {
        Err("must not contain control characters".into())
    } else {
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_trimming_and_control_characters() {
        assert_eq!(line("  Jane  ", 1, 10).ok().as_deref(), Some("Jane"));
        assert_eq!(line("   ", 1, 10).err().as_deref(), Some("is required"));
        assert_eq!(line("", 0, 10).ok().as_deref(), Some(""));
        assert!(line("a", 2, 10).is_err());
        assert!(line("abcdef", 1, 5).is_err());
        assert!(line("ñandú", 1, 5).is_ok(), "characters, not bytes");
        assert!(line("a\nb", 1, 10).is_err());
        assert!(multiline("a\nb\tc", 1, 10).is_ok());
        assert!(multiline("a\u{7}b", 1, 10).is_err());
    }
}
