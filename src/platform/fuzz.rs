//! Hostile inputs shared by the adapters' fuzz tests, and the check every input must pass: the
//! adapter does not panic, and when it refuses the input the error is a clean
//! [`PlatformError`] (see [`assert_clean`]).
//!
//! - [`spliced`]: a valid request with multi-byte UTF-8, a BOM, NUL, a noncharacter and
//!   invalid UTF-8 put in at every byte offset (inside characters too), each offset's byte
//!   replaced by a multi-byte character, and the request cut at every offset.
//! - [`hostile_json`]: a valid JSON request with each of its values (at any depth) replaced by
//!   something no platform sends (huge numbers, deep nesting, NUL, lone surrogates, invalid
//!   UTF-8, BOMs), its keys duplicated, non-ASCII keys added, and the whole document wrapped
//!   in BOMs and NULs.
//! - [`hostile_xml`]: the same for an XML request, with non-ASCII tag and attribute names,
//!   mismatched end tags, duplicated elements and attributes, deep nesting, character
//!   references to nothing, and declarations.
//!
//! Everything is deterministic: a failure names its input and reproduces on every run.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;

use super::{MAX_DETAIL_CHARS, PlatformError};

/// Byte strings put in at every offset by [`spliced`].
pub(crate) const SPLICES: &[&[u8]] = &[
    "é".as_bytes(),
    "中".as_bytes(),
    "😀".as_bytes(),
    // A byte order mark.
    "\u{FEFF}".as_bytes(),
    b"\0",
    // A noncharacter from the block the server uses for its own markers.
    "\u{FDD0}".as_bytes(),
    // Right-to-left override.
    "\u{202E}".as_bytes(),
    // Never valid in UTF-8.
    b"\xff",
    // A lead byte without its continuation, and a continuation without its lead.
    b"\xe4\xb8",
    b"\x80",
    // An encoded surrogate, an overlong '/', and a code point above U+10FFFF.
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
];

/// How deep the nested values put into every JSON slot go: far past serde_json's limit (128)
/// while keeping the inputs small enough to seal by the thousand in a debug build.
const JSON_DEPTH: usize = 1_000;

/// Multi-byte characters that replace each byte in turn.
const WIDE: &[&str] = &["é", "中", "😀"];

/// Every variant of `seed` described in the module documentation under [`spliced`].
pub(crate) fn spliced(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for at in 0..=seed.len() {
        let (head, tail) = (
            seed.get(..at).unwrap_or_default(),
            seed.get(at..).unwrap_or_default(),
        );
        for splice in SPLICES {
            out.push([head, splice, tail].concat());
        }
        if let Some(rest) = tail.get(1..) {
            for wide in WIDE {
                out.push([head, wide.as_bytes(), rest].concat());
            }
        }
        out.push(head.to_vec());
    }
    out
}

/// `open` repeated `depth` times, then `middle`, then `close` repeated as often.
fn nested(open: &str, middle: &str, close: &str, depth: usize) -> Vec<u8> {
    [open.repeat(depth), middle.to_owned(), close.repeat(depth)]
        .concat()
        .into_bytes()
}

/// Raw JSON values that replace each value of a JSON seed.
fn json_values() -> Vec<Vec<u8>> {
    let mut values: Vec<Vec<u8>> = [
        // Numbers no integer or float holds, and forms JSON does not allow.
        "1e999999",
        "-1e999999",
        "1E400",
        "123456789012345678901234567890",
        "18446744073709551616",
        "-9223372036854775809",
        "0.000000000000000000000000000000000000000000000001",
        "-0",
        "NaN",
        "Infinity",
        "0x10",
        "01",
        "+1",
        // Strings with NUL, lone or swapped surrogates, a BOM, RTL override, noncharacters.
        r#""\u0000""#,
        r#""a\u0000b""#,
        r#""\ud800""#,
        r#""\udc00\ud800""#,
        r#""\ufeff帮助""#,
        r#""\u202e帮助""#,
        r#""\ufdd0@""#,
        // Other types.
        "true",
        "null",
        "[]",
        "{}",
        r#"{"é":1,"é":2}"#,
        r#"[{"中":"文"}]"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    values.extend([
        // Raw bytes inside a string: invalid UTF-8, a cut character, NUL, a BOM.
        b"\"\xff\xfe\"".to_vec(),
        b"\"\xe4\xb8\"".to_vec(),
        b"\"a\0b\"".to_vec(),
        b"\"\xef\xbb\xbf\"".to_vec(),
        // Long non-ASCII text: error messages that quote it must be cut on a boundary.
        format!("\"{}\"", "é".repeat(400)).into_bytes(),
        format!("\"{}\"", "中".repeat(400)).into_bytes(),
        // Nesting far deeper than any parser should follow (serde_json stops at 128).
        nested("[", "", "]", JSON_DEPTH),
        nested("{\"a\":", "1", "}", JSON_DEPTH),
        nested("[", "", "", JSON_DEPTH),
    ]);
    values
}

/// One step of a path into a JSON value.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path in `value`, the root's included, in document order.
fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(Step::Key(key.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_path<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// `haystack` with the first `needle` replaced by `with`.
fn replace_once(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    match haystack.windows(needle.len()).position(|w| w == needle) {
        Some(at) => [
            haystack.get(..at).unwrap_or_default(),
            with,
            haystack.get(at + needle.len()..).unwrap_or_default(),
        ]
        .concat(),
        None => haystack.to_vec(),
    }
}

/// Every variant of `seed` described in the module documentation under [`hostile_json`].
pub(crate) fn hostile_json(seed: &Value) -> Vec<Vec<u8>> {
    const MARK: &str = "\u{1}fuzz-mark\u{1}";
    let marked = serde_json::to_vec(&Value::String(MARK.to_owned())).unwrap_or_default();
    let doc = serde_json::to_vec(seed).unwrap_or_default();
    let values = json_values();
    let mut out = Vec::new();

    // Each value, at every depth, replaced by each hostile value.
    let mut all = Vec::new();
    paths(seed, &mut Vec::new(), &mut all);
    for path in all.iter().filter(|p| !p.is_empty()) {
        let mut copy = seed.clone();
        if let Some(slot) = at_path(&mut copy, path) {
            *slot = Value::String(MARK.to_owned());
        }
        let template = serde_json::to_vec(&copy).unwrap_or_default();
        for value in &values {
            out.push(replace_once(&template, &marked, value));
        }
    }

    // Duplicated keys (the first copy hostile, then the genuine one, and the other way
    // round) and non-ASCII, NUL-bearing or surrogate keys, in every object.
    for path in &all {
        let mut copy = seed.clone();
        let Some(Value::Object(map)) = at_path(&mut copy, path) else {
            continue;
        };
        let keys: Vec<String> = map.keys().cloned().collect();
        map.insert(MARK.to_owned(), Value::Null);
        let template = serde_json::to_vec(&copy).unwrap_or_default();
        let slot = [marked.as_slice(), b":null"].concat();
        let mut extra: Vec<Vec<u8>> =
            [r#""é":1"#, r#""键\u0000":"值""#, r#""\ud800":1"#, r#""":""#]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
        extra.push(b"\"\xff\":1".to_vec());
        extra.push(format!("\"{}\":1", "键".repeat(300)).into_bytes());
        for key in &keys {
            let name = serde_json::to_string(key).unwrap_or_default();
            for value in ["null", "1", "\"é\"", "{}", "[]"] {
                extra.push(format!("{name}:{value}").into_bytes());
            }
        }
        for pair in extra {
            out.push(replace_once(&template, &slot, &pair));
        }
    }

    // The whole document behind BOMs and NULs, followed by junk, or inside deep nesting.
    for (before, after) in [
        (&b"\xef\xbb\xbf"[..], &b""[..]),
        (b"\xff\xfe", b""),
        (b"\xfe\xff", b""),
        (b"\0", b""),
        (b"", b"\0"),
        (b"", b"\xef\xbb\xbf"),
        (b"", "中".as_bytes()),
        (b"", b" {}"),
    ] {
        out.push([before, &doc, after].concat());
    }
    out.push([nested("[", "", "", 20 * JSON_DEPTH), doc.clone()].concat());
    // The document as UTF-16 with a BOM: some platforms' proxies have been known to
    // re-encode.
    let utf16: Vec<u8> = String::from_utf8_lossy(&doc)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    out.push([&b"\xff\xfe"[..], &utf16].concat());
    out
}

/// Elements put in right after an XML seed's root start tag by [`hostile_xml`].
fn xml_elements() -> Vec<Vec<u8>> {
    let mut elements: Vec<Vec<u8>> = [
        // Non-ASCII tag names, matched, mismatched and unmatched.
        "<名字>值</名字>",
        "<é>1</è>",
        "<é>1</x>",
        "</名字>",
        "<名字>",
        "<é:é xmlns:é=\"urn:é\">x</é:é>",
        // Non-ASCII, valueless and duplicated attribute names.
        "<a 属性=\"值\"/>",
        "<a é>x</a>",
        "<a b=\"1\" b=\"2\"/>",
        "<a 名=\"é\" 名=\"è\">x</a>",
        "<Content 属性=\"1\">带属性</Content>",
        // Duplicated fields the adapters read.
        "<Content>重复</Content><Content>两次</Content>",
        "<MsgId>1</MsgId><MsgId>2</MsgId>",
        "<Encrypt>x</Encrypt>",
        "<MsgType>text</MsgType><MsgType>event</MsgType>",
        // Numbers no integer holds.
        "<AgentID>99999999999999999999999999</AgentID>",
        "<CreateTime>-1e999</CreateTime>",
        "<CreateTime>99999999999999999999</CreateTime>",
        "<MsgId>-9223372036854775809</MsgId>",
        // References to nothing, and broken markup.
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>&#x110000;</a>",
        "<a>&unknown;</a>",
        "<a>&amp</a>",
        "<a>&</a>",
        "<![CDATA[",
        "]]>",
        "<![CDATA[x]]]]><![CDATA[>]]>",
        "<",
        "<>",
        "</>",
        "< a>",
        "<a/ >",
        "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
        "<?é é?>",
        "<!-- é -->",
        "<!DOCTYPE x [<!ENTITY a \"b\">]>",
        "\u{FEFF}",
        "\u{0}",
        "<a>\u{0}</a>",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    elements.extend([
        b"<a>\xff</a>".to_vec(),
        b"<\xff>1</\xff>".to_vec(),
        b"<a \xff=\"1\"/>".to_vec(),
        // Long non-ASCII names: error messages that quote them must be cut on a boundary.
        format!("<{0}>1</x>", "é".repeat(120)).into_bytes(),
        format!("<{0}>1</{0}x>", "中".repeat(120)).into_bytes(),
        format!("</{}>", "é".repeat(150)).into_bytes(),
        format!("<a {}=\"1\"/>", "属".repeat(150)).into_bytes(),
        format!("<a>{}</a>", "é".repeat(2000)).into_bytes(),
        // Deep nesting.
        nested("<a>", "x", "</a>", 5_000),
        nested("<a>", "", "", 5_000),
        nested("<é>", "x", "</é>", 2_000),
    ]);
    elements
}

/// Text that replaces each text node of an XML seed.
const XML_TEXTS: &[&str] = &[
    "",
    "é",
    "\u{0}",
    "99999999999999999999999",
    "-1",
    "&#0;",
    "<![CDATA[é]]>",
    "<![CDATA[]]>",
    "\u{FEFF}帮助",
    "\u{FDD0}",
];

/// Every variant of `seed` described in the module documentation under [`hostile_xml`].
pub(crate) fn hostile_xml(seed: &str) -> Vec<Vec<u8>> {
    let doc = seed.as_bytes();
    let mut out = Vec::new();
    // After the root's start tag, and before its end tag.
    let root_open = seed.find('>').map_or(0, |at| at + 1);
    let root_close = seed.rfind("</").unwrap_or(seed.len());
    for element in xml_elements() {
        for at in [root_open, root_close] {
            out.push(
                [
                    doc.get(..at).unwrap_or_default(),
                    &element,
                    doc.get(at..).unwrap_or_default(),
                ]
                .concat(),
            );
        }
    }
    // Each text node (between `>` and `<`) replaced.
    let mut from = 0;
    while let Some(gt) = seed.get(from..).and_then(|s| s.find('>')) {
        let start = from + gt + 1;
        let Some(len) = seed.get(start..).and_then(|s| s.find('<')) else {
            break;
        };
        for text in XML_TEXTS {
            out.push(
                [
                    doc.get(..start).unwrap_or_default(),
                    text.as_bytes(),
                    doc.get(start + len..).unwrap_or_default(),
                ]
                .concat(),
            );
        }
        from = start;
    }
    // Each tag name replaced by a non-ASCII one: in both tags, then in the start tag only.
    let mut from = 0;
    while let Some(lt) = seed.get(from..).and_then(|s| s.find('<')) {
        let start = from + lt + 1;
        from = start;
        let rest = seed.get(start..).unwrap_or_default();
        let len = rest
            .find(|c: char| c == '>' || c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        let Some(name) = rest
            .get(..len)
            .filter(|n| !n.is_empty() && !n.starts_with(['!', '?']))
        else {
            continue;
        };
        let end_tag = format!("</{name}>");
        for replacement in ["名字", "é", &"é".repeat(150)] {
            let renamed = format!(
                "{}{replacement}{}",
                seed.get(..start).unwrap_or_default(),
                rest.get(len..).unwrap_or_default()
            );
            out.push(renamed.clone().into_bytes());
            out.push(
                renamed
                    .replacen(&end_tag, &format!("</{replacement}>"), 1)
                    .into_bytes(),
            );
        }
    }
    // The whole document behind BOMs, NULs and declarations, or followed by junk.
    for (before, after) in [
        (&b"\xef\xbb\xbf"[..], &b""[..]),
        (b"\xff\xfe", b""),
        (b"\0", b""),
        (b"", b"\0"),
        (b"", "中".as_bytes()),
        (b"", b"<xml></xml>"),
        (b"<?xml version=\"1.0\" encoding=\"GBK\"?>", b""),
        (b"<?xml version=\"1.0\"?>\xef\xbb\xbf", b""),
    ] {
        out.push([before, doc, after].concat());
    }
    out
}

/// Asserts that `error` is clean: a stable ASCII reason for metrics, and a message short
/// enough to answer and log, without control characters (so it is one log line and cannot
/// forge another).
pub(crate) fn assert_clean(error: &PlatformError, label: &str, input: &[u8]) {
    let reason = error.reason();
    assert!(
        !reason.is_empty() && reason.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "{label}: reason {reason:?} on {}",
        show(input)
    );
    let text = error.to_string();
    // The detail, plus the longest prefix an adapter puts before one and the variant's own.
    let limit = MAX_DETAIL_CHARS + 100;
    assert!(
        text.chars().count() <= limit,
        "{label}: a {}-character error on {}",
        text.chars().count(),
        show(input)
    );
    assert!(
        !text.chars().any(char::is_control),
        "{label}: control characters in {text:?} on {}",
        show(input)
    );
}

/// Runs `call` for `input`. A panic fails the test, naming the label and the input; an error
/// must be clean ([`assert_clean`]). Returns what a successful call returned.
pub(crate) fn survive<T>(
    label: &str,
    input: &[u8],
    call: impl FnOnce() -> Result<T, PlatformError>,
) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            assert_clean(&error, label, input);
            None
        }
        Err(_) => panic!("{label} panicked on {}", show(input)),
    }
}

/// An input for a failure message: escaped, and cut if long.
fn show(input: &[u8]) -> String {
    let text = input.escape_ascii().to_string();
    let cut: String = text.chars().take(600).collect();
    if cut.len() < text.len() {
        format!("{cut}… ({} bytes)", input.len())
    } else {
        cut
    }
}

/// How the inputs of one fuzz test fared, to show that they reached the code after the
/// proof of origin and the decryption, not only the first check.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Inputs tried.
    pub(crate) inputs: usize,
    /// Refused by `verify`.
    pub(crate) unauthenticated: usize,
    /// Refused by `parse`.
    pub(crate) malformed: usize,
    /// Accepted by `parse` (events and immediate answers).
    pub(crate) parsed: usize,
}

impl Tally {
    /// Counts one outcome of verify-then-parse.
    pub(crate) fn count<T>(&mut self, verified: bool, parsed: Option<T>) -> Option<T> {
        self.inputs += 1;
        match (verified, &parsed) {
            (false, _) => self.unauthenticated += 1,
            (true, None) => self.malformed += 1,
            (true, Some(_)) => self.parsed += 1,
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_details_are_cut_on_a_character_boundary_and_lose_control_characters() {
        let long = "é".repeat(MAX_DETAIL_CHARS + 10);
        let PlatformError::Malformed(m) = PlatformError::malformed(&long) else {
            unreachable!()
        };
        assert_eq!(m.chars().count(), MAX_DETAIL_CHARS);
        assert!(m.ends_with('…'));
        let PlatformError::Malformed(m) = PlatformError::malformed("a\nb\u{0}c\u{1b}[31m") else {
            unreachable!()
        };
        assert_eq!(m, "a\u{fffd}b\u{fffd}c\u{fffd}[31m");
        let exact = "中".repeat(MAX_DETAIL_CHARS);
        assert_eq!(
            PlatformError::malformed(&exact).to_string(),
            format!("malformed request: {exact}")
        );
    }

    #[test]
    fn the_generators_cover_what_they_promise() {
        let seed = "<xml><A>中</A></xml>";
        let spliced = spliced(seed.as_bytes());
        // Inside the 3-byte character, and invalid UTF-8 there.
        assert!(spliced.contains(&b"<xml><A>\xe4\xff\xb8\xad</A></xml>".to_vec()));
        assert!(spliced.contains(&b"<xml><A>\xe4\xb8".to_vec()));
        let xml = hostile_xml(seed);
        assert!(xml.contains(&"<xml><名字>值</名字><A>中</A></xml>".as_bytes().to_vec()));
        assert!(xml.contains(&"<xml><é>中</é></xml>".as_bytes().to_vec()));
        assert!(xml.contains(&"<xml><é>中</A></xml>".as_bytes().to_vec()));
        let json = hostile_json(&serde_json::json!({"a": {"b": 1}}));
        assert!(json.contains(&br#"{"a":{"b":1e999999}}"#.to_vec()));
        assert!(json.contains(&br#"{"a":{"b":null,"b":1}}"#.to_vec()));
        assert!(json.contains(&b"\xef\xbb\xbf{\"a\":{\"b\":1}}".to_vec()));
    }
}
