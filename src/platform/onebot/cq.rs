//! OneBot v11 message forms: CQ-code strings and segment arrays, read into one list of
//! [`Piece`]s, and outgoing text written as a segment array.
//!
//! Text rule: outgoing text always leaves as `{"type":"text"}` segments, whose `text` OneBot
//! implementations send literally, so whatever a user typed on any platform (`[CQ:at,qq=…]`,
//! `&#91;`, `@全体成员`) reaches QQ as those characters and never as a CQ code. The only `at`
//! segments are the bot's own mentions, made by [`segments`] from mention tokens; no text is
//! ever parsed for CQ codes on the way out. Inbound text is read as the user wrote it.
//!
//! <https://github.com/botuniverse/onebot-11/blob/master/message/string.md>,
//! <https://github.com/botuniverse/onebot-11/blob/master/message/array.md>

use serde_json::{Value, json};

use crate::platform::render::{self, Limit};

/// One piece of an inbound message, whichever form it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    /// Plain text, unescaped.
    Text(String),
    /// An @-mention: `qq` is a QQ number or `all`; `name` is given by some implementations.
    At {
        /// The mentioned account.
        qq: String,
        /// The display name the implementation attached, if any.
        name: Option<String>,
    },
    /// Anything else (face, image, reply, record, json, …), by type.
    Other(String),
}

/// Undoes the CQ escapes of plain text and parameter values. `&amp;` goes last so that
/// `&amp;#91;` reads as the literal `&#91;`, as the spec's escaping order implies.
pub(super) fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&#91;", "[")
        .replace("&#93;", "]")
        .replace("&#44;", ",")
        .replace("&amp;", "&")
}

/// Reads a CQ-code string. A `[CQ:` without its closing `]` is kept as text: implementations
/// escape brackets in text, so an unclosed code is junk, not markup.
pub(super) fn parse_string(s: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("[CQ:") {
        let Some(len) = rest.get(start..).and_then(|code| code.find(']')) else {
            break;
        };
        let before = rest.get(..start).unwrap_or_default();
        if !before.is_empty() {
            pieces.push(Piece::Text(unescape(before)));
        }
        // Between `[CQ:` and `]`: `type,key=value,key=value`.
        let inner = rest.get(start + 4..start + len).unwrap_or_default();
        pieces.push(code_piece(inner));
        rest = rest.get(start + len + 1..).unwrap_or_default();
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(unescape(rest)));
    }
    pieces
}

/// One CQ code's body (`at,qq=123`) as a piece.
fn code_piece(inner: &str) -> Piece {
    let mut parts = inner.split(',');
    let kind = parts.next().unwrap_or_default().trim();
    if kind != "at" && kind != "text" {
        return Piece::Other(kind.to_owned());
    }
    let mut qq = None;
    let mut name = None;
    let mut text = None;
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let value = unescape(value);
        match key.trim() {
            "qq" => qq = Some(value),
            "name" => name = Some(value),
            "text" => text = Some(value),
            _ => {}
        }
    }
    match (kind, qq, text) {
        ("at", Some(qq), _) => Piece::At {
            qq: qq.trim().to_owned(),
            name,
        },
        ("text", _, Some(text)) => Piece::Text(text),
        _ => Piece::Other(kind.to_owned()),
    }
}

/// A segment data value as a string: implementations disagree on whether `qq` is a number
/// or a string.
fn data_string(data: Option<&Value>, key: &str) -> Option<String> {
    match data?.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a segment array. Segments that are not objects with a string `type` are skipped.
pub(super) fn parse_segments(segments: &[Value]) -> Vec<Piece> {
    segments
        .iter()
        .filter_map(|segment| {
            let kind = segment.get("type")?.as_str()?;
            let data = segment.get("data");
            Some(match kind {
                "text" => Piece::Text(data_string(data, "text").unwrap_or_default()),
                "at" => match data_string(data, "qq") {
                    Some(qq) => Piece::At {
                        qq: qq.trim().to_owned(),
                        name: data_string(data, "name"),
                    },
                    None => Piece::Other(kind.to_owned()),
                },
                other => Piece::Other(other.to_owned()),
            })
        })
        .collect()
}

/// A QQ number: 1 to 20 ASCII digits.
pub(super) fn is_qq_number(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Outgoing text (with mention tokens) as a OneBot segment array: the text literally in text
/// segments, and an `at` segment for each mention of a QQ number in a group. In a private
/// chat an `at` means nothing, so there the mention is `@name` text; so is a mention whose id
/// is not a QQ number (never `all`).
pub(in crate::platform) fn segments(text: &str, group: bool) -> Vec<Value> {
    let pieces = render::render(text, Limit::NONE, str::to_owned, |_, name| {
        format!("@{name}")
    });
    let mut out = Vec::new();
    let mut plain = String::new();
    for piece in pieces {
        match piece.mentions {
            Some(qq) if group && is_qq_number(&qq) => {
                if !plain.is_empty() {
                    out.push(text_segment(&std::mem::take(&mut plain)));
                }
                out.push(json!({"type": "at", "data": {"qq": qq}}));
            }
            _ => plain.push_str(&piece.text),
        }
    }
    if !plain.is_empty() {
        out.push(text_segment(&plain));
    }
    out
}

fn text_segment(text: &str) -> Value {
    json!({"type": "text", "data": {"text": text}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Piece {
        Piece::Text(s.to_owned())
    }

    fn at(qq: &str) -> Piece {
        Piece::At {
            qq: qq.to_owned(),
            name: None,
        }
    }

    #[test]
    fn cq_strings_read_into_text_and_mentions() {
        for (input, expected) in [
            ("", vec![]),
            ("帮助", vec![text("帮助")]),
            ("[CQ:at,qq=10001] 帮助", vec![at("10001"), text(" 帮助")]),
            (
                "[CQ:reply,id=-12345][CQ:at,qq=10001] 签到",
                vec![Piece::Other("reply".to_owned()), at("10001"), text(" 签到")],
            ),
            (
                "a&#91;b&#93;&amp;c&#44;[CQ:face,id=1]",
                vec![text("a[b]&c,"), Piece::Other("face".to_owned())],
            ),
            ("&amp;#91;", vec![text("&#91;")]),
            (
                "[CQ:at,qq=all] x [CQ:at,qq=42,name=张&#44;三]",
                vec![
                    at("all"),
                    text(" x "),
                    Piece::At {
                        qq: "42".to_owned(),
                        name: Some("张,三".to_owned()),
                    },
                ],
            ),
            ("[CQ:at] x", vec![Piece::Other("at".to_owned()), text(" x")]),
            ("unclosed [CQ:at,qq=1", vec![text("unclosed [CQ:at,qq=1")]),
            ("[CQ:]", vec![Piece::Other(String::new())]),
        ] {
            assert_eq!(parse_string(input), expected, "{input}");
        }
    }

    #[test]
    fn segment_arrays_read_into_text_and_mentions() {
        let segments = json!([
            {"type": "reply", "data": {"id": "123"}},
            {"type": "at", "data": {"qq": "10001", "name": "党建助手"}},
            {"type": "text", "data": {"text": " 加入 [CQ:at,qq=1]"}},
            {"type": "at", "data": {"qq": 42}},
            {"type": "image", "data": {"file": "x.jpg"}},
            {"type": "at", "data": {}},
            {"data": {"text": "no type"}},
            "junk",
            {"type": "text"},
        ]);
        assert_eq!(
            parse_segments(segments.as_array().unwrap()),
            vec![
                Piece::Other("reply".to_owned()),
                Piece::At {
                    qq: "10001".to_owned(),
                    name: Some("党建助手".to_owned())
                },
                text(" 加入 [CQ:at,qq=1]"),
                at("42"),
                Piece::Other("image".to_owned()),
                Piece::Other("at".to_owned()),
                text(""),
            ]
        );
    }

    #[test]
    fn replies_become_text_segments_with_our_mentions_as_at_segments() {
        let m = crate::platform::mention_token("42", "张,三]");
        assert_eq!(
            segments(
                &format!("请 {m} 确认 [CQ:image,file=x] [CQ:at,qq=all] [CQ:at,qq=7]"),
                true
            ),
            vec![
                json!({"type": "text", "data": {"text": "请 "}}),
                json!({"type": "at", "data": {"qq": "42"}}),
                json!({"type": "text", "data": {"text": " 确认 [CQ:image,file=x] [CQ:at,qq=all] [CQ:at,qq=7]"}}),
            ]
        );
        // In a private chat the mention is the name as text.
        assert_eq!(
            segments(&format!("{m}你好"), false),
            vec![json!({"type": "text", "data": {"text": "@张,三]你好"}})]
        );
        // A token whose id is not a QQ number (`all` included) mentions no one.
        for id in ["all", "ou_x", "12a"] {
            let m = crate::platform::mention_token(id, "Bob");
            assert_eq!(
                segments(&m, true),
                vec![json!({"type": "text", "data": {"text": "@Bob"}})],
                "{id}"
            );
        }
        assert!(segments("", true).is_empty());
    }
}
