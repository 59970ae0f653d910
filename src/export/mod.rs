//! Ledger and calendar exports: the 三会一课 ledger as CSV and XLSX for inspectors and
//! spreadsheets, and a branch's meetings as an iCalendar feed for phone calendars. Pure:
//! each function turns domain values into bytes or text; the API serves them.

pub mod csv;
pub mod ical;
pub mod xlsx;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A failure while writing an export. Writing into memory cannot fail for I/O reasons, so
/// these point at a bug or a limit of the format (e.g. too many rows for a sheet).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The CSV writer failed.
    #[error("failed to write CSV")]
    Csv(#[from] ::csv::Error),
    /// The XLSX writer failed.
    #[error("failed to write XLSX")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Flushing the in-memory buffer failed.
    #[error("failed to flush export buffer")]
    Io(#[from] std::io::Error),
}

/// `YYYY-MM-DD HH:MM` in the branch's time zone, the form inspectors read.
pub(crate) fn local_minutes(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// `87.5%`, or empty when there is no rate (nobody expected).
pub(crate) fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_default()
}
