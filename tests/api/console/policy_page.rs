//! The policy page: every rule with its clause, severity and parameters; a change is checked
//! by the import's path, stored as the import stores it (so evaluation reads it) and audited
//! with before and after; anyone who may not, another school, an invalid value and a form
//! without its token change nothing.

use chaperone::policy::settings::{Policy, PolicyChoice};
use serde_json::{json, Value};

use super::{field_value, school_id, signed_in, Browser, Page};
use crate::helpers::{spawn_app, TestApp};

const HILLSIDE: &str = r#"
[[school]]
slug = "hillside"
name = "Hillside Primary"
timezone = "Europe/London"
"#;

/// The school's policy as evaluation reads it: the stored choice, and the rules it resolves to.
async fn policy_of(app: &TestApp, id: i64) -> (PolicyChoice, Policy) {
    let mut connection = app.db.pool.acquire().await.unwrap();
    let stored = chaperone::directory::settings::load(&mut connection, id)
        .await
        .unwrap();
    let policy = stored.policy.resolve().expect("the stored policy resolves");
    (stored.policy, policy)
}

/// The stored settings row, exactly.
async fn stored_row(app: &TestApp, id: i64) -> Option<String> {
    sqlx::query_scalar("SELECT policy FROM school_settings WHERE school_id = $1")
        .bind(id)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
}

async fn audited(app: &TestApp, action: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/audit?action={action}"))
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `name` in `tag` (`<input type="text" name="x" value="y">`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')?;
    Some(unescaped(&tag[start..start + end]))
}

/// The fields the form after `heading` sends as it stands, as a browser sends them: hidden
/// and text inputs, ticked checkboxes, each select's chosen option, textareas.
fn form_as_shown(html: &str, heading: &str) -> Vec<(String, String)> {
    let start = html.find(heading).expect("the form's heading");
    let form = &html[start..];
    let form = &form[..form.find("</form>").expect("the form's end")];
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..=end];
        if tag.starts_with("<input") {
            let ticked = !tag.contains("type=\"checkbox\"") || tag.contains(" checked");
            if let (Some(name), Some(value), true) =
                (attribute(tag, "name"), attribute(tag, "value"), ticked)
            {
                fields.push((name, value));
            }
        } else if tag.starts_with("<select") {
            let name = attribute(tag, "name").unwrap();
            let close = rest.find("</select>").unwrap();
            let options = &rest[..close];
            let chosen = options
                .split("<option")
                .find(|option| option.contains(" selected>"))
                .and_then(|option| attribute(option, "value"))
                .expect("a chosen option");
            fields.push((name, chosen));
        } else if tag.starts_with("<textarea") {
            let name = attribute(tag, "name").unwrap();
            let close = rest.find("</textarea>").unwrap();
            fields.push((name, unescaped(&rest[end + 1..close])));
        }
        rest = &rest[1..];
    }
    fields
}

async fn submit_as_shown(
    browser: &mut Browser<'_>,
    path: &str,
    page: &Page,
    changes: &[(&str, &str)],
) -> Page {
    let mut fields = form_as_shown(&page.body, "id=\"rules-heading\"");
    for (name, value) in changes {
        fields.push((name.to_string(), value.to_string()));
    }
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    browser.post_raw(path, &borrowed).await
}

#[tokio::test]
async fn a_changed_parameter_is_stored_shown_audited_and_read_by_evaluation() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let (before, policy) = policy_of(&app, greenfield).await;
    assert_eq!(policy.two_adults.params.grace_secs, 120);
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let path = format!("/admin/policy?school={greenfield}");

    let page = browser.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = unescaped(&page.body);
    assert!(text.contains("There should always be two members of staff; no call should be one member of staff with one child."), "{text}");
    for rule in crate::helpers::ALL_RULES {
        assert!(
            text.contains(&format!("name=\"rule.{rule}.severity\"")),
            "{rule}"
        );
    }
    assert_eq!(
        field_value(&page.body, "rule.two_adults.grace_secs").as_deref(),
        Some("120")
    );
    assert!(text.contains(r#"<option value="two-staff-code-of-conduct" selected>"#));

    // The whole form sent back as shown, with the one value changed, as a browser sends it.
    let saved = submit_as_shown(
        &mut browser,
        &path,
        &page,
        &[("rule.two_adults.grace_secs", "300")],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(saved.location.as_deref(), Some(path.as_str()));

    let (after, policy) = policy_of(&app, greenfield).await;
    assert_eq!(policy.two_adults.params.grace_secs, 300);
    assert!(
        policy.two_adults.params.parent_counts,
        "the school's own override is kept"
    );
    assert_eq!(after.preset, before.preset);
    let mut expected = before.overrides.clone();
    expected["two_adults"]
        .as_table_mut()
        .unwrap()
        .insert("grace_secs".into(), toml::Value::Integer(300));
    assert_eq!(after.overrides, expected);

    let shown = browser.get(&path).await;
    assert!(shown.body.contains("Policy saved."));
    assert_eq!(
        field_value(&shown.body, "rule.two_adults.grace_secs").as_deref(),
        Some("300")
    );

    let entries = audited(&app, "policy.updated").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["school_id"], greenfield);
    assert_eq!(entry["actor"]["kind"], "person");
    assert_eq!(entry["before"]["preset"], "two-staff-code-of-conduct");
    assert_eq!(
        entry["before"]["overrides"]["two_adults"],
        json!({"parent_counts": true})
    );
    assert_eq!(
        entry["after"]["overrides"]["two_adults"],
        json!({"parent_counts": true, "grace_secs": 300})
    );

    // The form sent back unchanged is no change, and is not recorded.
    let again = submit_as_shown(&mut browser, &path, &shown, &[]).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(policy_of(&app, greenfield).await.0, after);
    assert_eq!(audited(&app, "policy.updated").await.len(), 1);
}

#[tokio::test]
async fn rules_are_switched_and_the_preset_changed_keeping_or_dropping_the_schools_own_rules() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let path = format!("/admin/policy?school={greenfield}");
    let page = browser.get(&path).await;

    let saved = submit_as_shown(
        &mut browser,
        &path,
        &page,
        &[
            // Unticked: the hidden field alone is sent.
            ("rule.chat_disabled.enabled", "false"),
            ("rule.recording.severity", "critical"),
            ("rule.recording.mode", "required"),
            ("rule.recording.retention_days", "30"),
            (
                "rule.school_hours.clause",
                "Sessions happen in the school day.",
            ),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let (_, policy) = policy_of(&app, greenfield).await;
    assert!(!policy.chat_disabled.enabled);
    assert_eq!(policy.recording.severity.as_str(), "critical");
    assert_eq!(policy.recording.params.retention_days, Some(30));
    assert_eq!(
        policy.school_hours.clause,
        "Sessions happen in the school day."
    );

    let shown = browser.get(&path).await;
    assert!(!shown
        .body
        .contains(r#"name="rule.chat_disabled.enabled" value="true" checked"#));
    assert!(shown
        .body
        .contains(r#"name="rule.two_adults.enabled" value="true" checked"#));

    // Another preset, keeping what the school changed.
    let kept = browser
        .submit(
            &path,
            &[("preset", "remote-send-pastoral"), ("reset_rules", "false")],
        )
        .await;
    assert_eq!(kept.status, 303, "{}", kept.body);
    let (choice, policy) = policy_of(&app, greenfield).await;
    assert_eq!(choice.preset, "remote-send-pastoral");
    assert!(
        !policy.chat_disabled.enabled,
        "the school's own setting is kept"
    );
    assert_eq!(
        policy.two_adults.params.min_staff, 1,
        "as the new preset says"
    );

    // And dropping them.
    let reset = browser
        .submit(
            &path,
            &[
                ("preset", "remote-send-pastoral"),
                ("reset_rules", "false"),
                ("reset_rules", "true"),
            ],
        )
        .await;
    assert_eq!(reset.status, 303, "{}", reset.body);
    let (choice, policy) = policy_of(&app, greenfield).await;
    assert!(choice.overrides.is_empty(), "{:?}", choice.overrides);
    assert!(policy.chat_disabled.enabled);
    assert_eq!(audited(&app, "policy.updated").await.len(), 3);
}

#[tokio::test]
async fn an_invalid_value_is_refused_with_its_reason_and_nothing_changes() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let path = format!("/admin/policy?school={greenfield}");
    browser.get(&path).await;
    let before = stored_row(&app, greenfield).await;
    assert!(before.is_some());

    #[rustfmt::skip]
    let cases: [(&[(&str, &str)], &str); 9] = [
        (&[("rule.two_adults.grace_secs", "two minutes")], "grace period, in seconds \"two minutes\" is not a whole number"),
        (&[("rule.two_adults.grace_secs", "-5")], "two_adults.grace_secs is -5"),
        (&[("rule.two_adults.min_staff", "0")], "two_adults.min_staff is 0"),
        (&[("rule.outcome_logged.within_hours", "0")], "outcome_logged.within_hours is 0"),
        (&[("rule.school_hours.severity", "urgent")], "severity \"urgent\" is not one of"),
        (&[("rule.recording.mode", "sometimes")], "\"sometimes\" is not one of required, forbidden"),
        (&[("rule.dsl_invited.clause", "   ")], "dsl_invited.clause is empty"),
        (&[("preset", "lenient")], "unknown policy preset \"lenient\""),
        (&[("rule.two_adult.grace_secs", "300")], "rule.two_adult.grace_secs is not a setting of the policy"),
    ];
    for (fields, reason) in cases {
        let page = browser.submit(&path, fields).await;
        assert_eq!(page.status, 422, "{fields:?}: {}", page.body);
        let text = unescaped(&page.body);
        assert!(
            text.contains(reason),
            "{fields:?}: expected {reason:?} in {text}"
        );
        assert!(text.contains("role=\"alert\""));
        assert_eq!(stored_row(&app, greenfield).await, before, "{fields:?}");
    }
    // The form comes back with what was sent, to be corrected.
    let page = browser
        .submit(&path, &[("rule.two_adults.grace_secs", "two minutes")])
        .await;
    assert_eq!(
        field_value(&page.body, "rule.two_adults.grace_secs").as_deref(),
        Some("two minutes")
    );
    assert!(audited(&app, "policy.updated").await.is_empty());
}

#[tokio::test]
async fn a_school_admin_sets_the_policy_of_their_school_only() {
    let app = spawn_app().await;
    app.import_toml(HILLSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;
    let mut browser = signed_in(
        &app,
        "admin@hillside.test",
        json!([{"role": "school_admin", "school_id": hillside}]),
    )
    .await;

    // With one school, the page opens on it.
    let page = browser.get("/admin/policy").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Policy of Hillside Primary"));
    assert!(
        !page.body.contains("Greenfield"),
        "no picker naming another school"
    );
    let saved = browser
        .submit(
            &format!("/admin/policy?school={hillside}"),
            &[("rule.outcome_logged.within_hours", "12")],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert_eq!(
        policy_of(&app, hillside)
            .await
            .1
            .outcome_logged
            .params
            .within_hours,
        12
    );

    let before = stored_row(&app, greenfield).await;
    let other = format!("/admin/policy?school={greenfield}");
    assert_eq!(browser.get(&other).await.status, 403);
    let refused = browser
        .submit(&other, &[("rule.outcome_logged.within_hours", "1")])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(stored_row(&app, greenfield).await, before);
    assert_eq!(audited(&app, "policy.updated").await.len(), 1);
}

#[tokio::test]
async fn a_trust_admin_picks_the_school_and_others_may_not_open_the_page() {
    let app = spawn_app().await;
    app.import_toml(HILLSIDE).await;
    let greenfield = school_id(&app, "greenfield").await;
    let hillside = school_id(&app, "hillside").await;

    let mut trust = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let page = trust.get("/admin/policy").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Policy of Greenfield Academy"),
        "by name, the first"
    );
    assert!(page.body.contains(&format!(
        r#"<option value="{hillside}">Hillside Primary</option>"#
    )));
    let picked = trust.get(&format!("/admin/policy?school={hillside}")).await;
    assert!(picked.body.contains("Policy of Hillside Primary"));
    assert_eq!(trust.get("/admin/policy?school=999999").await.status, 404);
    assert_eq!(trust.get("/admin/policy?school=hillside").await.status, 404);

    let before = stored_row(&app, greenfield).await;
    for role in ["dsl", "deputy_dsl", "staff", "governor"] {
        let mut browser = signed_in(
            &app,
            &format!("{role}@greenfield.test"),
            json!([{"role": role, "school_id": greenfield}]),
        )
        .await;
        assert_eq!(browser.get("/admin/policy").await.status, 403, "{role}");
        let path = format!("/admin/policy?school={greenfield}");
        assert_eq!(browser.get(&path).await.status, 403, "{role}");
        let posted = browser
            .submit(&path, &[("rule.two_adults.grace_secs", "1")])
            .await;
        assert_eq!(posted.status, 403, "{role}");
    }
    assert_eq!(stored_row(&app, greenfield).await, before);
}

#[tokio::test]
async fn a_policy_form_without_its_csrf_token_changes_nothing() {
    let app = spawn_app().await;
    let greenfield = school_id(&app, "greenfield").await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let path = format!("/admin/policy?school={greenfield}");
    browser.get(&path).await;
    let before = stored_row(&app, greenfield).await;

    let refused = browser
        .post_raw(&path, &[("rule.two_adults.grace_secs", "300")])
        .await;
    assert_eq!(refused.status, 403);
    let forged = browser
        .post_raw(
            &path,
            &[("csrf", "forged"), ("rule.two_adults.grace_secs", "300")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(stored_row(&app, greenfield).await, before);
    assert!(audited(&app, "policy.updated").await.is_empty());
}

#[tokio::test]
async fn a_proposed_policy_is_tried_on_past_calls_from_the_page_and_nothing_changes() {
    // A fortnight of calls: six breaches under the live 2 minutes' grace, three of them by a
    // second member of staff 3 minutes late.
    let (app, _) = crate::dry_run::seeded_fortnight().await;
    let greenfield = school_id(&app, "greenfield").await;
    let before = stored_row(&app, greenfield).await;
    let mut browser = signed_in(&app, "trust@school.test", json!([{"role": "trust_admin"}])).await;
    let page = browser
        .get(&format!("/admin/policy?school={greenfield}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut fields = form_as_shown(&page.body, "id=\"dry-run-heading\"");
    assert!(fields
        .iter()
        .any(|(name, value)| name == "to" && !value.is_empty()));
    fields.retain(|(name, _)| name != "policy" && name != "from");
    let from = (chrono::Utc::now() - chrono::Duration::days(15))
        .date_naive()
        .to_string();
    fields.push(("from".into(), from));
    fields.push((
        "policy".into(),
        "[overrides.two_adults]\ngrace_secs = 300".into(),
    ));
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let path = format!("/admin/policy/dry-run?school={greenfield}");

    let shown = browser.post_raw(&path, &borrowed).await;

    assert_eq!(shown.status, 200, "{}", shown.body);
    let row = &shown.body[shown.body.find("id=\"dry-run-two_adults\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td>6</td>\n    <td>3</td>"), "{row}");
    assert_eq!(row.matches("<div>call ").count(), 3, "{row}");
    assert!(
        !shown.body.contains("Jamie"),
        "an admin reads no finding's sentence"
    );
    assert_eq!(stored_row(&app, greenfield).await, before);
    assert_eq!(audited(&app, "policy.dry_run").await.len(), 1);

    let refused = browser
        .submit(
            &path,
            &[
                ("from", "2026-03-02"),
                ("to", "2026-03-15"),
                ("policy", "[overrides.two_adults]\nmin_staff = 0"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(unescaped(&refused.body).contains("two_adults.min_staff is 0"));
    assert_eq!(audited(&app, "policy.dry_run").await.len(), 1);
}
