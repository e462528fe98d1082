//! Dates of birth as information systems export them. UK exports (SIMS, Arbor, Bromcom) write
//! the day first (`23/04/2015`); ISO dates (`2015-04-23`) come from hand-made files and some
//! reports. A date of birth decides how long a child-protection record is kept, so anything
//! that could be read two ways is refused rather than guessed.

use jiff::ToSpan;
use jiff::civil::Date;

/// How many years before the import day a pupil's date of birth may be; older dates are
/// typing mistakes (or a parent's date) rather than a pupil's.
pub const MAX_PUPIL_AGE_YEARS: i16 = 30;

/// Why a value is not a usable date of birth. Each message follows the quoted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DateProblem {
    /// Not laid out as any date format read here.
    #[error(
        "is not a date Hedgerow can read; write it day first with the year in full, such as \
         23/04/2015 (2015-04-23 works too), or leave it empty"
    )]
    Unreadable,
    /// A two-digit year, which could be either century.
    #[error(
        "has a two-digit year, which could mean either century; export the date with the year \
         in full, such as 23/04/2015"
    )]
    TwoDigitYear,
    /// Laid out as a date, but no such day exists.
    #[error(
        "is not a real date (that month has no such day, or the month is not 1 to 12; the day \
         comes first); check it in the information system"
    )]
    Impossible,
    /// After the day of the import.
    #[error("is in the future; check it in the information system, or leave it empty")]
    InFuture,
    /// More than [`MAX_PUPIL_AGE_YEARS`] years before the day of the import.
    #[error(
        "is more than 30 years ago, too long ago for a pupil; check it in the information \
         system (the year may be mistyped), or leave it empty"
    )]
    TooLongAgo,
}

/// Reads a date: `dd/mm/yyyy` or `d/m/yyyy` with `/`, `-` or `.` between, or `yyyy-mm-dd`
/// (or `yyyy/mm/dd`). A trailing midnight time (`23/04/2015 00:00:00`, as Excel sometimes
/// writes dates) is ignored. Month-first American dates are not read: `04/23/2015` is
/// [`DateProblem::Impossible`], and `04/05/2015` is 4 May.
pub fn parse_date(text: &str) -> Result<Date, DateProblem> {
    let text = strip_midnight(text.trim());
    let parts: Vec<&str> = text.split(['/', '-', '.']).collect();
    let [first, second, third] = parts.as_slice() else {
        return Err(DateProblem::Unreadable);
    };
    if !parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DateProblem::Unreadable);
    }
    let (year, month, day) = if first.len() == 4 {
        (*first, *second, *third)
    } else {
        (*third, *second, *first)
    };
    if month.len() > 2 || day.len() > 2 {
        return Err(DateProblem::Unreadable);
    }
    match year.len() {
        4 => {}
        2 => return Err(DateProblem::TwoDigitYear),
        _ => return Err(DateProblem::Unreadable),
    }
    let number = |digits: &str| digits.parse::<i16>().map_err(|_| DateProblem::Unreadable);
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    let month = i8::try_from(month).map_err(|_| DateProblem::Impossible)?;
    let day = i8::try_from(day).map_err(|_| DateProblem::Impossible)?;
    if year == 0 {
        return Err(DateProblem::Impossible);
    }
    Date::new(year, month, day).map_err(|_| DateProblem::Impossible)
}

/// Reads a pupil's date of birth and checks it is possible on `today`: not in the future and
/// not more than [`MAX_PUPIL_AGE_YEARS`] years before.
pub fn parse_pupil_date_of_birth(text: &str, today: Date) -> Result<Date, DateProblem> {
    let date = parse_date(text)?;
    if date > today {
        return Err(DateProblem::InFuture);
    }
    // Saturating: a `today` near jiff's lower limit cannot make the check fail open by error.
    let earliest = today
        .checked_sub(i64::from(MAX_PUPIL_AGE_YEARS).years())
        .unwrap_or(Date::MIN);
    if date < earliest {
        return Err(DateProblem::TooLongAgo);
    }
    Ok(date)
}

/// `text` without a trailing `00:00` or `00:00:00` time.
fn strip_midnight(text: &str) -> &str {
    for suffix in [" 00:00:00", " 00:00", "T00:00:00", "T00:00"] {
        if let Some(date) = text.strip_suffix(suffix) {
            return date.trim_end();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn uk_and_iso_layouts_are_read() {
        let want = date(2015, 4, 23);
        for text in [
            "23/04/2015",
            "23/4/2015",
            "23-04-2015",
            "23.04.2015",
            " 2015-04-23 ",
            "2015/04/23",
            "23/04/2015 00:00:00",
            "23/04/2015 00:00",
        ] {
            assert_eq!(parse_date(text), Ok(want), "{text}");
        }
        // Day first, always.
        assert_eq!(parse_date("4/5/2015"), Ok(date(2015, 5, 4)));
        assert_eq!(parse_date("04/05/2015"), Ok(date(2015, 5, 4)));
    }

    #[test]
    fn ambiguous_impossible_and_unreadable_dates_are_refused() {
        for text in ["23/04/15", "23-4-15", "15-04-23"] {
            assert_eq!(parse_date(text), Err(DateProblem::TwoDigitYear), "{text}");
        }
        for text in [
            "31/02/2015",
            "29/02/2015",
            "04/23/2015",
            "00/01/2015",
            "01/00/2015",
            "2015-13-01",
            "01/01/0000",
        ] {
            assert_eq!(parse_date(text), Err(DateProblem::Impossible), "{text}");
        }
        for text in [
            "",
            "23 April 2015",
            "23/04",
            "23/04/2015/1",
            "23//2015",
            "+1/04/2015",
            "23/04/20155",
            "123/04/2015",
            "23/04/015",
            "٢٣/٠٤/٢٠١٥",
            "23/04/2015 12:30",
        ] {
            assert_eq!(parse_date(text), Err(DateProblem::Unreadable), "{text:?}");
        }
        assert_eq!(parse_date("29/02/2016"), Ok(date(2016, 2, 29)));
    }

    #[test]
    fn a_pupils_date_is_not_in_the_future_nor_over_thirty_years_ago() {
        let today = date(2025, 9, 1);
        assert_eq!(
            parse_pupil_date_of_birth("01/09/2025", today),
            Ok(date(2025, 9, 1))
        );
        assert_eq!(
            parse_pupil_date_of_birth("02/09/2025", today),
            Err(DateProblem::InFuture)
        );
        assert_eq!(
            parse_pupil_date_of_birth("01/09/1995", today),
            Ok(date(1995, 9, 1))
        );
        assert_eq!(
            parse_pupil_date_of_birth("31/08/1995", today),
            Err(DateProblem::TooLongAgo)
        );
        // A date that cannot be read is reported as such, not as out of range.
        assert_eq!(
            parse_pupil_date_of_birth("31/02/2020", today),
            Err(DateProblem::Impossible)
        );
    }
}
