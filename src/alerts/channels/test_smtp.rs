//! A small SMTP server on 127.0.0.1 standing in for the school's mail relay in tests. It speaks
//! just enough RFC 5321 for lettre (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps what
//! it receives, decodes it for assertions, and can refuse recipients to exercise failures.
//! It can also protect its sessions as a real relay does: STARTTLS (RFC 3207) or TLS from the
//! first byte (RFC 8314), with a certificate signed by a CA made in the test ([`TestCa`]).
//!
//! Shared by the channel unit tests and the API tests: `tests/api/smtp_sink.rs` includes this
//! file with `#[path]`, so it uses nothing from the crate, only std, tokio, base64, rcgen and
//! tokio-rustls.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A running sink; it stops listening when dropped.
pub struct SmtpSink {
    address: SocketAddr,
    log: Arc<Mutex<SinkLog>>,
    server: tokio::task::JoinHandle<()>,
}

/// One message as the relay received it: the envelope and the DATA, dot-unstuffed.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub data: String,
    /// Whether the session was under TLS when the message was sent.
    pub encrypted: bool,
}

/// How the sink protects its sessions.
#[derive(Clone)]
pub enum SinkSecurity {
    /// Plain text throughout, STARTTLS not offered.
    Plain,
    /// Plain at first, offering STARTTLS in its EHLO reply and upgrading with this
    /// certificate.
    StartTls(Arc<ServerConfig>),
    /// TLS from the first byte with this certificate.
    ImplicitTls(Arc<ServerConfig>),
}

/// What happened on the sink, for assertions.
#[derive(Default)]
struct SinkLog {
    received: Vec<ReceivedMail>,
    /// Every command verb the client sent before its session was encrypted.
    verbs_in_clear: Vec<String>,
    /// TLS handshakes that did not complete: the client refused the certificate, say.
    failed_handshakes: usize,
}

/// What every session of one sink does.
struct SinkOptions {
    security: SinkSecurity,
    rcpt_reply: Option<String>,
}

impl SmtpSink {
    /// A plain sink that accepts everything.
    pub async fn start() -> SmtpSink {
        Self::start_with(SinkSecurity::Plain, None).await
    }

    /// A plain sink that answers every RCPT with `reply`, e.g. `"451 4.3.0 Try again later"`.
    pub async fn refusing_recipients(reply: &str) -> SmtpSink {
        Self::start_with(SinkSecurity::Plain, Some(reply.to_owned())).await
    }

    /// A sink that accepts everything, protected by `security`.
    pub async fn start_secured(security: SinkSecurity) -> SmtpSink {
        Self::start_with(security, None).await
    }

    async fn start_with(security: SinkSecurity, rcpt_reply: Option<String>) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the SMTP sink");
        let address = listener.local_addr().expect("the sink's address");
        let log = Arc::<Mutex<SinkLog>>::default();
        let options = Arc::new(SinkOptions {
            security,
            rcpt_reply,
        });
        let server = tokio::spawn({
            let log = Arc::clone(&log);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let session = serve(stream, Arc::clone(&log), Arc::clone(&options));
                    tokio::spawn(async move {
                        let _ = session.await;
                    });
                }
            }
        });
        SmtpSink {
            address,
            log,
            server,
        }
    }

    pub fn host(&self) -> String {
        self.address.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.log.lock().expect("sink lock").received.clone()
    }

    /// The command verbs clients sent in clear, in order (`EHLO`, `STARTTLS`, ...).
    pub fn verbs_in_clear(&self) -> Vec<String> {
        self.log.lock().expect("sink lock").verbs_in_clear.clone()
    }

    /// Polls until clients broke off at least `count` TLS handshakes (the sink learns of it
    /// a moment after the client gives up); panics after `timeout`.
    pub async fn wait_for_failed_handshakes(&self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let failed = self.log.lock().expect("sink lock").failed_handshakes;
            if failed >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} failed TLS handshakes within {timeout:?}, got {failed}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls until at least `count` messages arrived; panics after `timeout`.
    pub async fn wait_for_mail(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} emails within {timeout:?}, got {}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A certificate authority made for one test, like a school's own CA, and the relay
/// certificates it signs.
pub struct TestCa {
    certificate: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("a CA key");
        let certificate = params.self_signed(&key).expect("a CA certificate");
        TestCa {
            certificate,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA certificate as a PEM file holds it.
    pub fn pem(&self) -> String {
        self.certificate.pem()
    }

    /// A relay's TLS setup presenting a certificate for `names` (DNS names or IP
    /// addresses) signed by this CA, with the CA certificate in the chain as relays send it.
    pub fn relay_tls(&self, names: &[&str]) -> Arc<ServerConfig> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("relay certificate params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "chaperone test relay");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().expect("a relay key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("a relay certificate");
        let chain = vec![
            certificate.der().clone(),
            CertificateDer::from(self.certificate.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        // ring, the tree's crypto provider, named rather than looked up process-wide.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the relay's certificate and key");
        Arc::new(config)
    }
}

/// Any byte stream a session runs over: the TCP connection, or TLS over it.
trait SessionStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SessionStream for T {}

type Connection = BufReader<Box<dyn SessionStream>>;

async fn serve(
    stream: TcpStream,
    log: Arc<Mutex<SinkLog>>,
    options: Arc<SinkOptions>,
) -> std::io::Result<()> {
    let (mut connection, mut encrypted) = match &options.security {
        SinkSecurity::ImplicitTls(config) => (handshake(stream, config, &log).await?, true),
        _ => (plain(stream), false),
    };
    reply(&mut connection, "220 chaperone-test-sink ESMTP").await?;
    let mut mail: Option<ReceivedMail> = None;
    loop {
        let Some(command) = read_line(&mut connection).await? else {
            return Ok(());
        };
        let verb = command
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !encrypted {
            log.lock()
                .expect("sink lock")
                .verbs_in_clear
                .push(verb.clone());
        }
        let starttls = match &options.security {
            SinkSecurity::StartTls(config) if !encrypted => Some(config),
            _ => None,
        };
        let answer = match verb.as_str() {
            "EHLO" if starttls.is_some() => "250-chaperone-test-sink\r\n250 STARTTLS".to_owned(),
            "EHLO" | "HELO" => "250 chaperone-test-sink".to_owned(),
            "STARTTLS" => match starttls {
                Some(config) => {
                    reply(&mut connection, "220 2.0.0 Ready to start TLS").await?;
                    // Whatever the client sent after STARTTLS in clear is dropped with the
                    // buffer, and the session starts again (RFC 3207 §4.2).
                    let stream = connection.into_inner();
                    connection = handshake(stream, config, &log).await?;
                    encrypted = true;
                    mail = None;
                    continue;
                }
                None => "502 5.5.1 STARTTLS not offered".to_owned(),
            },
            "MAIL" => {
                mail = Some(ReceivedMail {
                    mail_from: address_in(&command),
                    recipients: Vec::new(),
                    data: String::new(),
                    encrypted,
                });
                "250 2.1.0 OK".to_owned()
            }
            "RCPT" => match (&options.rcpt_reply, mail.as_mut()) {
                (Some(refusal), _) => refusal.clone(),
                (None, Some(mail)) => {
                    mail.recipients.push(address_in(&command));
                    "250 2.1.5 OK".to_owned()
                }
                (None, None) => "503 5.5.1 MAIL first".to_owned(),
            },
            "DATA" => match mail.take() {
                Some(mut mail) if !mail.recipients.is_empty() => {
                    reply(&mut connection, "354 End data with <CR><LF>.<CR><LF>").await?;
                    mail.data = read_data(&mut connection).await?;
                    log.lock().expect("sink lock").received.push(mail);
                    "250 2.0.0 queued".to_owned()
                }
                _ => "503 5.5.1 RCPT first".to_owned(),
            },
            "RSET" => {
                mail = None;
                "250 2.0.0 OK".to_owned()
            }
            "NOOP" => "250 2.0.0 OK".to_owned(),
            "QUIT" => {
                reply(&mut connection, "221 2.0.0 bye").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognised".to_owned(),
        };
        reply(&mut connection, &answer).await?;
    }
}

fn plain(stream: impl SessionStream + 'static) -> Connection {
    BufReader::new(Box::new(stream))
}

/// The server side of a TLS handshake; one the client breaks off is counted.
async fn handshake(
    stream: impl SessionStream + 'static,
    config: &Arc<ServerConfig>,
    log: &Mutex<SinkLog>,
) -> std::io::Result<Connection> {
    match TlsAcceptor::from(Arc::clone(config)).accept(stream).await {
        Ok(tls) => Ok(plain(tls)),
        Err(error) => {
            log.lock().expect("sink lock").failed_handshakes += 1;
            Err(error)
        }
    }
}

/// Writes one reply and its CRLF, flushed: TLS holds written bytes until then.
async fn reply(connection: &mut Connection, text: &str) -> std::io::Result<()> {
    connection
        .write_all(format!("{text}\r\n").as_bytes())
        .await?;
    connection.flush().await
}

/// One line without its CRLF; `None` at end of stream.
async fn read_line(connection: &mut Connection) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    if connection.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&line);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The DATA lines up to the lone ".", with dot-stuffing undone (RFC 5321 §4.5.2).
async fn read_data(connection: &mut Connection) -> std::io::Result<String> {
    let mut lines = Vec::new();
    while let Some(line) = read_line(connection).await? {
        if line == "." {
            break;
        }
        lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
    }
    Ok(lines.join("\r\n"))
}

fn address_in(command: &str) -> String {
    let start = command.find('<').map_or(0, |at| at + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |at| start + at);
    command[start..end].to_owned()
}

impl ReceivedMail {
    /// A top-level header, unfolded, with RFC 2047 encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = split_entity(&self.data);
        find_header(&headers, name).map(decode_words)
    }

    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// Every text part (plain and HTML), transfer-decoded, one after another.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        text_parts(&self.data, &mut parts);
        parts.join("\n")
    }
}

/// Unfolded headers and the body of one MIME entity.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn text_parts(raw: &str, out: &mut Vec<String>) {
    let (headers, body) = split_entity(raw);
    let content_type = find_header(&headers, "Content-Type").unwrap_or("text/plain");
    let lowercase = content_type.to_ascii_lowercase();
    if lowercase.starts_with("multipart/") {
        let Some(boundary) = parameter(content_type, "boundary") else {
            return;
        };
        let delimiter = format!("--{boundary}");
        let mut part: Option<Vec<&str>> = None;
        for line in body.split("\r\n") {
            if let Some(rest) = line.strip_prefix(&delimiter) {
                if let Some(lines) = part.take() {
                    text_parts(&lines.join("\r\n"), out);
                }
                if rest.starts_with("--") {
                    break;
                }
                part = Some(Vec::new());
            } else if let Some(lines) = part.as_mut() {
                lines.push(line);
            }
        }
    } else if lowercase.starts_with("text/") {
        let encoding = find_header(&headers, "Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .to_ascii_lowercase();
        let bytes = match encoding.as_str() {
            "quoted-printable" => quoted_printable(&body.replace("=\r\n", ""), false),
            "base64" => {
                let compact: String = body.split_whitespace().collect();
                BASE64.decode(compact).expect("a valid base64 body")
            }
            _ => body.as_bytes().to_vec(),
        };
        out.push(String::from_utf8_lossy(&bytes).into_owned());
    }
}

fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|parameter| {
        let (key, value) = parameter.trim().split_once('=')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim_matches('"').to_owned())
    })
}

/// `=XX` escapes (and, in encoded words, `_` for a space).
fn quoted_printable(text: &str, underscore_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'=')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[at]) {
            (Some(byte), _) => {
                decoded.push(byte);
                at += 3;
                continue;
            }
            (None, b'_') if underscore_is_space => decoded.push(b' '),
            (None, byte) => decoded.push(byte),
        }
        at += 1;
    }
    decoded
}

/// Decodes `=?charset?b|q?text?=` words; whitespace between two encoded words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut previous_was_encoded = false;
    for token in value.split([' ', '\t']).filter(|token| !token.is_empty()) {
        let decoded = decode_word(token);
        let continues_encoded_text = previous_was_encoded && decoded.is_some();
        if !out.is_empty() && !continues_encoded_text {
            out.push(' ');
        }
        previous_was_encoded = decoded.is_some();
        out.push_str(decoded.as_deref().unwrap_or(token));
    }
    out
}

fn decode_word(token: &str) -> Option<String> {
    let inner = token.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut fields = inner.splitn(3, '?');
    let (_charset, encoding, text) = (fields.next()?, fields.next()?, fields.next()?);
    let bytes = match encoding {
        "b" | "B" => BASE64.decode(text).ok()?,
        "q" | "Q" => quoted_printable(text, true),
        _ => return None,
    };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_decodes_encoded_words_and_transfer_encodings() {
        let data = [
            "Subject: [x] =?utf-8?b?Wm/Dqw==?= =?utf-8?q?_=E2=80=94_ok?= done",
            "Content-Type: multipart/alternative;",
            " boundary=\"b1\"",
            "",
            "--b1",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            "Zo=C3=AB https://a.example/?t=3D1&f=",
            "=3D2",
            "--b1",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: base64",
            "",
            "PHA+WjwvcD4=",
            "--b1--",
        ]
        .join("\r\n");
        let mail = ReceivedMail {
            mail_from: String::new(),
            recipients: Vec::new(),
            data,
            encrypted: false,
        };
        assert_eq!(mail.subject().as_deref(), Some("[x] Zoë — ok done"));
        assert_eq!(mail.text(), "Zoë https://a.example/?t=1&f=2\n<p>Z</p>");
    }

    #[test]
    fn envelope_addresses_are_read_between_angle_brackets() {
        assert_eq!(address_in("MAIL FROM:<a@b.example> SIZE=10"), "a@b.example");
        assert_eq!(address_in("RCPT TO:<>"), "");
    }
}
