//! The ledger as CSV for spreadsheets: one file per table (meetings, members).
//!
//! Files start with a UTF-8 byte-order mark, because Excel on Chinese Windows otherwise reads
//! CSV as GBK and garbles every character; rows end with CRLF (RFC 4180). Text that a
//! spreadsheet would take for a formula is defused (see [`defuse`]).

use ::csv::{QuoteStyle, Terminator, Writer, WriterBuilder};

use super::{ExportError, local_minutes, percent};
use crate::domain::{Language, ledger::Ledger};

/// The UTF-8 byte-order mark.
const BOM: &[u8] = "\u{feff}".as_bytes();

/// The header of [`meetings_csv`].
pub const MEETING_HEADER: [&str; 10] = [
    "会议编号",
    "类型",
    "主题",
    "开始时间",
    "应到",
    "实到",
    "迟到",
    "请假",
    "缺席",
    "出勤率",
];

/// The header of [`members_csv`].
pub const MEMBER_HEADER: [&str; 6] = ["姓名", "应参加", "已参加", "请假", "缺席", "出勤率"];

/// The ledger's meetings, one row each: number, kind, topic, local start, expected (应到),
/// attended (实到 = on time + late), of them late (迟到), on leave, absent, rate.
pub fn meetings_csv(ledger: &Ledger) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record(MEETING_HEADER)?;
    for m in &ledger.meetings {
        w.write_record([
            m.no.to_string(),
            defuse(m.kind.label(Language::Zh)),
            defuse(&m.topic),
            local_minutes(m.starts_at, ledger.timezone),
            m.expected.to_string(),
            m.attended.to_string(),
            m.late.to_string(),
            m.excused.to_string(),
            m.absent.to_string(),
            percent(m.rate),
        ])?;
    }
    finish(w)
}

/// The ledger's members, one row each: name, meetings expected at, attended, on leave,
/// absent, rate.
pub fn members_csv(ledger: &Ledger) -> Result<Vec<u8>, ExportError> {
    let mut w = writer();
    w.write_record(MEMBER_HEADER)?;
    for m in &ledger.members {
        w.write_record([
            defuse(&m.name),
            m.expected.to_string(),
            m.attended.to_string(),
            m.excused.to_string(),
            m.absent.to_string(),
            percent(m.rate),
        ])?;
    }
    finish(w)
}

fn writer() -> Writer<Vec<u8>> {
    WriterBuilder::new()
        .terminator(Terminator::CRLF)
        .quote_style(QuoteStyle::Necessary)
        .from_writer(BOM.to_vec())
}

fn finish(w: Writer<Vec<u8>>) -> Result<Vec<u8>, ExportError> {
    w.into_inner().map_err(|e| ExportError::Io(e.into_error()))
}

/// Prefixes `'` to text that starts like a formula (`= + - @`, or a tab or carriage return
/// that some spreadsheets skip before one), so that a topic such as `=HYPERLINK(…)` typed in
/// a chat is shown as text, not run, when an inspector opens the file (CSV injection).
fn defuse(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ledger::{
            LedgerRules, Period, ledger,
            tests::{SHANGHAI, local, meeting, member, summary},
        },
        meeting::{MeetingKind, MeetingStatus, Outcome},
    };

    fn sample() -> Ledger {
        let mut m1 = meeting(
            1,
            MeetingKind::GeneralAssembly,
            local(2026, 12, 31, 23, 30),
            MeetingStatus::Ended,
        );
        m1.topic = "学习\"二十大\"精神, 第一次".to_owned();
        let mut m2 = meeting(
            2,
            MeetingKind::Group,
            local(2026, 12, 5, 19, 0),
            MeetingStatus::Ended,
        );
        m2.topic = "=HYPERLINK(\"http://x\")".to_owned();
        let roster = [member("a", "张三"), member("b", "-李四")];
        ledger(
            &LedgerRules::default(),
            Period::Month(2026, 12),
            SHANGHAI,
            &[
                (
                    m1,
                    summary(&[
                        ("a", Outcome::Present),
                        ("b", Outcome::Late),
                        ("c", Outcome::Excused),
                        ("d", Outcome::Absent),
                    ]),
                ),
                (
                    m2,
                    summary(&[("a", Outcome::Absent), ("b", Outcome::Present)]),
                ),
            ],
            &roster,
            local(2027, 1, 2, 9, 0),
        )
    }

    fn read(bytes: &[u8]) -> Vec<Vec<String>> {
        assert!(bytes.starts_with(BOM), "starts with a BOM");
        ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&bytes[BOM.len()..])
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn meetings_come_out_with_a_bom_a_chinese_header_and_local_times() {
        let bytes = meetings_csv(&sample()).unwrap();
        let text = std::str::from_utf8(&bytes[BOM.len()..]).unwrap();
        assert!(
            text.starts_with("会议编号,类型,主题,开始时间,应到,实到,迟到,请假,缺席,出勤率\r\n")
        );
        let rows = read(&bytes);
        assert_eq!(rows.len(), 3);
        // By start time: the group meeting on the 5th first.
        assert_eq!(rows[1][0], "2");
        assert_eq!(
            rows[2],
            [
                "1",
                "支部党员大会",
                "学习\"二十大\"精神, 第一次",
                "2026-12-31 23:30",
                "4",
                "2",
                "1",
                "1",
                "1",
                "50.0%"
            ]
        );
        // Quotes and commas are quoted the CSV way.
        assert!(text.contains("\"学习\"\"二十大\"\"精神, 第一次\""));
    }

    #[test]
    fn text_that_looks_like_a_formula_is_defused() {
        let rows = read(&meetings_csv(&sample()).unwrap());
        assert_eq!(rows[1][2], "'=HYPERLINK(\"http://x\")");
        let members = read(&members_csv(&sample()).unwrap());
        assert_eq!(members[0], MEMBER_HEADER);
        assert_eq!(members[2][0], "'-李四");
        for (raw, out) in [
            ("+1", "'+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("a=b", "a=b"),
            ("学习", "学习"),
        ] {
            assert_eq!(defuse(raw), out);
        }
    }

    #[test]
    fn members_come_out_with_counts_and_rates() {
        let rows = read(&members_csv(&sample()).unwrap());
        assert_eq!(rows[1], ["张三", "2", "1", "0", "1", "50.0%"]);
        assert_eq!(rows[2], ["'-李四", "2", "2", "0", "0", "100.0%"]);
        // Members gone from the roster keep their id, so the totals still add up.
        assert_eq!(rows[3], ["c", "1", "0", "1", "0", "0.0%"]);
    }
}
