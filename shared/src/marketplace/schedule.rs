//! A mitra's weekly hours and closed dates, and the free slots they give (contract §13,
//! §16 "Booking details").
//!
//! Schedules are in Asia/Jakarta, which is UTC+07:00 all year (Indonesia has no daylight
//! saving), so a fixed offset is exact and needs no time-zone database. The slot grid
//! starts at local midnight every `SLOT_STEP_MINUTES`; schedule times lie on it, `end` may
//! be `24:00`, touching intervals merge and ranges are half-open, so back-to-back orders
//! fit. A slot is a grid start inside one interval of its day where the whole service
//! fits, at least `BOOKING_LEAD_MINUTES` from now (2 minutes' grace when an order is
//! made), on a local date at most `BOOKING_HORIZON_DAYS` after today's, and overlapping
//! no order that holds time (the database's exclusion constraint is the final word).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use poem_openapi::{Enum, Object};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::MarketError;
use crate::state::BookingSettings;

/// The only time zone schedules are in.
pub const TIMEZONE: &str = "Asia/Jakarta";
/// Intervals one day may have.
pub const MAX_INTERVALS_PER_DAY: usize = 4;
/// Closed dates one schedule may list.
pub const MAX_CLOSED_DATES: usize = 100;
/// How late past the lead an order may still be made (the customer picked the slot a
/// moment ago).
pub const LEAD_GRACE: Duration = Duration::minutes(2);

/// Asia/Jakarta: UTC+07:00, no daylight saving.
pub fn jakarta() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+07:00 is a valid offset")
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn of(date: NaiveDate) -> Self {
        [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun]
            [date.weekday().num_days_from_monday() as usize]
    }
}

/// One interval of a weekday's hours, local time.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
pub struct WeeklyHours {
    pub day: Day,
    /// `HH:MM`, on the slot grid.
    pub start: String,
    /// `HH:MM`, on the slot grid, after `start`; `24:00` for midnight.
    pub end: String,
}

/// A mitra's bookable hours.
#[derive(Debug, Clone, Object)]
pub struct Schedule {
    /// Merged and sorted by day, then start.
    pub weekly: Vec<WeeklyHours>,
    /// Local dates with no slots, sorted (`YYYY-MM-DD`).
    pub closed_dates: Vec<NaiveDate>,
    /// Always `Asia/Jakarta`.
    pub timezone: String,
}

/// One interval in minutes from local midnight, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Interval {
    day: Day,
    start: u32,
    end: u32,
}

/// Parses `HH:MM` (00:00–24:00) into minutes from midnight.
fn minutes(field: &str, text: &str) -> Result<u32, MarketError> {
    let bad = || MarketError::Invalid(format!("{field} must be HH:MM between 00:00 and 24:00, got {text:?}"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Checks and normalises a schedule: times on the grid, no inverted or empty interval, no
/// overlap (touching intervals merge), at most four intervals a day and 100 closed dates.
pub fn normalise(
    weekly: &[WeeklyHours],
    closed_dates: &[String],
    step: u32,
) -> Result<(Vec<WeeklyHours>, Vec<NaiveDate>), MarketError> {
    let mut intervals = Vec::with_capacity(weekly.len());
    for (at, hours) in weekly.iter().enumerate() {
        let start = minutes(&format!("weekly[{at}].start"), &hours.start)?;
        let end = minutes(&format!("weekly[{at}].end"), &hours.end)?;
        if start >= end {
            return Err(MarketError::Invalid(format!("weekly[{at}]: start must be before end")));
        }
        if start % step != 0 || end % step != 0 {
            return Err(MarketError::Invalid(format!("weekly[{at}]: times must lie on the {step}-minute grid")));
        }
        intervals.push(Interval { day: hours.day, start, end });
    }
    intervals.sort();
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for interval in intervals {
        match merged.last_mut() {
            Some(last) if last.day == interval.day && interval.start < last.end => {
                return Err(MarketError::Invalid(
                    format!(
                        "weekly: {:?} {}–{} overlaps {}–{}",
                        interval.day,
                        hhmm(interval.start),
                        hhmm(interval.end),
                        hhmm(last.start),
                        hhmm(last.end)
                    )
                    .to_lowercase(),
                ));
            }
            Some(last) if last.day == interval.day && interval.start == last.end => last.end = interval.end,
            _ => merged.push(interval),
        }
    }
    for day in [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri, Day::Sat, Day::Sun] {
        if weekly.iter().filter(|h| h.day == day).count() > MAX_INTERVALS_PER_DAY {
            return Err(MarketError::Invalid(format!("weekly: at most {MAX_INTERVALS_PER_DAY} intervals per day")));
        }
    }
    if closed_dates.len() > MAX_CLOSED_DATES {
        return Err(MarketError::Invalid(format!("closed_dates: at most {MAX_CLOSED_DATES} dates")));
    }
    let mut dates = Vec::with_capacity(closed_dates.len());
    for (at, text) in closed_dates.iter().enumerate() {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|_| text.len() == 10)
            .ok_or_else(|| MarketError::Invalid(format!("closed_dates[{at}] must be a date YYYY-MM-DD")))?;
        dates.push(date);
    }
    dates.sort();
    dates.dedup();
    let weekly =
        merged.into_iter().map(|i| WeeklyHours { day: i.day, start: hhmm(i.start), end: hhmm(i.end) }).collect();
    Ok((weekly, dates))
}

#[derive(sqlx::FromRow)]
struct Stored {
    weekly: sqlx::types::Json<Vec<WeeklyHours>>,
    closed_dates: Vec<NaiveDate>,
}

fn schedule(weekly: Vec<WeeklyHours>, closed_dates: Vec<NaiveDate>) -> Schedule {
    Schedule { weekly, closed_dates, timezone: TIMEZONE.to_owned() }
}

/// Replaces mitra `mitra_id`'s schedule.
pub async fn put(
    db: &PgPool,
    mitra_id: Uuid,
    weekly: &[WeeklyHours],
    closed_dates: &[String],
    step: u32,
) -> Result<Schedule, MarketError> {
    let (weekly, closed_dates) = normalise(weekly, closed_dates, step)?;
    sqlx::query(
        "INSERT INTO mitra_schedules (mitra_id, weekly, closed_dates) VALUES ($1, $2, $3)
         ON CONFLICT (mitra_id) DO UPDATE SET weekly = excluded.weekly, closed_dates = excluded.closed_dates,
                                              updated_at = now()",
    )
    .bind(mitra_id)
    .bind(sqlx::types::Json(&weekly))
    .bind(&closed_dates)
    .execute(db)
    .await?;
    Ok(schedule(weekly, closed_dates))
}

/// Mitra `mitra_id`'s schedule; empty (nothing bookable) when never set.
pub async fn get(db: &PgPool, mitra_id: Uuid) -> sqlx::Result<Schedule> {
    let stored: Option<Stored> = sqlx::query_as("SELECT weekly, closed_dates FROM mitra_schedules WHERE mitra_id = $1")
        .bind(mitra_id)
        .fetch_optional(db)
        .await?;
    Ok(match stored {
        Some(s) => schedule(s.weekly.0, s.closed_dates),
        None => schedule(Vec::new(), Vec::new()),
    })
}

/// What slot arithmetic needs of a mitra's schedule.
#[derive(Debug, Clone, Default)]
pub struct Hours {
    weekly: Vec<WeeklyHours>,
    closed_dates: Vec<NaiveDate>,
}

impl Hours {
    pub fn new(weekly: Vec<WeeklyHours>, closed_dates: Vec<NaiveDate>) -> Self {
        Self { weekly, closed_dates }
    }

    /// Every grid start on local `date` where a service of `duration` minutes fits inside
    /// one interval, not before `earliest`, when `date` is within today … today + horizon.
    /// Held orders are not considered here.
    pub fn starts(
        &self,
        date: NaiveDate,
        duration: u32,
        now: DateTime<Utc>,
        earliest: DateTime<Utc>,
        booking: &BookingSettings,
    ) -> Vec<DateTime<Utc>> {
        let today = now.with_timezone(&jakarta()).date_naive();
        let last = today + Duration::days(i64::from(booking.horizon_days));
        if date < today || date > last || self.closed_dates.contains(&date) {
            return Vec::new();
        }
        let Some(midnight) = jakarta().from_local_datetime(&date.and_time(NaiveTime::MIN)).single() else {
            return Vec::new();
        };
        let midnight = midnight.with_timezone(&Utc);
        let step = booking.slot_step_minutes.max(1);
        let day = Day::of(date);
        let mut starts = Vec::new();
        for hours in self.weekly.iter().filter(|h| h.day == day) {
            let (Ok(start), Ok(end)) = (minutes("start", &hours.start), minutes("end", &hours.end)) else { continue };
            let mut at = start.div_ceil(step) * step;
            while at + duration <= end {
                let starts_at = midnight + Duration::minutes(i64::from(at));
                if starts_at >= earliest {
                    starts.push(starts_at);
                }
                at += step;
            }
        }
        starts.sort();
        starts
    }
}

/// A free start and its end.
#[derive(Debug, Clone, Object)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The held time of mitra `mitra_id` overlapping [from, to): every order that holds time.
async fn held(
    conn: &mut PgConnection,
    mitra_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    sqlx::query_as(&format!(
        "SELECT starts_at, ends_at FROM orders
         WHERE mitra_id = $1 AND starts_at IS NOT NULL AND status IN {HOLDING}
           AND tstzrange(starts_at, ends_at) && tstzrange($2, $3)"
    ))
    .bind(mitra_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The statuses in which an order holds its time (the exclusion constraint's).
pub const HOLDING: &str = "('creating', 'pending_payment', 'paid', 'accepted', 'completed')";

/// The free slots of a listed mitra's active service on local `date`; `None` when the
/// mitra is not listed or the service is not one of its active ones.
pub async fn slots(
    db: &PgPool,
    mitra_id: Uuid,
    service_id: Uuid,
    date: NaiveDate,
    booking: &BookingSettings,
) -> sqlx::Result<Option<Vec<Slot>>> {
    #[derive(sqlx::FromRow)]
    struct Found {
        duration_minutes: i32,
        weekly: Option<sqlx::types::Json<Vec<WeeklyHours>>>,
        closed_dates: Option<Vec<NaiveDate>>,
    }
    let mut conn = db.acquire().await?;
    let found: Option<Found> = sqlx::query_as(&format!(
        "SELECT s.duration_minutes, sc.weekly, sc.closed_dates
         FROM mitra_services s JOIN mitras m ON m.id = s.mitra_id
         LEFT JOIN mitra_schedules sc ON sc.mitra_id = s.mitra_id
         WHERE s.id = $1 AND s.mitra_id = $2 AND s.active AND {}",
        *super::browse::LISTABLE
    ))
    .bind(service_id)
    .bind(mitra_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(found) = found else { return Ok(None) };
    let hours = Hours::new(found.weekly.map(|w| w.0).unwrap_or_default(), found.closed_dates.unwrap_or_default());
    let now = Utc::now();
    let duration = u32::try_from(found.duration_minutes).unwrap_or(0);
    let earliest = now + Duration::minutes(i64::from(booking.lead_minutes));
    let starts = hours.starts(date, duration, now, earliest, booking);
    let length = Duration::minutes(i64::from(duration));
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else { return Ok(Some(Vec::new())) };
    let taken = held(&mut conn, mitra_id, *first, *last + length).await?;
    Ok(Some(
        starts
            .into_iter()
            .map(|starts_at| Slot { starts_at, ends_at: starts_at + length })
            .filter(|slot| !taken.iter().any(|(s, e)| *s < slot.ends_at && slot.starts_at < *e))
            .collect(),
    ))
}

/// Whether `starts_at` is a grid start of `hours` where `duration` fits, within lead (with
/// [`LEAD_GRACE`]) and horizon: the order-time check (held time is the database's).
pub fn is_start(hours: &Hours, starts_at: DateTime<Utc>, duration: u32, booking: &BookingSettings) -> bool {
    let now = Utc::now();
    let earliest = now + Duration::minutes(i64::from(booking.lead_minutes)) - LEAD_GRACE;
    let date = starts_at.with_timezone(&jakarta()).date_naive();
    hours.starts(date, duration, now, earliest, booking).contains(&starts_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(day: Day, start: &str, end: &str) -> WeeklyHours {
        WeeklyHours { day, start: start.into(), end: end.into() }
    }

    fn local(date: &str, time: &str) -> DateTime<Utc> {
        let naive = chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap();
        jakarta().from_local_datetime(&naive).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn touching_intervals_merge_and_midnight_may_end_a_day() {
        let input =
            [hours(Day::Mon, "13:00", "17:00"), hours(Day::Mon, "09:00", "13:00"), hours(Day::Sun, "20:00", "24:00")];
        let (weekly, _) = normalise(&input, &[], 30).unwrap();
        assert_eq!(weekly, vec![hours(Day::Mon, "09:00", "17:00"), hours(Day::Sun, "20:00", "24:00")]);
    }

    #[test]
    fn overlapping_inverted_off_grid_and_too_many_intervals_are_refused() {
        let bad: [Vec<WeeklyHours>; 5] = [
            vec![hours(Day::Tue, "09:00", "12:00"), hours(Day::Tue, "11:30", "13:00")],
            vec![hours(Day::Tue, "12:00", "09:00")],
            vec![hours(Day::Tue, "09:00", "09:00")],
            vec![hours(Day::Tue, "09:15", "10:00")],
            (0..5).map(|i| hours(Day::Wed, &format!("{:02}:00", i * 2), &format!("{:02}:00", i * 2 + 1))).collect(),
        ];
        for input in bad {
            assert!(matches!(normalise(&input, &[], 30), Err(MarketError::Invalid(_))), "{input:?}");
        }
        for time in ["24:30", "9:00", "25:00", "10:60", "ab:cd"] {
            assert!(normalise(&[hours(Day::Mon, "00:00", time)], &[], 30).is_err(), "{time}");
        }
        let many: Vec<String> = (0..101).map(|d| format!("2027-01-{:02}", d % 28 + 1)).collect();
        assert!(normalise(&[], &many, 30).is_err(), "more than 100 closed dates");
        assert!(normalise(&[], &["2027-02-30".into()], 30).is_err(), "not a date");
    }

    #[test]
    fn slots_lie_on_the_grid_where_the_whole_service_fits_within_lead_and_horizon() {
        let booking = BookingSettings::default();
        // 2027-01-04 is a Monday.
        let hours = Hours::new(vec![hours(Day::Mon, "09:00", "11:00"), hours(Day::Mon, "14:00", "14:30")], vec![]);
        let now = local("2027-01-01", "08:00");
        let starts = hours.starts("2027-01-04".parse().unwrap(), 60, now, now, &booking);
        assert_eq!(
            starts,
            vec![local("2027-01-04", "09:00"), local("2027-01-04", "09:30"), local("2027-01-04", "10:00")]
        );
        // The 14:00 interval is too short for an hour; a Tuesday has no hours.
        assert!(hours.starts("2027-01-05".parse().unwrap(), 60, now, now, &booking).is_empty());
        // Lead: on the day itself, only starts at or after `earliest`.
        let now = local("2027-01-04", "08:10");
        let earliest = now + Duration::minutes(60);
        assert_eq!(
            hours.starts("2027-01-04".parse().unwrap(), 60, now, earliest, &booking),
            vec![local("2027-01-04", "09:30"), local("2027-01-04", "10:00")]
        );
        // Horizon: whole local dates; the 30th day after today is in, the 31st is out; the past is out.
        let now = local("2026-12-05", "23:59");
        assert!(!hours.starts("2027-01-04".parse().unwrap(), 60, now, now, &booking).is_empty(), "30 days on");
        let now = local("2026-12-04", "23:59");
        assert!(hours.starts("2027-01-04".parse().unwrap(), 60, now, now, &booking).is_empty(), "31 days on");
        let now = local("2027-01-05", "00:00");
        assert!(
            hours.starts("2027-01-04".parse().unwrap(), 60, now, local("2027-01-01", "00:00"), &booking).is_empty(),
            "yesterday"
        );
        // A closed date has none.
        let closed = Hours::new(hours.weekly.clone(), vec!["2027-01-04".parse().unwrap()]);
        assert!(closed
            .starts(
                "2027-01-04".parse().unwrap(),
                60,
                local("2027-01-01", "00:00"),
                local("2027-01-01", "00:00"),
                &booking
            )
            .is_empty());
    }
}
