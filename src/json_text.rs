//! Platform JSON made readable, and storable alike on SQLite and PostgreSQL. Two characters
//! a platform may send in a display name or a topic are replaced by U+FFFD (the replacement
//! character) and the event kept: a lone UTF-16 surrogate escape (`\ud83d` without its
//! pair), which is not a character and which the JSON reader refuses; and U+0000, which
//! PostgreSQL's text refuses, so that the same input gives the same register on both.

use std::borrow::Cow;

use serde_json::Value;

const REPLACEMENT: char = '\u{FFFD}';

/// `text` with lone surrogate escapes and NULs replaced; borrowed (no work) when it has no
/// `\u` escape at all, which is nearly always.
pub fn repaired(text: &str) -> Cow<'_, str> {
    if !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let paired = pair_surrogates(text);
    if !has_nul_escape(&paired) {
        return paired;
    }
    match serde_json::from_str::<Value>(&paired) {
        Ok(mut value) => {
            replace_nul(&mut value);
            serde_json::to_string(&value).map_or(paired, Cow::Owned)
        }
        // Not JSON: the reader that follows says why.
        Err(_) => paired,
    }
}

/// Replaces every `\uD800`–`\uDFFF` escape that is not half of a pair by `\uFFFD`.
fn pair_surrogates(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied_to = 0;
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'\\' {
            index += 1;
            continue;
        }
        if bytes.get(index + 1) != Some(&b'u') {
            // `\\`, `\"` and the rest: skip both, so that `\\u…` is not read as an escape.
            index += 2;
            continue;
        }
        let Some(unit) = escape_at(bytes, index) else {
            index += 2;
            continue;
        };
        let high = (0xD800..=0xDBFF).contains(&unit);
        let low = (0xDC00..=0xDFFF).contains(&unit);
        if high && escape_at(bytes, index + 6).is_some_and(|next| (0xDC00..=0xDFFF).contains(&next))
        {
            index += 12;
            continue;
        }
        if high || low {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied_to..index]);
            out.push_str("\\uFFFD");
            copied_to = index + 6;
        }
        index += 6;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied_to..]);
            Cow::Owned(out)
        }
    }
}

/// The code unit of the `\uXXXX` escape starting at `index`, if one does.
fn escape_at(bytes: &[u8], index: usize) -> Option<u32> {
    if bytes.get(index) != Some(&b'\\') || bytes.get(index + 1) != Some(&b'u') {
        return None;
    }
    let hex = bytes.get(index + 2..index + 6)?;
    u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

fn has_nul_escape(text: &str) -> bool {
    text.as_bytes()
        .windows(6)
        .any(|window| window.eq_ignore_ascii_case(b"\\u0000"))
}

fn replace_nul(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('\0') => {
            *text = text.replace('\0', &REPLACEMENT.to_string())
        }
        Value::Array(items) => items.iter_mut().for_each(replace_nul),
        Value::Object(fields) => {
            let keys_with_nul: Vec<String> = fields
                .keys()
                .filter(|key| key.contains('\0'))
                .cloned()
                .collect();
            for key in keys_with_nul {
                if let Some(inner) = fields.remove(&key) {
                    fields.insert(key.replace('\0', &REPLACEMENT.to_string()), inner);
                }
            }
            fields.values_mut().for_each(replace_nul);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_in(text: &str) -> String {
        let value: Value = serde_json::from_str(&repaired(text)).unwrap();
        value["name"].as_str().unwrap().to_string()
    }

    #[test]
    fn text_without_escapes_is_not_touched() {
        let text = r#"{"name":"Ada"}"#;
        assert!(matches!(repaired(text), Cow::Borrowed(_)));
    }

    #[test]
    fn a_lone_surrogate_becomes_the_replacement_character_and_a_pair_is_kept() {
        assert_eq!(name_in(r#"{"name":"A\ud83dB"}"#), "A\u{FFFD}B");
        assert_eq!(name_in(r#"{"name":"A\udc00"}"#), "A\u{FFFD}");
        assert_eq!(name_in(r#"{"name":"\ud83d\ud83d\ude00"}"#), "\u{FFFD}😀");
        assert_eq!(name_in(r#"{"name":"\ud83d\ude00 ok"}"#), "😀 ok");
        assert!(
            serde_json::from_str::<Value>(r#"{"name":"A\ud83dB"}"#).is_err(),
            "the reader refuses it unrepaired"
        );
    }

    #[test]
    fn nul_becomes_the_replacement_character_in_values_and_keys() {
        assert_eq!(name_in(r#"{"name":"Ad\u0000a"}"#), "Ad\u{FFFD}a");
        let value: Value =
            serde_json::from_str(&repaired(r#"{"a\u0000":[{"b":"\u0000"}]}"#)).unwrap();
        assert_eq!(value["a\u{FFFD}"][0]["b"], "\u{FFFD}");
    }

    #[test]
    fn an_escaped_backslash_before_u_is_text_not_an_escape() {
        assert_eq!(
            name_in(r#"{"name":"\\ud83d and \\u0000"}"#),
            "\\ud83d and \\u0000"
        );
    }

    #[test]
    fn what_is_not_json_is_left_for_the_reader_to_refuse() {
        assert!(serde_json::from_str::<Value>(&repaired(r#"{"name":"\u0000"#)).is_err());
    }
}
