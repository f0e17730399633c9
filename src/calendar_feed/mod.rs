//! A person's calendar feed: their upcoming planned sessions and scheduled platform meetings
//! as an iCalendar (RFC 5545) document, at an address whose secret is shown once and kept
//! only as a digest.
//!
//! What a feed holds is decided when it is read, from the roles its owner holds then: at a
//! school where they are the DSL or deputy DSL, every planned session and scheduled meeting of
//! the school; at a school where they are staff, the planned sessions they host or are on and
//! the meetings their platform accounts host. Pupils (and parents and visiting adults) are
//! named by their initials only, as the feed travels through calendar apps and their servers.

pub mod events;
pub mod ical;
pub mod store;
pub mod zones;

use chrono::{DateTime, Duration, Utc};

/// How far back the feed reaches: last week's calls stay in view.
pub const DAYS_BEHIND: i64 = 7;

/// How far ahead the feed reaches: about thirteen months, so that a session registered for
/// the next school year is in the calendar as soon as it is on the timetable. Planned sessions
/// are registered one by one (nothing repeats), so even a year of them is a small document.
pub const DAYS_AHEAD: i64 = 400;

/// The span of time a feed read at `now` covers, as [from, to).
pub fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        now - Duration::days(DAYS_BEHIND),
        now + Duration::days(DAYS_AHEAD),
    )
}
