//! A connection as its pages show it: where the platform must deliver, which secrets are
//! set (never a secret), and what is known of its health, with times in its school's zone.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::AnyConnection;

use super::super::time_view::TimeView;
use crate::connections::google::GoogleSettings;
use crate::connections::status::{self, ApiStatus};
use crate::connections::store::ConnectionSummary;
use crate::google::store::{self as google_store, StoredSubscription};

/// A school the person may configure.
#[derive(Debug, Clone, Serialize)]
pub struct SchoolOption {
    pub id: i64,
    pub name: String,
    pub timezone: String,
}

#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: i64,
    pub school_id: i64,
    pub school_name: String,
    /// `zoom` or `google_meet`.
    pub platform: String,
    pub platform_name: &'static str,
    pub account_id: String,
    pub label: Option<String>,
    /// What to paste into the platform: Zoom's event notification endpoint URL, or the
    /// Pub/Sub push subscription's endpoint.
    pub endpoint_url: String,
    pub webhook_secret_set: bool,
    pub previous_webhook_secret_set: bool,
    pub api_credentials_set: bool,
    pub google: Option<GoogleView>,
    pub status: StatusView,
}

#[derive(Debug, Serialize)]
pub struct GoogleView {
    pub settings: GoogleSettings,
    pub service_account_key_set: bool,
    /// Subscriptions by state, for the overview.
    pub subscription_counts: BTreeMap<&'static str, usize>,
    /// The soonest expiry of an active subscription.
    pub next_expiry: Option<TimeView>,
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Debug, Serialize)]
pub struct SubscriptionView {
    pub user_email: String,
    pub state: &'static str,
    pub expires: Option<TimeView>,
    pub renewed: Option<TimeView>,
    pub suspension_reason: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    pub last_event: Option<TimeView>,
    pub url_validated: Option<TimeView>,
    /// `no_credentials`, `refused`, `answered` or `not_checked`.
    pub api: &'static str,
    pub api_at: Option<TimeView>,
    pub api_reason: Option<String>,
    pub coverage: Vec<GapView>,
}

#[derive(Debug, Serialize)]
pub struct GapView {
    pub title: String,
    pub status: String,
    pub since: TimeView,
}

/// The view of `summary`, with its status read now; `with_subscriptions` lists a Google
/// connection's subscriptions one by one (else only counted).
pub async fn connection_view(
    connection: &mut AnyConnection,
    public_url: &str,
    school: &SchoolOption,
    summary: ConnectionSummary,
    with_subscriptions: bool,
) -> Result<ConnectionView, sqlx::Error> {
    let timezone: Option<Tz> = school.timezone.parse().ok();
    let at = |time: DateTime<Utc>| TimeView::new(time, timezone);
    let known = status::status_of(connection, summary.id).await?;
    let (api, api_at, api_reason) = match known.api {
        ApiStatus::NoCredentials => ("no_credentials", None, None),
        ApiStatus::Refused { since, reason } => ("refused", Some(at(since)), reason),
        ApiStatus::Answered { at: answered } => ("answered", Some(at(answered)), None),
        ApiStatus::NotChecked => ("not_checked", None, None),
    };
    let status = StatusView {
        last_event: known.last_event_at.map(at),
        url_validated: known.url_validated_at.map(at),
        api,
        api_at,
        api_reason,
        coverage: known
            .coverage
            .into_iter()
            .map(|gap| GapView {
                title: gap.title,
                status: gap.status,
                since: at(gap.since),
            })
            .collect(),
    };
    let google = match summary.google {
        Some(google) => {
            let subscriptions =
                google_store::subscriptions(&mut *connection, Some(summary.id)).await?;
            Some(google_view(
                google.settings,
                google.service_account_key_set,
                subscriptions,
                with_subscriptions,
                timezone,
            ))
        }
        None => None,
    };
    let platform = crate::meeting::Platform::parse(&summary.platform);
    Ok(ConnectionView {
        id: summary.id,
        school_id: summary.school_id,
        school_name: school.name.clone(),
        platform_name: platform.map_or("Unknown platform", |platform| platform.display_name()),
        platform: summary.platform,
        account_id: summary.account_id,
        label: summary.label,
        endpoint_url: crate::connections::endpoint_url(public_url, &summary.endpoint),
        webhook_secret_set: summary.webhook_secret_set,
        previous_webhook_secret_set: summary.previous_webhook_secret_set,
        api_credentials_set: summary.api_credentials_set,
        google,
        status,
    })
}

fn google_view(
    settings: GoogleSettings,
    service_account_key_set: bool,
    subscriptions: Vec<StoredSubscription>,
    one_by_one: bool,
    timezone: Option<Tz>,
) -> GoogleView {
    let at = |time: DateTime<Utc>| TimeView::new(time, timezone);
    let mut subscription_counts = BTreeMap::new();
    for subscription in &subscriptions {
        *subscription_counts
            .entry(subscription.state.as_str())
            .or_insert(0) += 1;
    }
    let next_expiry = subscriptions
        .iter()
        .filter(|subscription| {
            subscription.state == crate::google::store::SubscriptionState::Active
        })
        .filter_map(|subscription| subscription.expire_time)
        .min()
        .map(at);
    let subscriptions = if one_by_one {
        subscriptions
            .into_iter()
            .map(|subscription| SubscriptionView {
                user_email: subscription.user_email,
                state: subscription.state.as_str(),
                expires: subscription.expire_time.map(at),
                renewed: subscription.renewed_at.map(at),
                suspension_reason: subscription.suspension_reason,
                last_error: subscription.last_error,
            })
            .collect()
    } else {
        Vec::new()
    };
    GoogleView {
        settings,
        service_account_key_set,
        subscription_counts,
        next_expiry,
        subscriptions,
    }
}
