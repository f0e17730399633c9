//! Where alerts go: a mail relay that asks for credentials, and one HTTP receiver for the
//! case system's signed webhooks and Slack's incoming webhook.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::Router;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Whether an `AUTH PLAIN` line carries `password`.
pub(super) fn plain_auth_holds(line: &str, password: &str) -> bool {
    line.split_whitespace()
        .last()
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .is_some_and(|decoded| String::from_utf8_lossy(&decoded).contains(password))
}

/// A mail relay that asks for credentials (AUTH PLAIN or LOGIN) and keeps what it is sent.
pub(super) struct AuthSmtpSink {
    pub(super) port: u16,
    pub(super) messages: Arc<Mutex<Vec<String>>>,
    pub(super) auth_lines: Arc<Mutex<Vec<String>>>,
}

impl AuthSmtpSink {
    pub(super) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = AuthSmtpSink {
            port,
            messages: Arc::default(),
            auth_lines: Arc::default(),
        };
        let (messages, auth_lines) = (sink.messages.clone(), sink.auth_lines.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (messages, auth_lines) = (messages.clone(), auth_lines.clone());
                tokio::spawn(async move {
                    let _ = converse(stream, messages, auth_lines).await;
                });
            }
        });
        sink
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    messages: Arc<Mutex<Vec<String>>>,
    auth_lines: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 log-scan relay ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-log-scan relay\r\n250 AUTH PLAIN LOGIN\r\n",
            "HELO" => b"250 log-scan relay\r\n",
            "AUTH" => {
                auth_lines.lock().unwrap().push(line.trim().to_string());
                b"235 2.7.0 Authentication successful\r\n"
            }
            "DATA" => {
                writer
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut message = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    message.push_str(&line);
                }
                messages.lock().unwrap().push(message);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 2.0.0 OK\r\n",
        };
        writer.write_all(answer).await?;
    }
}

/// Takes every POST, at any path: the case system's signed webhooks and Slack's incoming
/// webhook alike.
pub(super) struct Receiver {
    pub(super) url: String,
    /// The paths delivered to, in order.
    paths: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub(super) async fn start() -> Self {
        let paths: Arc<Mutex<Vec<String>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(
                |State(paths): State<Arc<Mutex<Vec<String>>>>, uri: Uri| async move {
                    paths.lock().unwrap().push(uri.path().to_string());
                    StatusCode::OK
                },
            )
            .with_state(paths.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, paths }
    }

    pub(super) fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}
