//! Working days. Statutory holidays and adjusted working days (调休) change every year by
//! State Council notice and belong in a data table (the care-visits issue brings it); until
//! then only weekends are known, and this one function is where the table will plug in.

use chrono::{Datelike, NaiveDate, Weekday};

/// Whether `date` is a working day (today: Monday to Friday).
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// `date` itself if it is a working day, else the next one.
pub fn next_working_day(date: NaiveDate) -> NaiveDate {
    let mut day = date;
    // A bounded walk: no calendar has more than a few consecutive days off.
    for _ in 0..31 {
        if is_working_day(day) {
            return day;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => return date,
        }
    }
    date
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekends_move_to_monday_and_weekdays_stay() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            next_working_day(d("2026-12-05")),
            d("2026-12-07"),
            "a Saturday"
        );
        assert_eq!(
            next_working_day(d("2026-12-06")),
            d("2026-12-07"),
            "a Sunday"
        );
        assert_eq!(next_working_day(d("2026-12-07")), d("2026-12-07"));
        assert_eq!(
            next_working_day(NaiveDate::MAX),
            NaiveDate::MAX,
            "the end of the calendar is no panic"
        );
    }
}
