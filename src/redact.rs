//! Secrets from the configuration never leave covtop: credentials written into a target's URL
//! (`http://admin:TOKEN@host:7777`) are taken out of every text covtop shows or writes — the
//! View's diagnostics and replica states, the headless commands' output, `watch`'s log events and
//! error messages. Redacting where text leaves (rather than where each message is made) keeps
//! messages added later covered too.

use std::borrow::Cow;

/// What replaces a URL's user information.
pub const MASK: &str = "***";

/// `text` with the user information of every `scheme://user:password@host` taken out
/// (`scheme://***@host`). Text without any is returned as it is, without copying.
pub fn redact(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, after) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#', whitespace or quote.
        let end = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>') || c.is_whitespace()
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
                changed = true;
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// [`redact`] into an owned string.
pub fn redacted(text: &str) -> String {
    redact(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_taken_out_of_every_url() {
        assert_eq!(
            redact("GET http://admin:TOKEN@10.0.0.1:7777/v1/cover/list failed"),
            "GET http://***@10.0.0.1:7777/v1/cover/list failed"
        );
        assert_eq!(
            redact("a https://tok@h/x and \"http://u:p@h:1\" b"),
            "a https://***@h/x and \"http://***@h:1\" b"
        );
        assert_eq!(redact("mail me@example.com"), "mail me@example.com");
        assert_eq!(redact("http://h:1/p?user=a@b"), "http://h:1/p?user=a@b");
        assert!(matches!(redact("http://h:1"), Cow::Borrowed(_)));
        assert_eq!(redact("x://@"), "x://***@");
        assert_eq!(redact("://"), "://");
    }
}
