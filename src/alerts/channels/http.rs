//! The one POST every HTTP channel makes, and what its answer means: success, worth retrying
//! (with the wait the receiver asked for) or permanent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

use super::DeliveryError;
use crate::retry::parse_retry_after;

/// Longest wait for one HTTP delivery, whatever the shared client allows: a stuck receiver must
/// not hold up the alerts queued behind it.
pub(crate) const HTTP_DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs `body` as JSON. Error reasons never include the URL: webhook URLs are secrets.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &[u8],
    headers: &[(HeaderName, HeaderValue)],
) -> Result<(), DeliveryError> {
    let mut request = client
        .post(url)
        .timeout(HTTP_DELIVERY_TIMEOUT)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(request_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(classify_status(status, response.headers(), Utc::now()))
}

fn request_error(error: reqwest::Error) -> DeliveryError {
    let error = error.without_url();
    if error.is_builder() {
        DeliveryError::permanent("the target URL is not valid")
    } else if error.is_timeout() {
        DeliveryError::retryable(format!(
            "no answer within {} s",
            HTTP_DELIVERY_TIMEOUT.as_secs()
        ))
    } else if error.is_connect() {
        DeliveryError::retryable("could not connect to the receiver")
    } else {
        DeliveryError::retryable(format!("request failed: {error}"))
    }
}

/// What a non-2xx answer means. Only 429 and 503 are read for `Retry-After`.
pub(crate) fn classify_status(
    status: StatusCode,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> DeliveryError {
    let reason = format!("the receiver answered HTTP {status}");
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            DeliveryError::Retryable {
                reason,
                retry_after: headers
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, now)),
            }
        }
        StatusCode::REQUEST_TIMEOUT => DeliveryError::retryable(reason),
        status if status.is_server_error() => DeliveryError::retryable(reason),
        // Redirects the client did not follow, and every other 4xx: retrying sends the same
        // request to the same answer.
        _ => DeliveryError::permanent(reason),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap()
    }

    fn retry_after(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn statuses_are_classified_as_retryable_or_permanent() {
        let table = [
            (408, true),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (504, true),
            (301, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (410, false),
            (413, false),
            (422, false),
        ];
        for (code, retryable) in table {
            let status = StatusCode::from_u16(code).unwrap();
            let error = classify_status(status, &HeaderMap::new(), now());
            assert_eq!(error.is_retryable(), retryable, "HTTP {code}");
            assert!(error.to_string().contains(&code.to_string()), "{error}");
        }
    }

    #[test]
    fn too_many_requests_and_service_unavailable_honour_retry_after() {
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let error = classify_status(status, &retry_after("30"), now());
            assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
        }
        let error = classify_status(
            StatusCode::TOO_MANY_REQUESTS,
            &retry_after("Wed, 21 Oct 2015 07:29:00 GMT"),
            now(),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn other_server_errors_do_not_read_retry_after() {
        let error = classify_status(StatusCode::BAD_GATEWAY, &retry_after("30"), now());
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), None);
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_retryable_and_the_reason_hides_the_url() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/secret-path");
        let error = post_json(&reqwest::Client::new(), &url, b"{}", &[])
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(!error.to_string().contains("secret-path"), "{error}");
    }

    #[tokio::test]
    async fn a_receiver_answering_too_many_requests_passes_on_its_retry_after() {
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(|| async { (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, "7")]) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let error = post_json(&reqwest::Client::new(), &url, b"{}", &[])
            .await
            .unwrap_err();
        server.abort();

        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)), "{error}");
    }

    #[tokio::test]
    async fn a_malformed_url_is_permanent() {
        let error = post_json(&reqwest::Client::new(), "not a url", b"{}", &[])
            .await
            .unwrap_err();
        assert!(!error.is_retryable(), "{error}");
    }
}
