//! Microsoft Teams through a Workflows webhook (the channel's "Send webhook alerts to a channel"
//! template): a message with one Adaptive Card attachment, which the flow posts. The Office 365
//! connector `MessageCard` format is retired and not used.

use serde_json::{json, Value};

use super::{headline, notice, occurred_at_text, offers_acknowledge};
use crate::alerts::message::AlertMessage;
use crate::policy::Severity;

/// Adaptive Card 1.4 is what Teams renders on desktop, web and mobile.
const CARD_VERSION: &str = "1.4";

/// The JSON to POST: only what the alert message holds, nothing more.
pub(crate) fn payload(message: &AlertMessage) -> Vec<u8> {
    let body = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card(message),
        }],
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

fn card(message: &AlertMessage) -> Value {
    let color = match message.severity {
        Severity::High | Severity::Critical => "Attention",
        Severity::Medium => "Warning",
        Severity::Low => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline(message),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    })];
    if let Some(notice) = notice(message) {
        body.push(json!({
            "type": "TextBlock",
            "text": notice,
            "weight": "Bolder",
            "wrap": true,
        }));
    }
    body.push(json!({ "type": "TextBlock", "text": message.summary, "wrap": true }));
    let mut facts = vec![json!({ "title": "When", "value": occurred_at_text(message) })];
    if let Some(platform) = &message.platform {
        facts.push(json!({ "title": "Platform", "value": platform }));
    }
    facts.push(json!({ "title": "Severity", "value": message.severity.as_str() }));
    facts.push(json!({ "title": "Rule", "value": message.rule }));
    body.push(json!({ "type": "FactSet", "facts": facts }));

    let mut actions = Vec::new();
    if offers_acknowledge(message) {
        actions.push(open_url("Acknowledge", &message.acknowledge_url));
    }
    actions.push(open_url("Open the finding", &message.finding_url));
    if let Some(join_url) = &message.join_url {
        actions.push(open_url("Join the call", join_url));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
    })
}

fn open_url(title: &str, url: &str) -> Value {
    json!({ "type": "Action.OpenUrl", "title": title, "url": url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::channels::test_support::{alert, ACKNOWLEDGE_URL, SUMMARY};

    fn parsed(message: &AlertMessage) -> Value {
        serde_json::from_slice(&payload(message)).unwrap()
    }

    /// Every string in the JSON, in order.
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
            Value::Object(fields) => fields.values().for_each(|field| strings(field, out)),
            _ => {}
        }
    }

    #[test]
    fn the_card_is_an_adaptive_card_attachment_of_a_message() {
        let json = parsed(&alert());
        assert_eq!(json["type"], "message");
        let attachment = &json["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(attachment["contentUrl"].is_null());
        assert_eq!(attachment["content"]["type"], "AdaptiveCard");
        assert_eq!(attachment["content"]["version"], "1.4");
    }

    #[test]
    fn the_card_carries_the_summary_and_an_acknowledge_button_first() {
        let card = &parsed(&alert())["attachments"][0]["content"];
        let texts: Vec<&str> = card["body"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect();
        assert!(texts.contains(&SUMMARY), "{texts:?}");
        let actions = card["actions"].as_array().unwrap();
        assert_eq!(actions[0]["type"], "Action.OpenUrl");
        assert_eq!(actions[0]["title"], "Acknowledge");
        assert_eq!(actions[0]["url"], ACKNOWLEDGE_URL);
        assert_eq!(actions.len(), 3, "acknowledge, open, join");
    }

    #[test]
    fn the_card_holds_nothing_but_the_alert_fields_and_fixed_labels() {
        let message = alert();
        let mut found = Vec::new();
        strings(&parsed(&message), &mut found);
        let allowed = [
            headline(&message),
            message.summary.clone(),
            occurred_at_text(&message),
            message.severity.as_str().into(),
            message.rule.clone(),
            message.acknowledge_url.clone(),
            message.finding_url.clone(),
            message.join_url.clone().unwrap(),
            message.platform.clone().unwrap(),
        ];
        let labels = [
            "message",
            "application/vnd.microsoft.card.adaptive",
            "http://adaptivecards.io/schemas/adaptive-card.json",
            "AdaptiveCard",
            "1.4",
            "TextBlock",
            "FactSet",
            "Action.OpenUrl",
            "Bolder",
            "Medium",
            "Attention",
            "When",
            "Platform",
            "Severity",
            "Rule",
            "Acknowledge",
            "Open the finding",
            "Join the call",
        ];
        for text in found {
            assert!(
                allowed.contains(&text) || labels.contains(&text.as_str()),
                "unexpected text in the card: {text:?}"
            );
        }
    }

    #[test]
    fn an_escalation_card_says_it_is_unacknowledged_and_a_call_without_a_link_has_no_join() {
        let message = AlertMessage {
            kind: "escalation".into(),
            escalation_level: 1,
            join_url: None,
            ..alert()
        };
        let card = &parsed(&message)["attachments"][0]["content"];
        assert!(card["body"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("ESCALATED"));
        assert!(card.to_string().contains("Not yet acknowledged"));
        assert_eq!(card["actions"].as_array().unwrap().len(), 2);
    }
}
