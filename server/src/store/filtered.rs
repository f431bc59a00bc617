//! `Filtered`: a query whose WHERE clause grows with a filter, its placeholders
//! numbered for both databases.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Encode, Type};

use super::Backend;

/// A query whose WHERE clause grows with a filter, its placeholders numbered
/// `$1, $2, …` as both databases read them (sqlx's `QueryBuilder` writes `?` for
/// the Any driver, which PostgreSQL does not take).
pub(crate) struct Filtered {
    sql: String,
    args: AnyArguments<'static>,
    backend: Backend,
    /// A value that did not encode: the query fails with it rather than run
    /// with its placeholder unbound.
    failed: Option<sqlx::Error>,
}

impl Filtered {
    pub(crate) fn new(backend: Backend, sql: &str) -> Filtered {
        Filtered {
            sql: sql.to_string(),
            args: AnyArguments::default(),
            backend,
            failed: None,
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Filtered {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub(crate) fn bind<T>(&mut self, value: T) -> &mut Filtered
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + Send + 'static,
    {
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert(sqlx::Error::Encode(e));
        }
        self.sql.push_str(&format!("${}", self.args.len()));
        self
    }

    /// `column` contains `needle` as plain text (no pattern characters).
    pub(crate) fn contains(&mut self, column: &str, needle: String) -> &mut Filtered {
        let f = match self.backend {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        self.push(&format!(" AND {f}({column}, "))
            .bind(needle)
            .push(") > 0")
    }

    pub(crate) async fn fetch_all(self, pool: &AnyPool) -> Result<Vec<AnyRow>, sqlx::Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        sqlx::query_with(&self.sql, self.args).fetch_all(pool).await
    }
}
