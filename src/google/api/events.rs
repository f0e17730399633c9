//! Workspace Events v1 subscriptions (google-meet.md §1.5–§1.9): what makes Google push a
//! staff member's Meet events to chaperone's Pub/Sub topic. One subscription per monitored user,
//! targeting that user and made impersonating that same user (§1.9); Meet events never include
//! the resource (§1.6). A subscription lives at most seven days, so it is renewed (§1.7), and
//! one suspended for a cause since fixed is reactivated (§1.8).
//!
//! Every change answers with a long-running operation; Google says create finishes at once,
//! but one still running is read again a few times before giving up as unavailable.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    encode_segment, is_plain_segment, resource_path, ApiRequest, GoogleApi, GoogleApiError,
    GoogleCredentials, MEET_READONLY_SCOPE,
};

const SCOPES: &[&str] = &[MEET_READONLY_SCOPE];
/// The list's maximum (§1.5).
const PAGE_SIZE: &str = "100";

/// A Workspace Events subscription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `subscriptions/{id}`.
    pub name: String,
    pub uid: Option<String>,
    /// `//cloudidentity.googleapis.com/users/{id}` for a user's meetings.
    pub target_resource: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    pub state: SubscriptionState,
    /// Why it is suspended (`USER_SCOPE_REVOKED`, `ENDPOINT_PERMISSION_DENIED`, ...).
    #[serde(alias = "suspension_reason")]
    pub suspension_reason: Option<String>,
    /// When it ends unless renewed.
    #[serde(alias = "expire_time")]
    pub expire_time: Option<DateTime<Utc>>,
    /// `users/{id}`: whose authority it runs on.
    pub user_authority: Option<String>,
    pub notification_endpoint: Option<NotificationEndpoint>,
    pub etag: Option<String>,
}

/// Where the events go.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationEndpoint {
    /// `projects/{project}/topics/{topic}`.
    pub pubsub_topic: Option<String>,
}

/// A subscription's state. Any other value is an error, not a guess: chaperone must know
/// whether events are flowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionState {
    Active,
    /// Stopped by an error (see `suspension_reason`); reactivate once it is fixed.
    Suspended,
    Deleted,
}

/// A long-running operation (`google.longrunning.Operation`).
#[derive(Deserialize)]
struct Operation {
    name: Option<String>,
    #[serde(default)]
    done: bool,
    response: Option<Value>,
    error: Option<OperationError>,
}

/// A `google.rpc.Status`; its `message` is not kept, as for HTTP errors.
#[derive(Deserialize)]
struct OperationError {
    #[serde(default)]
    code: i32,
}

impl OperationError {
    /// The gRPC status codes as the HTTP errors they stand for.
    fn into_error(self) -> GoogleApiError {
        match self.code {
            5 => GoogleApiError::NotFound,
            6 => GoogleApiError::AlreadyExists,
            7 => GoogleApiError::PermissionDenied,
            8 => GoogleApiError::RateLimited { retry_after: None },
            16 => {
                GoogleApiError::Credentials("the operation was refused as unauthenticated".into())
            }
            4 | 10 | 13 | 14 => {
                GoogleApiError::Unavailable(format!("operation code {}", self.code))
            }
            code => GoogleApiError::Unexpected(format!("operation code {code}")),
        }
    }
}

/// The target resource for every meeting space a user owns (§1.1), from their Directory id
/// (with or without the `users/` of Meet's `signedinUser.user`).
pub fn user_target(user_id: &str) -> String {
    let id = user_id.strip_prefix("users/").unwrap_or(user_id);
    format!("//cloudidentity.googleapis.com/users/{id}")
}

/// A `list_subscriptions` filter: any of `event_types` (Google requires at least one), and
/// the target if given (§1.5).
pub fn subscription_filter(event_types: &[&str], target_resource: Option<&str>) -> String {
    let types: Vec<String> = event_types
        .iter()
        .map(|kind| format!("event_types:\"{kind}\""))
        .collect();
    let mut filter = if types.len() > 1 {
        format!("({})", types.join(" OR "))
    } else {
        types.join("")
    };
    if let Some(target) = target_resource {
        filter.push_str(&format!(" AND target_resource=\"{target}\""));
    }
    filter
}

impl GoogleApi {
    /// Subscribes to `event_types` of every space `target_user_id` owns, to be published on
    /// `topic`. The credentials must impersonate that same user. `AlreadyExists` when the user
    /// already has one for this target: find it with [`GoogleApi::list_subscriptions`].
    pub async fn create_subscription(
        &self,
        credentials: &GoogleCredentials,
        target_user_id: &str,
        event_types: &[&str],
        topic: &str,
    ) -> Result<Subscription, GoogleApiError> {
        let body = json!({
            "targetResource": user_target(target_user_id),
            "eventTypes": event_types,
            "notificationEndpoint": {"pubsubTopic": topic},
            "payloadOptions": {"includeResource": false},
        });
        let request = self.events(Method::POST, "subscriptions").json(body);
        let operation = self.send(credentials, SCOPES, &request).await?;
        match self.finish(credentials, operation).await? {
            Some(response) => subscription_from(response),
            None => Err(GoogleApiError::Unexpected(
                "the subscription was made but not returned".into(),
            )),
        }
    }

    /// `GET subscriptions/{id}`.
    pub async fn get_subscription(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<Subscription, GoogleApiError> {
        let path = resource_path(name, &["subscriptions"])?;
        self.send(credentials, SCOPES, &self.events(Method::GET, &path))
            .await
    }

    /// Every subscription matching `filter` (see [`subscription_filter`]) that the
    /// impersonated user may see, all pages.
    pub async fn list_subscriptions(
        &self,
        credentials: &GoogleCredentials,
        filter: &str,
    ) -> Result<Vec<Subscription>, GoogleApiError> {
        let request = self
            .events(Method::GET, "subscriptions")
            .query("filter", filter)
            .query("pageSize", PAGE_SIZE);
        self.list_all(credentials, SCOPES, request, "subscriptions")
            .await
    }

    /// Extends the subscription to the longest life Google allows (`ttl` 0, §1.7), as the
    /// user who made it.
    pub async fn renew_subscription(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<Subscription, GoogleApiError> {
        let path = resource_path(name, &["subscriptions"])?;
        let request = self
            .events(Method::PATCH, &path)
            .query("updateMask", "ttl")
            .json(json!({"ttl": "0s"}));
        self.changed_subscription(credentials, name, &request).await
    }

    /// Deletes the subscription; events stop.
    pub async fn delete_subscription(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<(), GoogleApiError> {
        let path = resource_path(name, &["subscriptions"])?;
        let operation = self
            .send(credentials, SCOPES, &self.events(Method::DELETE, &path))
            .await?;
        self.finish(credentials, operation).await.map(|_| ())
    }

    /// Reactivates a suspended subscription once its cause is fixed (§1.8).
    pub async fn reactivate_subscription(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
    ) -> Result<Subscription, GoogleApiError> {
        let path = resource_path(name, &["subscriptions"])?;
        let request = self
            .events(Method::POST, &format!("{path}:reactivate"))
            .json(json!({}));
        self.changed_subscription(credentials, name, &request).await
    }

    /// Sends a change and gives the subscription after it: the operation's response, or the
    /// subscription read again when the operation does not carry it.
    async fn changed_subscription(
        &self,
        credentials: &GoogleCredentials,
        name: &str,
        request: &ApiRequest,
    ) -> Result<Subscription, GoogleApiError> {
        let operation = self.send(credentials, SCOPES, request).await?;
        match self.finish(credentials, operation).await? {
            Some(response) if response.get("name").is_some() => subscription_from(response),
            _ => self.get_subscription(credentials, name).await,
        }
    }

    /// The response of a finished operation, polling one that is still running.
    async fn finish(
        &self,
        credentials: &GoogleCredentials,
        mut operation: Operation,
    ) -> Result<Option<Value>, GoogleApiError> {
        for poll in 0..=self.settings.operation_polls {
            if operation.done {
                return match operation.error {
                    Some(error) => Err(error.into_error()),
                    None => Ok(operation.response),
                };
            }
            if poll == self.settings.operation_polls {
                break;
            }
            let path = operation_path(operation.name.as_deref().unwrap_or_default())?;
            tokio::time::sleep(self.settings.operation_poll_interval).await;
            operation = self
                .send(credentials, SCOPES, &self.events(Method::GET, &path))
                .await?;
        }
        Err(GoogleApiError::Unavailable(format!(
            "the operation had not finished after {} polls",
            self.settings.operation_polls
        )))
    }

    fn events(&self, method: Method, path: &str) -> ApiRequest {
        ApiRequest::new(method, &self.settings.events_api_base_url, path)
    }
}

fn subscription_from(response: Value) -> Result<Subscription, GoogleApiError> {
    serde_json::from_value(response).map_err(|error| {
        GoogleApiError::Unexpected(format!("cannot read the subscription: {error}"))
    })
}

/// `operations/…`, whose shape below `operations/` Google does not document (§1.11).
fn operation_path(name: &str) -> Result<String, GoogleApiError> {
    let segments: Vec<&str> = name.split('/').collect();
    if segments.len() < 2
        || segments[0] != "operations"
        || !segments.iter().all(|s| is_plain_segment(s))
    {
        return Err(GoogleApiError::Unexpected(
            "an unfinished operation without a usable name".into(),
        ));
    }
    Ok(segments
        .iter()
        .map(|segment| encode_segment(segment))
        .collect::<Vec<_>>()
        .join("/"))
}
