//! Outgoing text, rendered once per platform at the last moment.
//!
//! Features write plain text: a topic, a name, a reason or a notice goes in as the user typed
//! it, on whichever platform they typed it, and the only markup in it is the neutral mention
//! token of [`super::mention_token`] (Unicode noncharacters, which the webhook strips from
//! everything users type). That text reaches the adapter unchanged, through the outbox and
//! through [`super::Platform::render_replies`] alike. The adapter splits it with [`segments`]
//! into text and mentions and renders it with [`render`]: every text segment through its
//! platform's escape function, so that nothing typed anywhere becomes a mention, link, tag
//! or CQ code there, and every mention through its platform's mention form. So the bot's
//! mentions are exactly the tokens, and everything else is shown as data.

use std::borrow::Cow;

use crate::domain::chat::{
    MENTION_CLOSE as CLOSE, MENTION_OPEN as OPEN, MENTION_SEP as SEP, is_token_char,
};

/// Zero-width space: breaks a sequence that a platform would read as markup (`<at`, `](`,
/// `@name`) without changing what the reader sees.
pub const ZWSP: char = '\u{200B}';

/// One piece of outgoing text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text to show as it is, whoever wrote it; the adapter escapes it for its format.
    Text(Cow<'a, str>),
    /// A mention the bot means, from a [`super::mention_token`].
    Mention {
        /// The platform's id of the person (as the identity on that bot records it).
        user_id: &'a str,
        /// The name to show; user-made, so the adapter escapes it too.
        name: &'a str,
    },
}

/// Splits `text` into text and mentions. Neighbouring text is one segment, so an escape
/// function sees all of it (`[x` and `](url)` are never split). The marker characters of a
/// broken token (a token cut short) are dropped and its text kept; no marker character ever
/// reaches a segment.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    if !text.contains(is_token_char) {
        // The common case, no token at all: no copy.
        return if text.is_empty() {
            Vec::new()
        } else {
            vec![Segment::Text(Cow::Borrowed(text))]
        };
    }
    let mut out: Vec<Segment<'_>> = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        plain.extend(
            rest.get(..start)
                .unwrap_or_default()
                .chars()
                .filter(|c| !is_token_char(*c)),
        );
        let after = rest.get(start + OPEN.len_utf8()..).unwrap_or_default();
        let token = after.find(CLOSE).and_then(|end| {
            let inner = after.get(..end)?;
            let (user_id, name) = inner.split_once(SEP)?;
            let clean = !user_id.is_empty()
                && !user_id.contains(is_token_char)
                && !name.contains(is_token_char);
            clean.then(|| (user_id, name, end + CLOSE.len_utf8()))
        });
        match token {
            Some((user_id, name, used)) => {
                if !plain.is_empty() {
                    out.push(Segment::Text(Cow::Owned(std::mem::take(&mut plain))));
                }
                out.push(Segment::Mention { user_id, name });
                rest = after.get(used..).unwrap_or_default();
            }
            None => rest = after,
        }
    }
    plain.extend(rest.chars().filter(|c| !is_token_char(*c)));
    if !plain.is_empty() {
        out.push(Segment::Text(Cow::Owned(plain)));
    }
    out
}

/// The same text with every mention written as its name: for logs, previews and the text a
/// platform shows where it has no mention at all.
pub fn plain_text(text: &str) -> String {
    segments(text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => t.into_owned(),
            Segment::Mention { name, .. } => format!("@{name}"),
        })
        .collect()
}

/// How much a platform takes in one message, in the unit it counts.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// The most units a message may hold.
    pub max: usize,
    /// Counts the units of a string.
    pub measure: fn(&str) -> usize,
}

impl Limit {
    /// No limit.
    pub const NONE: Self = Self {
        max: usize::MAX,
        measure: str::len,
    };

    /// At most `max` bytes of UTF-8.
    pub fn bytes(max: usize) -> Self {
        Self {
            max,
            measure: str::len,
        }
    }

    /// At most `max` characters.
    pub fn chars(max: usize) -> Self {
        Self {
            max,
            measure: |s| s.chars().count(),
        }
    }

    /// At most `max` UTF-16 code units (Telegram).
    pub fn utf16(max: usize) -> Self {
        Self {
            max,
            measure: |s| s.encode_utf16().count(),
        }
    }
}

/// A piece of rendered text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The text in the platform's format.
    pub text: String,
    /// For a rendered mention, whom it names (the token's user id); `None` for text.
    pub mentions: Option<String>,
}

/// The end of a text cut to fit.
const ELLIPSIS: &str = "…";

/// Renders `text` for one platform: each text segment through `escape`, each mention through
/// `mention(user_id, name)`. What does not fit `limit` is cut and ends with `…`: text is cut
/// between characters, a mention is kept whole or left out, so no markup is ever cut in half.
/// `escape` must give text that stays inert when cut between any two characters (every escape
/// in this crate inserts or replaces characters after the one that would open markup).
pub fn render(
    text: &str,
    limit: Limit,
    mut escape: impl FnMut(&str) -> String,
    mut mention: impl FnMut(&str, &str) -> String,
) -> Vec<Piece> {
    let pieces: Vec<Piece> = segments(text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(t) => Piece {
                text: escape(&t),
                mentions: None,
            },
            Segment::Mention { user_id, name } => Piece {
                text: mention(user_id, name),
                mentions: Some(user_id.to_owned()),
            },
        })
        .collect();
    let measure = limit.measure;
    let total: usize = pieces.iter().map(|p| measure(&p.text)).sum();
    if total <= limit.max {
        return pieces;
    }
    let budget = limit.max.saturating_sub(measure(ELLIPSIS));
    let mut used = 0;
    let mut kept = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let size = measure(&piece.text);
        if used + size <= budget {
            used += size;
            kept.push(piece);
            continue;
        }
        if piece.mentions.is_none() {
            let mut cut = String::new();
            for c in piece.text.chars() {
                let mut one = [0u8; 4];
                let width = measure(c.encode_utf8(&mut one));
                if used + width > budget {
                    break;
                }
                used += width;
                cut.push(c);
            }
            if !cut.is_empty() {
                kept.push(Piece {
                    text: cut,
                    mentions: None,
                });
            }
        }
        break;
    }
    kept.push(Piece {
        text: ELLIPSIS.to_owned(),
        mentions: None,
    });
    kept
}

/// [`render`], joined into one string.
pub fn render_string(
    text: &str,
    limit: Limit,
    escape: impl FnMut(&str) -> String,
    mention: impl FnMut(&str, &str) -> String,
) -> String {
    render(text, limit, escape, mention)
        .into_iter()
        .map(|p| p.text)
        .collect()
}

/// Puts [`ZWSP`] after every character for which `after` holds: the escape of platforms
/// where one character opens markup and an invisible break after it closes the door.
pub fn break_after(text: &str, after: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        out.push(c);
        if after(c) {
            out.push(ZWSP);
        }
    }
    out
}

/// Puts [`ZWSP`] after every `&` that opens an HTML character reference (`&lt;`, `&#60;`,
/// `&#x3c;`), so that a renderer that decodes them cannot turn typed text into a `<`. Other
/// `&`s stay as they are, so that `?a=1&b=2` in a link is not cut.
pub fn break_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (at, c) in text.char_indices() {
        out.push(c);
        if c == '&' && opens_reference(text.get(at + 1..).unwrap_or_default()) {
            out.push(ZWSP);
        }
    }
    out
}

/// Whether `rest` (what follows a `&`) is the body of a character reference: a name, a
/// decimal or a hexadecimal number, then `;`.
fn opens_reference(rest: &str) -> bool {
    // Names are short; a `;` further on ends something else.
    let Some((end, _)) = rest.char_indices().take(34).find(|(_, c)| *c == ';') else {
        return false;
    };
    let body = rest.get(..end).unwrap_or_default();
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.chars().all(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
    };
    match body.strip_prefix('#') {
        Some(n) => match n.strip_prefix(['x', 'X']) {
            Some(hex) => digits(hex, true),
            None => digits(n, false),
        },
        None => {
            body.starts_with(|c: char| c.is_ascii_alphabetic())
                && body.chars().all(|c| c.is_ascii_alphanumeric())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::mention_token;

    fn text(s: &str) -> Segment<'_> {
        Segment::Text(Cow::Borrowed(s))
    }

    #[test]
    fn text_without_tokens_is_one_borrowed_segment() {
        assert_eq!(segments("会议 #3 [x](y)"), vec![text("会议 #3 [x](y)")]);
        assert!(matches!(
            segments("abc")[0],
            Segment::Text(Cow::Borrowed(_))
        ));
        assert!(segments("").is_empty());
    }

    #[test]
    fn tokens_become_mentions_between_text_segments() {
        let t = format!(
            "提醒 {} 和 {}。",
            mention_token("ou_1", "张三"),
            mention_token("2", "李<四>")
        );
        assert_eq!(
            segments(&t),
            vec![
                text("提醒 "),
                Segment::Mention {
                    user_id: "ou_1",
                    name: "张三"
                },
                text(" 和 "),
                Segment::Mention {
                    user_id: "2",
                    name: "李<四>"
                },
                text("。"),
            ]
        );
    }

    #[test]
    fn broken_tokens_and_stray_markers_lose_their_markers_and_keep_their_text() {
        let whole = mention_token("u1", "张三");
        // Cut short (as a truncation might), doubled, empty id, markers alone.
        let cut: String = whole.chars().take(4).collect();
        for (input, expected) in [
            (format!("a{cut}b"), "au1b".to_owned()),
            (
                "x\u{FDE0}\u{FDE1}name\u{FDE2}y".to_owned(),
                "xnamey".to_owned(),
            ),
            (
                "\u{FDE2}\u{FDE1}\u{FDD0}ok\u{FDEF}".to_owned(),
                "ok".to_owned(),
            ),
            (format!("\u{FDE0}{whole}"), "@张三".to_owned()),
        ] {
            let got = plain_text(&input);
            assert_eq!(got, expected, "{input:?}");
            assert!(!got.contains(is_token_char));
        }
    }

    #[test]
    fn render_escapes_text_and_writes_mentions_in_order() {
        let t = format!("<b>{}</b>", mention_token("7", "a"));
        let pieces = render(
            &t,
            Limit::NONE,
            |s| s.replace('<', "&lt;"),
            |id, name| format!("[{id}:{name}]"),
        );
        let joined: String = pieces.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "&lt;b>[7:a]&lt;/b>");
        assert_eq!(pieces[1].mentions.as_deref(), Some("7"));
        assert_eq!(pieces[0].mentions, None);
    }

    #[test]
    fn a_cut_keeps_mentions_whole_and_ends_with_an_ellipsis() {
        let t = format!("abcdef{}ghij", mention_token("7", "name"));
        let render_at = |max| {
            render_string(&t, Limit::chars(max), str::to_owned, |_, n| {
                format!("<@{n}>")
            })
        };
        assert_eq!(render_at(100), "abcdef<@name>ghij");
        assert_eq!(render_at(17), "abcdef<@name>ghij");
        // The mention does not fit: it is left out, not cut.
        assert_eq!(render_at(10), "abcdef…");
        assert_eq!(render_at(14), "abcdef<@name>…");
        assert_eq!(render_at(4), "abc…");
        for max in 0..20 {
            let out = render_at(max);
            assert!(out.chars().count() <= max.max(1), "{max}: {out}");
            assert!(!out.contains("<@n") || out.contains("<@name>"), "{out}");
        }
        let emoji = "😀".repeat(10);
        let cut = render_string(&emoji, Limit::utf16(7), str::to_owned, |_, _| String::new());
        assert_eq!(cut, "😀😀😀…");
    }

    #[test]
    fn only_a_character_reference_gets_a_break_after_its_ampersand() {
        for (input, expected) in [
            ("&lt;at&gt;", "&\u{200B}lt;at&\u{200B}gt;"),
            (
                "&#60;&#x3C;&#X3c;",
                "&\u{200B}#60;&\u{200B}#x3C;&\u{200B}#X3c;",
            ),
            (
                "https://m.example/j?a=1&b=2&c",
                "https://m.example/j?a=1&b=2&c",
            ),
            (
                "A&B; &; &#; &#x; &1a; & lt;",
                "A&\u{200B}B; &; &#; &#x; &1a; & lt;",
            ),
            ("&", "&"),
            ("&#91;文字", "&\u{200B}#91;文字"),
            ("&#9字1;", "&#9字1;"),
            ("&字;", "&字;"),
            (
                "&gt;字字字字字字字字字字字字",
                "&\u{200B}gt;字字字字字字字字字字字字",
            ),
        ] {
            assert_eq!(break_entities(input), expected, "{input}");
        }
    }
}
