//! The school a page is about, chosen from those where the person may use its capability.

use super::error::PageError;
use super::Console;
use crate::directory::{self, School};
use crate::identity::Capability;
use crate::state::AppState;

/// The schools where the person may use `capability`, by name, and the one `asked` for (its
/// id as a form sends it; empty: the first, `None` when there is none). A school out of reach
/// is refused (403); one that does not exist is not found.
pub async fn choose_school(
    state: &AppState,
    console: &Console,
    capability: Capability,
    asked: &str,
) -> Result<(Vec<School>, Option<School>), PageError> {
    let reach = console.reach(capability)?;
    let mut schools: Vec<School> = directory::list_schools(&state.db)
        .await?
        .into_iter()
        .filter(|school| reach.includes(school.id))
        .collect();
    schools.sort_by(|a, b| a.name.cmp(&b.name));
    let chosen = match asked.trim() {
        "" => schools.first().cloned(),
        text => {
            let id: i64 = text.parse().map_err(|_| PageError::NotFound("school"))?;
            console.require(capability, id)?;
            let school = schools.iter().find(|school| school.id == id).cloned();
            Some(school.ok_or(PageError::NotFound("school"))?)
        }
    };
    Ok((schools, chosen))
}
