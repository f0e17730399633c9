//! The school's people as a form offers them: pupils to name in a planned session, staff to
//! run or join it and to approve it. A big school is searched by name rather than listed whole.

use sqlx::{AnyConnection, Row};

use crate::db::decode::decode_staff_role;
use crate::directory::{PersonKind, StaffRole};

/// A person a form can offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: i64,
    pub reference: String,
    pub name: String,
    pub staff_role: Option<StaffRole>,
}

/// People of `kind` at the school whose name contains `search` (any case; empty: everyone),
/// by name, at most `limit`; and how many match in all.
pub async fn of_kind(
    connection: &mut AnyConnection,
    school_id: i64,
    kind: PersonKind,
    search: &str,
    limit: i64,
) -> Result<(Vec<Choice>, i64), sqlx::Error> {
    let pattern = format!("%{}%", escape_like(&search.trim().to_lowercase()));
    const MATCHING: &str = "FROM people WHERE school_id = $1 AND kind = $2 \
         AND LOWER(display_name) LIKE $3 ESCAPE '\\'";
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {MATCHING}"))
        .bind(school_id)
        .bind(kind.as_str())
        .bind(&pattern)
        .fetch_one(&mut *connection)
        .await?;
    let rows = sqlx::query(&format!(
        "SELECT id, external_ref, display_name, staff_role {MATCHING} ORDER BY display_name, id LIMIT $4"
    ))
    .bind(school_id)
    .bind(kind.as_str())
    .bind(&pattern)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    let choices = rows
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            Ok(Choice {
                id,
                reference: row.try_get("external_ref")?,
                name: row.try_get("display_name")?,
                staff_role: row
                    .try_get::<Option<String>, _>("staff_role")?
                    .map(|role| decode_staff_role("people", id, &role))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((choices, total))
}

/// `text` matched literally inside a LIKE pattern (with `ESCAPE '\'`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn wildcards_in_a_search_are_matched_literally() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(escape_like("jamie"), "jamie");
    }
}
