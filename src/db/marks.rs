//! Placeholders for statements that bind many values: multi-row inserts and `IN` lists.
//! On PostgreSQL they are numbered (`$1, $2, …`). On SQLite they are anonymous (`?`): sqlx
//! asks SQLite for every parameter's name to learn its number, and SQLite finds a numbered
//! parameter's name by walking the statement's list of them, so a statement binding a
//! thousand `$N` spends its time quadratic in their number before it runs at all. A statement
//! uses one kind only: anonymous and numbered parameters do not mix.

use super::Backend;

/// `count` placeholders for values bound in order, the first being the statement's
/// `first`-th value (numbered from 1).
pub fn marks(backend: Backend, first: usize, count: usize) -> String {
    match backend {
        Backend::Sqlite => vec!["?"; count].join(", "),
        Backend::Postgres => (first..first + count)
            .map(|index| format!("${index}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `(…), (…)` for `rows` rows of `columns` values each, bound row by row from the
/// statement's first value.
pub fn row_marks(backend: Backend, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", marks(backend, row * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_every_value_and_sqlite_binds_them_in_order() {
        assert_eq!(marks(Backend::Postgres, 3, 2), "$3, $4");
        assert_eq!(marks(Backend::Sqlite, 3, 2), "?, ?");
        assert_eq!(
            row_marks(Backend::Postgres, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(row_marks(Backend::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
