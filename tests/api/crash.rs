//! The real binary, killed with SIGKILL right after answering: every acknowledged event is
//! there when it starts again, and is then processed.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chaperone::config::Secret;
use chaperone::zoom::signature;
use futures_util::future::join_all;

use crate::helpers::{
    eventually, example_school_file, fresh_database_url, now_secs, ADMIN_TOKEN, SECRETS_KEY,
    ZOOM_SECRET,
};
use crate::zoom_events::{joined, Joiner};

const EVENTS: usize = 300;

fn chaperone(database_url: &str, port: u16, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chaperone"));
    command
        .args(args)
        .env("CHAPERONE__DATABASE__URL", database_url)
        .env("CHAPERONE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("CHAPERONE__ZOOM__WEBHOOK_SECRET_TOKEN", ZOOM_SECRET)
        .env("CHAPERONE__API__ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CHAPERONE__SECRETS__KEY", SECRETS_KEY)
        .env("CHAPERONE__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

async fn start(database_url: &str, port: u16, client: &reqwest::Client) -> Child {
    let child = chaperone(database_url, port, &["serve"])
        .spawn()
        .expect("chaperone starts");
    let up = eventually(Duration::from_secs(30), || async {
        client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_ok_and(|response| response.status() == 200)
    })
    .await;
    assert!(up, "chaperone serve did not become ready");
    child
}

async fn meeting_participants(client: &reqwest::Client, port: u16) -> usize {
    let Ok(response) = client
        .get(format!("http://127.0.0.1:{port}/api/v1/meetings"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
    else {
        return 0;
    };
    let meetings: serde_json::Value = response.json().await.unwrap_or_default();
    meetings[0]["participant_count"].as_u64().unwrap_or(0) as usize
}

#[tokio::test]
async fn every_acknowledged_event_survives_sigkill_and_is_processed_after_restart() {
    let folder = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(folder.path()).await;
    let port = free_port();
    let client = reqwest::Client::new();

    let imported = chaperone(
        &database_url,
        port,
        &["import", example_school_file().to_str().unwrap()],
    )
    .status()
    .unwrap();
    assert!(imported.success());

    let mut server = start(&database_url, port, &client).await;
    let secret = Secret::new(ZOOM_SECRET);
    let deliveries = (0..EVENTS).map(|i| {
        let session_id: &'static str = Box::leak(format!("{}", 20_000_000 + i).into_boxed_str());
        let body = joined(
            &Joiner {
                session_id,
                name: "Guest",
                zoom_user_id: "",
                email: "",
            },
            "2025-03-11T14:40:00Z",
        );
        let timestamp = now_secs();
        let signature = signature::sign(&secret, timestamp, body.as_bytes());
        let client = client.clone();
        async move {
            client
                .post(format!("http://127.0.0.1:{port}/webhooks/zoom"))
                .header("x-zm-request-timestamp", timestamp.to_string())
                .header("x-zm-signature", signature)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .is_ok_and(|response| response.status() == 200)
        }
    });
    let acknowledged = join_all(deliveries)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    assert_eq!(
        acknowledged, EVENTS,
        "every delivery should have been acknowledged"
    );

    let mut server = start(&database_url, port, &client).await;
    let complete = eventually(Duration::from_secs(60), || async {
        meeting_participants(&client, port).await == acknowledged
    })
    .await;
    let seen = meeting_participants(&client, port).await;

    // A graceful stop on SIGTERM.
    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopped = eventually(Duration::from_secs(20), || {
        let exited = server.try_wait().unwrap().map(|status| status.success());
        async move { exited == Some(true) }
    })
    .await;
    if !stopped {
        let _ = server.kill();
    }
    assert!(
        complete,
        "after restart the register shows {seen} of {acknowledged} acknowledged joins"
    );
    assert!(stopped, "chaperone did not exit cleanly on SIGTERM");
}
