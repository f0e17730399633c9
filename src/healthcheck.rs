//! `chaperone healthcheck`: asks the running service on this machine for `/healthz` (or
//! `/readyz`), for container health checks in images that have no curl. Plain HTTP/1.1 over
//! a socket, with a deadline: it must answer within the check's own timeout.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long the connection, the request and the answer may take together at most per step.
const STEP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum HealthcheckError {
    #[error("cannot reach chaperone at {address}")]
    Unreachable {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("chaperone at {address} answered {path} with {status_line:?}")]
    Unhealthy {
        address: SocketAddr,
        path: &'static str,
        status_line: String,
    },
}

/// The address to ask: the bound one, with a wildcard (`0.0.0.0`, `::`) turned into loopback.
pub fn local_address(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// GETs `path` from `address`; Ok when it answers 200.
pub fn check(address: SocketAddr, path: &'static str) -> Result<(), HealthcheckError> {
    let unreachable = |source| HealthcheckError::Unreachable { address, source };
    let mut stream = TcpStream::connect_timeout(&address, STEP_TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(STEP_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(STEP_TIMEOUT)))
        .map_err(unreachable)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    // The status line is all that matters; it comes first and is short.
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        match stream.read(&mut head[read..]).map_err(unreachable)? {
            0 => break,
            n => read += n,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if is_ok_status(&status_line) {
        Ok(())
    } else {
        Err(HealthcheckError::Unhealthy {
            address,
            path,
            status_line,
        })
    }
}

fn is_ok_status(status_line: &str) -> bool {
    let mut parts = status_line.split_whitespace();
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/1.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn one_answer(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(answer.as_bytes());
        });
        address
    }

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback() {
        assert_eq!(
            local_address("0.0.0.0:8080".parse().unwrap()),
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            local_address("[::]:8080".parse().unwrap()),
            "[::1]:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            local_address("10.1.2.3:9000".parse().unwrap()),
            "10.1.2.3:9000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn a_200_answer_is_healthy() {
        let address = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        check(address, "/healthz").unwrap();
    }

    #[test]
    fn a_503_answer_is_unhealthy_and_says_what_came_back() {
        let address = one_answer("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let error = check(address, "/readyz").unwrap_err().to_string();
        assert!(error.contains("503 Service Unavailable"), "{error}");
    }

    #[test]
    fn nothing_listening_is_unreachable() {
        let address = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let error = check(address, "/healthz").unwrap_err();
        assert!(
            matches!(error, HealthcheckError::Unreachable { .. }),
            "{error}"
        );
    }
}
