//! Slack incoming webhooks: Block Kit with a plain fallback line.
//! <https://api.slack.com/messaging/webhooks>, text escaping per
//! <https://api.slack.com/reference/surfaces/formatting#escaping>.

use serde_json::{json, Value};

use super::{headline, notice, occurred_at_text, offers_acknowledge};
use crate::alerts::message::AlertMessage;

/// Slack refuses a section whose text is longer than this (`invalid_blocks`), which would lose
/// the whole alert; a longer summary is cut instead.
const SECTION_TEXT_MAX_CHARS: usize = 3000;

/// The JSON to POST. The top-level `text` is what notifications (and lock screens) show, so it
/// is the headline only; names stay inside the message.
pub(crate) fn payload(message: &AlertMessage) -> Vec<u8> {
    let headline = escape_mrkdwn(&headline(message));
    let mut section = format!("*{headline}*\n");
    if let Some(notice) = notice(message) {
        section.push_str(&format!("*{}*\n", escape_mrkdwn(&notice)));
    }
    let room = SECTION_TEXT_MAX_CHARS.saturating_sub(section.chars().count());
    section.push_str(&escape_mrkdwn_within(&message.summary, room));

    let when = format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        message.occurred_at.timestamp(),
        occurred_at_text(message)
    );
    let platform = message
        .platform
        .as_ref()
        .map(|platform| format!(" · {}", escape_mrkdwn(platform)))
        .unwrap_or_default();
    let context = format!(
        "{when}{platform} · Severity: {} · Rule: `{}`",
        message.severity.as_str(),
        escape_mrkdwn(&message.rule)
    );

    let mut buttons = Vec::new();
    if offers_acknowledge(message) {
        buttons.push(button(
            "acknowledge",
            "Acknowledge",
            &message.acknowledge_url,
            true,
        ));
    }
    buttons.push(button(
        "open_finding",
        "Open the finding",
        &message.finding_url,
        !offers_acknowledge(message),
    ));
    if let Some(join_url) = &message.join_url {
        buttons.push(button("join_call", "Join the call", join_url, false));
    }
    let body = json!({
        "text": headline,
        "blocks": [
            // Verbatim: no auto-linking or mention parsing of the summary's words.
            { "type": "section", "text": { "type": "mrkdwn", "text": section, "verbatim": true } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": context }] },
            { "type": "actions", "elements": buttons },
        ],
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

fn button(action_id: &str, label: &str, url: &str, primary: bool) -> Value {
    let mut button = json!({
        "type": "button",
        "action_id": action_id,
        "text": { "type": "plain_text", "text": label },
        "url": url,
    });
    if primary {
        button["style"] = json!("primary");
    }
    button
}

/// Slack's three control characters in mrkdwn: `&`, `<` and `>`. Anything else is shown as is.
pub(crate) fn escape_mrkdwn(text: &str) -> String {
    escape_mrkdwn_within(text, usize::MAX)
}

/// As [`escape_mrkdwn`], cut with an ellipsis so the result has at most `max_chars` characters,
/// never in the middle of an escape.
fn escape_mrkdwn_within(text: &str, max_chars: usize) -> String {
    let mut escaped = String::with_capacity(text.len());
    let mut count = 0;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        let piece = match ch {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => "",
        };
        let piece_chars = if piece.is_empty() { 1 } else { piece.len() };
        // Keep one character for the ellipsis unless this is the last piece.
        let reserve = usize::from(chars.peek().is_some());
        if count + piece_chars + reserve > max_chars {
            if max_chars > count {
                escaped.push('…');
            }
            break;
        }
        if piece.is_empty() {
            escaped.push(ch);
        } else {
            escaped.push_str(piece);
        }
        count += piece_chars;
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::test_support::{alert, ACKNOWLEDGE_URL};

    fn parsed(message: &AlertMessage) -> Value {
        serde_json::from_slice(&payload(message)).unwrap()
    }

    #[test]
    fn ampersands_and_angle_brackets_are_escaped_and_nothing_else() {
        assert_eq!(
            escape_mrkdwn("Tom & Zoë <@here> *bold* > \"q\""),
            "Tom &amp; Zoë &lt;@here&gt; *bold* &gt; \"q\""
        );
    }

    #[test]
    fn a_long_text_is_cut_with_an_ellipsis_never_inside_an_escape() {
        assert_eq!(escape_mrkdwn_within("abcdef", 6), "abcdef");
        assert_eq!(escape_mrkdwn_within("abcdefg", 6), "abcde…");
        assert_eq!(escape_mrkdwn_within("ab&cd", 6), "ab…");
        assert_eq!(escape_mrkdwn_within("ab&cd", 8), "ab&amp;…");
        assert_eq!(escape_mrkdwn_within("ab&", 7), "ab&amp;");
    }

    #[test]
    fn the_section_carries_the_escaped_summary_and_the_button_the_acknowledge_link() {
        let json = parsed(&alert());
        let section = json["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.contains(
            "Zoë O'Brien-Łukasz (Year 9) was alone with Mr Ádám Smith from 10:02 to 10:09 &amp; no second adult joined &lt;in time&gt;."
        ), "{section}");
        let acknowledge = &json["blocks"][2]["elements"][0];
        assert_eq!(acknowledge["url"], ACKNOWLEDGE_URL);
        assert_eq!(acknowledge["style"], "primary");
    }

    #[test]
    fn the_notification_text_is_the_headline_without_names() {
        let json = parsed(&alert());
        assert_eq!(
            json["text"],
            "HIGH: Pupil alone with one adult — Greenfield Academy"
        );
    }

    #[test]
    fn the_payload_holds_no_more_than_the_alert_says() {
        let json = parsed(&alert()).to_string();
        // The only person-identifying text is the summary's, and it appears once.
        assert_eq!(json.matches("Zoë").count(), 1, "{json}");
        assert_eq!(json.matches("Smith").count(), 1, "{json}");
    }

    #[test]
    fn a_summary_too_long_for_a_section_is_cut_to_fit() {
        let message = AlertMessage {
            summary: "&".repeat(5000),
            ..alert()
        };
        let json = parsed(&message);
        let section = json["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= SECTION_TEXT_MAX_CHARS);
        assert!(section.ends_with("&amp;…"));
    }
}
