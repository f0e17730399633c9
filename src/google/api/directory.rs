//! The Admin SDK Directory (google-meet.md §3.7): whether a Meet user id or an address is a
//! user of the school's domain, and where in its organisation (staff or pupils are told apart
//! by organisational unit). Called impersonating the connection's admin user.

use serde::Deserialize;

use super::DIRECTORY_USER_READONLY_SCOPE;
use super::{encode_segment, ApiRequest, GoogleApi, GoogleApiError, GoogleCredentials};

const SCOPES: &[&str] = &[DIRECTORY_USER_READONLY_SCOPE];

/// A user of the domain, as the Directory has them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    /// The same id Meet gives as `users/{id}`.
    pub id: String,
    pub primary_email: String,
    /// `/` when the user sits at the top of the organisation.
    #[serde(default = "root_org_unit")]
    pub org_unit_path: String,
    #[serde(default)]
    pub suspended: bool,
    /// The Workspace customer (the school's account) the user belongs to.
    pub customer_id: Option<String>,
}

fn root_org_unit() -> String {
    "/".to_string()
}

impl GoogleApi {
    /// `GET users/{userKey}`, `user_key` being the user's id (the number in Meet's
    /// `users/{id}`, which is accepted too), primary address or alias.
    ///
    /// A user the Directory does not have, and one of another domain, are both `NotFound`:
    /// Google answers the second with `403` (§9.6), as it answers an admin user without the
    /// right to read users. So that a misconfigured admin user does not make everyone look
    /// external, check the connection first by reading the admin user itself.
    pub async fn user(
        &self,
        credentials: &GoogleCredentials,
        user_key: &str,
    ) -> Result<DirectoryUser, GoogleApiError> {
        let key = user_key.strip_prefix("users/").unwrap_or(user_key);
        if key.is_empty() {
            return Err(GoogleApiError::NotFound);
        }
        let request = ApiRequest::get(
            &self.settings.directory_api_base_url,
            &format!("users/{}", encode_segment(key)),
        );
        match self.send(credentials, SCOPES, &request).await {
            Err(GoogleApiError::PermissionDenied) => Err(GoogleApiError::NotFound),
            answer => answer,
        }
    }
}
