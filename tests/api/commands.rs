//! The operator's commands, run as the real binary: import prints each connection's endpoint,
//! `connections` lists them, `reprocess` reopens stored events, `reseal` seals again after a
//! key rotation.

use std::process::{Command, Output};

use crate::helpers::{fresh_database_url, SCHOOL_ACCOUNT, SECRETS_KEY};

fn run(database_url: &str, key: &str, previous_keys: &str, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(args)
        .env("CHAPERONE__DATABASE__URL", database_url)
        .env("CHAPERONE__SECRETS__KEY", key)
        .env("CHAPERONE__SECRETS__PREVIOUS_KEYS", previous_keys)
        .env(
            "CHAPERONE__SERVER__PUBLIC_URL",
            "https://chaperone.school.example",
        )
        .env("COMMANDS_TEST_WEBHOOK_SECRET", "commands-test-secret")
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .output()
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "chaperone {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn the_connection_commands_work_on_a_real_database() {
    let folder = tempfile::tempdir().unwrap();
    let url = fresh_database_url(folder.path()).await;
    let school = folder.path().join("school.toml");
    std::fs::write(
        &school,
        format!(
            "[[school]]\nslug = \"greenfield\"\nname = \"Greenfield Academy\"\ntimezone = \"Europe/London\"\n\
             [[school.connections]]\nplatform = \"zoom\"\naccount_id = \"{SCHOOL_ACCOUNT}\"\nwebhook_secret_env = \"COMMANDS_TEST_WEBHOOK_SECRET\"\n"
        ),
    )
    .unwrap();

    let imported = run(&url, SECRETS_KEY, "", &["import", school.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&imported.stderr).to_string();
    assert!(
        said.contains(&format!(
            "greenfield zoom {SCHOOL_ACCOUNT} -> https://chaperone.school.example/webhooks/zoom/"
        )),
        "{said}"
    );
    assert!(!said.contains("commands-test-secret"), "{said}");
    assert!(!said.contains("no webhook secret"), "{said}");

    let listed = run(&url, SECRETS_KEY, "", &["connections"]);
    let listed = String::from_utf8_lossy(&listed.stderr).to_string();
    let endpoint = |text: &str| {
        text.split_whitespace()
            .find(|word| word.contains("/webhooks/zoom/"))
            .map(str::to_string)
    };
    assert_eq!(endpoint(&listed), endpoint(&said), "{listed}");

    let reopened = run(
        &url,
        SECRETS_KEY,
        "",
        &["reprocess", "--since", "2025-01-01"],
    );
    let reopened: serde_json::Value = serde_json::from_slice(&reopened.stdout).unwrap();
    assert_eq!(reopened["reopened"], 0);

    // A new key, with the old one still listed: reseal, then the new key alone suffices.
    let new_key = "bmV3LWtleS1hZnRlci10aGUtcm90YXRpb24tMzJieXQ=";
    let resealed = run(&url, new_key, SECRETS_KEY, &["reseal"]);
    let resealed = String::from_utf8_lossy(&resealed.stderr).to_string();
    assert!(resealed.contains("1 secrets sealed again"), "{resealed}");
    run(&url, new_key, "", &["connections"]);
    let refused = Command::new(env!("CARGO_BIN_EXE_chaperone"))
        .args(["connections"])
        .env("CHAPERONE__DATABASE__URL", &url)
        .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "the old key alone no longer opens the database"
    );
    let refused = String::from_utf8_lossy(&refused.stderr).to_string();
    assert!(refused.contains("CHAPERONE__SECRETS__KEY"), "{refused}");
}
