//! Text from agents, repositories and files reaches terminals and line-based reports: control
//! characters in it are shown escaped (`\u{1b}`), never sent raw — an agent id cannot ring the
//! bell or move the cursor, and a file named `x\nTOTAL 999` cannot forge a report line.

use std::borrow::Cow;

fn is_control(c: char, keep_newlines: bool) -> bool {
    c.is_control() && c != '\t' && !(keep_newlines && c == '\n')
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c, keep_newlines)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c, keep_newlines) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One field shown on one line (a path, an id): every control character escaped, newlines too.
pub fn field(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Lines of output: control characters escaped, the newlines that separate lines kept.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(field("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(field("forged\nTOTAL 999"), "forged\\u{a}TOTAL 999");
        assert_eq!(lines("one\ntwo\u{7}\n"), "one\ntwo\\u{7}\n");
        assert_eq!(field("tab\tok é"), "tab\tok é");
        assert!(matches!(field("plain"), Cow::Borrowed(_)));
        assert_eq!(field("\u{9b}31m"), "\\u{9b}31m", "C1 controls too");
    }
}
