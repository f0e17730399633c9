//! Evidence packs through the API and the real `chaperone verify-pack`: a breached call's pack
//! verifies offline and fails after any byte of it is changed; a pack of a day whose head was
//! signed anchors to that head; a record rewritten and the manifest signed again still fails;
//! staff without safeguarding rights are refused; producing a pack is in the audit log.

use std::process::{Command, Output};

use chaperone::evidence::archive;
use chaperone::evidence::manifest::{sha256_hex, Manifest};
use chaperone::evidence::{verify_pack, PackError};
use chrono::Utc;
use serde_json::{json, Value};
use sqlx::Row;

use crate::alerts::{ago, scenario, Scenario};
use crate::helpers::{TestApp, SECRETS_KEY};
use crate::zoom_events::{ended, joined, left, started, HOST, MEETING_UUID, PUPIL};

/// Two calls, each with a pupil alone with one adult; the first's finding acknowledged and
/// resolved, and its outcome written. Answers the first call and its finding.
async fn two_breached_calls() -> (Scenario, i64, i64) {
    let scenario = scenario(&["two_adults"], 0).await;
    let app = &scenario.app;
    for (call, uuid) in ["first", "second"].iter().enumerate() {
        let uuid = format!("{uuid}{}", &MEETING_UUID[6..]);
        let offset = 3600 * (2 - call as i64);
        let events: Vec<String> = vec![
            started().replace("2025-03-11T14:31:07Z", &ago(offset + 300)),
            joined(&HOST, &ago(offset + 300)),
            joined(&PUPIL, &ago(offset + 240)),
            left(&PUPIL, &ago(offset - 600)),
            ended(&ago(offset - 660)),
        ]
        .into_iter()
        .map(|event| event.replace(MEETING_UUID, &uuid))
        .collect();
        app.deliver(&events).await;
    }
    app.settle_at(Utc::now()).await;
    let findings = crate::alerts::findings(app).await;
    let first = findings
        .iter()
        .min_by_key(|finding| finding["meeting_record_id"].as_i64())
        .expect("a finding");
    let finding = first["id"].as_i64().unwrap();
    let meeting = first["meeting_record_id"].as_i64().unwrap();
    for (action, body) in [
        ("acknowledge", json!({"by": "Dee Esel"})),
        (
            "resolve",
            json!({"by": "Dee Esel", "note": "Spoke to the tutor."}),
        ),
    ] {
        let response = app
            .post_json(&format!("/api/v1/findings/{finding}/{action}"), body)
            .await;
        assert_eq!(response.status(), 200, "{action}");
    }
    let response = app
        .post_json(
            &format!("/api/v1/meetings/{meeting}/outcome"),
            json!({"outcome": "Talked through the week; no concerns."}),
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    app.settle_at(Utc::now()).await;
    (scenario, meeting, finding)
}

async fn download(app: &TestApp, path: &str) -> Vec<u8> {
    let response = app.get_api(path).await;
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"evidence-")
            && disposition.ends_with(".zip\""),
        "{disposition}"
    );
    response.bytes().await.unwrap().to_vec()
}

fn verify_command(app: &TestApp, bytes: &[u8], name: &str) -> Output {
    let path = app.folder.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    // No settings, no database: the command must need neither.
    Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .arg("verify-pack")
        .arg(&path)
        .env_clear()
        .output()
        .expect("the command runs")
}

fn member<'a>(members: &'a [archive::Member], name: &str) -> &'a [u8] {
    &members
        .iter()
        .find(|member| member.name == name)
        .unwrap_or_else(|| panic!("no {name} in the pack"))
        .bytes
}

fn json_of(members: &[archive::Member], name: &str) -> Value {
    serde_json::from_slice(member(members, name)).unwrap()
}

/// Each member's data region, from the local headers, and where the central directory starts.
fn layout(bytes: &[u8]) -> (Vec<(usize, usize)>, usize) {
    let word = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let long = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut regions = Vec::new();
    let mut at = 0;
    while bytes[at..at + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let start = at + 30 + word(at + 26) + word(at + 28);
        let size = long(at + 18);
        regions.push((start, start + size));
        at = start + size;
    }
    (regions, at)
}

#[tokio::test]
async fn a_breached_calls_pack_verifies_offline_and_fails_after_any_byte_is_changed() {
    let (Scenario { app, .. }, meeting, finding) = two_breached_calls().await;
    let bytes = download(&app, &format!("/api/v1/meetings/{meeting}/evidence-pack")).await;

    let output = verify_command(&app, &bytes, "pack.zip");
    let said = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains(&format!("call {meeting}")), "{said}");

    // What the pack holds: the call's records as the ledger says, others by hash only.
    let members = archive::read(&bytes).unwrap();
    let names: Vec<&str> = members.iter().map(|member| member.name.as_str()).collect();
    for name in [
        "README.txt",
        "manifest.json",
        "manifest.sig",
        "report.html",
        "ledger.jsonl",
        "call.json",
        "participants.json",
        "findings.json",
        "finding_history.json",
        "alert_deliveries.json",
        "outcomes.json",
        "policy_clauses.json",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let manifest: Manifest = serde_json::from_slice(member(&members, "manifest.json")).unwrap();
    assert_eq!(manifest.subject.kind, "call");
    assert_eq!(manifest.anchor.signed_head_date, None);
    assert_eq!(manifest.public_key, app.state.head_signer.public_key());
    let findings = json_of(&members, "findings.json");
    assert_eq!(findings.as_array().unwrap().len(), 1, "{findings:#}");
    assert_eq!(findings[0]["id"], finding);
    assert_eq!(findings[0]["status"], "resolved");
    assert!(
        json_of(&members, "finding_history.json")
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    assert!(!json_of(&members, "alert_deliveries.json")
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        json_of(&members, "participants.json")
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        json_of(&members, "outcomes.json").as_array().unwrap().len(),
        1
    );
    assert_eq!(
        json_of(&members, "policy_clauses.json")["rules"][0]["rule"],
        "two_adults"
    );
    let lines: Vec<Value> = std::str::from_utf8(member(&members, "ledger.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let meeting_key = meeting.to_string();
    let other_call = lines
        .iter()
        .filter(|line| line["record_class"] == "call" && line["record_key"] != meeting_key.as_str())
        .collect::<Vec<_>>();
    assert!(!other_call.is_empty(), "the other call is in the segment");
    assert!(
        other_call.iter().all(|line| line.get("content").is_none()),
        "another call shows by class and id only"
    );
    let head: i64 = sqlx::query("SELECT last_seq FROM ledger_heads")
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
        .try_get("last_seq")
        .unwrap();
    assert_eq!(manifest.anchor.seq, head, "anchored to the chain's head");
    let report = String::from_utf8(member(&members, "report.html").to_vec()).unwrap();
    assert!(
        report.contains("<svg") && !report.contains("<script"),
        "{report}"
    );
    assert!(report.contains(&manifest.key_fingerprint));

    // Producing it is in the audit log, without personal data.
    let audited: Vec<String> = sqlx::query(
        "SELECT subject_kind, subject_id, after_state FROM audit_log WHERE action = 'evidence_pack.produced'",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|row| {
        format!(
            "{} {} {}",
            row.try_get::<String, _>("subject_kind").unwrap(),
            row.try_get::<String, _>("subject_id").unwrap(),
            row.try_get::<String, _>("after_state").unwrap()
        )
    })
    .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0].starts_with(&format!("call {meeting} ")),
        "{audited:?}"
    );
    assert!(audited[0].contains(&sha256_hex(&bytes)));
    assert!(
        !audited[0].contains("Pupil") && !audited[0].contains('@'),
        "{audited:?}"
    );

    // Any byte changed: in every member's data, every header, the directory and its end.
    let (regions, directory) = layout(&bytes);
    assert_eq!(regions.len(), members.len());
    let mut positions: Vec<usize> = Vec::new();
    let mut header_start = 0;
    for (start, end) in &regions {
        positions.extend(header_start..*start);
        positions.extend([*start, (start + end) / 2, end - 1]);
        positions.extend((*start..*end).step_by(97));
        header_start = *end;
    }
    positions.extend(directory..bytes.len());
    positions.sort_unstable();
    positions.dedup();
    for position in &positions {
        let mut changed = bytes.clone();
        changed[*position] ^= 0x20;
        assert!(
            verify_pack(&changed).is_err(),
            "byte {position} of {} changed and the pack still verified",
            bytes.len()
        );
    }
    // And the command itself, at a position in each member, in headers and the directory.
    let mut sampled: Vec<usize> = regions
        .iter()
        .map(|(start, end)| (start + end) / 2)
        .collect();
    sampled.extend([
        0,
        14,
        regions[1].0 - 1,
        directory,
        directory + 16,
        bytes.len() - 6,
    ]);
    for position in sampled {
        let mut changed = bytes.clone();
        changed[position] ^= 0x01;
        let output = verify_command(&app, &changed, "changed.zip");
        assert!(
            !output.status.success(),
            "byte {position}: the command passed it"
        );
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("does not verify"), "{said}");
    }
    let output = verify_command(&app, &bytes[..bytes.len() - 1], "short.zip");
    assert!(!output.status.success());
}

#[tokio::test]
async fn a_pack_of_a_day_whose_head_was_signed_anchors_to_that_head() {
    let (Scenario { app, .. }, _, finding) = two_breached_calls().await;
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    assert_eq!(app.ledger.publish_heads(tomorrow).await.unwrap(), 1);
    let heads = app.get_json("/api/v1/ledger/heads").await;
    // A later change to another record moves the chain's head past the signed one.
    let second_finding = crate::alerts::findings(&app)
        .await
        .into_iter()
        .find(|other| other["id"] != finding)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let response = app
        .post_json(
            &format!("/api/v1/findings/{second_finding}/acknowledge"),
            json!({"by": "Dee Esel"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    app.settle_at(Utc::now()).await;

    let bytes = download(&app, &format!("/api/v1/findings/{finding}/evidence-pack")).await;
    let members = archive::read(&bytes).unwrap();
    let manifest: Manifest = serde_json::from_slice(member(&members, "manifest.json")).unwrap();
    assert_eq!(manifest.subject.kind, "finding");
    assert_eq!(manifest.anchor.seq, heads[0]["seq"].as_i64().unwrap());
    assert_eq!(manifest.anchor.hash, heads[0]["hash"].as_str().unwrap());
    assert!(manifest.anchor.signed_head_date.is_some());
    let signed = json_of(&members, "signed_head.json");
    assert_eq!(signed["seq"], heads[0]["seq"]);
    assert_eq!(
        json_of(&members, "findings.json").as_array().unwrap().len(),
        1
    );

    let output = verify_command(&app, &bytes, "finding.zip");
    let said = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(said.contains("signed daily head"), "{said}");
}

#[tokio::test]
async fn a_record_rewritten_under_a_signature_made_again_is_named() {
    let (Scenario { app, .. }, meeting, _) = two_breached_calls().await;
    let bytes = download(&app, &format!("/api/v1/meetings/{meeting}/evidence-pack")).await;
    let mut members = archive::read(&bytes).unwrap();
    // Someone with the instance's key rewrites the outcome and signs the manifest again: the
    // ledger entries still say what was written.
    let outcome = members
        .iter_mut()
        .find(|member| member.name == "outcomes.json")
        .unwrap();
    outcome.bytes = String::from_utf8(outcome.bytes.clone())
        .unwrap()
        .replace("no concerns", "all well")
        .into_bytes();
    let rewritten = sha256_hex(&outcome.bytes);
    let mut manifest: Manifest = serde_json::from_slice(member(&members, "manifest.json")).unwrap();
    manifest.files.insert("outcomes.json".into(), rewritten);
    let manifest_bytes = manifest.to_bytes();
    let key = base64_key();
    let signer =
        chaperone::ledger::HeadSigner::new(&chaperone::secrets::SecretKeys::new(&key, &[]));
    assert_eq!(signer.public_key(), manifest.public_key);
    let signature = format!("{}\n", signer.sign_pack(&manifest_bytes));
    for member in members.iter_mut() {
        match member.name.as_str() {
            "manifest.json" => member.bytes = manifest_bytes.clone(),
            "manifest.sig" => member.bytes = signature.clone().into_bytes(),
            _ => {}
        }
    }
    let forged = archive::write(&members, archive::zip_time(manifest.made_at)).unwrap();
    match verify_pack(&forged) {
        Err(PackError::RecordDiffers { file, class, .. }) => {
            assert_eq!((file, class), ("outcomes.json", "outcome"))
        }
        other => panic!("{other:?}"),
    }
    let output = verify_command(&app, &forged, "forged.zip");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("outcomes.json"));
}

fn base64_key() -> [u8; 32] {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(SECRETS_KEY)
        .unwrap()
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn staff_without_safeguarding_rights_are_refused_and_a_call_not_found_is_404() {
    let (Scenario { app, .. }, meeting, finding) = two_breached_calls().await;
    let created = app
        .post_json(
            "/api/v1/users",
            json!({"email": "sam.staff@greenfield.sch.example", "name": "Sam Staff",
                   "password": "a long enough passphrase", "roles": [{"role": "staff", "school_id": 1}]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let signed_in: Value = app
        .client
        .post(format!("{}/api/v1/sign-in", app.address))
        .json(&json!({"email": "sam.staff@greenfield.sch.example", "password": "a long enough passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = signed_in["session"].as_str().unwrap();
    for path in [
        format!("/api/v1/meetings/{meeting}/evidence-pack"),
        format!("/api/v1/findings/{finding}/evidence-pack"),
    ] {
        let status = app
            .client
            .get(format!("{}{path}", app.address))
            .bearer_auth(session)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403, "{path}");
    }
    assert_eq!(
        app.get_api("/api/v1/meetings/999999/evidence-pack")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_api("/api/v1/findings/999999/evidence-pack")
            .await
            .status(),
        404
    );
    let produced: i64 =
        sqlx::query("SELECT COUNT(*) FROM audit_log WHERE action = 'evidence_pack.produced'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    assert_eq!(produced, 0, "nothing refused is recorded as produced");
}
