//! A fuzz input read as an HTTP delivery: header lines (`name: value`), a blank line, then the
//! body. An input without a blank line is all body, with no headers. Lines that are not a
//! valid header are skipped, as a server would never hand them on.

use http::{HeaderMap, HeaderName, HeaderValue};

pub fn split(data: &[u8]) -> (HeaderMap, &[u8]) {
    let Some(end) = data.windows(2).position(|pair| pair == b"\n\n") else {
        return (HeaderMap::new(), data);
    };
    let mut headers = HeaderMap::new();
    for line in data[..end].split(|byte| *byte == b'\n') {
        let Some(colon) = line.iter().position(|byte| *byte == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    (headers, &data[end + 2..])
}
