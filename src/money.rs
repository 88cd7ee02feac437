//! Money is integer minor units (`*_cents`); this formats it for people.

/// `150000, "KES"` → `"KES 1,500.00"`.
pub fn format(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{currency} {sign}{grouped}.{:02}", abs % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_grouping_and_two_decimals() {
        assert_eq!(super::format(150_000, "KES"), "KES 1,500.00");
        assert_eq!(super::format(5, "KES"), "KES 0.05");
        assert_eq!(super::format(123_456_789, "KES"), "KES 1,234,567.89");
        assert_eq!(super::format(-250, "KES"), "KES -2.50");
    }
}
