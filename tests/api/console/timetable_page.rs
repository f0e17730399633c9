//! The timetable in the console: a member of staff registers a planned session with the form,
//! the DSL approves it; a consent is recorded, and withdrawing it first lists the upcoming
//! session it affects, then flags it on the timetable and in the API; a member of staff writes
//! the outcome of a call they hosted, which leaves the waiting list and clears the policy's
//! finding. A governor opens none of it, and a form without the session's token changes nothing.

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use sqlx::Row;

use super::{school_id, signed_in, Browser, Page};
use crate::alerts::{ago, findings, pupil_alone_with_one_adult, scenario, Scenario};
use crate::helpers::{spawn_app, TestApp};
use crate::zoom_events::ended;

const STAFF_EMAIL: &str = "r.patel@greenfield.sch.example";
const DSL_EMAIL: &str = "dsl@greenfield.sch.example";

/// The id at the end of a redirect to `/timetable/sessions/{id}`.
fn session_id_from(page: &Page) -> i64 {
    let location = page.location.as_deref().expect("a redirect");
    location
        .strip_prefix("/timetable/sessions/")
        .unwrap_or_else(|| panic!("not a session's page: {location}"))
        .parse()
        .unwrap()
}

/// The HTML of the table row (or list item) whose id is `id`.
fn element<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    let end = ["</tr>", "</li>"]
        .iter()
        .filter_map(|close| rest.find(close))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The first `id="{prefix}N"` on the page, as N.
fn first_id(html: &str, prefix: &str) -> i64 {
    let marker = format!("id=\"{prefix}");
    let start = html.find(&marker).expect("an id") + marker.len();
    html[start..].split('"').next().unwrap().parse().unwrap()
}

/// Tomorrow in the school's timezone (Europe/London), as `YYYY-MM-DD`.
fn tomorrow() -> String {
    (Utc::now().with_timezone(&chrono_tz::Europe::London) + Duration::days(1))
        .date_naive()
        .to_string()
}

fn today() -> String {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::London)
        .date_naive()
        .to_string()
}

async fn planned_sessions(app: &TestApp, school: i64) -> Vec<Value> {
    app.get_json(&format!("/api/v1/planned-sessions?school_id={school}"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn audit_actions(app: &TestApp, action: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn follow(browser: &mut Browser<'_>, page: Page) -> Page {
    assert_eq!(page.status, 303, "{}", page.body);
    let location = page.location.clone().unwrap();
    browser.get(&location).await
}

#[tokio::test]
async fn staff_register_a_session_the_dsl_approves_it_and_a_withdrawn_consent_flags_it() {
    let app = spawn_app().await;
    let school = school_id(&app, "greenfield").await;
    let school_text = school.to_string();
    let mut staff = signed_in(
        &app,
        STAFF_EMAIL,
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;

    // The form offers the directory's pupils and staff, the signed-in teacher running it.
    let form = staff.get("/timetable/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("Jamie Smith"), "{}", form.body);
    assert!(form
        .body
        .contains("<option value=\"STAFF-0002\" selected>Ravi Patel</option>"));

    // A form with mistakes comes back with what to fix and what was typed.
    let date = tomorrow();
    let refused = staff
        .submit(
            "/timetable",
            &[
                ("school", &school_text),
                ("host", "STAFF-0002"),
                ("date", &date),
                ("time", "10:00"),
                ("minutes", "45"),
                ("purpose", ""),
                ("risk_assessment_ref", "RA-2026-14"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""));
    assert!(refused.body.contains("Say what the session is for."));
    assert!(refused.body.contains("Choose at least one pupil"));
    assert!(refused.body.contains("value=\"RA-2026-14\""), "kept");
    assert!(refused.body.contains(&format!("value=\"{date}\"")), "kept");
    assert!(planned_sessions(&app, school).await.is_empty());

    let registered = staff
        .submit(
            "/timetable",
            &[
                ("school", &school_text),
                ("host", "STAFF-0002"),
                ("pupils", "PUPIL-1001"),
                ("staff", "STAFF-0003"),
                ("date", &date),
                ("time", "10:00"),
                ("minutes", "45"),
                ("purpose", "Mentoring"),
                ("risk_assessment_ref", "RA-2026-14"),
            ],
        )
        .await;
    let id = session_id_from(&registered);
    let timetable = staff.get("/timetable").await;
    assert_eq!(timetable.status, 200, "{}", timetable.body);
    let row = element(&timetable.body, &format!("session-{id}"));
    for shown in [
        "Jamie Smith",
        "Ravi Patel",
        "Morgan Shaw",
        "Mentoring",
        "RA-2026-14",
        "10:00",
        "to 10:45",
        "pending",
    ] {
        assert!(row.contains(shown), "{shown} in {row}");
    }
    assert!(!row.contains("flagged"), "{row}");

    // Staff do not decide; the DSL does, in their own name.
    staff.get(&format!("/timetable/sessions/{id}")).await;
    let not_theirs = staff
        .submit(
            &format!("/timetable/sessions/{id}/decision"),
            &[("decision", "approve"), ("decided_by", "STAFF-0002")],
        )
        .await;
    assert_eq!(not_theirs.status, 403);
    let mut dsl = signed_in(
        &app,
        DSL_EMAIL,
        json!([{"role": "dsl", "school_id": school}]),
    )
    .await;
    let page = dsl.get(&format!("/timetable/sessions/{id}")).await;
    assert!(
        page.body
            .contains("<option value=\"STAFF-0001\" selected>Dana Lee (DSL)</option>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Priya Khan (senior leader)"),
        "SLT offered"
    );
    let approved = dsl
        .submit(
            &format!("/timetable/sessions/{id}/decision"),
            &[
                ("decision", "approve"),
                ("decided_by", "STAFF-0001"),
                ("note", "Parent informed."),
            ],
        )
        .await;
    let page = follow(&mut dsl, approved).await;
    assert!(page.body.contains("Session approved."));
    assert!(page.body.contains("id=\"session-state\">approved<"));
    assert!(page.body.contains("by Dana Lee: Parent informed."));
    let timetable = staff.get("/timetable").await;
    assert!(element(&timetable.body, &format!("session-{id}")).contains("approved"));
    let listed = planned_sessions(&app, school).await;
    assert_eq!(listed[0]["state"], "approved");
    assert_eq!(audit_actions(&app, "planned_session.registered").await, 1);
    assert_eq!(audit_actions(&app, "planned_session.approved").await, 1);

    // A consent recorded, then withdrawn: first the session it affects, then the flag.
    let register = dsl.get("/timetable/consents").await;
    assert_eq!(register.status, 200, "{}", register.body);
    let signed_on = (Utc::now() - Duration::days(30)).date_naive().to_string();
    let recorded = dsl
        .submit(
            "/timetable/consents",
            &[
                ("school", &school_text),
                ("pupil", "PUPIL-1001"),
                ("signed_on", &signed_on),
                ("expires_on", ""),
            ],
        )
        .await;
    let register = follow(&mut dsl, recorded).await;
    let consent = first_id(&register.body, "consent-");
    let line = element(&register.body, &format!("consent-{consent}"));
    assert!(
        line.contains("Jamie Smith") && line.contains("in force") && line.contains("Console User"),
        "{line}"
    );

    let confirm = dsl
        .get(&format!("/timetable/consents/{consent}/withdraw"))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains(&format!("id=\"affected-{id}\"")),
        "the confirmation lists the session: {}",
        confirm.body
    );
    let timetable = staff.get("/timetable").await;
    assert!(
        !element(&timetable.body, &format!("session-{id}")).contains("flagged"),
        "nothing changes before the confirmation"
    );
    let withdrawn = dsl
        .submit(
            &format!("/timetable/consents/{consent}/withdraw"),
            &[("withdrawn_on", &today())],
        )
        .await;
    let register = follow(&mut dsl, withdrawn).await;
    assert!(
        register
            .body
            .contains("1 upcoming planned session is now flagged"),
        "{}",
        register.body
    );
    assert!(element(&register.body, &format!("consent-{consent}")).contains("withdrawn"));

    let timetable = staff.get("/timetable").await;
    let row = element(&timetable.body, &format!("session-{id}"));
    assert!(
        row.contains("flagged") && row.contains("Consent for Jamie Smith withdrawn on"),
        "{row}"
    );
    let listed = planned_sessions(&app, school).await;
    assert_eq!(listed[0]["flags"][0]["reason"], "withdrawn", "{listed:#?}");
    assert_eq!(listed[0]["flags"][0]["consent_id"], consent);
    let consents = app
        .get_json(&format!("/api/v1/consents?school_id={school}"))
        .await;
    assert_eq!(consents[0]["withdrawn_by"], "Console User");

    // A governor opens none of the three pages.
    let mut governor = signed_in(
        &app,
        "gov@greenfield.sch.example",
        json!([{"role": "governor", "school_id": school}]),
    )
    .await;
    for page in ["/timetable", "/timetable/consents", "/timetable/outcomes"] {
        assert_eq!(governor.get(page).await.status, 403, "{page}");
    }

    // A form without the session's token changes nothing.
    let forged = staff
        .post_raw(
            "/timetable",
            &[
                ("csrf", "not-the-token"),
                ("school", &school_text),
                ("host", "STAFF-0002"),
                ("pupils", "PUPIL-1002"),
                ("date", &date),
                ("time", "11:00"),
                ("minutes", "30"),
                ("purpose", "Forged"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let forged = dsl
        .post_raw(
            &format!("/timetable/sessions/{id}/decision"),
            &[
                ("csrf", "not-the-token"),
                ("decision", "decline"),
                ("decided_by", "STAFF-0001"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    let listed = planned_sessions(&app, school).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "approved");
}

#[tokio::test]
async fn staff_write_the_outcome_of_their_call_and_it_leaves_the_waiting_list() {
    let Scenario { app, .. } = scenario(&["outcome_logged"], 0).await;
    let school = school_id(&app, "greenfield").await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.deliver(&[ended(&ago(10))]).await;
    // A day later, by the policy's clock, the outcome is overdue.
    app.settle_at(Utc::now() + Duration::hours(25)).await;
    let found = findings(&app).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], "outcome_logged");
    let call = app.get_json("/api/v1/meetings").await[0]["id"]
        .as_i64()
        .unwrap();
    let waiting = format!("waiting-{call}");

    // The DSL sees every call of the school; another teacher does not see this one.
    let mut dsl = signed_in(
        &app,
        DSL_EMAIL,
        json!([{"role": "dsl", "school_id": school}]),
    )
    .await;
    assert!(dsl.get("/timetable/outcomes").await.body.contains(&waiting));
    let mut other = signed_in(
        &app,
        "p.khan@greenfield.sch.example",
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;
    let page = other.get("/timetable/outcomes").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(&waiting));
    let not_theirs = other
        .submit(
            &format!("/timetable/outcomes/{call}"),
            &[("outcome", "Not mine to write.")],
        )
        .await;
    assert_eq!(not_theirs.status, 404);

    // The host sees it, with the policy's deadline.
    let mut host = signed_in(
        &app,
        STAFF_EMAIL,
        json!([{"role": "staff", "school_id": school}]),
    )
    .await;
    let page = host.get("/timetable/outcomes").await;
    let item = element(&page.body, &waiting);
    assert!(item.contains("The policy wants it by"), "{item}");
    let empty = host
        .submit(&format!("/timetable/outcomes/{call}"), &[("outcome", "  ")])
        .await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("the outcome cannot be empty"));

    let written = host
        .submit(
            &format!("/timetable/outcomes/{call}"),
            &[("outcome", "Reviewed targets; next session booked.")],
        )
        .await;
    let page = follow(&mut host, written).await;
    assert!(page.body.contains("Outcome recorded."));
    assert!(!page.body.contains(&waiting), "{}", page.body);
    assert!(!dsl.get("/timetable/outcomes").await.body.contains(&waiting));
    let author: String = sqlx::query(
        "SELECT p.external_ref FROM session_outcomes o JOIN people p ON p.id = o.written_by \
         WHERE o.meeting_instance_id = $1",
    )
    .bind(call)
    .fetch_one(&app.db.pool)
    .await
    .unwrap()
    .try_get("external_ref")
    .unwrap();
    assert_eq!(author, "STAFF-0002");
    assert_eq!(audit_actions(&app, "outcome.recorded").await, 1);

    // The next evaluation finds the outcome and resolves the finding.
    app.settle_at(Utc::now() + Duration::hours(25)).await;
    let found = findings(&app).await;
    assert_eq!(found[0]["status"], "resolved", "{found:#?}");
}
