//! A branch's meetings as an iCalendar feed (RFC 5545) that phone calendars subscribe to.
//!
//! Written by hand: the feed uses a handful of properties, and owning the escaping and
//! folding keeps them exactly to the RFC. Times are UTC (`…Z`), so no VTIMEZONE is needed
//! and every client shows them in its own zone. Text is escaped per RFC 5545 §3.3.11,
//! lines end in CRLF and are folded at 75 octets (§3.1) between, never inside, UTF-8
//! characters, which matters for Chinese topics of three bytes a character.

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{
    Branch, Language,
    meeting::{Meeting, MeetingStatus},
};

/// The longest line in octets, without its CRLF (RFC 5545 §3.1).
const MAX_LINE: usize = 75;

/// The feed of `meetings` (all of the branch's, cancelled ones included so that calendars
/// drop them), stamped `now`.
pub fn calendar(branch: &Branch, meetings: &[Meeting], now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let mut line = |text: &str| fold_into(&mut out, text);
    line("BEGIN:VCALENDAR");
    line("VERSION:2.0");
    line("PRODID:-//mobile-branch//meetings//ZH");
    line("CALSCALE:GREGORIAN");
    line("METHOD:PUBLISH");
    line(&format!("X-WR-CALNAME:{}", escape_text(&branch.name)));
    // Only a display hint: every time below is UTC.
    line(&format!("X-WR-TIMEZONE:{}", branch.timezone.name()));
    // Ask subscribers to poll hourly (RFC 7986 and the older Apple/Microsoft form).
    line("REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line("X-PUBLISHED-TTL:PT1H");

    let mut sorted: Vec<&Meeting> = meetings.iter().collect();
    sorted.sort_by_key(|m| (m.starts_at, m.no));
    for m in sorted {
        let end = TimeDelta::from_std(m.duration)
            .ok()
            .and_then(|d| m.starts_at.checked_add_signed(d))
            .unwrap_or(m.starts_at);
        line("BEGIN:VEVENT");
        line(&format!("UID:meeting-{}@{}.mobile-branch", m.no, branch.id));
        line(&format!("DTSTAMP:{}", utc(now)));
        line(&format!("CREATED:{}", utc(m.created_at)));
        line(&format!("DTSTART:{}", utc(m.starts_at)));
        line(&format!("DTEND:{}", utc(end)));
        line(&format!(
            "SUMMARY:{}",
            escape_text(&format!(
                "{} #{} {}",
                m.kind.label(branch.language),
                m.no,
                m.topic
            ))
        ));
        if let Some(link) = m.link.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            // URL is a URI, not TEXT: emit it only when it is a plain web address that
            // needs no escaping; the description carries the link either way.
            if is_plain_url(link) {
                line(&format!("URL:{link}"));
            }
            let label = match branch.language {
                Language::Zh => "线上会议链接：",
                Language::En => "Online meeting: ",
            };
            line(&format!(
                "DESCRIPTION:{}",
                escape_text(&format!("{label}{link}"))
            ));
        }
        line(match m.status {
            MeetingStatus::Cancelled => "STATUS:CANCELLED",
            MeetingStatus::Scheduled | MeetingStatus::Ended => "STATUS:CONFIRMED",
        });
        line("END:VEVENT");
    }
    line("END:VCALENDAR");
    out
}

/// `20261231T153000Z`.
fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// An `http(s)://` address without whitespace or control characters.
fn is_plain_url(link: &str) -> bool {
    (link.starts_with("https://") || link.starts_with("http://"))
        && !link.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Escapes a TEXT value (RFC 5545 §3.3.11): `\` `;` `,` get a backslash, a line break
/// becomes `\n`, and other control characters, which TEXT may not hold, are dropped.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                // CRLF is one break, not two.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded: at most 75 octets a line, continuation lines starting
/// with a space (which counts toward their 75), cut only at character boundaries.
fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut limit = MAX_LINE;
    while rest.len() > limit {
        let mut cut = limit;
        // A character is at most 4 bytes, so this stops within 3 steps and above 0.
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push_str(head);
        out.push_str("\r\n ");
        rest = tail;
        limit = MAX_LINE - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use icalendar::parser::{Component, read_calendar, unfold};

    use super::*;
    use crate::domain::{BranchId, TimingOverrides, meeting::MeetingKind};

    fn branch() -> Branch {
        Branch {
            id: BranchId::parse("xg-01").unwrap(),
            name: "星光商务楼联合党支部, 第一;党小组".to_owned(),
            timezone: chrono_tz::Asia::Shanghai,
            language: Language::Zh,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            timing: TimingOverrides::default(),
            committee_chat: None,
            calendar_token: None,
        }
    }

    fn meeting(no: u64, topic: &str, starts_at: DateTime<Utc>) -> Meeting {
        Meeting {
            no,
            branch: BranchId::parse("xg-01").unwrap(),
            kind: MeetingKind::GeneralAssembly,
            topic: topic.to_owned(),
            starts_at,
            duration: Duration::from_secs(90 * 60),
            link: None,
            status: MeetingStatus::Scheduled,
            created_by: "sec".to_owned(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            ended_at: None,
            minutes: Vec::new(),
            checkin: None,
        }
    }

    fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn prop<'a>(c: &'a Component<'_>, name: &str) -> &'a str {
        c.find_prop(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .val
            .as_str()
    }

    const LONG: &str = "深入学习贯彻习近平新时代中国特色社会主义思想主题教育专题组织生活会暨年度民主评议党员大会，请全体党员准时参加并提前准备发言材料";

    fn feed() -> String {
        let mut m1 = meeting(
            1,
            "学习,讨论;总结\\备注\n第二行",
            shanghai(2026, 12, 31, 23, 30),
        );
        m1.link = Some("https://meeting.example.com/j/123?pwd=a,b".to_owned());
        let mut m2 = meeting(2, LONG, shanghai(2026, 7, 1, 9, 0));
        m2.status = MeetingStatus::Cancelled;
        m2.kind = MeetingKind::LifeMeeting;
        calendar(&branch(), &[m1, m2], shanghai(2026, 6, 1, 8, 0))
    }

    #[test]
    fn a_real_parser_reads_events_with_utc_times_and_escaped_text_round_trips() {
        let text = feed();
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).unwrap();
        assert_eq!(
            cal.properties
                .iter()
                .find(|p| p.name == "VERSION")
                .unwrap()
                .val,
            "2.0"
        );
        let name = cal
            .properties
            .iter()
            .find(|p| p.name == "X-WR-CALNAME")
            .unwrap();
        // X- properties are not unescaped by the parser: the raw form shows the escaping.
        assert_eq!(name.val, "星光商务楼联合党支部\\, 第一\\;党小组");
        assert_eq!(cal.components.len(), 2);
        // Sorted by start: the July meeting first.
        let (cancelled, first) = (&cal.components[0], &cal.components[1]);
        assert_eq!(first.name, "VEVENT");
        assert_eq!(prop(first, "UID"), "meeting-1@xg-01.mobile-branch");
        assert_eq!(prop(first, "DTSTART"), "20261231T153000Z");
        assert_eq!(prop(first, "DTEND"), "20261231T170000Z");
        assert_eq!(prop(first, "DTSTAMP"), "20260601T000000Z");
        assert_eq!(
            prop(first, "SUMMARY"),
            "支部党员大会 #1 学习,讨论;总结\\备注\n第二行"
        );
        assert_eq!(
            prop(first, "URL"),
            "https://meeting.example.com/j/123?pwd=a,b"
        );
        assert_eq!(
            prop(first, "DESCRIPTION"),
            "线上会议链接：https://meeting.example.com/j/123?pwd=a,b"
        );
        assert_eq!(prop(first, "STATUS"), "CONFIRMED");
        assert_eq!(prop(cancelled, "STATUS"), "CANCELLED");
        assert_eq!(prop(cancelled, "SUMMARY"), format!("组织生活会 #2 {LONG}"));
        assert!(cancelled.find_prop("URL").is_none());
    }

    #[test]
    fn lines_end_in_crlf_and_fold_at_75_octets_between_characters() {
        let text = feed();
        let bytes = text.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF at byte {i}");
            }
        }
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect();
        let mut folded = 0;
        for line in &lines {
            assert!(line.len() <= 75, "{} octets", line.len());
            // Each physical line is whole UTF-8: no character was cut.
            std::str::from_utf8(line).unwrap();
            if line.starts_with(b" ") {
                folded += 1;
            }
        }
        assert!(
            folded >= 2,
            "the long Chinese topic folds over several lines"
        );
    }

    #[test]
    fn folding_fills_lines_and_keeps_every_byte() {
        for line in [
            "SUMMARY:".to_owned() + &"党".repeat(60),
            "X:".to_owned() + &"a".repeat(200),
            "DESCRIPTION:".to_owned() + &"ab党".repeat(40) + "😀😀😀",
            "SHORT:ok".to_owned(),
            "A".repeat(75),
        ] {
            let mut out = String::new();
            fold_into(&mut out, &line);
            let physical: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
            for p in &physical {
                assert!(p.len() <= 75);
            }
            for p in &physical[1..] {
                assert!(p.starts_with(' '));
            }
            // Lines are cut only where the next character (at most 4 octets) would not fit.
            for p in &physical[..physical.len() - 1] {
                assert!(p.len() > 75 - 4, "{} octets", p.len());
            }
            assert_eq!(unfold(&out).trim_end_matches("\r\n"), line);
        }
    }

    #[test]
    fn text_escaping_follows_rfc_5545() {
        assert_eq!(escape_text("a,b;c\\d"), "a\\,b\\;c\\\\d");
        assert_eq!(escape_text("一\r\n二\n三\r四"), "一\\n二\\n三\\n四");
        assert_eq!(escape_text("bell\u{7}\ttab"), "bell\ttab");
        assert!(!is_plain_url("https://x y"));
        assert!(!is_plain_url("javascript:alert(1)"));
    }

    #[test]
    fn an_english_branch_labels_kinds_in_english() {
        let mut b = branch();
        b.language = Language::En;
        let mut m = meeting(5, "Budget", shanghai(2026, 3, 1, 19, 0));
        m.link = Some("not a url".to_owned());
        let text = calendar(&b, &[m], shanghai(2026, 3, 1, 8, 0));
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).unwrap();
        let event = &cal.components[0];
        assert_eq!(prop(event, "SUMMARY"), "general assembly #5 Budget");
        assert_eq!(prop(event, "DESCRIPTION"), "Online meeting: not a url");
        assert!(event.find_prop("URL").is_none());
    }
}
