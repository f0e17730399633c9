//! The school's alert contacts in escalation order, with their channels: add, edit, remove,
//! reorder, and send a test alert down any one channel (or to a signed webhook) to see that
//! it arrives. Contacts are checked and stored as the import file's are
//! ([`crate::alerts::test_alert`]); a webhook URL is a bearer secret, so it is never shown in
//! full.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::error::PageError;
use super::Console;
use crate::alerts::contacts::{
    self, CheckedContact, ContactError, ContactInput, Direction, StoredContact,
};
use crate::alerts::test_alert::{self, TestDelivery, TestRecipient};
use crate::directory::{self, settings, School};
use crate::http::api::audited::{self, Change};
use crate::identity::Capability;
use crate::policy::Severity;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[
    ("contacts.html", include_str!("templates/contacts.html")),
    (
        "contacts_edit.html",
        include_str!("templates/contacts_edit.html"),
    ),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/contacts", get(show_contacts).post(add_contact))
        .route("/admin/contacts/{id}", post(update_contact))
        .route("/admin/contacts/{id}/edit", get(show_edit))
        .route("/admin/contacts/{id}/remove", post(remove_contact))
        .route("/admin/contacts/{id}/move", post(move_contact))
        .route("/admin/contacts/{id}/test", post(test_contact))
        .route("/admin/contacts/webhooks/{id}/test", post(test_webhook))
}

const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

#[derive(Deserialize)]
pub struct SchoolQuery {
    school: Option<String>,
}

/// The add and edit forms.
#[derive(Deserialize, Default)]
pub struct ContactForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    min_severity: String,
    /// A checkbox: present when ticked.
    email: Option<String>,
    #[serde(default)]
    teams_url: String,
    #[serde(default)]
    slack_url: String,
    /// On the edit form: remove the stored Teams (Slack) webhook.
    remove_teams: Option<String>,
    remove_slack: Option<String>,
}

/// What the add form shows: the values sent and why they were refused.
#[derive(Serialize)]
struct FormState {
    person: String,
    min_severity: String,
    email: bool,
    teams_url: String,
    slack_url: String,
    errors: Vec<String>,
}

impl FormState {
    fn empty() -> Self {
        FormState {
            person: String::new(),
            min_severity: "low".into(),
            email: true,
            teams_url: String::new(),
            slack_url: String::new(),
            errors: Vec::new(),
        }
    }

    fn refused(form: &ContactForm, errors: Vec<String>) -> Self {
        FormState {
            person: form.person.clone(),
            min_severity: form.min_severity.clone(),
            email: form.email.is_some(),
            // A URL sent is a secret: it is not written back into the page.
            teams_url: String::new(),
            slack_url: String::new(),
            errors,
        }
    }
}

pub async fn show_contacts(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
) -> Result<Response, PageError> {
    match chosen_school(&state, &console, query.school.as_deref()).await? {
        Chosen::One(school) => {
            render(
                &state,
                &console,
                &school,
                FormState::empty(),
                StatusCode::OK,
            )
            .await
        }
        Chosen::Pick(schools) => console.page(
            "contacts.html",
            context! { school => (), schools => schools, contacts => (), webhooks => (),
            escalate_after_mins => (), staff => (), severities => SEVERITIES, form => () },
        ),
    }
}

enum Chosen {
    One(School),
    Pick(Vec<School>),
}

/// The school the page is about: the one asked for (refused unless the person configures
/// it), or the only one they configure, or a choice.
async fn chosen_school(
    state: &AppState,
    console: &Console,
    asked: Option<&str>,
) -> Result<Chosen, PageError> {
    let reach = console.reach(Capability::Configure)?;
    if let Some(asked) = asked.filter(|asked| !asked.is_empty()) {
        let id: i64 = asked.parse().map_err(|_| PageError::NotFound("school"))?;
        return Ok(Chosen::One(school(state, console, id).await?));
    }
    let mut schools: Vec<School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .collect();
    if schools.len() == 1 {
        Ok(Chosen::One(schools.remove(0)))
    } else {
        Ok(Chosen::Pick(schools))
    }
}

/// School `id`, which the person must configure.
async fn school(state: &AppState, console: &Console, id: i64) -> Result<School, PageError> {
    let school = directory::find_school(&state.db, id)
        .await?
        .ok_or(PageError::NotFound("school"))?;
    console.require(Capability::Configure, school.id)?;
    Ok(school)
}

#[derive(Serialize)]
struct ContactView {
    id: i64,
    /// 1 for the first told.
    number: usize,
    name: String,
    person_ref: Option<String>,
    min_severity: &'static str,
    channels: Vec<ChannelView>,
    first: bool,
    last: bool,
}

#[derive(Serialize)]
struct ChannelView {
    channel: &'static str,
    label: &'static str,
    /// The address, or a webhook URL masked.
    target: String,
    test: Option<TestView>,
}

#[derive(Serialize)]
struct WebhookView {
    id: i64,
    url: String,
    min_severity: &'static str,
    test: Option<TestView>,
}

/// The latest test of a channel.
#[derive(Serialize)]
struct TestView {
    status: String,
    /// The badge class: ok, warn or bad.
    badge: &'static str,
    attempts: i64,
    last_error: Option<String>,
    queued_at: String,
    sent_at: Option<String>,
}

impl TestView {
    fn of(delivery: &TestDelivery) -> Self {
        TestView {
            status: delivery.status.clone(),
            badge: match delivery.status.as_str() {
                "sent" => "ok",
                "pending" => "warn",
                _ => "bad",
            },
            attempts: delivery.attempts,
            last_error: delivery.last_error.clone(),
            queued_at: time_text(delivery.created_at),
            sent_at: delivery.sent_at.map(time_text),
        }
    }
}

fn time_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The school's contacts page, with the add form in `form`.
async fn render(
    state: &AppState,
    console: &Console,
    school: &School,
    form: FormState,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let stored = contacts::contacts_of_school(&mut connection, school.id).await?;
    let webhooks = contacts::webhooks_of_school(&mut connection, school.id).await?;
    let tests = test_alert::latest_tests(&mut connection, school.id).await?;
    let staff = contacts::staff_of_school(&mut connection, school.id).await?;
    let escalate_after_mins = settings::load(&mut connection, school.id)
        .await?
        .alerts
        .escalate_after_mins;
    drop(connection);
    let latest = |recipient: String, channel: &str| {
        tests
            .iter()
            .find(|test| test.recipient == recipient && test.channel == channel)
            .map(TestView::of)
    };
    let count = stored.len();
    let contact_views: Vec<ContactView> = stored
        .iter()
        .enumerate()
        .map(|(index, contact)| ContactView {
            id: contact.id,
            number: index + 1,
            name: contact.name.clone(),
            person_ref: contact.person_ref.clone(),
            min_severity: contact.min_severity.as_str(),
            channels: contact
                .channels()
                .into_iter()
                .map(|channel| ChannelView {
                    channel,
                    label: channel_label(channel),
                    target: match channel {
                        "email" => contact.email.clone().unwrap_or_default(),
                        "teams" => masked(contact.teams_url.as_deref().unwrap_or_default()),
                        _ => masked(contact.slack_url.as_deref().unwrap_or_default()),
                    },
                    test: latest(format!("contact:{}", contact.id), channel),
                })
                .collect(),
            first: index == 0,
            last: index + 1 == count,
        })
        .collect();
    let webhook_views: Vec<WebhookView> = webhooks
        .iter()
        .map(|webhook| WebhookView {
            id: webhook.id,
            url: masked(&webhook.url),
            min_severity: webhook.min_severity.as_str(),
            test: latest(format!("webhook:{}", webhook.id), "webhook"),
        })
        .collect();
    console.page_with_status(
        status,
        "contacts.html",
        context! {
            school => school, schools => (), contacts => contact_views, webhooks => webhook_views,
            escalate_after_mins => escalate_after_mins, staff => staff,
            severities => SEVERITIES, form => form,
        },
    )
}

fn channel_label(channel: &str) -> &'static str {
    match channel {
        "email" => "Email",
        "teams" => "Microsoft Teams",
        "slack" => "Slack",
        _ => "Signed webhook",
    }
}

/// A webhook URL as the page shows it: where it goes, and only the last four characters of
/// the rest, which is the secret part (a Slack path, a Teams signature).
fn masked(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, secret) = rest.split_at(host_end);
    let shown: String = if secret.chars().count() > 12 {
        let tail: Vec<char> = secret.chars().rev().take(4).collect();
        tail.into_iter().rev().collect()
    } else {
        String::new()
    };
    let scheme = if scheme.is_empty() {
        String::new()
    } else {
        format!("{scheme}://")
    };
    format!("{scheme}{host}/…{shown}")
}

/// The form's severity; `Err` is the reason to show with the form.
fn parse_severity(form: &ContactForm) -> Result<Severity, String> {
    Severity::parse(form.min_severity.trim())
        .ok_or_else(|| "Choose the lowest severity this contact is told of.".to_string())
}

fn non_empty(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|text| !text.is_empty())
}

/// A contact as the audit log records it: ids and settings, never a webhook URL.
fn audit_state(id: i64, position: i64, contact: &CheckedContact) -> Value {
    json!({
        "id": id,
        "position": position,
        "person_id": contact.person_id,
        "min_severity": contact.min_severity.as_str(),
        "email": contact.email,
        "teams_url_set": contact.teams_url.is_some(),
        "slack_url_set": contact.slack_url.is_some(),
    })
}

fn stored_audit_state(contact: &StoredContact) -> Value {
    json!({
        "id": contact.id,
        "position": contact.position,
        "person_id": contact.person_id,
        "min_severity": contact.min_severity.as_str(),
        "email": contact.email,
        "teams_url_set": contact.teams_url.is_some(),
        "slack_url_set": contact.slack_url.is_some(),
    })
}

async fn audit(
    connection: &mut AnyConnection,
    state: &AppState,
    console: &Console,
    change: Change<'_>,
) -> Result<(), PageError> {
    audited::record(connection, state.db.backend, console.principal(), change)
        .await
        .map_err(|error| PageError::Internal(anyhow::anyhow!("{error}")))
}

fn refusal(error: ContactError) -> Result<String, PageError> {
    match error {
        ContactError::Database(error) => Err(error.into()),
        other => Ok(format!("This contact {other}.")),
    }
}

pub async fn add_contact(
    State(state): State<AppState>,
    console: Console,
    Query(query): Query<SchoolQuery>,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    let school_id: i64 = query
        .school
        .as_deref()
        .and_then(|id| id.parse().ok())
        .ok_or(PageError::NotFound("school"))?;
    let school = school(&state, &console, school_id).await?;
    let severity = match parse_severity(&form) {
        Ok(severity) => severity,
        Err(reason) => {
            let form = FormState::refused(&form, vec![reason]);
            return render(
                &state,
                &console,
                &school,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let input = ContactInput {
        person: form.person.trim(),
        min_severity: severity,
        email: form.email.is_some(),
        teams_url: non_empty(&form.teams_url),
        slack_url: non_empty(&form.slack_url),
    };
    let mut tx = state.db.pool.begin().await?;
    let checked = match contacts::check_contact(&mut tx, school.id, &input).await {
        Ok(checked) => checked,
        Err(error) => {
            let reason = refusal(error)?;
            drop(tx);
            let form = FormState::refused(&form, vec![reason]);
            return render(
                &state,
                &console,
                &school,
                form,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let id = contacts::add_contact(&mut tx, school.id, &checked).await?;
    let added = contacts::contact_by_id(&mut tx, id)
        .await?
        .ok_or(PageError::NotFound("contact"))?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(school.id),
            action: "contact.created",
            subject_kind: "alert_contact",
            subject_id: id,
            before: None,
            after: Some(audit_state(id, added.position, &checked)),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(
        contact_id = id,
        school_id = school.id,
        "alert contact added"
    );
    Ok(console.redirect_with_notice(
        &format!("/admin/contacts?school={}", school.id),
        "Contact added.",
    ))
}

/// Contact `id`, which the person must configure the school of.
async fn contact(state: &AppState, console: &Console, id: i64) -> Result<StoredContact, PageError> {
    let mut connection = state.db.pool.acquire().await?;
    let contact = contacts::contact_by_id(&mut connection, id)
        .await?
        .ok_or(PageError::NotFound("contact"))?;
    console.require(Capability::Configure, contact.school_id)?;
    Ok(contact)
}

#[derive(Serialize)]
struct EditView {
    id: i64,
    name: String,
    person: String,
    min_severity: &'static str,
    email: bool,
    teams: Option<String>,
    slack: Option<String>,
}

fn edit_view(contact: &StoredContact) -> EditView {
    EditView {
        id: contact.id,
        name: contact.name.clone(),
        person: contact.person_ref.clone().unwrap_or_default(),
        min_severity: contact.min_severity.as_str(),
        email: contact.email.is_some(),
        teams: contact.teams_url.as_deref().map(masked),
        slack: contact.slack_url.as_deref().map(masked),
    }
}

pub async fn show_edit(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let contact = contact(&state, &console, id).await?;
    let school = school(&state, &console, contact.school_id).await?;
    console.page(
        "contacts_edit.html",
        context! { school => school, contact => edit_view(&contact), severities => SEVERITIES, errors => Vec::<String>::new() },
    )
}

pub async fn update_contact(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<ContactForm>,
) -> Result<Response, PageError> {
    let stored = contact(&state, &console, id).await?;
    let school = school(&state, &console, stored.school_id).await?;
    let refused = |reason: String| {
        let mut view = edit_view(&stored);
        view.person = form.person.trim().to_string();
        view.email = form.email.is_some();
        console.page_with_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "contacts_edit.html",
            context! { school => &school, contact => view, severities => SEVERITIES, errors => vec![reason] },
        )
    };
    let severity = match parse_severity(&form) {
        Ok(severity) => severity,
        Err(reason) => return refused(reason),
    };
    // An empty URL field keeps what is stored: the page never holds the URL to send back.
    let kept = |sent: &str, remove: bool, stored: Option<String>| {
        if remove {
            None
        } else {
            non_empty(sent).map(str::to_string).or(stored)
        }
    };
    let teams_url = kept(
        &form.teams_url,
        form.remove_teams.is_some(),
        stored.teams_url.clone(),
    );
    let slack_url = kept(
        &form.slack_url,
        form.remove_slack.is_some(),
        stored.slack_url.clone(),
    );
    let input = ContactInput {
        person: form.person.trim(),
        min_severity: severity,
        email: form.email.is_some(),
        teams_url: teams_url.as_deref(),
        slack_url: slack_url.as_deref(),
    };
    let mut tx = state.db.pool.begin().await?;
    let checked = match contacts::check_contact(&mut tx, stored.school_id, &input).await {
        Ok(checked) => checked,
        Err(error) => {
            let reason = refusal(error)?;
            drop(tx);
            return refused(reason);
        }
    };
    contacts::update_contact(&mut tx, id, &checked).await?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(stored.school_id),
            action: "contact.updated",
            subject_kind: "alert_contact",
            subject_id: id,
            before: Some(stored_audit_state(&stored)),
            after: Some(audit_state(id, stored.position, &checked)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(console.redirect_with_notice(
        &format!("/admin/contacts?school={}", school.id),
        "Contact saved.",
    ))
}

pub async fn remove_contact(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let stored = contact(&state, &console, id).await?;
    let mut tx = state.db.pool.begin().await?;
    contacts::remove_contact(&mut tx, id).await?;
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(stored.school_id),
            action: "contact.removed",
            subject_kind: "alert_contact",
            subject_id: id,
            before: Some(stored_audit_state(&stored)),
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(console.redirect_with_notice(
        &format!("/admin/contacts?school={}", stored.school_id),
        "Contact removed.",
    ))
}

#[derive(Deserialize)]
pub struct MoveForm {
    direction: Option<String>,
}

pub async fn move_contact(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<MoveForm>,
) -> Result<Response, PageError> {
    let stored = contact(&state, &console, id).await?;
    let back = format!("/admin/contacts?school={}", stored.school_id);
    let direction = match form.direction.as_deref() {
        Some("up") => Direction::Up,
        Some("down") => Direction::Down,
        _ => return Ok(console.redirect_with_notice(&back, "Nothing moved: choose up or down.")),
    };
    let mut tx = state.db.pool.begin().await?;
    let order =
        |contacts: &[StoredContact]| -> Vec<i64> { contacts.iter().map(|c| c.id).collect() };
    let before = order(&contacts::contacts_of_school(&mut tx, stored.school_id).await?);
    if !contacts::move_contact(&mut tx, &stored, direction).await? {
        drop(tx);
        return Ok(console
            .redirect_with_notice(&back, "Nothing moved: the contact is already at that end."));
    }
    let after = order(&contacts::contacts_of_school(&mut tx, stored.school_id).await?);
    audit(
        &mut tx,
        &state,
        &console,
        Change {
            school_id: Some(stored.school_id),
            action: "contact.moved",
            subject_kind: "alert_contact",
            subject_id: id,
            before: Some(json!({ "order": before })),
            after: Some(json!({ "order": after })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(console.redirect_with_notice(&back, "Escalation order changed."))
}

#[derive(Deserialize)]
pub struct TestForm {
    channel: Option<String>,
}

pub async fn test_contact(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
    Form(form): Form<TestForm>,
) -> Result<Response, PageError> {
    let stored = contact(&state, &console, id).await?;
    let back = format!("/admin/contacts?school={}", stored.school_id);
    let channel = stored
        .channels()
        .into_iter()
        .find(|channel| Some(*channel) == form.channel.as_deref());
    let Some(channel) = channel else {
        return Ok(console
            .redirect_with_notice(&back, "No test was sent: the contact has no such channel."));
    };
    queue_test(
        &state,
        &console,
        stored.school_id,
        TestRecipient::Contact { id, channel },
    )
    .await?;
    Ok(console.redirect_with_notice(
        &back,
        &format!(
            "A test alert is on its way by {}. Its delivery shows below.",
            channel_label(channel)
        ),
    ))
}

pub async fn test_webhook(
    State(state): State<AppState>,
    console: Console,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let webhook = {
        let mut connection = state.db.pool.acquire().await?;
        contacts::webhook_by_id(&mut connection, id)
            .await?
            .ok_or(PageError::NotFound("webhook"))?
    };
    console.require(Capability::Configure, webhook.school_id)?;
    queue_test(
        &state,
        &console,
        webhook.school_id,
        TestRecipient::Webhook { id },
    )
    .await?;
    Ok(console.redirect_with_notice(
        &format!("/admin/contacts?school={}", webhook.school_id),
        "A test alert is on its way to the webhook. Its delivery shows below.",
    ))
}

/// Queues the test in the outbox and records who sent it.
async fn queue_test(
    state: &AppState,
    console: &Console,
    school_id: i64,
    to: TestRecipient,
) -> Result<(), PageError> {
    let mut tx = state.db.pool.begin().await?;
    let delivery_id = test_alert::queue_test(&mut tx, school_id, to, Utc::now()).await?;
    let (subject_kind, subject_id, channel) = match to {
        TestRecipient::Contact { id, channel } => ("alert_contact", id, channel),
        TestRecipient::Webhook { id } => ("alert_webhook", id, "webhook"),
    };
    audit(
        &mut tx,
        state,
        console,
        Change {
            school_id: Some(school_id),
            action: "contact.test_sent",
            subject_kind,
            subject_id,
            before: None,
            after: Some(json!({ "channel": channel, "delivery_id": delivery_id })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(delivery_id, school_id, channel, "test alert queued");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_shows_its_host_and_only_the_end_of_its_secret() {
        let slack = masked("https://hooks.slack.com/services/T000/B000/XXXXXXXXabcd");
        assert_eq!(slack, "https://hooks.slack.com/…abcd");
        let teams = masked(
            "https://prod-12.westeurope.logic.azure.com:443/workflows/a1/triggers/manual/paths/invoke?api-version=2016-06-01&sig=Zx9Sig",
        );
        assert_eq!(
            teams,
            "https://prod-12.westeurope.logic.azure.com:443/…9Sig"
        );
        assert!(!teams.contains("workflows"));
        assert_eq!(masked("http://127.0.0.1:9/t"), "http://127.0.0.1:9/…");
    }
}
