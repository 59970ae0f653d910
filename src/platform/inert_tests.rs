//! Property tests of SPEC §4, "text is data wherever it goes", one reader per platform.
//!
//! Random text full of every platform's markup (CQ codes, `<at>` tags, `<@userid>`, `@all`,
//! markdown, HTML, entities, control and zero-width characters, emoji), with mention tokens
//! in it, is rendered by each adapter exactly as it would be sent, then read back with that
//! platform's own rules of what is live there. Nothing may be live but the bot's own mentions;
//! each of those must be there exactly once, intact, in order; and with the bot's invisible
//! breaks and look-alike characters taken back out, the reader must see the text as written.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::Value;

use super::{
    dingtalk::api::{Outgoing, session_body},
    feishu, is_token_char, mention_token,
    onebot::cq,
    render::{self, Segment, ZWSP},
    sim, telegram, wecom,
};

/// Random cases per platform form.
const CASES: usize = 4000;

/// What people type, drawn from every platform's markup.
const FRAGMENTS: &[&str] = &[
    "<at user_id=\"all\">所有人</at>",
    "<at user_id=\"all\"></at>",
    "<at id=ou_84aad35d>",
    "<AT USER_ID=all>",
    "</at>",
    "<at user_id=\"ou_1\">x</at>",
    "[CQ:at,qq=12345]",
    "[CQ:at,qq=all]",
    "[CQ:face,id=1]",
    "&#91;CQ:at,qq=1&#93;",
    "[CQ:",
    "<@userid>",
    "<@all>",
    "<@lisi>",
    "@all",
    "@所有人",
    "@everyone",
    "@zhangsan",
    "@user0002",
    "@manager0001",
    "@durov_bot",
    "@2233445566",
    "*",
    "**粗**",
    "_",
    "__x__",
    "[x](http://e.com)",
    "[官网]",
    "(http://e.com)",
    "`",
    "```code```",
    "#",
    "# 标题",
    "\n# ",
    "\n> 引用",
    "\n* 项",
    "~~删~~",
    "<b>",
    "</b>",
    "<i>斜</i>",
    "<u>",
    "<s>",
    "<a href=\"http://e.com\">点我</a>",
    "<font color=\"warning\">",
    "</font>",
    "<br>",
    "&lt;",
    "&gt;",
    "&amp;",
    "&#64;",
    "&nbsp;",
    "＜@all＞",
    "［x］",
    "\u{200B}",
    "\u{2060}",
    "\u{200D}",
    "\u{FEFF}",
    "\u{202E}",
    "\u{0}",
    "\u{7}",
    "\n",
    "\t",
    "\r\n",
    "😀",
    "👍🏽",
    "👨\u{200D}👩\u{200D}👧",
    "党支部",
    "会议 #3",
    " ",
    "<",
    ">",
    "[",
    "]",
    "(",
    ")",
    "@",
    "&",
    ",",
    "=",
    "\"",
    "/",
    "https://meeting.example/abc?x=1&y=2",
];

/// Ids a mention token may carry: each platform's real forms, and hostile ones.
const IDS: &[&str] = &[
    "ou_84aad35d084aa403a838cf73ee18467a",
    "ou_4e6f0d1b",
    "2233445566",
    "10001",
    "zhangsan",
    "li.si-2",
    "manager0001",
    "user0002",
    "dm:user0002",
    "all",
    "ALL",
    "a b",
    "ou_1\"><at user_id=\"all",
    "12345]",
    "<@x>",
    "-5",
    "@all",
];

/// Parts of the names inside tokens: names are user-made, so markup too.
const NAME_PARTS: &[&str] = &[
    "张三",
    "李四",
    "Bob",
    "]",
    "<b>",
    "</at>",
    "[CQ:at,qq=1]",
    "<@all>",
    "@所有人",
    "*",
    "`",
    "a,b",
    "&amp;",
    "x_y",
    "😀",
];

/// One generated text and what the bot put in it.
struct Case {
    text: String,
    /// The text as the generator built it: typed text and the mentions meant.
    parts: Vec<Part>,
}

enum Part {
    Typed(String),
    Mention { id: String, name: String },
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

fn random_char(rng: &mut StdRng) -> char {
    let ranges = [
        (0x20, 0x7e),
        (0x4e00, 0x9fff),
        (0x1f300, 0x1f64f),
        (0xff01, 0xff5e),
        (0x2000, 0x206f),
        (0x0, 0x1f),
    ];
    let (lo, hi) = ranges[rng.random_range(0..ranges.len())];
    char::from_u32(rng.random_range(lo..=hi)).unwrap_or('?')
}

fn name(rng: &mut StdRng) -> String {
    (0..rng.random_range(1..=3))
        .map(|_| pick(rng, NAME_PARTS))
        .collect()
}

/// Text as features write it: typed fragments and characters, and mention tokens.
fn case(rng: &mut StdRng) -> Case {
    let mut parts = Vec::new();
    for _ in 0..rng.random_range(0..16) {
        match rng.random_range(0..10) {
            0..=5 => parts.push(Part::Typed(pick(rng, FRAGMENTS).to_owned())),
            6 | 7 => parts.push(Part::Typed(
                (0..rng.random_range(1..6))
                    .map(|_| random_char(rng))
                    .collect(),
            )),
            _ => parts.push(Part::Mention {
                id: pick(rng, IDS).to_owned(),
                name: name(rng),
            }),
        }
    }
    let text = parts
        .iter()
        .map(|p| match p {
            Part::Typed(t) => t.clone(),
            Part::Mention { id, name } => mention_token(id, name),
        })
        .collect();
    Case { text, parts }
}

/// A text with forged or broken markers in it (a token cut short, noncharacters alone):
/// users cannot send these (the webhook strips them), but a renderer must survive them, and
/// whatever they read as is taken from the splitter itself.
fn corrupted(rng: &mut StdRng) -> Case {
    let mut text = case(rng).text;
    for _ in 0..rng.random_range(1..4) {
        let at = text
            .char_indices()
            .map(|(i, _)| i)
            .nth(rng.random_range(0..=text.chars().count()))
            .unwrap_or(text.len());
        let marker = char::from_u32(rng.random_range(0xFDD0..=0xFDEF)).unwrap_or('\u{FDE0}');
        text.insert(at, marker);
    }
    let parts = render::segments(&text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => Part::Typed(t.into_owned()),
            Segment::Mention { user_id, name } => Part::Mention {
                id: user_id.to_owned(),
                name: name.to_owned(),
            },
        })
        .collect();
    Case { text, parts }
}

/// The three attacks of the report, and a few more by hand.
const FIXED: &[&str] = &[
    "<at user_id=\"all\">所有人</at>",
    "[CQ:at,qq=12345]",
    "<@userid>",
    "[CQ:at,qq=all] @全体成员 <@all> @所有人",
    "会议主题：<at user_id=\"ou_84aad35d084aa403a838cf73ee18467a\">张三</at>",
    "[点我](http://evil.example) <a href=\"http://evil.example\">点我</a>",
    "# 标题\n> 引用\n**粗** `码`",
];

/// What a platform's reader should find: the live mentions in order, and the visible text.
struct Expected {
    live: Vec<String>,
    visible: String,
}

/// Builds the expectation from what the generator meant: `live` says which token ids the
/// platform can mention (and as what), `shown` how a mention reads.
fn expected(
    case: &Case,
    live: impl Fn(&str) -> Option<String>,
    shown: impl Fn(&str, &str, bool) -> String,
) -> Expected {
    let mut out = Expected {
        live: Vec::new(),
        visible: String::new(),
    };
    for part in &case.parts {
        match part {
            Part::Typed(t) => out.visible.push_str(t),
            Part::Mention { id, name } => {
                let meant = live(id);
                out.visible.push_str(&shown(id, name, meant.is_some()));
                out.live.extend(meant);
            }
        }
    }
    out
}

fn no_markers(out: &str) -> Result<(), String> {
    match out.chars().find(|c| is_token_char(*c)) {
        Some(c) => Err(format!("marker {c:?} leaked")),
        None => Ok(()),
    }
}

fn without_zwsp(s: &str) -> String {
    s.chars().filter(|c| *c != ZWSP).collect()
}

/// Compares what was read with what was meant.
fn agree(read: (Vec<String>, String), want: &Expected) -> Result<(), String> {
    let (live, visible) = read;
    if live != want.live {
        return Err(format!("live mentions {live:?}, meant {:?}", want.live));
    }
    let (visible, meant) = (without_zwsp(&visible), without_zwsp(&want.visible));
    if visible != meant {
        return Err(format!("reads {visible:?}, written {meant:?}"));
    }
    Ok(())
}

/// Runs `check` on the fixed attacks and on `CASES` random texts (and a tenth as many with
/// broken markers), naming the seed and text of a failure.
fn property(platform: &str, seed: u64, check: impl Fn(&Case) -> Result<(), String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let fixed = FIXED.iter().map(|t| Case {
        text: (*t).to_owned(),
        parts: vec![Part::Typed((*t).to_owned())],
    });
    let mut cases: Vec<Case> = fixed.collect();
    cases.extend((0..CASES).map(|_| case(&mut rng)));
    cases.extend((0..CASES / 10).map(|_| corrupted(&mut rng)));
    for (n, c) in cases.iter().enumerate() {
        if let Err(why) = check(c) {
            panic!(
                "{platform}, seed {seed}, case {n}: {why}\ntext: {:?}",
                c.text
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Feishu: text content reads `<tag …>` (any `<` followed by a letter or `/`), `[text](url)`
// links and HTML entities.

fn feishu_id(id: &str) -> Option<String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.eq_ignore_ascii_case("all")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    ok.then(|| id.to_owned())
}

/// Whether `s` starts with an HTML character reference (`&lt;`, `&#60;`, `&#x3c;`).
fn is_reference(s: &str) -> bool {
    let Some(body) = s.strip_prefix('&') else {
        return false;
    };
    let Some(end) = body.find(';') else {
        return false;
    };
    let body = &body[..end];
    if let Some(hex) = body.strip_prefix("#x").or_else(|| body.strip_prefix("#X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(dec) = body.strip_prefix('#') {
        return !dec.is_empty() && dec.chars().all(|c| c.is_ascii_digit());
    }
    body.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && body.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether `s` opens something Feishu's text content reads: a tag, a link, an entity.
fn feishu_opens_markup(s: &str) -> Option<&'static str> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some('<'), Some(c)) if c == '/' || c == '!' || c.is_ascii_alphabetic() => Some("a tag"),
        (Some(']'), Some('(')) => Some("a link"),
        (Some('&'), _) if is_reference(s) => Some("an entity"),
        _ => None,
    }
}

/// Reads Feishu text content: its `<at user_id="…">name</at>` mentions and what it shows.
fn read_feishu(out: &str) -> Result<(Vec<String>, String), String> {
    no_markers(out)?;
    let mut live = Vec::new();
    let mut visible = String::new();
    let mut rest = out;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("<at user_id=\"") {
            let quote = after.find('"').ok_or("an <at> without its closing quote")?;
            let id = &after[..quote];
            let body = after[quote..]
                .strip_prefix("\">")
                .ok_or("an <at> tag with more attributes")?;
            let end = body.find("</at>").ok_or("an <at> without </at>")?;
            let name = &body[..end];
            for (i, _) in name.char_indices() {
                if let Some(what) = feishu_opens_markup(&name[i..]) {
                    return Err(format!("{what} inside a mention's name: {name:?}"));
                }
            }
            live.push(id.to_owned());
            visible.push('@');
            visible.push_str(name);
            rest = &body[end + "</at>".len()..];
            continue;
        }
        if let Some(what) = feishu_opens_markup(rest) {
            return Err(format!(
                "{what} comes alive: {:?}",
                rest.chars().take(24).collect::<String>()
            ));
        }
        visible.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok((live, visible))
}

#[test]
fn feishu_text_has_no_tag_link_or_mention_but_the_bots_own() {
    assert_eq!(
        feishu::render_text("<at user_id=\"all\">所有人</at>"),
        "<\u{200B}at user_id=\"all\">所有人<\u{200B}/at>"
    );
    property("feishu", 0xFE15_0001, |case| {
        let out = feishu::render_text(&case.text);
        let want = expected(case, feishu_id, |_, name, _| format!("@{name}"));
        agree(read_feishu(&out)?, &want)
    });
}

// ---------------------------------------------------------------------------------------
// OneBot (QQ): in a segment array only `at` segments mention; a `text` segment is literal.

fn qq_id(id: &str) -> Option<String> {
    ((1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

/// Reads a segment array: its `at` segments and what QQ shows.
fn read_onebot(segments: &[Value]) -> Result<(Vec<String>, String), String> {
    let mut live = Vec::new();
    let mut visible = String::new();
    for segment in segments {
        match segment["type"].as_str() {
            Some("text") => {
                let text = segment["data"]["text"]
                    .as_str()
                    .ok_or_else(|| format!("a text segment without text: {segment}"))?;
                if text.is_empty() {
                    return Err("an empty text segment".to_owned());
                }
                no_markers(text)?;
                visible.push_str(text);
            }
            Some("at") => {
                let qq = segment["data"]["qq"]
                    .as_str()
                    .filter(|q| qq_id(q).is_some())
                    .ok_or_else(|| format!("an at segment for no one: {segment}"))?;
                live.push(qq.to_owned());
                visible.push('@');
                visible.push_str(qq);
            }
            _ => return Err(format!("a {segment} segment")),
        }
        if segment["data"].as_object().map(serde_json::Map::len) != Some(1) {
            return Err(format!("extra data in {segment}"));
        }
    }
    Ok((live, visible))
}

#[test]
fn onebot_segments_carry_no_cq_code_and_at_only_the_bots_own() {
    assert_eq!(
        cq::segments("[CQ:at,qq=12345]", true),
        vec![serde_json::json!({"type": "text", "data": {"text": "[CQ:at,qq=12345]"}})]
    );
    property("onebot group", 0x0B07_0001, |case| {
        let want = expected(case, qq_id, |id, name, live| {
            if live {
                format!("@{id}")
            } else {
                format!("@{name}")
            }
        });
        agree(read_onebot(&cq::segments(&case.text, true))?, &want)
    });
    property("onebot private", 0x0B07_0002, |case| {
        let want = expected(case, |_| None, |_, name, _| format!("@{name}"));
        agree(read_onebot(&cq::segments(&case.text, false))?, &want)
    });
}

// ---------------------------------------------------------------------------------------
// WeCom: markdown reads `<@userid>`, tags, `[text](url)`, `code`, `*` emphasis and lists,
// `#` headings and `>` quotes at a line's start, and entities; an app's text reads `<a>`.

fn wecom_id(id: &str) -> Option<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.eq_ignore_ascii_case("all")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    ok.then(|| id.to_owned())
}

/// The full-width look-alikes WeCom's escape writes, read back as what the user typed.
fn from_full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '＜' => '<',
            '＞' => '>',
            '［' => '[',
            '］' => ']',
            '｀' => '`',
            '＊' => '*',
            '＃' => '#',
            '～' => '~',
            '＿' => '_',
            other => other,
        })
        .collect()
}

/// Reads WeCom markdown: its `<@userid>` mentions and what it shows.
fn read_wecom_markdown(out: &str) -> Result<(Vec<String>, String), String> {
    no_markers(out)?;
    for line in out.split(['\n', '\r']) {
        if line.starts_with(ZWSP) {
            continue;
        }
        // Common markdown's block openers: ATX and setext headings, quotes, lists, rules,
        // fences, tables, HTML blocks, indented code.
        let indent = line.chars().take_while(|c| matches!(c, ' ' | '\t')).count();
        let start = &line[indent..];
        let first = start.chars().next();
        let opens = indent >= 4
            || line.starts_with('\t')
            || (first.is_some_and(|f| "#>-+*=|`~_<".contains(f) || f.is_ascii_digit())
                && !start.starts_with("<@"));
        if opens {
            return Err(format!("a line can open a block: {line:?}"));
        }
    }
    let chars: Vec<char> = out.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let flanked = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        let opens = match c {
            '`' | '*' | '~' => true,
            '_' => !(flanked(i.checked_sub(1)) && flanked(Some(i + 1))),
            _ => false,
        };
        if opens {
            return Err(format!("{c:?} can open code, emphasis or strikethrough"));
        }
    }
    let mut live = Vec::new();
    let mut visible = String::new();
    let mut rest = out;
    while let Some(c) = rest.chars().next() {
        let next = rest[c.len_utf8()..].chars().next();
        match (c, next) {
            ('<', Some('@')) => {
                let end = rest.find('>').ok_or("an unclosed <@")?;
                let id = &rest[2..end];
                if wecom_id(id).is_none() {
                    return Err(format!("a mention of {id:?}"));
                }
                live.push(id.to_owned());
                visible.push('@');
                visible.push_str(id);
                rest = &rest[end + 1..];
                continue;
            }
            ('<', Some(n)) if n == '/' || n == '!' || n.is_ascii_alphabetic() => {
                return Err(format!("a tag comes alive: {rest:.24}"));
            }
            (']', Some('(')) => return Err(format!("a link comes alive: {rest:.24}")),
            ('&', _) if is_reference(rest) => {
                return Err(format!("an entity comes alive: {rest:.24}"));
            }
            _ => {}
        }
        visible.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok((live, from_full_width(&visible)))
}

/// Reads an app's text message: no mention form; `<a href>` and other tags are live.
fn read_wecom_text(out: &str) -> Result<(Vec<String>, String), String> {
    no_markers(out)?;
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<'
            && chars
                .peek()
                .is_some_and(|n| *n == '/' || n.is_ascii_alphabetic())
        {
            return Err(format!("a tag comes alive in {out:?}"));
        }
    }
    Ok((Vec::new(), out.replace('＜', "<").replace('＞', ">")))
}

#[test]
fn wecom_markdown_and_text_have_no_markup_and_mention_only_the_bots_own() {
    assert_eq!(wecom::render_markdown("<@userid>"), "＜@userid＞");
    property("wecom markdown", 0x3EC0_0001, |case| {
        let out = wecom::render_markdown(&case.text);
        let mut want = expected(case, wecom_id, |id, name, live| {
            if live {
                format!("@{id}")
            } else {
                format!("@{name}")
            }
        });
        want.visible = from_full_width(&want.visible);
        agree(read_wecom_markdown(&out)?, &want)
    });
    property("wecom text", 0x3EC0_0002, |case| {
        let out = wecom::render_plain(&case.text);
        let mut want = expected(case, |_| None, |_, name, _| format!("@{name}"));
        want.visible = want.visible.replace('＜', "<").replace('＞', ">");
        agree(read_wecom_text(&out)?, &want)
    });
}

// ---------------------------------------------------------------------------------------
// DingTalk: text content has no markup; `@<userId>` is a mention when the id is listed in
// `atUserIds`, and `@所有人` only with `isAtAll`. The OpenAPI's sampleText mentions no one.

fn dingtalk_id(id: &str) -> Option<String> {
    let id = id.strip_prefix("dm:").unwrap_or(id);
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    ok.then(|| id.to_owned())
}

/// Reads what the sessionWebhook gets: the ids DingTalk highlights, in order, and the text.
fn read_dingtalk_session(out: &Outgoing) -> Result<(Vec<String>, String), String> {
    let body = session_body(out);
    if body["at"]["isAtAll"] != Value::Bool(false) {
        return Err(format!("isAtAll in {body}"));
    }
    let text = &out.session_text;
    no_markers(text)?;
    let mut live = Vec::new();
    for (at, _) in text.match_indices('@') {
        let after = &text[at + 1..];
        if after.starts_with(ZWSP) {
            continue;
        }
        let id = out
            .at_user_ids
            .iter()
            .filter(|id| after.starts_with(id.as_str()))
            .max_by_key(|id| id.len())
            .ok_or_else(|| format!("an @ that no listed id explains: {after:.24}"))?;
        live.push(id.clone());
    }
    let mut unique = Vec::new();
    for id in &live {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    if unique != out.at_user_ids {
        return Err(format!(
            "atUserIds {:?} but the text mentions {live:?}",
            out.at_user_ids
        ));
    }
    Ok((live, text.clone()))
}

#[test]
fn dingtalk_text_lists_and_writes_only_the_bots_own_mentions() {
    property("dingtalk session", 0xD1D1_0001, |case| {
        let out = Outgoing::render(&case.text);
        let want = expected(case, dingtalk_id, |id, name, live| match dingtalk_id(id) {
            Some(id) if live => format!("@{id}"),
            _ => format!("@{name}"),
        });
        agree(read_dingtalk_session(&out)?, &want)
    });
    property("dingtalk openapi", 0xD1D1_0002, |case| {
        let out = Outgoing::render(&case.text);
        no_markers(&out.api_text)?;
        let want = expected(case, |_| None, |_, name, _| format!("@{name}"));
        agree((Vec::new(), out.api_text), &want)
    });
}

// ---------------------------------------------------------------------------------------
// Telegram: plain text (no parse_mode) has no markup, but Telegram makes `@username` a
// mention by itself; the bot's mentions are `text_mention` entities.

fn telegram_id(id: &str) -> Option<String> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n.to_string())
}

/// Reads a message's text and entities: the users its entities mention and what it shows.
fn read_telegram(text: &str, entities: &[Value]) -> Result<(Vec<String>, String), String> {
    no_markers(text)?;
    for (at, _) in text.match_indices('@') {
        if !text[at + 1..].starts_with(ZWSP) {
            return Err(format!(
                "Telegram would find a username at {:.24}",
                &text[at..]
            ));
        }
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut live = Vec::new();
    let mut end_of_last = 0;
    for entity in entities {
        let (Some(offset), Some(length), Some(id)) = (
            entity["offset"].as_u64(),
            entity["length"].as_u64(),
            entity["user"]["id"].as_i64(),
        ) else {
            return Err(format!("a malformed entity {entity}"));
        };
        let (offset, length) = (offset as usize, length as usize);
        if entity["type"] != "text_mention" || offset < end_of_last || offset + length > units.len()
        {
            return Err(format!("entity {entity} out of place"));
        }
        let covered = String::from_utf16(&units[offset..offset + length])
            .map_err(|_| format!("entity {entity} splits a character"))?;
        if !covered.starts_with(&format!("@{ZWSP}")) {
            return Err(format!("entity {entity} covers {covered:?}"));
        }
        end_of_last = offset + length;
        live.push(id.to_string());
    }
    Ok((live, text.to_owned()))
}

#[test]
fn telegram_text_has_no_username_to_find_and_mentions_by_entity_only() {
    property("telegram", 0x7E1E_0001, |case| {
        let (text, entities) = telegram::render_text(&case.text);
        let want = expected(case, telegram_id, |_, name, _| format!("@{name}"));
        agree(read_telegram(&text, &entities)?, &want)
    });
}

// ---------------------------------------------------------------------------------------
// Sim: no markup and no notifications; the text is shown exactly as written.

#[test]
fn sim_text_is_exactly_what_was_written() {
    property("sim", 0x5100_0001, |case| {
        let out = sim::render_text(&case.text);
        no_markers(&out)?;
        let want = expected(case, |_| None, |_, name, _| format!("@{name}"));
        if out == want.visible {
            Ok(())
        } else {
            Err(format!("{out:?} is not {:?}", want.visible))
        }
    });
}

// ---------------------------------------------------------------------------------------
// The bot's own structured link (a meeting's online link) is plain text everywhere; where a
// platform makes URLs clickable it must arrive whole, or the click goes somewhere else.

#[test]
fn a_meeting_link_arrives_unchanged_on_every_platform() {
    let link = "https://meeting.tencent.com/dm/Abc_12-x.y?pwd=a1&from=3%20x#top";
    let text = format!("线上链接：{link}\n{}", mention_token("2233445566", "张三"));
    let outputs = [
        ("feishu", feishu::render_text(&text)),
        ("wecom markdown", wecom::render_markdown(&text)),
        ("wecom text", wecom::render_plain(&text)),
        ("dingtalk session", Outgoing::render(&text).session_text),
        ("dingtalk openapi", Outgoing::render(&text).api_text),
        ("telegram", telegram::render_text(&text).0),
        ("sim", sim::render_text(&text)),
        (
            "onebot",
            cq::segments(&text, true)
                .iter()
                .filter_map(|s| s["data"]["text"].as_str())
                .collect(),
        ),
    ];
    for (platform, out) in outputs {
        assert!(out.contains(&format!("{link}\n")), "{platform}: {out:?}");
    }
}
