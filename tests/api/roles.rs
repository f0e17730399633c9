//! People with roles: every route asked by every role, at their own school and at another,
//! is allowed or refused as the README's table says; a finding about a member of staff is not
//! theirs to see; the signed-in person, not a typed name, is who acknowledged; tokens carry one
//! role and stop at revocation; a guessed password locks the account.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::alerts::{pupil_alone_with_one_adult, scenario, Scenario};
use crate::helpers::TestApp;

const PASSWORD: &str = "a long enough passphrase";

/// Adds a user with `roles` (through the bootstrap token) and signs them in; their session.
async fn person(app: &TestApp, email: &str, name: &str, roles: Value) -> String {
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": email, "name": name, "password": PASSWORD, "roles": roles}),
        )
        .await;
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    sign_in(app, email, PASSWORD).await.expect("signs in")
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<String, StatusCode> {
    let response = app
        .client
        .post(format!("{}/api/v1/sign-in", app.address))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    if response.status() != 201 {
        return Err(response.status());
    }
    let body: Value = response.json().await.unwrap();
    Ok(body["session"].as_str().unwrap().to_string())
}

async fn call(
    app: &TestApp,
    secret: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> StatusCode {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(secret);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status()
}

struct School {
    app: TestApp,
    finding_id: i64,
    other_school_id: i64,
}

async fn school_with_a_finding() -> School {
    let Scenario { app, .. } = scenario(&["two_adults"], 0).await;
    app.deliver(&pupil_alone_with_one_adult()).await;
    app.settle_at(chrono::Utc::now()).await;
    let findings = app.get_json("/api/v1/findings").await;
    let finding_id = findings[0]["id"].as_i64().expect("a finding");
    app.import_toml(
        "[[school]]\nslug = \"hillside\"\nname = \"Hillside Primary\"\ntimezone = \"Europe/London\"\n",
    )
    .await;
    let schools = app.get_json("/api/v1/schools").await;
    let other_school_id = schools
        .as_array()
        .unwrap()
        .iter()
        .find(|school| school["slug"] == "hillside")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    School {
        app,
        finding_id,
        other_school_id,
    }
}

#[tokio::test]
async fn every_route_is_allowed_or_refused_by_role_and_school_as_the_table_says() {
    let School {
        app,
        finding_id,
        other_school_id,
    } = school_with_a_finding().await;
    let here = json!(1);
    let roles = [
        ("trust_admin", json!([{"role": "trust_admin"}])),
        (
            "school_admin",
            json!([{"role": "school_admin", "school_id": here}]),
        ),
        ("dsl", json!([{"role": "dsl", "school_id": here}])),
        (
            "deputy_dsl",
            json!([{"role": "deputy_dsl", "school_id": here}]),
        ),
        ("trust_dsl", json!([{"role": "dsl"}])),
        ("staff", json!([{"role": "staff", "school_id": here}])),
        ("governor", json!([{"role": "governor", "school_id": here}])),
        (
            "other_dsl",
            json!([{"role": "dsl", "school_id": other_school_id}]),
        ),
        (
            "other_admin",
            json!([{"role": "school_admin", "school_id": other_school_id}]),
        ),
    ];
    let mut sessions = Vec::new();
    for (index, (name, grants)) in roles.iter().enumerate() {
        let email = format!("user{index}@greenfield.sch.example");
        sessions.push((*name, person(&app, &email, name, grants.clone()).await));
    }
    let safeguarding = ["dsl", "deputy_dsl", "trust_dsl"];
    let admins = ["trust_admin", "school_admin"];
    let sessions_staff = ["dsl", "deputy_dsl", "trust_dsl", "staff"];
    // Everyone sees the schools they hold a role at (another school's people, theirs).
    let everyone = [
        "trust_admin",
        "school_admin",
        "dsl",
        "deputy_dsl",
        "trust_dsl",
        "staff",
        "governor",
        "other_dsl",
        "other_admin",
    ];
    let routes: Vec<(Method, String, Option<Value>, &[&str])> = vec![
        (
            Method::GET,
            "/api/v1/findings?school_id=1".into(),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            format!("/api/v1/findings/{finding_id}"),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            "/api/v1/meetings?school_id=1".into(),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            "/api/v1/register?school_id=1".into(),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            "/api/v1/register.csv?school_id=1".into(),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            "/api/v1/consents?school_id=1".into(),
            None,
            &safeguarding,
        ),
        (
            Method::GET,
            "/api/v1/planned-sessions?school_id=1".into(),
            None,
            &sessions_staff,
        ),
        (Method::GET, "/api/v1/schools".into(), None, &everyone),
        (
            Method::POST,
            format!("/api/v1/findings/{finding_id}/acknowledge"),
            Some(json!({})),
            &safeguarding,
        ),
    ];
    for (method, path, body, allowed) in &routes {
        for (role, secret) in &sessions {
            let status = call(&app, secret, method.clone(), path, body.clone()).await;
            let wanted_allowed = allowed.contains(role);
            assert_eq!(
                status.is_success(),
                wanted_allowed,
                "{role} {method} {path}: {status}"
            );
            if !wanted_allowed {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {path}");
            }
        }
    }
    // Lists an admin may see are filtered to their schools, never another's.
    for (method, path, allowed) in [
        (Method::GET, "/api/v1/connections", &admins),
        (Method::GET, "/api/v1/subscriptions", &admins),
        (Method::GET, "/api/v1/inbox/set-aside", &admins),
    ] {
        for (role, secret) in &sessions {
            let status = call(&app, secret, method.clone(), path, None).await;
            let may = allowed.contains(role) || *role == "other_admin";
            assert_eq!(status.is_success(), may, "{role} {path}: {status}");
        }
    }
    let other_admin = &sessions
        .iter()
        .find(|(role, _)| *role == "other_admin")
        .unwrap()
        .1;
    let listed: Value = app
        .client
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(other_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        json!([]),
        "another school's connections are not shown"
    );

    let other_dsl = &sessions
        .iter()
        .find(|(role, _)| *role == "other_dsl")
        .unwrap()
        .1;
    let their_schools: Value = app
        .client
        .get(format!("{}/api/v1/schools", app.address))
        .bearer_auth(other_dsl)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        their_schools.as_array().unwrap().len(),
        1,
        "{their_schools}"
    );
    assert_eq!(their_schools[0]["slug"], "hillside");

    // Without a principal, nothing.
    let anonymous = app
        .client
        .get(format!("{}/api/v1/findings", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn a_finding_about_a_member_of_staff_is_not_theirs_to_see_and_the_signed_in_person_acknowledges(
) {
    let School {
        app, finding_id, ..
    } = school_with_a_finding().await;
    // Ravi Patel hosted the call the finding is about; he is also a DSL.
    let ravi = person(
        &app,
        "r.patel@greenfield.sch.example",
        "Ravi Patel",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let dana = person(
        &app,
        "dana.lee@greenfield.sch.example",
        "Dana Lee",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let path = format!("/api/v1/findings/{finding_id}");
    assert_eq!(call(&app, &ravi, Method::GET, &path, None).await, 404);
    let listed: Value = app
        .client
        .get(format!("{}/api/v1/findings", app.address))
        .bearer_auth(&ravi)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["id"] != finding_id));
    assert_eq!(
        call(
            &app,
            &ravi,
            Method::POST,
            &format!("{path}/acknowledge"),
            Some(json!({}))
        )
        .await,
        404
    );
    assert_eq!(call(&app, &dana, Method::GET, &path, None).await, 200);

    // Dana acknowledges, typing somebody else's name: her own is recorded.
    let status = call(
        &app,
        &dana,
        Method::POST,
        &format!("{path}/acknowledge"),
        Some(json!({"by": "Somebody Else"})),
    )
    .await;
    assert_eq!(status, 200);
    let finding = app.get_json(&path).await;
    assert_eq!(finding["acknowledged_by"], "Dana Lee");
}

#[tokio::test]
async fn a_token_carries_one_role_until_it_is_revoked() {
    let School {
        app, finding_id, ..
    } = school_with_a_finding().await;
    let dana = person(
        &app,
        "dana.lee@greenfield.sch.example",
        "Dana Lee",
        json!([{"role": "dsl", "school_id": 1}, {"role": "staff", "school_id": 1}]),
    )
    .await;
    let make = |role: &'static str| {
        let app = &app;
        let dana = dana.clone();
        async move {
            let response = app
                .client
                .post(format!("{}/api/v1/tokens", app.address))
                .bearer_auth(&dana)
                .json(&json!({"name": format!("{role} script"), "role": role, "school_id": 1}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()
        }
    };
    let staff_token = make("staff").await;
    let dsl_token = make("dsl").await;
    let staff = staff_token["token"].as_str().unwrap();
    let dsl = dsl_token["token"].as_str().unwrap();
    let finding = format!("/api/v1/findings/{finding_id}");
    assert_eq!(call(&app, staff, Method::GET, &finding, None).await, 403);
    assert_eq!(call(&app, dsl, Method::GET, &finding, None).await, 200);
    // A role the user does not hold cannot be put on a token.
    let refused = app
        .client
        .post(format!("{}/api/v1/tokens", app.address))
        .bearer_auth(&dana)
        .json(&json!({"name": "admin", "role": "school_admin", "school_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // The token list shows tokens, never a token itself.
    let listed = app
        .client
        .get(format!("{}/api/v1/tokens", app.address))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !listed.contains(dsl) && listed.contains("dsl script"),
        "{listed}"
    );

    let id = dsl_token["id"].as_i64().unwrap();
    let revoked = call(
        &app,
        &dana,
        Method::POST,
        &format!("/api/v1/tokens/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(revoked, 204);
    assert_eq!(call(&app, dsl, Method::GET, &finding, None).await, 401);
    // Acknowledging through a token names the person and the token.
    let ack = call(
        &app,
        staff,
        Method::POST,
        &format!("{finding}/acknowledge"),
        Some(json!({})),
    )
    .await;
    assert_eq!(ack, 403, "a staff token cannot act on findings");
}

#[tokio::test]
async fn a_guessed_password_locks_the_account_and_sign_out_ends_the_session() {
    let School { app, .. } = school_with_a_finding().await;
    let session = person(
        &app,
        "dana.lee@greenfield.sch.example",
        "Dana Lee",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    assert_eq!(
        sign_in(&app, "nobody@greenfield.sch.example", PASSWORD).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let mut answers = Vec::new();
    for attempt in 0..5 {
        answers.push(
            sign_in(
                &app,
                "dana.lee@greenfield.sch.example",
                &format!("guess number {attempt}"),
            )
            .await,
        );
    }
    assert_eq!(answers[0], Err(StatusCode::UNAUTHORIZED));
    assert_eq!(answers[4], Err(StatusCode::TOO_MANY_REQUESTS));
    // Locked: even the right password is refused for now.
    assert_eq!(
        sign_in(&app, "dana.lee@greenfield.sch.example", PASSWORD).await,
        Err(StatusCode::TOO_MANY_REQUESTS)
    );

    assert_eq!(
        call(&app, &session, Method::GET, "/api/v1/schools", None).await,
        200
    );
    assert_eq!(
        call(&app, &session, Method::POST, "/api/v1/sign-out", None).await,
        204
    );
    assert_eq!(
        call(&app, &session, Method::GET, "/api/v1/schools", None).await,
        401
    );
}

#[tokio::test]
async fn changes_and_views_of_restricted_findings_are_in_the_audit_log_and_its_chain_holds() {
    let School {
        app, finding_id, ..
    } = school_with_a_finding().await;
    let dana = person(
        &app,
        "dana.lee@greenfield.sch.example",
        "Dana Lee",
        json!([{"role": "dsl", "school_id": 1}]),
    )
    .await;
    let staff = person(
        &app,
        "m.staff@greenfield.sch.example",
        "Morgan Staff",
        json!([{"role": "staff", "school_id": 1}]),
    )
    .await;
    let path = format!("/api/v1/findings/{finding_id}");
    // The finding names the teacher who hosted the call: seeing it is recorded.
    assert_eq!(call(&app, &dana, Method::GET, &path, None).await, 200);
    assert_eq!(
        call(
            &app,
            &dana,
            Method::POST,
            &format!("{path}/resolve"),
            Some(json!({"note": "Spoke to the teacher; second adult arranged."}))
        )
        .await,
        200
    );

    let entries: Value = app
        .client
        .get(format!("{}/api/v1/audit?school_id=1", app.address))
        .bearer_auth(&dana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap(),
                entry["actor"]["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("finding.viewed", "Dana Lee")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("finding.resolved", "Dana Lee")),
        "{actions:?}"
    );
    let resolved = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "finding.resolved")
        .unwrap();
    assert_eq!(resolved["before"]["status"], "open");
    assert_eq!(resolved["after"]["status"], "resolved");
    assert_eq!(resolved["subject_id"], finding_id.to_string());
    // Users given roles are in it too (by the bootstrap token).
    assert!(
        actions.contains(&("user.role_granted", "bootstrap admin token")),
        "{actions:?}"
    );

    // The audit log is for admins and the DSLs.
    assert_eq!(
        call(&app, &staff, Method::GET, "/api/v1/audit", None).await,
        403
    );
    let verified = chaperone::audit::verify(&app.db).await.unwrap();
    assert!(verified.is_intact(), "{verified:?}");
    assert!(verified.checked >= 4);
}

#[tokio::test]
async fn the_first_admin_is_added_from_the_command_line_and_signs_in() {
    let app = crate::helpers::spawn_app().await;
    let database_url = app.state.settings.database.url.expose().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args([
            "users",
            "add",
            "--email",
            "It.Admin@greenfield.sch.example",
            "--name",
            "IT Admin",
            "--role",
            "trust_admin",
            "--password-env",
            "ROLES_TEST_FIRST_ADMIN_PASSWORD",
        ])
        .env("CHAPERONE__DATABASE__URL", &database_url)
        .env("CHAPERONE__SECRETS__KEY", crate::helpers::SECRETS_KEY)
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .env("ROLES_TEST_FIRST_ADMIN_PASSWORD", PASSWORD)
        .output()
        .expect("the binary runs");
    let said = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{said}");
    assert!(!said.contains(PASSWORD), "{said}");

    let admin = sign_in(&app, "it.admin@greenfield.sch.example", PASSWORD)
        .await
        .expect("the first admin signs in");
    assert_eq!(
        call(&app, &admin, Method::GET, "/api/v1/connections", None).await,
        200
    );
    assert_eq!(
        call(&app, &admin, Method::GET, "/api/v1/findings", None).await,
        403
    );
    let entries: Value = app
        .client
        .get(format!(
            "{}/api/v1/audit?action=user.role_granted",
            app.address
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(entries[0]["actor"]["kind"], "system", "{entries:#}");
}
