//! Send-limit windows (R9): calendar day and month in the account's time
//! zone, and what each message counts against.

use crate::ids::{NumberId, UserId};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Day,
    Month,
}

/// Who a counter belongs to: a message counts against both its number and
/// its user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CounterSubject {
    Number(NumberId),
    User(UserId),
}

impl CounterSubject {
    pub fn kind(&self) -> &'static str {
        match self {
            CounterSubject::Number(_) => "number",
            CounterSubject::User(_) => "user",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            CounterSubject::Number(n) => n.as_str(),
            CounterSubject::User(u) => u.as_str(),
        }
    }
}

/// One counter row: subject and window, e.g. (number num_1, `d2026-11-22`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub subject: CounterSubject,
    pub window: Window,
    /// `d2026-11-22` or `m2026-11`.
    pub period: String,
}

/// The local calendar day of `at` in `tz`.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

pub fn period_key(at: DateTime<Utc>, tz: Tz, window: Window) -> String {
    let d = local_day(at, tz);
    match window {
        Window::Day => format!("d{}", d.format("%Y-%m-%d")),
        Window::Month => format!("m{}", d.format("%Y-%m")),
    }
}

/// The four counters one message reserves.
pub fn counter_keys(
    at: DateTime<Utc>,
    tz: Tz,
    number: &NumberId,
    user: &UserId,
) -> [CounterKey; 4] {
    let day = period_key(at, tz, Window::Day);
    let month = period_key(at, tz, Window::Month);
    let key = |subject: CounterSubject, window: Window, period: &str| CounterKey {
        subject,
        window,
        period: period.to_string(),
    };
    [
        key(CounterSubject::Number(number.clone()), Window::Day, &day),
        key(
            CounterSubject::Number(number.clone()),
            Window::Month,
            &month,
        ),
        key(CounterSubject::User(user.clone()), Window::Day, &day),
        key(CounterSubject::User(user.clone()), Window::Month, &month),
    ]
}

/// When the window containing `at` closes, i.e. the next local midnight (or
/// first of next month), as an instant. Deferred sends wake up then.
pub fn next_window_start(at: DateTime<Utc>, tz: Tz, window: Window) -> DateTime<Utc> {
    let today = local_day(at, tz);
    let next = match window {
        Window::Day => today + Duration::days(1),
        Window::Month => {
            let (y, m) = if today.month() == 12 {
                (today.year() + 1, 1)
            } else {
                (today.year(), today.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1).expect("first of month exists")
        }
    };
    local_midnight(next, tz)
}

/// The first instant of a local date. Around a DST gap midnight may not
/// exist; then the first valid minute after it is used.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..180 {
        if let Some(dt) = tz.from_local_datetime(&t).earliest() {
            return dt.with_timezone(&Utc);
        }
        t += Duration::minutes(1);
    }
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r9_day_window_follows_the_account_time_zone() {
        // 23:30 UTC on Nov 22 is already Nov 23 in Helsinki.
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        assert_eq!(period_key(at, Tz::UTC, Window::Day), "d2026-11-22");
        assert_eq!(
            period_key(at, chrono_tz::Europe::Helsinki, Window::Day),
            "d2026-11-23"
        );
        assert_eq!(
            period_key(at, chrono_tz::Europe::Helsinki, Window::Month),
            "m2026-11"
        );
    }

    #[test]
    fn r10_deferred_sends_wake_at_local_midnight() {
        let at = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let next = next_window_start(at, chrono_tz::Europe::Berlin, Window::Day);
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 11, 22, 23, 0, 0).unwrap());
        let month = next_window_start(at, Tz::UTC, Window::Month);
        assert_eq!(month, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    }
}
