//! OneBot v11 message forms: CQ-code strings and segment arrays, read into one list of
//! [`Piece`]s, and outgoing text written as a segment array.
//!
//! Outgoing text is always sent as `{"type":"text"}` segments, so whatever a user typed reaches
//! QQ as literal characters and can never become a CQ code. The one piece of markup we produce
//! ourselves is a mention, which [`mention`] writes as `[CQ:at,qq=<digits>,name=<escaped>]`
//! and [`segments`] turns into an `at` segment. Inbound user text is passed through
//! [`neutralize`], so nothing a QQ user types can later be mistaken for our mention markup.
//!
//! <https://github.com/botuniverse/onebot-11/blob/master/message/string.md>,
//! <https://github.com/botuniverse/onebot-11/blob/master/message/array.md>

use serde_json::{Value, json};

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

/// Escapes a CQ parameter value: `&`, `[`, `]` and `,`.
///
/// <https://github.com/botuniverse/onebot-11/blob/master/message/string.md#转义>
pub(super) fn escape_param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            ',' => out.push_str("&#44;"),
            other => out.push(other),
        }
    }
    out
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

/// Makes inbound user text inert: `[CQ:` becomes `［CQ:` (a full-width bracket), so a name or
/// argument typed as `[CQ:at,qq=…]` stays text when a reply quotes it.
pub(super) fn neutralize(s: &str) -> String {
    s.replace("[CQ:", "［CQ:")
}

/// How this adapter writes a mention into reply text: `[CQ:at,qq=<digits>,name=<escaped>]`,
/// or plain `@name` for an id that is not a QQ number.
pub(super) fn mention(name: &str, user_id: &str) -> String {
    if is_qq_number(user_id) {
        format!("[CQ:at,qq={user_id},name={}]", escape_param(name))
    } else {
        format!("@{name}")
    }
}

/// A QQ number: 1 to 20 ASCII digits.
pub(super) fn is_qq_number(s: &str) -> bool {
    (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A mention in reply text, as [`mention`] writes it: `(byte length, qq, name)`.
fn mention_at(s: &str) -> Option<(usize, &str, Option<String>)> {
    let body = s.strip_prefix("[CQ:at,qq=")?;
    let end = body.find(']')?;
    let inner = body.get(..end)?;
    let (qq, name) = match inner.split_once(",name=") {
        Some((qq, name)) => (qq, Some(unescape(name))),
        None => (inner, None),
    };
    // Only our own form: digits only, so `all` (everyone) or other parameters stay text.
    if !is_qq_number(qq) {
        return None;
    }
    Some(("[CQ:at,qq=".len() + end + 1, qq, name))
}

/// Reply text as a OneBot segment array: text segments carrying the text literally, and an
/// `at` segment for each mention written by [`mention`]. In a private chat an `at` means
/// nothing, so the mention becomes `@name` text there.
pub(super) fn segments(text: &str, group: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("[CQ:at,qq=") {
        let (before, code) = rest.split_at(at);
        plain.push_str(before);
        match mention_at(code) {
            Some((len, qq, name)) => {
                if group {
                    if !plain.is_empty() {
                        out.push(text_segment(&std::mem::take(&mut plain)));
                    }
                    out.push(json!({"type": "at", "data": {"qq": qq}}));
                } else {
                    plain.push('@');
                    plain.push_str(name.as_deref().unwrap_or(qq));
                }
                rest = code.get(len..).unwrap_or_default();
            }
            None => {
                // Not our mention: keep the bracket as text and look further on.
                plain.push('[');
                rest = code.get(1..).unwrap_or_default();
            }
        }
    }
    plain.push_str(rest);
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
    fn parameters_are_escaped_and_unescaped_symmetrically() {
        let nasty = "a&b[c]d,e&#91;";
        assert_eq!(escape_param(nasty), "a&amp;b&#91;c&#93;d&#44;e&amp;#91;");
        assert_eq!(unescape(&escape_param(nasty)), nasty);
    }

    #[test]
    fn replies_become_text_segments_with_our_mentions_as_at_segments() {
        let m = mention("张,三]", "42");
        assert_eq!(m, "[CQ:at,qq=42,name=张&#44;三&#93;]");
        assert_eq!(
            segments(
                &format!("请 {m} 确认 [CQ:image,file=x] [CQ:at,qq=all]"),
                true
            ),
            vec![
                json!({"type": "text", "data": {"text": "请 "}}),
                json!({"type": "at", "data": {"qq": "42"}}),
                json!({"type": "text", "data": {"text": " 确认 [CQ:image,file=x] [CQ:at,qq=all]"}}),
            ]
        );
        // In a private chat the mention is the name as text.
        assert_eq!(
            segments(&format!("{m}你好"), false),
            vec![json!({"type": "text", "data": {"text": "@张,三]你好"}})]
        );
        assert_eq!(
            segments("[CQ:at,qq=7]", true),
            vec![json!({"type": "at", "data": {"qq": "7"}})]
        );
        assert_eq!(
            segments("[CQ:at,qq=7", true),
            vec![json!({"type": "text", "data": {"text": "[CQ:at,qq=7"}})]
        );
        assert!(segments("", true).is_empty());
        assert_eq!(mention("Bob", "ou_x"), "@Bob");
    }

    #[test]
    fn typed_cq_codes_are_made_inert() {
        let typed = neutralize("加入 [CQ:at,qq=1]");
        assert_eq!(typed, "加入 ［CQ:at,qq=1]");
        assert_eq!(
            segments(&typed, true),
            vec![json!({"type": "text", "data": {"text": "加入 ［CQ:at,qq=1]"}})]
        );
    }
}
