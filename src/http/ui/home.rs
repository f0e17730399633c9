//! The overview: the schools the signed-in person has a role at, and where to go next.

use axum::extract::State;
use axum::response::Response;
use minijinja::context;
use serde::Serialize;
use sqlx::Row;

use super::error::PageError;
use super::Console;
use crate::identity::Capability;
use crate::state::AppState;

pub const TEMPLATES: &[(&str, &str)] = &[("home.html", include_str!("templates/home.html"))];

#[derive(Serialize)]
struct SchoolCard {
    id: i64,
    name: String,
    timezone: String,
    connections: i64,
    people: i64,
}

pub async fn show_home(
    State(state): State<AppState>,
    console: Console,
) -> Result<Response, PageError> {
    let reach = console.reach(Capability::SeeSchools)?;
    let rows = sqlx::query(
        "SELECT s.id, s.name, s.timezone, \
           (SELECT COUNT(*) FROM platform_accounts c WHERE c.school_id = s.id) AS connections, \
           (SELECT COUNT(*) FROM people p WHERE p.school_id = s.id) AS people \
         FROM schools s ORDER BY s.name",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let mut schools = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        if reach.includes(id) {
            schools.push(SchoolCard {
                id,
                name: row.try_get("name")?,
                timezone: row.try_get("timezone")?,
                connections: row.try_get("connections")?,
                people: row.try_get("people")?,
            });
        }
    }
    let configures = !console
        .principal()
        .reach(Capability::Configure)
        .is_nowhere();
    console.page(
        "home.html",
        context! { schools => schools, configures => configures },
    )
}
