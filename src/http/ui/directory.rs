//! The console's directory page: a school's people by kind and role, and the MIS export
//! uploaded, previewed and applied. An upload is read, checked and written exactly as
//! `chaperone import` does it ([`crate::import`]); the preview is those writes rolled back.
//!
//! Between preview and apply the file waits in the database, for the admin who uploaded it
//! and that school only, for [`UPLOAD_TTL_MINS`]; it is deleted once applied. Apply reads and
//! checks it again and applies it only if it would still do what the preview showed.

use std::collections::HashMap;

use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{Duration, Utc};
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::console::Console;
use super::error::PageError;
use crate::db::time::to_millis;
use crate::directory::{PersonKind, StaffRole};
use crate::http::api::audited;
use crate::identity::Capability;
use crate::import::{self, ImportError, Outcome, PeopleWritten};
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("directory.html", include_str!("templates/directory.html")),
    (
        "directory_preview.html",
        include_str!("templates/directory_preview.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/directory", get(show_directory))
        .route("/admin/directory/preview", post(preview_upload))
        .route("/admin/directory/apply", post(apply_upload))
}

/// How long an uploaded file waits to be applied.
const UPLOAD_TTL_MINS: i64 = 30;

/// People listed on one page of the directory.
const PAGE_SIZE: i64 = 200;

const KINDS: [PersonKind; 4] = [
    PersonKind::Staff,
    PersonKind::Pupil,
    PersonKind::Parent,
    PersonKind::ExternalAdult,
];

const ROLES: [StaffRole; 4] = [
    StaffRole::Dsl,
    StaffRole::DeputyDsl,
    StaffRole::SeniorLeader,
    StaffRole::Staff,
];

#[derive(Deserialize)]
struct DirectoryQuery {
    school: Option<String>,
    kind: Option<String>,
    page: Option<String>,
}

/// The school an upload or apply is for (the address also carries the upload's token).
#[derive(Deserialize)]
struct SchoolQuery {
    school: Option<String>,
}

#[derive(Deserialize)]
struct ApplyForm {
    upload: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct School {
    id: i64,
    name: String,
}

/// `GET /admin/directory?school=&kind=&page=`: the school's people, or which school.
async fn show_directory(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<DirectoryQuery>,
) -> Result<Response, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let school = match query.school.as_deref() {
        Some(school) => school_at(&mut connection, &console, Some(school)).await?,
        None => {
            let schools = schools_configured(&mut connection, &console).await?;
            match schools.as_slice() {
                [only] => only.clone(),
                _ => {
                    return console.page(
                        "directory.html",
                        context! { schools => schools, school => (), ..no_directory() },
                    )
                }
            }
        }
    };
    let kind = query.kind.as_deref().and_then(PersonKind::parse);
    let page = query
        .page
        .as_deref()
        .and_then(|page| page.parse::<i64>().ok())
        .filter(|page| *page >= 1)
        .unwrap_or(1);
    let context = directory_context(&mut connection, &school, kind, page).await?;
    console.page(
        "directory.html",
        context! { schools => (), upload_error => (), ..context },
    )
}

/// What the directory page shows without a school.
fn no_directory() -> Value {
    context! {
        counts => (), total => 0, kinds => (), kind => (), people => (), page => 1,
        pages => 1, upload_error => (),
    }
}

/// The school's counts by kind and role, and one page of its people.
async fn directory_context(
    connection: &mut AnyConnection,
    school: &School,
    kind: Option<PersonKind>,
    page: i64,
) -> Result<Value, PageError> {
    let counts = counts_by_kind(connection, school.id).await?;
    let total: i64 = counts.iter().map(|count| count.people).sum();
    let shown = kind.map_or(total, |kind| {
        counts
            .iter()
            .find(|count| count.kind == kind.as_str())
            .map_or(0, |count| count.people)
    });
    let pages = ((shown + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = page.min(pages);
    let people = people_page(connection, school.id, kind, page).await?;
    let kinds: Vec<Value> = KINDS
        .iter()
        .map(|kind| context! { value => kind.as_str(), label => kind_label(*kind) })
        .collect();
    Ok(context! {
        school => school,
        counts => counts,
        total => total,
        kinds => kinds,
        kind => kind.map(PersonKind::as_str),
        people => people,
        page => page,
        pages => pages,
    })
}

/// `POST /admin/directory/preview?school=` (multipart, the file in `file`): what applying
/// the file would do, row by row, with an Apply button only when it has no problem.
async fn preview_upload(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let school = school_at(&mut connection, &console, query.school.as_deref()).await?;
    let Some((file_name, content)) = read_upload(multipart).await? else {
        let context = directory_context(&mut connection, &school, None, 1).await?;
        return console.page_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "directory.html",
            context! {
                schools => (),
                upload_error => "Choose the MIS export (a CSV file) to upload.",
                ..context
            },
        );
    };
    drop(connection);
    let csv = import::parse_people_csv(&content);
    let written = import::preview_people(&state.db, school.id, &csv)
        .await
        .map_err(internal)?;
    let upload_id = keep_upload(
        &state,
        school.id,
        console.user().user_id,
        &file_name,
        &content,
        &written.digest(),
    )
    .await?;
    tracing::info!(
        school_id = school.id,
        upload_id,
        created = written.count(Outcome::Created),
        updated = written.count(Outcome::Updated),
        unchanged = written.count(Outcome::Unchanged),
        problems = written.problems.len(),
        "an MIS export was previewed"
    );
    let status = if written.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    console.page_with_status(
        status,
        "directory_preview.html",
        preview_context(&school, &file_name, &written, upload_id, None),
    )
}

/// `POST /admin/directory/apply?school=` (`upload`: the previewed file): applies it in one
/// transaction with its audit entry, if it has no problem and still does what was shown.
async fn apply_upload(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
    form: Result<Form<ApplyForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, PageError> {
    let mut tx = state.db.pool.begin().await?;
    let school = school_at(&mut tx, &console, query.school.as_deref()).await?;
    let upload_id = form
        .ok()
        .and_then(|Form(form)| form.upload)
        .and_then(|upload| upload.trim().parse::<i64>().ok())
        .ok_or(PageError::NotFound("preview"))?;
    let upload = waiting_upload(&mut tx, upload_id, console.user().user_id, school.id)
        .await?
        .ok_or(PageError::NotFound("preview"))?;
    let csv = import::parse_people_csv(&upload.content);
    let written = import::write_people(&mut tx, school.id, &csv.people, &csv.problems)
        .await
        .map_err(internal)?;
    if !written.problems.is_empty() {
        tx.rollback().await?;
        tracing::warn!(
            school_id = school.id,
            upload_id,
            problems = written.problems.len(),
            "an MIS export with problems was not applied"
        );
        return console.page_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "directory_preview.html",
            preview_context(
                &school,
                &upload.file_name,
                &written,
                upload_id,
                Some("Nothing was applied: the file has the problems listed below."),
            ),
        );
    }
    let digest = written.digest();
    if digest != upload.preview_digest {
        tx.rollback().await?;
        sqlx::query("UPDATE directory_uploads SET preview_digest = $1 WHERE id = $2")
            .bind(&digest)
            .bind(upload_id)
            .execute(&state.db.pool)
            .await?;
        return console.page_with_status(
            StatusCode::CONFLICT,
            "directory_preview.html",
            preview_context(
                &school,
                &upload.file_name,
                &written,
                upload_id,
                Some(
                    "Nothing was applied: the directory changed since the preview. \
                     This is what applying the file would do now.",
                ),
            ),
        );
    }
    let created = written.count(Outcome::Created);
    let updated = written.count(Outcome::Updated);
    let unchanged = written.count(Outcome::Unchanged);
    audited::record(
        &mut tx,
        state.db.backend,
        console.principal(),
        audited::Change {
            school_id: Some(school.id),
            action: "directory.imported",
            subject_kind: "school",
            subject_id: school.id,
            before: None,
            after: Some(json!({"created": created, "updated": updated, "unchanged": unchanged})),
        },
    )
    .await
    .map_err(|error| PageError::Internal(anyhow::anyhow!("{error}")))?;
    sqlx::query("DELETE FROM directory_uploads WHERE id = $1")
        .bind(upload_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(
        school_id = school.id,
        upload_id,
        created,
        updated,
        unchanged,
        "an MIS export was applied"
    );
    Ok(console.redirect_with_notice(
        &format!("/admin/directory?school={}", school.id),
        &format!("{created} created, {updated} updated, {unchanged} unchanged"),
    ))
}

fn internal(error: ImportError) -> PageError {
    PageError::Internal(anyhow::Error::new(error))
}

/// The uploaded file's name and bytes; none when no file was chosen or the form is not one.
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Option<(String, Vec<u8>)>, PageError> {
    let Ok(mut multipart) = multipart else {
        return Ok(None);
    };
    let refused = |error: MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Some(PageError::TooLarge)
        } else {
            None
        }
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(None),
            Err(error) => return refused(error).map_or(Ok(None), Err),
        };
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field
            .file_name()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .unwrap_or("upload.csv")
            .to_string();
        let content = match field.bytes().await {
            Ok(content) => content,
            Err(error) => return refused(error).map_or(Ok(None), Err),
        };
        if content.is_empty() {
            return Ok(None);
        }
        return Ok(Some((file_name, content.to_vec())));
    }
}

/// The preview page's values. `upload_id` goes into the Apply form only when the file has
/// no problem.
fn preview_context(
    school: &School,
    file_name: &str,
    written: &PeopleWritten,
    upload_id: i64,
    message: Option<&str>,
) -> Value {
    let row = |outcome: &import::PersonOutcome| {
        let changes: Vec<String> = outcome.changes.iter().map(|c| c.describe()).collect();
        context! {
            row => outcome.row,
            reference => outcome.reference.clone(),
            name => outcome.name.clone(),
            kind => kind_label(outcome.kind),
            role => outcome.role.map(role_label),
            outcome => outcome.outcome.as_str(),
            changes => changes.join(", "),
        }
    };
    let changed: Vec<Value> = written
        .people
        .iter()
        .filter(|person| person.outcome != Outcome::Unchanged)
        .map(row)
        .collect();
    let unchanged: Vec<Value> = written
        .people
        .iter()
        .filter(|person| person.outcome == Outcome::Unchanged)
        .map(row)
        .collect();
    let problems: Vec<Value> = written
        .problems
        .iter()
        .map(|problem| {
            context! {
                row => problem.row,
                reference => problem.reference.clone(),
                message => problem.message.clone(),
            }
        })
        .collect();
    let ok = written.problems.is_empty();
    context! {
        school => school,
        file_name => file_name,
        counts => context! {
            created => written.count(Outcome::Created),
            updated => written.count(Outcome::Updated),
            unchanged => written.count(Outcome::Unchanged),
            problems => written.problems.len(),
            not_in_file => written.not_in_file,
        },
        problems => problems,
        changed => changed,
        unchanged => unchanged,
        upload => ok.then_some(upload_id),
        message => message,
    }
}

/// The school named by `school` (an id), if the person may configure it: 403 where they
/// may not, 404 where there is no such school.
async fn school_at(
    connection: &mut AnyConnection,
    console: &Console,
    school: Option<&str>,
) -> Result<School, PageError> {
    console.reach(Capability::Configure)?;
    let id = school
        .and_then(|school| school.trim().parse::<i64>().ok())
        .ok_or(PageError::NotFound("school"))?;
    console.require(Capability::Configure, id)?;
    let row = sqlx::query("SELECT id, name FROM schools WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or(PageError::NotFound("school"))?;
    Ok(School {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
    })
}

/// The schools whose directory the person may manage, by name.
async fn schools_configured(
    connection: &mut AnyConnection,
    console: &Console,
) -> Result<Vec<School>, PageError> {
    let reach = console.reach(Capability::Configure)?;
    let rows = sqlx::query("SELECT id, name FROM schools ORDER BY name, id")
        .fetch_all(&mut *connection)
        .await?;
    let mut schools = Vec::new();
    for row in rows {
        let school = School {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
        };
        if reach.includes(school.id) {
            schools.push(school);
        }
    }
    Ok(schools)
}

#[derive(Debug, Serialize)]
struct KindCount {
    kind: &'static str,
    label: &'static str,
    people: i64,
    /// Staff by safeguarding role (empty for other kinds).
    roles: Vec<RoleCount>,
}

#[derive(Debug, Serialize)]
struct RoleCount {
    role: &'static str,
    label: &'static str,
    people: i64,
}

/// How many people of each kind the school has, and its staff by role.
async fn counts_by_kind(
    connection: &mut AnyConnection,
    school_id: i64,
) -> Result<Vec<KindCount>, PageError> {
    let rows = sqlx::query(
        "SELECT kind, staff_role, COUNT(*) AS people FROM people WHERE school_id = $1 \
         GROUP BY kind, staff_role",
    )
    .bind(school_id)
    .fetch_all(&mut *connection)
    .await?;
    let mut counted: HashMap<(String, Option<String>), i64> = HashMap::new();
    for row in rows {
        counted.insert(
            (row.try_get("kind")?, row.try_get("staff_role")?),
            row.try_get("people")?,
        );
    }
    let of_kind = |kind: PersonKind| -> i64 {
        counted
            .iter()
            .filter(|((stored, _), _)| stored == kind.as_str())
            .map(|(_, people)| people)
            .sum()
    };
    Ok(KINDS
        .iter()
        .map(|kind| KindCount {
            kind: kind.as_str(),
            label: kind_label(*kind),
            people: of_kind(*kind),
            roles: if *kind == PersonKind::Staff {
                ROLES
                    .iter()
                    .map(|role| RoleCount {
                        role: role.as_str(),
                        label: role_label(*role),
                        people: counted
                            .get(&(kind.as_str().into(), Some(role.as_str().into())))
                            .copied()
                            .unwrap_or(0),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        })
        .collect())
}

#[derive(Debug, Serialize)]
struct ListedPerson {
    reference: String,
    name: String,
    kind: &'static str,
    role: Option<&'static str>,
    emails: Vec<String>,
}

/// Page `page` of the school's people (of `kind`, if given): staff first, then by name.
async fn people_page(
    connection: &mut AnyConnection,
    school_id: i64,
    kind: Option<PersonKind>,
    page: i64,
) -> Result<Vec<ListedPerson>, PageError> {
    const ORDER: &str = "ORDER BY CASE kind WHEN 'staff' THEN 0 WHEN 'pupil' THEN 1 \
                         WHEN 'parent' THEN 2 ELSE 3 END, name_key, id";
    let columns = "SELECT id, external_ref, kind, staff_role, display_name FROM people";
    let offset = (page - 1) * PAGE_SIZE;
    let rows = match kind {
        Some(kind) => {
            sqlx::query(&format!(
                "{columns} WHERE school_id = $1 AND kind = $2 {ORDER} LIMIT $3 OFFSET $4"
            ))
            .bind(school_id)
            .bind(kind.as_str())
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(&mut *connection)
            .await?
        }
        None => {
            sqlx::query(&format!(
                "{columns} WHERE school_id = $1 {ORDER} LIMIT $2 OFFSET $3"
            ))
            .bind(school_id)
            .bind(PAGE_SIZE)
            .bind(offset)
            .fetch_all(&mut *connection)
            .await?
        }
    };
    let mut emails: HashMap<i64, Vec<String>> = HashMap::new();
    let email_rows = sqlx::query(
        "SELECT person_id, email FROM person_emails WHERE school_id = $1 ORDER BY email",
    )
    .bind(school_id)
    .fetch_all(&mut *connection)
    .await?;
    for row in email_rows {
        emails
            .entry(row.try_get("person_id")?)
            .or_default()
            .push(row.try_get("email")?);
    }
    let mut people = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let stored_kind: String = row.try_get("kind")?;
        let kind = crate::db::decode::decode_person_kind("people", id, &stored_kind)
            .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?;
        let role = row
            .try_get::<Option<String>, _>("staff_role")?
            .map(|role| crate::db::decode::decode_staff_role("people", id, &role))
            .transpose()
            .map_err(|error| PageError::Internal(anyhow::Error::new(error)))?;
        people.push(ListedPerson {
            reference: row.try_get("external_ref")?,
            name: row.try_get("display_name")?,
            kind: kind_label(kind),
            role: role.map(role_label),
            emails: emails.remove(&id).unwrap_or_default(),
        });
    }
    Ok(people)
}

/// Keeps an uploaded file for its uploader to apply, in place of any they uploaded to the
/// school before (files past their time go with the processor's `UploadExpiry` timer).
async fn keep_upload(
    state: &AppState,
    school_id: i64,
    user_id: i64,
    file_name: &str,
    content: &[u8],
    preview_digest: &str,
) -> Result<i64, PageError> {
    let now = Utc::now();
    let mut tx = state.db.pool.begin().await?;
    sqlx::query("DELETE FROM directory_uploads WHERE user_id = $1 AND school_id = $2")
        .bind(user_id)
        .bind(school_id)
        .execute(&mut *tx)
        .await?;
    let id: i64 = sqlx::query(
        "INSERT INTO directory_uploads \
         (school_id, user_id, file_name, content, preview_digest, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(school_id)
    .bind(user_id)
    .bind(file_name)
    .bind(content.to_vec())
    .bind(preview_digest)
    .bind(to_millis(now))
    .bind(to_millis(now + Duration::minutes(UPLOAD_TTL_MINS)))
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    tx.commit().await?;
    Ok(id)
}

struct WaitingUpload {
    file_name: String,
    content: Vec<u8>,
    preview_digest: String,
}

/// Upload `id`, if it is this user's for this school and has not expired.
async fn waiting_upload(
    connection: &mut AnyConnection,
    id: i64,
    user_id: i64,
    school_id: i64,
) -> Result<Option<WaitingUpload>, PageError> {
    let row = sqlx::query(
        "SELECT file_name, content, preview_digest FROM directory_uploads \
         WHERE id = $1 AND user_id = $2 AND school_id = $3 AND expires_at > $4",
    )
    .bind(id)
    .bind(user_id)
    .bind(school_id)
    .bind(to_millis(Utc::now()))
    .fetch_optional(&mut *connection)
    .await?;
    row.map(|row| {
        Ok(WaitingUpload {
            file_name: row.try_get("file_name")?,
            content: row.try_get("content")?,
            preview_digest: row.try_get("preview_digest")?,
        })
    })
    .transpose()
}

fn kind_label(kind: PersonKind) -> &'static str {
    match kind {
        PersonKind::Staff => "Staff",
        PersonKind::Pupil => "Pupil",
        PersonKind::Parent => "Parent or carer",
        PersonKind::ExternalAdult => "External adult",
    }
}

fn role_label(role: StaffRole) -> &'static str {
    match role {
        StaffRole::Staff => "Staff",
        StaffRole::Dsl => "DSL",
        StaffRole::DeputyDsl => "Deputy DSL",
        StaffRole::SeniorLeader => "Senior leader",
    }
}
