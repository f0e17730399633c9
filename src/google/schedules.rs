//! Meet calls checked before they happen: each monitored organiser's calendar is read on the
//! upkeep timer for the events they organise with a Meet conference, and each space's next
//! booking becomes a neutral schedule change, checked as Zoom's `meeting.created` is (the
//! DSL invited, within school hours, on the timetable, consent, invitation to a parent).
//!
//! Calendar is polled rather than watched: a watch channel needs a public HTTPS address
//! verified for the domain and renewing per calendar, and a missed notification would go
//! unseen; a poll every few minutes is enough warning for a call booked ahead, and an
//! unchanged booking is stored once (the inbox keys what an API said by its content).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::api::calendar::CalendarEvent;
use super::api::GoogleApiError;
use super::fetcher::{failed, fetch_error, Connected, GoogleFetcher};
use super::subscriptions::MonitoredUser;
use crate::enrichment::FetchError;
use crate::inbox::{self, SaidBy};
use crate::meeting::{MeetingEvent, Platform, ScheduleChange};

/// How far ahead bookings are read.
const LOOKAHEAD: Duration = Duration::days(14);
/// A booking that began this long ago is still read, so that its call is matched to it.
const LOOKBEHIND: Duration = Duration::hours(2);

impl GoogleFetcher {
    /// Reads the bookings of each of `organisers` and stores what changed.
    pub(super) async fn read_schedules(
        &self,
        connected: &Connected,
        organisers: &[MonitoredUser],
        now: DateTime<Utc>,
    ) -> Result<(), FetchError> {
        for organiser in organisers {
            let as_organiser = connected.acting_as(&organiser.email);
            let events = self
                .api
                .calendar_events(
                    &as_organiser,
                    &organiser.email,
                    now - LOOKBEHIND,
                    now + LOOKAHEAD,
                )
                .await
                .map_err(fetch_error)?;
            let mut changes = Vec::new();
            for (code, booking) in next_bookings(&events, &organiser.email, now) {
                let space = match self.space_of(connected, &organiser.email, code).await {
                    Ok(space) => space,
                    // A code the organiser's Meet does not know: nothing to match calls to.
                    Err(GoogleApiError::NotFound) => continue,
                    Err(error) => return Err(fetch_error(error)),
                };
                changes.push(schedule_change(&space, booking, organiser, now));
            }
            let mut connection = self.database().await?;
            let said_by = SaidBy {
                platform: Platform::GoogleMeet,
                school_id: connected.account.school_id,
                account_id: &connected.account.account_id,
            };
            inbox::insert_said(&mut connection, &said_by, &changes, now)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    /// The space a meeting code opens (`spaces/…`), remembered once read.
    async fn space_of(
        &self,
        connected: &Connected,
        organiser: &str,
        code: &str,
    ) -> Result<String, GoogleApiError> {
        let key = (connected.account.connection_id, code.to_string());
        if let Some(space) = self.spaces.lock().expect("spaces lock").get(&key) {
            return Ok(space.clone());
        }
        let space = self
            .api
            .space(&connected.acting_as(organiser), &format!("spaces/{code}"))
            .await?
            .name;
        self.spaces
            .lock()
            .expect("spaces lock")
            .insert(key, space.clone());
        Ok(space)
    }
}

/// For each Meet meeting code the organiser books, the booking that stands for it: the next
/// one not cancelled that has not ended, else (all cancelled) the last cancelled one.
fn next_bookings<'a>(
    events: &'a [CalendarEvent],
    organiser: &str,
    now: DateTime<Utc>,
) -> Vec<(&'a str, &'a CalendarEvent)> {
    let mut by_code: HashMap<&str, &CalendarEvent> = HashMap::new();
    for event in events {
        let Some(code) = event.meeting_code() else {
            continue;
        };
        let own = event
            .organizer
            .as_ref()
            .and_then(|person| person.email.as_deref())
            .is_some_and(|email| email.eq_ignore_ascii_case(organiser));
        if !own || end_of(event).is_some_and(|end| end <= now) {
            continue;
        }
        let better = match by_code.get(code) {
            None => true,
            Some(kept) => match (cancelled(kept), cancelled(event)) {
                (true, false) => true,
                (false, true) => false,
                _ => start_of(event) < start_of(kept),
            },
        };
        if better {
            by_code.insert(code, event);
        }
    }
    let mut bookings: Vec<_> = by_code.into_iter().collect();
    bookings.sort_by_key(|(code, _)| *code);
    bookings
}

fn cancelled(event: &CalendarEvent) -> bool {
    event.status.as_deref() == Some("cancelled")
}

fn start_of(event: &CalendarEvent) -> Option<DateTime<Utc>> {
    event
        .start
        .as_ref()?
        .date_time
        .map(|at| at.with_timezone(&Utc))
}

fn end_of(event: &CalendarEvent) -> Option<DateTime<Utc>> {
    event
        .end
        .as_ref()?
        .date_time
        .map(|at| at.with_timezone(&Utc))
}

/// The neutral change a booking stands for: the space is the scheduled meeting.
fn schedule_change(
    space: &str,
    booking: &CalendarEvent,
    organiser: &MonitoredUser,
    now: DateTime<Utc>,
) -> MeetingEvent {
    let start = start_of(booking);
    let invitees = booking
        .attendees
        .iter()
        .filter(|attendee| !attendee.resource && !attendee.organizer)
        .filter_map(|attendee| attendee.email.as_deref())
        .map(|email| email.trim().to_lowercase())
        .collect();
    MeetingEvent::ScheduleChanged {
        meeting_id: space.to_string(),
        // Calendar says when the booking last changed; without that, a time that stays the
        // same from one reading to the next, so an unchanged booking is stored once.
        at: booking.updated.or(start).unwrap_or(now),
        change: ScheduleChange {
            deleted: cancelled(booking),
            host_user_id: Some(organiser.user_id.clone()),
            topic: booking.summary.clone(),
            start_time: start,
            duration_minutes: start
                .zip(end_of(booking))
                .map(|(start, end)| (end - start).num_minutes()),
            timezone: booking
                .start
                .as_ref()
                .and_then(|time| time.time_zone.clone()),
            co_hosts: None,
            invitees: Some(invitees),
            join_url: booking.hangout_link.clone(),
        },
    }
}
