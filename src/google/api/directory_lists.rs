//! Who a connection monitors, from the Directory (Admin SDK, as the connection's admin user):
//! the users of an organisational unit and its sub-units, and the members of a group.

use serde::Deserialize;

use super::directory::DirectoryUser;
use super::{
    encode_segment, ApiRequest, GoogleApi, GoogleApiError, GoogleCredentials,
    DIRECTORY_USER_READONLY_SCOPE,
};

/// Reading a group's members.
pub const DIRECTORY_GROUP_MEMBER_READONLY_SCOPE: &str =
    "https://www.googleapis.com/auth/admin.directory.group.member.readonly";

/// The Directory's largest page of users; members pages hold up to 200.
const USERS_PAGE_SIZE: &str = "500";
const MEMBERS_PAGE_SIZE: &str = "200";

#[derive(Debug, Clone, Deserialize)]
struct Member {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl GoogleApi {
    /// Every user of organisational unit `path` (`/Staff`) and the units under it.
    pub async fn users_in_org_unit(
        &self,
        credentials: &GoogleCredentials,
        path: &str,
    ) -> Result<Vec<DirectoryUser>, GoogleApiError> {
        // Quotes in a path would end the query's string early.
        let path = path.replace('\'', "\\'");
        let request = ApiRequest::get(&self.settings.directory_api_base_url, "users")
            .query("customer", "my_customer")
            .query("query", format!("orgUnitPath='{path}'"))
            .query("maxResults", USERS_PAGE_SIZE);
        self.list_all(
            credentials,
            &[DIRECTORY_USER_READONLY_SCOPE],
            request,
            "users",
        )
        .await
    }

    /// The user ids of group `group`'s members (an address or id); members that are groups
    /// are read in turn, once each.
    pub async fn group_members(
        &self,
        credentials: &GoogleCredentials,
        group: &str,
    ) -> Result<Vec<String>, GoogleApiError> {
        let mut users = Vec::new();
        let mut groups = vec![group.to_string()];
        let mut seen = std::collections::HashSet::new();
        while let Some(group) = groups.pop() {
            if !seen.insert(group.clone()) {
                continue;
            }
            let request = ApiRequest::get(
                &self.settings.directory_api_base_url,
                &format!("groups/{}/members", encode_segment(&group)),
            )
            .query("maxResults", MEMBERS_PAGE_SIZE);
            let members: Vec<Member> = self
                .list_all(
                    credentials,
                    &[DIRECTORY_GROUP_MEMBER_READONLY_SCOPE],
                    request,
                    "members",
                )
                .await?;
            for member in members {
                match (member.kind.as_deref(), member.id) {
                    (Some("GROUP"), Some(id)) => groups.push(id),
                    (Some("USER") | None, Some(id)) if !users.contains(&id) => users.push(id),
                    _ => {}
                }
            }
        }
        Ok(users)
    }
}
