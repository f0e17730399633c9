//! Stored Meet events become neutral events. A Meet event names only a resource, so a join
//! or leave is a participant whose identity is *pending*: who it is comes from Meet's API
//! (the enrichment worker's `participant` job), and until `resolve_by` the participant is
//! neither staff nor an unknown guest. Each conference record is one call; each participant
//! session one stay in it (a rejoin is a new session).

use chrono::Duration;

use super::event::{Kind, StoredEvent};
use super::store::subscription_name;
use crate::meeting::{
    DeliveryNotice, InstanceRef, MeetingEvent, ParticipantIdentity, Resolution, SignalKind,
};

/// How long a participant may stay pending before, unresolved, they count as unknown.
pub const RESOLVE_WITHIN: Duration = Duration::minutes(3);

/// The neutral events a stored Meet event stands for. Lifecycle events are about the
/// subscription, not a call: they stand for none.
pub fn translate(event: &StoredEvent) -> Vec<MeetingEvent> {
    let (Some(kind), Some(conference)) = (event.kind(), event.conference()) else {
        return Vec::new();
    };
    let instance = InstanceRef {
        instance_key: conference.to_string(),
        meeting_id: None,
        host_user_id: None,
        topic: None,
        started_at: None,
    };
    let at = event.time;
    let pending = || ParticipantIdentity {
        session_key: event.resource.clone(),
        platform_user_id: None,
        email: None,
        display_name: None,
        registrant_id: None,
        resolution: Resolution::Pending {
            resolve_by: at + RESOLVE_WITHIN,
        },
    };
    let signal = |signal| MeetingEvent::Signal {
        instance: instance.clone(),
        signal,
        source_ref: event.resource.clone(),
        at,
    };
    let translated = match kind {
        Kind::ConferenceStarted => MeetingEvent::InstanceStarted {
            instance: InstanceRef {
                started_at: Some(at),
                ..instance.clone()
            },
            at,
        },
        Kind::ConferenceEnded => MeetingEvent::InstanceEnded {
            instance: instance.clone(),
            at,
        },
        Kind::ParticipantJoined => MeetingEvent::ParticipantJoined {
            instance: instance.clone(),
            participant: pending(),
            at,
        },
        Kind::ParticipantLeft => MeetingEvent::ParticipantLeft {
            instance: instance.clone(),
            participant: pending(),
            at,
        },
        // A recording's file is proof the call was recorded, whether or not its start was
        // delivered (Google documents only the file event for a user's subscription).
        Kind::RecordingStarted | Kind::RecordingFileGenerated => {
            signal(SignalKind::RecordingStarted)
        }
        Kind::RecordingEnded => signal(SignalKind::RecordingStopped),
        Kind::SubscriptionSuspended
        | Kind::SubscriptionExpirationReminder
        | Kind::SubscriptionExpired => return Vec::new(),
    };
    vec![translated]
}

/// What a lifecycle event says about the subscription that sent it.
pub fn notice(event: &StoredEvent) -> Option<DeliveryNotice> {
    let feed = subscription_name(&event.resource)
        .or_else(|| subscription_name(&event.source))?
        .to_string();
    let said = |snake: &str, camel: &str| {
        let subscription = event.subscription.as_ref()?;
        subscription
            .get(snake)
            .or_else(|| subscription.get(camel))
            .and_then(|value| value.as_str())
            .map(str::to_string)
    };
    match event.kind()? {
        Kind::SubscriptionSuspended => Some(DeliveryNotice::Suspended {
            feed,
            reason: said("suspension_reason", "suspensionReason"),
        }),
        Kind::SubscriptionExpirationReminder => Some(DeliveryNotice::Expiring { feed }),
        Kind::SubscriptionExpired => Some(DeliveryNotice::Expired { feed }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    const CONFERENCE: &str = "conferenceRecords/aB3x";
    const SESSION: &str = "conferenceRecords/aB3x/participants/1082/participantSessions/Cg0x";

    fn stored(event_type: &str, resource: &str) -> StoredEvent {
        StoredEvent {
            event_type: event_type.into(),
            source: "//workspaceevents.googleapis.com/subscriptions/s1".into(),
            id: "evt-1".into(),
            time: "2026-03-10T19:40:00Z".parse::<DateTime<Utc>>().unwrap(),
            resource: resource.into(),
            subscription: None,
        }
    }

    #[test]
    fn a_join_is_a_pending_participant_of_the_conference_until_three_minutes_later() {
        let events = translate(&stored(
            "google.workspace.meet.participant.v2.joined",
            SESSION,
        ));
        let [MeetingEvent::ParticipantJoined {
            instance,
            participant,
            at,
        }] = events.as_slice()
        else {
            panic!("one join, got {events:?}");
        };
        assert_eq!(instance.instance_key, CONFERENCE);
        assert_eq!(participant.session_key, SESSION);
        assert_eq!(participant.email, None);
        assert_eq!(
            participant.resolution,
            Resolution::Pending {
                resolve_by: *at + Duration::minutes(3)
            }
        );
    }

    #[test]
    fn a_conference_start_and_end_are_the_call_s_and_a_recording_is_a_signal() {
        let started = translate(&stored(
            "google.workspace.meet.conference.v2.started",
            CONFERENCE,
        ));
        assert_eq!(started[0].type_name(), "instance_started");
        assert_eq!(started[0].meeting_ref(), format!("instance:{CONFERENCE}"));
        let ended = translate(&stored(
            "google.workspace.meet.conference.v2.ended",
            CONFERENCE,
        ));
        assert_eq!(ended[0].type_name(), "instance_ended");
        let recording = translate(&stored(
            "google.workspace.meet.recording.v2.started",
            "conferenceRecords/aB3x/recordings/r1",
        ));
        assert!(matches!(
            recording.as_slice(),
            [MeetingEvent::Signal {
                signal: SignalKind::RecordingStarted,
                ..
            }]
        ));
    }

    #[test]
    fn lifecycle_events_stand_for_no_call_event() {
        let mut event = stored(
            "google.workspace.events.subscription.v1.expired",
            "subscriptions/s1",
        );
        event.subscription = Some(serde_json::json!({"name": "subscriptions/s1"}));
        assert!(translate(&event).is_empty());
        assert_eq!(
            notice(&event),
            Some(DeliveryNotice::Expired {
                feed: "subscriptions/s1".into()
            })
        );
    }

    #[test]
    fn a_suspension_says_its_reason_in_either_casing() {
        for data in [
            serde_json::json!({"name": "subscriptions/s1", "suspension_reason": "USER_SCOPE_REVOKED"}),
            serde_json::json!({"name": "subscriptions/s1", "suspensionReason": "USER_SCOPE_REVOKED"}),
        ] {
            let mut event = stored(
                "google.workspace.events.subscription.v1.suspended",
                "subscriptions/s1",
            );
            event.subscription = Some(data);
            assert_eq!(
                notice(&event),
                Some(DeliveryNotice::Suspended {
                    feed: "subscriptions/s1".into(),
                    reason: Some("USER_SCOPE_REVOKED".into())
                })
            );
        }
    }
}
