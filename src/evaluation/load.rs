//! Loads the engine's picture of one meeting from storage: the schedule, the call, the
//! people with their roles, children and consent, the matching planned session, the outcome.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::db::decode::decode_timezone;
use crate::db::time::{from_millis, to_millis};
use crate::directory::{name_key, people, person_with_email, person_with_platform_id, PersonKind};
use crate::enrichment::store::registrant_email;
use crate::policy::identity::{identify, Clues};
use crate::policy::view::{
    InstanceView, InviteeView, MeetingView, PersonView, PlannedView, PlatformSettings,
    RoomStayView, ScheduledView, SessionView,
};
use crate::store::instances::{self, StoredInstance};

/// The ids the findings of a loaded meeting are filed under.
#[derive(Debug, Clone, Copy)]
pub struct LoadedIds {
    pub scheduled_meeting_id: Option<i64>,
    pub meeting_instance_id: Option<i64>,
}

/// Loads people once per meeting, resolving roles, children and consent on one date.
struct People<'c> {
    connection: &'c mut AnyConnection,
    school_id: i64,
    on_date: NaiveDate,
    cache: HashMap<i64, PersonView>,
}

impl People<'_> {
    async fn get(&mut self, id: i64) -> Result<PersonView, sqlx::Error> {
        if let Some(person) = self.cache.get(&id) {
            return Ok(person.clone());
        }
        let stored = people::by_id(&mut *self.connection, id)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        let (kind, staff_role) = (stored.kind, stored.staff_role);
        let children = sqlx::query(
            "SELECT pupil_id FROM guardianships WHERE parent_id = $1 ORDER BY pupil_id",
        )
        .bind(id)
        .fetch_all(&mut *self.connection)
        .await?
        .iter()
        .map(|row| row.try_get("pupil_id"))
        .collect::<Result<Vec<i64>, _>>()?;
        let has_consent = kind == PersonKind::Pupil && self.consent_on_file(id).await?;
        let person = PersonView {
            id,
            name: stored.display_name,
            kind,
            staff_role,
            children,
            has_consent,
        };
        self.cache.insert(id, person.clone());
        Ok(person)
    }

    /// A signed agreement in force on the meeting's date: signed on or before it, not expired
    /// before it, not withdrawn on or before it. Dates are ISO strings, so they compare as text.
    async fn consent_on_file(&mut self, pupil_id: i64) -> Result<bool, sqlx::Error> {
        let day = self.on_date.format("%Y-%m-%d").to_string();
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM parental_consents WHERE pupil_id = $1 AND signed_on <= $2 \
             AND (expires_on IS NULL OR expires_on >= $2) AND (withdrawn_on IS NULL OR withdrawn_on > $2)",
        )
        .bind(pupil_id)
        .bind(day)
        .fetch_one(&mut *self.connection)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    async fn by_platform_id(
        &mut self,
        platform: &str,
        user_id: &str,
    ) -> Result<Option<PersonView>, sqlx::Error> {
        match person_with_platform_id(self.connection, self.school_id, platform, user_id).await? {
            Some(id) => Ok(Some(self.get(id).await?)),
            None => Ok(None),
        }
    }

    /// The person who registered for the meeting under `registrant_id`, by the address the
    /// platform's API reported for the registration.
    async fn by_registration(
        &mut self,
        platform: &str,
        meeting_id: &str,
        registrant_id: &str,
    ) -> Result<Option<PersonView>, sqlx::Error> {
        let email = registrant_email(self.connection, platform, meeting_id, registrant_id).await?;
        match email {
            Some(email) => self.by_email(&email).await,
            None => Ok(None),
        }
    }

    /// Pupils and parents whose folded name is `key` (at most two: one is a match, two are
    /// ambiguous).
    async fn by_name_key(&mut self, key: &str) -> Result<Vec<PersonView>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id FROM people WHERE school_id = $1 AND name_key = $2 AND kind IN ('pupil', 'parent') \
             ORDER BY id LIMIT 2",
        )
        .bind(self.school_id)
        .bind(key)
        .fetch_all(&mut *self.connection)
        .await?;
        let mut people = Vec::with_capacity(rows.len());
        for row in &rows {
            people.push(self.get(row.try_get("id")?).await?);
        }
        Ok(people)
    }

    async fn by_email(&mut self, email: &str) -> Result<Option<PersonView>, sqlx::Error> {
        match person_with_email(self.connection, self.school_id, email).await? {
            Some(id) => Ok(Some(self.get(id).await?)),
            None => Ok(None),
        }
    }
}

pub(super) async fn school_timezone(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Tz, sqlx::Error> {
    let row = sqlx::query("SELECT timezone FROM schools WHERE id = $1")
        .bind(school_id)
        .fetch_one(connection)
        .await?;
    Ok(decode_timezone(
        "schools",
        school_id,
        &row.try_get::<String, _>("timezone")?,
    )?)
}

fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// A scheduled meeting's picture, or `None` if it does not exist.
pub async fn scheduled(
    connection: &mut AnyConnection,
    scheduled_id: i64,
    now: DateTime<Utc>,
    match_window_mins: i64,
) -> Result<Option<(LoadedIds, MeetingView)>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT school_id, platform, platform_meeting_id, host_user_id, start_time FROM scheduled_meetings WHERE id = $1",
    )
    .bind(scheduled_id)
    .fetch_optional(&mut *connection)
    .await?
    else {
        return Ok(None);
    };
    let school_id: i64 = row.try_get("school_id")?;
    let platform: String = row.try_get("platform")?;
    let host_user_id: Option<String> = row.try_get("host_user_id")?;
    let start = row
        .try_get::<Option<i64>, _>("start_time")?
        .map(from_millis);
    let tz = school_timezone(connection, school_id).await?;
    let mut people = People {
        connection,
        school_id,
        on_date: local_date(tz, start.unwrap_or(now)),
        cache: HashMap::new(),
    };
    let scheduled = load_schedule(&mut people, scheduled_id, &platform).await?;
    let children = children_of_invited(&mut people, &scheduled).await?;
    let planned = match_planned(
        &mut people,
        school_id,
        Some(&scheduled.meeting_id),
        scheduled.host.as_ref(),
        start,
        match_window_mins,
    )
    .await?;
    let settings = platform_settings(
        people.connection,
        &platform,
        Some(&scheduled.meeting_id),
        host_user_id.as_deref(),
    )
    .await?;
    let view = MeetingView {
        scheduled: Some(scheduled),
        instance: None,
        planned,
        settings,
        outcome_logged_at: None,
        children_of_invited_parents: children,
    };
    let ids = LoadedIds {
        scheduled_meeting_id: Some(scheduled_id),
        meeting_instance_id: None,
    };
    Ok(Some((ids, view)))
}

/// A call's picture (with its schedule, when it has one), or `None` if it does not exist.
pub async fn instance(
    connection: &mut AnyConnection,
    instance_id: i64,
    now: DateTime<Utc>,
    match_window_mins: i64,
) -> Result<Option<(LoadedIds, MeetingView)>, sqlx::Error> {
    let Some(stored) = instances::by_id(&mut *connection, instance_id).await? else {
        return Ok(None);
    };
    let StoredInstance {
        school_id,
        meeting_id,
        host_user_id,
        topic,
        started_at,
        ended_at,
        ..
    } = stored;
    let platform = stored.platform.as_str().to_string();
    let scheduled_id: Option<i64> = match &meeting_id {
        Some(meeting_id) => sqlx::query(
            "SELECT id FROM scheduled_meetings WHERE platform = $1 AND platform_meeting_id = $2 AND deleted = $3",
        )
        .bind(&platform)
        .bind(meeting_id)
        .bind(false)
        .fetch_optional(&mut *connection)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()?,
        None => None,
    };
    let signals =
        sqlx::query("SELECT kind, at FROM instance_signals WHERE instance_id = $1 ORDER BY at")
            .bind(instance_id)
            .fetch_all(&mut *connection)
            .await?;
    let outcome_logged_at = sqlx::query(
        "SELECT MIN(written_at) AS at FROM session_outcomes WHERE meeting_instance_id = $1",
    )
    .bind(instance_id)
    .fetch_one(&mut *connection)
    .await?
    .try_get::<Option<i64>, _>("at")?
    .map(from_millis);
    let session_rows = sqlx::query(
        "SELECT s.session_key, s.platform_user_id, s.display_name, s.person_id, s.joined_at, s.left_at, \
           s.registrant_id, s.identity_basis, s.identified_person_id, s.identity_pending_until, u.status AS account_status \
         FROM participant_sessions s LEFT JOIN platform_users u ON u.platform = $2 AND u.platform_user_id = s.platform_user_id \
         WHERE s.instance_id = $1 ORDER BY s.joined_at, s.session_key",
    )
    .bind(instance_id)
    .bind(&platform)
    .fetch_all(&mut *connection)
    .await?;

    let tz = school_timezone(connection, school_id).await?;
    let mut people = People {
        connection,
        school_id,
        on_date: local_date(tz, started_at.unwrap_or(now)),
        cache: HashMap::new(),
    };
    let host = match &host_user_id {
        Some(user_id) => people.by_platform_id(&platform, user_id).await?,
        None => None,
    };
    let scheduled = match scheduled_id {
        Some(id) => Some(load_schedule(&mut people, id, &platform).await?),
        None => None,
    };
    let children = match &scheduled {
        Some(scheduled) => children_of_invited(&mut people, scheduled).await?,
        None => Vec::new(),
    };
    let planned_start = scheduled.as_ref().and_then(|s| s.start).or(started_at);
    let planned = match_planned(
        &mut people,
        school_id,
        meeting_id.as_deref(),
        host.as_ref(),
        planned_start,
        match_window_mins,
    )
    .await?;
    let expected: &[PersonView] = match &planned {
        Some(planned) if !planned.adults_only => &planned.pupils,
        _ => &[],
    };
    let sessions = identify_sessions(
        &mut people,
        &platform,
        meeting_id.as_deref(),
        instance_id,
        &session_rows,
        expected,
    )
    .await?;
    let mut chat_messages_at = Vec::new();
    let mut recording_started_at = Vec::new();
    for signal in &signals {
        let at = from_millis(signal.try_get("at")?);
        match signal.try_get::<String, _>("kind")?.as_str() {
            "chat_message" => chat_messages_at.push(at),
            "recording_started" => recording_started_at.push(at),
            _ => {}
        }
    }
    let settings = platform_settings(
        people.connection,
        &platform,
        meeting_id.as_deref(),
        host_user_id.as_deref(),
    )
    .await?;
    let view = MeetingView {
        scheduled,
        instance: Some(InstanceView {
            topic,
            host,
            host_user_id,
            started_at,
            ended_at,
            sessions,
            chat_messages_at,
            recording_started_at,
            room_stays: room_stays(people.connection, instance_id).await?,
        }),
        planned,
        settings,
        outcome_logged_at,
        children_of_invited_parents: children,
    };
    let ids = LoadedIds {
        scheduled_meeting_id: scheduled_id,
        meeting_instance_id: Some(instance_id),
    };
    Ok(Some((ids, view)))
}

/// Identifies the call's participants (`policy::identity`) and stores what changed with each
/// participant session, so the register shows the same basis the rules used.
async fn identify_sessions(
    people: &mut People<'_>,
    platform: &str,
    meeting_id: Option<&str>,
    instance_id: i64,
    rows: &[AnyRow],
    expected: &[PersonView],
) -> Result<Vec<SessionView>, sqlx::Error> {
    let mut clues = Vec::with_capacity(rows.len());
    for row in rows {
        let verified = match row.try_get::<Option<i64>, _>("person_id")? {
            Some(id) => Some(people.get(id).await?),
            None => None,
        };
        let registrant = match (
            &verified,
            meeting_id,
            row.try_get::<Option<String>, _>("registrant_id")?,
        ) {
            (None, Some(meeting_id), Some(registrant_id)) => {
                people
                    .by_registration(platform, meeting_id, &registrant_id)
                    .await?
            }
            _ => None,
        };
        let display_name: Option<String> = row.try_get("display_name")?;
        let name_key = display_name
            .as_deref()
            .map(name_key)
            .filter(|key| !key.is_empty());
        let by_display_name = match (&verified, &registrant, &name_key) {
            (None, None, Some(key)) => people.by_name_key(key).await?,
            _ => Vec::new(),
        };
        clues.push(Clues {
            verified,
            registrant,
            name_key,
            by_display_name,
        });
    }
    let identities = identify(&clues, expected);
    let mut sessions = Vec::with_capacity(rows.len());
    for (row, identity) in rows.iter().zip(identities) {
        let session_key: String = row.try_get("session_key")?;
        let stored_basis: Option<String> = row.try_get("identity_basis")?;
        let stored_person: Option<i64> = row.try_get("identified_person_id")?;
        let person_id = identity.probable().map(|person| person.id);
        if stored_basis.as_deref() != Some(identity.basis.as_str()) || stored_person != person_id {
            sqlx::query(
                "UPDATE participant_sessions SET identity_basis = $1, identified_person_id = $2 \
                 WHERE instance_id = $3 AND session_key = $4",
            )
            .bind(identity.basis.as_str())
            .bind(person_id)
            .bind(instance_id)
            .bind(&session_key)
            .execute(&mut *people.connection)
            .await?;
        }
        sessions.push(SessionView {
            session_key,
            identity,
            display_name: row.try_get("display_name")?,
            platform_user_id: row.try_get("platform_user_id")?,
            in_school_account: match row
                .try_get::<Option<String>, _>("account_status")?
                .as_deref()
            {
                Some("in_account") => Some(true),
                Some("not_in_account") => Some(false),
                _ => None,
            },
            joined_at: row.try_get::<Option<i64>, _>("joined_at")?.map(from_millis),
            left_at: row.try_get::<Option<i64>, _>("left_at")?.map(from_millis),
            identity_pending_until: row
                .try_get::<Option<i64>, _>("identity_pending_until")?
                .map(from_millis),
        });
    }
    Ok(sessions)
}

/// The call's breakout-room stays, as the rules see them.
async fn room_stays(
    connection: &mut AnyConnection,
    instance_id: i64,
) -> Result<Vec<RoomStayView>, sqlx::Error> {
    let stays = crate::room_stays::of_instance(connection, instance_id).await?;
    Ok(stays
        .into_iter()
        .map(|stay| RoomStayView {
            session_key: stay.session_key,
            room_key: stay.room_key,
            room_label: stay.room_label,
            joined_at: stay.joined_at,
            left_at: stay.left_at,
        })
        .collect())
}

async fn load_schedule(
    people: &mut People<'_>,
    scheduled_id: i64,
    platform: &str,
) -> Result<ScheduledView, sqlx::Error> {
    let row = sqlx::query(
        "SELECT m.platform_meeting_id, m.host_user_id, m.topic, m.start_time, m.duration_minutes, \
           CASE WHEN a.read_at >= m.revised_at AND a.co_hosts IS NOT NULL THEN a.co_hosts ELSE m.co_hosts END AS co_hosts, \
           CASE WHEN a.read_at >= m.revised_at AND a.invitees IS NOT NULL THEN a.invitees ELSE m.invitees END AS invitees, \
           CASE WHEN m.deleted THEN 1 ELSE 0 END AS deleted \
         FROM scheduled_meetings m LEFT JOIN meeting_settings a ON a.platform = m.platform \
           AND a.platform_meeting_id = m.platform_meeting_id AND a.status = 'ok' \
         WHERE m.id = $1",
    )
    .bind(scheduled_id)
    .fetch_one(&mut *people.connection)
    .await?;
    let host = match row.try_get::<Option<String>, _>("host_user_id")? {
        Some(user_id) => people.by_platform_id(platform, &user_id).await?,
        None => None,
    };
    let mut invitees = Vec::new();
    for email in split_list(row.try_get("invitees")?) {
        let person = people.by_email(&email).await?;
        invitees.push(InviteeView { email, person });
    }
    // Co-hosts are named by address or by platform user id.
    let mut co_hosts = Vec::new();
    for entry in split_list(row.try_get("co_hosts")?) {
        let person = match people.by_email(&entry).await? {
            Some(person) => Some(person),
            None => people.by_platform_id(platform, &entry).await?,
        };
        co_hosts.push(InviteeView {
            email: entry,
            person,
        });
    }
    Ok(ScheduledView {
        meeting_id: row.try_get("platform_meeting_id")?,
        topic: row.try_get("topic")?,
        host,
        start: row
            .try_get::<Option<i64>, _>("start_time")?
            .map(from_millis),
        duration_minutes: row.try_get("duration_minutes")?,
        invitees,
        co_hosts,
        // Read as a number: the database-neutral driver cannot decode SQLite booleans.
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

/// Chat, recording and sign-in settings as the platform's API last reported them; `None`
/// where not read (yet), never guessed. A meeting's own chat and recording settings win over
/// its host's.
async fn platform_settings(
    connection: &mut AnyConnection,
    platform: &str,
    meeting_id: Option<&str>,
    host_user_id: Option<&str>,
) -> Result<PlatformSettings, sqlx::Error> {
    let mut settings = PlatformSettings::default();
    let mut host_recording = None;
    if let Some(host) = host_user_id {
        let row = sqlx::query(
            "SELECT chat_enabled, auto_recording_enabled FROM user_settings \
             WHERE platform = $1 AND platform_user_id = $2 AND status = 'ok'",
        )
        .bind(platform)
        .bind(host)
        .fetch_optional(&mut *connection)
        .await?;
        if let Some(row) = row {
            settings.chat_enabled = flag(&row, "chat_enabled")?;
            host_recording = flag(&row, "auto_recording_enabled")?;
        }
    }
    let mut meeting_recording = None;
    let mut meeting_chat = None;
    if let Some(meeting_id) = meeting_id {
        let row = sqlx::query(
            "SELECT auto_recording_enabled, authentication, chat_enabled FROM meeting_settings \
             WHERE platform = $1 AND platform_meeting_id = $2 AND status = 'ok'",
        )
        .bind(platform)
        .bind(meeting_id)
        .fetch_optional(&mut *connection)
        .await?;
        if let Some(row) = row {
            meeting_recording = flag(&row, "auto_recording_enabled")?;
            meeting_chat = flag(&row, "chat_enabled")?;
            settings.sign_in_required = flag(&row, "authentication")?;
        }
    }
    settings.auto_recording = meeting_recording.or(host_recording);
    settings.chat_enabled = meeting_chat.or(settings.chat_enabled);
    Ok(settings)
}

/// A 0/1 column, read as a number: the database-neutral driver cannot decode SQLite booleans.
fn flag(row: &AnyRow, column: &str) -> Result<Option<bool>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|flag| flag != 0))
}

fn split_list(list: Option<String>) -> Vec<String> {
    list.unwrap_or_default()
        .split(';')
        .map(|entry| entry.trim().to_string())
        .filter(|entry| !entry.is_empty())
        .collect()
}

async fn children_of_invited(
    people: &mut People<'_>,
    scheduled: &ScheduledView,
) -> Result<Vec<PersonView>, sqlx::Error> {
    let child_ids: Vec<i64> = scheduled
        .all_invited()
        .filter_map(|invitee| invitee.person.as_ref())
        .flat_map(|person| person.children.iter().copied())
        .collect();
    let mut children: Vec<PersonView> = Vec::new();
    for id in child_ids {
        if !children.iter().any(|child| child.id == id) {
            children.push(people.get(id).await?);
        }
    }
    Ok(children)
}

/// The planned session a meeting is: the one naming its platform meeting id, else the
/// host's session starting within the policy's window of the meeting's start.
async fn match_planned(
    people: &mut People<'_>,
    school_id: i64,
    meeting_id: Option<&str>,
    host: Option<&PersonView>,
    start: Option<DateTime<Utc>>,
    match_window_mins: i64,
) -> Result<Option<PlannedView>, sqlx::Error> {
    const COLUMNS: &str = "id, starts_at, registered_at, approved_at, risk_assessment_ref, \
                           CASE WHEN adults_only THEN 1 ELSE 0 END AS adults_only";
    let mut row = None;
    if let Some(meeting_id) = meeting_id {
        row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM planned_sessions WHERE school_id = $1 AND platform_meeting_id = $2 \
             AND cancelled_at IS NULL ORDER BY starts_at LIMIT 1"
        ))
        .bind(school_id)
        .bind(meeting_id)
        .fetch_optional(&mut *people.connection)
        .await?;
    }
    if row.is_none() {
        if let (Some(host), Some(start)) = (host, start) {
            let window_ms = match_window_mins * 60 * 1000;
            row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM planned_sessions WHERE school_id = $1 AND host_person_id = $2 \
                 AND cancelled_at IS NULL AND starts_at BETWEEN $3 AND $4 ORDER BY starts_at LIMIT 1"
            ))
            .bind(school_id)
            .bind(host.id)
            .bind(to_millis(start) - window_ms)
            .bind(to_millis(start) + window_ms)
            .fetch_optional(&mut *people.connection)
            .await?;
        }
    }
    let Some(row) = row else {
        return Ok(None);
    };
    let pupil_rows = sqlx::query(
        "SELECT pp.person_id FROM planned_session_people pp JOIN people p ON p.id = pp.person_id \
         WHERE pp.planned_session_id = $1 AND p.kind = 'pupil' ORDER BY pp.person_id",
    )
    .bind(row.try_get::<i64, _>("id")?)
    .fetch_all(&mut *people.connection)
    .await?;
    let mut pupils = Vec::with_capacity(pupil_rows.len());
    for pupil in &pupil_rows {
        pupils.push(people.get(pupil.try_get("person_id")?).await?);
    }
    Ok(Some(PlannedView {
        pupils,
        // Read as a number: the database-neutral driver cannot decode SQLite booleans.
        adults_only: row.try_get::<i64, _>("adults_only")? != 0,
        starts_at: from_millis(row.try_get("starts_at")?),
        registered_at: from_millis(row.try_get("registered_at")?),
        approved: row.try_get::<Option<i64>, _>("approved_at")?.is_some(),
        risk_assessed: row
            .try_get::<Option<String>, _>("risk_assessment_ref")?
            .is_some_and(|reference| !reference.trim().is_empty()),
    }))
}
