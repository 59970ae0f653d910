//! The ledger as an XLSX workbook for inspectors: sheet 台账 (each rule in each of its
//! units, with a coloured status), 会议 (each meeting with its counts) and 党员出勤 (each
//! member's attendance).
//!
//! Each sheet keeps its header in row 1, frozen and with a filter, so that the sheets sort
//! and filter as they are. Numbers, times and rates are real cells (numbers, dates,
//! percentages), not text, so that inspectors can sum and sort them. Unlike CSV, text cells
//! need no formula defusing: they are written as strings and never evaluated.

use rust_xlsxwriter::{Color, DocProperties, Format, FormatBorder, Workbook, Worksheet};

use super::ExportError;
use crate::domain::{
    Language,
    ledger::{Ledger, UnitStatus},
};

/// The sheets, in order.
pub const SHEETS: [&str; 3] = ["台账", "会议", "党员出勤"];

/// The header of sheet 台账.
pub const UNIT_HEADER: [&str; 7] = [
    "类型",
    "要求",
    "时段",
    "已开次数",
    "状态",
    "会议编号",
    "已安排",
];

/// The header of sheet 会议: as in the CSV, plus whether the quorum was met.
pub const MEETING_HEADER: [&str; 11] = [
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
    "法定人数",
];

/// The header of sheet 党员出勤.
pub const MEMBER_HEADER: [&str; 6] = ["姓名", "应参加", "已参加", "请假", "缺席", "出勤率"];

/// Column widths in characters; a Chinese character takes about two.
const UNIT_WIDTHS: [f64; 7] = [14.0, 12.0, 16.0, 10.0, 10.0, 16.0, 12.0];
const MEETING_WIDTHS: [f64; 11] = [10.0, 14.0, 40.0, 18.0, 8.0, 8.0, 8.0, 8.0, 8.0, 10.0, 10.0];
const MEMBER_WIDTHS: [f64; 6] = [14.0, 10.0, 10.0, 8.0, 8.0, 10.0];

/// The workbook's bytes.
pub fn ledger_xlsx(ledger: &Ledger) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    // Fixed metadata (the creation time is the ledger's, not the clock's) keeps the bytes a
    // function of the ledger alone.
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("三会一课台账 {}", ledger.period.label_zh()))
            .set_author("mobile-branch")
            .set_creation_datetime(&ledger.generated_at),
    );
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xD9_D9_D9))
        .set_border_bottom(FormatBorder::Thin);
    let percent = Format::new().set_num_format("0.0%");
    let time = Format::new().set_num_format("yyyy-mm-dd hh:mm");

    let sheet = workbook.add_worksheet();
    start_sheet(sheet, SHEETS[0], &UNIT_HEADER, &UNIT_WIDTHS, &header)?;
    let mut row = 0;
    for rule in &ledger.rules {
        for unit in &rule.units {
            row += 1;
            sheet.write_string(row, 0, rule.kind.label(Language::Zh))?;
            sheet.write_string(
                row,
                1,
                format!("{}≥{}次", rule.cadence.label_zh(), rule.min),
            )?;
            sheet.write_string(row, 2, unit.unit.label_zh())?;
            sheet.write_number(row, 3, unit.held.len() as f64)?;
            sheet.write_string_with_format(
                row,
                4,
                unit.status.label_zh(),
                &status_format(unit.status),
            )?;
            sheet.write_string(row, 5, numbers(&unit.held))?;
            sheet.write_string(row, 6, numbers(&unit.planned))?;
        }
    }
    finish_sheet(sheet, row, UNIT_HEADER.len())?;

    let sheet = workbook.add_worksheet();
    start_sheet(sheet, SHEETS[1], &MEETING_HEADER, &MEETING_WIDTHS, &header)?;
    let mut row = 0;
    for m in &ledger.meetings {
        row += 1;
        sheet.write_number(row, 0, m.no as f64)?;
        sheet.write_string(row, 1, m.kind.label(Language::Zh))?;
        sheet.write_string(row, 2, &m.topic)?;
        sheet.write_datetime_with_format(
            row,
            3,
            m.starts_at.with_timezone(&ledger.timezone).naive_local(),
            &time,
        )?;
        for (col, n) in [m.expected, m.attended, m.late, m.excused, m.absent]
            .into_iter()
            .enumerate()
        {
            sheet.write_number(row, 4 + col as u16, n as f64)?;
        }
        if let Some(rate) = m.rate {
            sheet.write_number_with_format(row, 9, rate, &percent)?;
        }
        let quorum = match m.quorum_met {
            Some(true) => "达到",
            Some(false) => "未达到",
            None => "",
        };
        sheet.write_string(row, 10, quorum)?;
    }
    finish_sheet(sheet, row, MEETING_HEADER.len())?;

    let sheet = workbook.add_worksheet();
    start_sheet(sheet, SHEETS[2], &MEMBER_HEADER, &MEMBER_WIDTHS, &header)?;
    let mut row = 0;
    for m in &ledger.members {
        row += 1;
        sheet.write_string(row, 0, &m.name)?;
        for (col, n) in [m.expected, m.attended, m.excused, m.absent]
            .into_iter()
            .enumerate()
        {
            sheet.write_number(row, 1 + col as u16, n as f64)?;
        }
        if let Some(rate) = m.rate {
            sheet.write_number_with_format(row, 5, rate, &percent)?;
        }
    }
    finish_sheet(sheet, row, MEMBER_HEADER.len())?;

    Ok(workbook.save_to_buffer()?)
}

fn start_sheet(
    sheet: &mut Worksheet,
    name: &str,
    header: &[&str],
    widths: &[f64],
    format: &Format,
) -> Result<(), ExportError> {
    sheet.set_name(name)?;
    for (col, (title, width)) in header.iter().zip(widths).enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, *title, format)?;
        sheet.set_column_width(col, *width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn finish_sheet(sheet: &mut Worksheet, last_row: u32, columns: usize) -> Result<(), ExportError> {
    let last_col = columns.saturating_sub(1) as u16;
    sheet.autofilter(0, 0, last_row, last_col)?;
    Ok(())
}

/// Green for met, red for missed, orange for at risk, none otherwise, the colours
/// inspectors expect of a traffic-light ledger.
fn status_format(status: UnitStatus) -> Format {
    let fill = match status {
        UnitStatus::Met => Some(0xC6_EF_CE),
        UnitStatus::Missed => Some(0xFF_C7_CE),
        UnitStatus::AtRisk => Some(0xFF_EB_9C),
        UnitStatus::Due | UnitStatus::Upcoming | UnitStatus::BeforeBranch => None,
    };
    match fill {
        Some(rgb) => Format::new().set_background_color(Color::RGB(rgb)),
        None => Format::new(),
    }
}

/// `#3, #5`.
fn numbers(nos: &[u64]) -> String {
    nos.iter()
        .map(|n| format!("#{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use calamine::{Data, DataType, Reader, Xlsx};

    use super::*;
    use crate::domain::{
        ledger::{
            LedgerRules, Period, ledger,
            tests::{SHANGHAI, local, meeting, member, summary},
        },
        meeting::{MeetingKind, MeetingStatus, Outcome, QuorumCount},
    };

    fn sample() -> Ledger {
        let mut m = meeting(
            7,
            MeetingKind::Committee,
            local(2026, 11, 30, 23, 30),
            MeetingStatus::Ended,
        );
        m.topic = "=1+1 不是公式".to_owned();
        let mut counts = summary(&[
            ("a", Outcome::Present),
            ("b", Outcome::Late),
            ("c", Outcome::Absent),
        ]);
        counts.quorum = Some(QuorumCount {
            voters: 5,
            attending: 2,
        });
        ledger(
            &LedgerRules::default(),
            Period::Quarter(2026, 4),
            SHANGHAI,
            &[(m, counts)],
            &[
                member("a", "张三"),
                member("b", "李四"),
                member("c", "王五"),
            ],
            local(2026, 12, 28, 9, 0),
        )
    }

    fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
        Xlsx::new(Cursor::new(bytes)).unwrap()
    }

    fn text(cell: Option<&Data>) -> String {
        match cell {
            Some(Data::String(s)) => s.clone(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    fn number(cell: Option<&Data>) -> f64 {
        match cell {
            Some(Data::Float(f)) => *f,
            Some(Data::Int(i)) => *i as f64,
            other => panic!("expected a number, got {other:?}"),
        }
    }

    #[test]
    fn the_workbook_has_three_sheets_with_chinese_headers() {
        let mut book = open(ledger_xlsx(&sample()).unwrap());
        assert_eq!(book.sheet_names(), SHEETS);
        for (sheet, header) in [
            ("台账", &UNIT_HEADER[..]),
            ("会议", &MEETING_HEADER[..]),
            ("党员出勤", &MEMBER_HEADER[..]),
        ] {
            let range = book.worksheet_range(sheet).unwrap();
            let first: Vec<String> = (0..header.len()).map(|c| text(range.get((0, c)))).collect();
            assert_eq!(first, header, "{sheet}");
        }
    }

    #[test]
    fn the_ledger_sheet_lists_each_rule_in_each_unit_with_its_status() {
        let mut book = open(ledger_xlsx(&sample()).unwrap());
        let range = book.worksheet_range("台账").unwrap();
        let rows: Vec<[String; 3]> = (1..range.height())
            .map(|r| {
                [
                    text(range.get((r, 0))),
                    text(range.get((r, 2))),
                    text(range.get((r, 4))),
                ]
            })
            .collect();
        let committee: Vec<_> = rows.iter().filter(|r| r[0] == "支委会").collect();
        assert_eq!(
            committee,
            [
                &[
                    "支委会".to_owned(),
                    "2026年10月".to_owned(),
                    "未完成".to_owned()
                ],
                &[
                    "支委会".to_owned(),
                    "2026年11月".to_owned(),
                    "已完成".to_owned()
                ],
                &[
                    "支委会".to_owned(),
                    "2026年12月".to_owned(),
                    "有风险".to_owned()
                ],
            ]
        );
        assert!(rows.contains(&[
            "组织生活会".to_owned(),
            "2026年".to_owned(),
            "有风险".to_owned()
        ]));
        // Four days before the year ends the yearly meeting is at risk.
        // 3 monthly rules × 3 months + 2 quarterly + 2 yearly.
        assert_eq!(rows.len(), 13);
        let nov = (1..range.height())
            .find(|&r| {
                text(range.get((r, 2))) == "2026年11月" && text(range.get((r, 0))) == "支委会"
            })
            .unwrap();
        assert_eq!(number(range.get((nov, 3))), 1.0);
        assert_eq!(text(range.get((nov, 5))), "#7");
        assert_eq!(text(range.get((nov, 1))), "每月≥1次");
    }

    #[test]
    fn meetings_and_members_carry_numbers_local_times_and_rates() {
        let mut book = open(ledger_xlsx(&sample()).unwrap());
        let meetings = book.worksheet_range("会议").unwrap();
        assert_eq!(number(meetings.get((1, 0))), 7.0);
        assert_eq!(text(meetings.get((1, 1))), "支委会");
        assert_eq!(
            text(meetings.get((1, 2))),
            "=1+1 不是公式",
            "text, not a formula"
        );
        let start = meetings
            .get((1, 3))
            .and_then(Data::as_datetime)
            .expect("a date cell");
        assert_eq!(start.to_string(), "2026-11-30 23:30:00", "local time");
        let counts: Vec<f64> = (4..9).map(|c| number(meetings.get((1, c)))).collect();
        assert_eq!(counts, [3.0, 2.0, 1.0, 0.0, 1.0]);
        assert!((number(meetings.get((1, 9))) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(text(meetings.get((1, 10))), "未达到");

        let members = book.worksheet_range("党员出勤").unwrap();
        assert_eq!(members.height(), 4);
        assert_eq!(text(members.get((1, 0))), "张三");
        assert_eq!(number(members.get((1, 5))), 1.0);
        assert_eq!(text(members.get((3, 0))), "王五");
        assert_eq!(number(members.get((3, 4))), 1.0);
        assert_eq!(number(members.get((3, 5))), 0.0);
    }

    #[test]
    fn an_empty_ledger_still_makes_a_workbook() {
        let empty = ledger(
            &LedgerRules {
                rules: Vec::new(),
                ..LedgerRules::default()
            },
            Period::Month(2026, 1),
            SHANGHAI,
            &[],
            &[],
            local(2026, 1, 2, 9, 0),
        );
        let mut book = open(ledger_xlsx(&empty).unwrap());
        assert_eq!(book.worksheet_range("会议").unwrap().height(), 1);
    }
}
