//! Query parameters of the list endpoints (`GET /v1/models`, `GET /v1/jobs`): `limit`, the
//! `before` cursor and, for jobs, `state`. Every problem is a 422 (or 400 for a query string
//! that is not `application/x-www-form-urlencoded`) in the one JSON error shape.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;

use super::ApiError;
use crate::store::{Cursor, JobState, Millis, Page};

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 500;

/// What a list request asked for, before the cursor is resolved.
#[derive(Debug, Default)]
pub struct ListParams {
    /// Rows per page (1..=[`MAX_LIMIT`]).
    pub limit: u32,
    /// The `before` parameter.
    pub before: Option<Before>,
    /// The `state` filter (jobs only).
    pub state: Option<JobState>,
}

/// A `before` cursor: a resource id (of the same kind, same tenant) or a time in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Before {
    /// Rows older than this row.
    Id(String),
    /// Rows created before this time.
    Time(Millis),
}

/// The store cursor for `before`. An id cursor is resolved with `created_at_of`, which looks
/// the id up among the tenant's resources of the listed kind (`what`, e.g. "jobs") and returns
/// its creation time, or `None` when the tenant has no such resource: a 422 `invalid_cursor`,
/// so another tenant's ids reveal nothing.
pub async fn resolve_cursor<F, Fut>(
    before: Option<Before>,
    what: &str,
    created_at_of: F,
) -> Result<Option<Cursor>, ApiError>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Millis>, ApiError>>,
{
    match before {
        None => Ok(None),
        Some(Before::Time(t)) => Ok(Some(Cursor {
            created_at: t,
            id: None,
        })),
        Some(Before::Id(id)) => match created_at_of(id.clone()).await? {
            Some(created_at) => Ok(Some(Cursor {
                created_at,
                id: Some(id),
            })),
            None => Err(ApiError::unprocessable(
                "invalid_cursor",
                format!("before: {id} is not one of your {what}"),
            )),
        },
    }
}

/// Parses the query string of a list endpoint; `allow_state` enables the `state` filter.
pub fn parse(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    allow_state: bool,
) -> Result<ListParams, ApiError> {
    let Query(pairs) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let expected = if allow_state {
        "limit, before, state"
    } else {
        "limit, before"
    };
    let mut p = ListParams {
        limit: DEFAULT_LIMIT,
        ..ListParams::default()
    };
    let mut seen: Vec<&str> = vec![];
    for (name, value) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                format!("query parameter `{name}` is given more than once"),
            ));
        }
        seen.push(name);
        match name.as_str() {
            "limit" => {
                p.limit = value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::unprocessable(
                            "invalid_parameter",
                            format!("limit: {value:?} is not an integer from 1 to {MAX_LIMIT}"),
                        )
                    })?
            }
            "before" => p.before = Some(parse_before(value)?),
            "state" if allow_state => {
                p.state = Some(
                    serde_json::from_value(serde_json::Value::String(value.trim().to_string()))
                        .map_err(|_| {
                            ApiError::unprocessable(
                                "invalid_parameter",
                                format!(
                                "state: {value:?} is not one of queued, running, succeeded, failed"
                            ),
                            )
                        })?,
                )
            }
            other => {
                return Err(ApiError::unprocessable(
                    "unknown_parameter",
                    format!("unknown query parameter {other:?}; expected {expected}"),
                ))
            }
        }
    }
    Ok(p)
}

fn parse_before(value: &str) -> Result<Before, ApiError> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse::<Millis>().map(Before::Time).map_err(|_| {
            ApiError::unprocessable(
                "invalid_parameter",
                format!("before: {value:?} is not a time in ms since the Unix epoch"),
            )
        });
    }
    let id_like = v.len() <= 128
        && v.split_once('_').is_some_and(|(prefix, rest)| {
            !prefix.is_empty()
                && !rest.is_empty()
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    if !id_like {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            format!("before: {value:?} is neither an id nor a time in ms since the Unix epoch"),
        ));
    }
    Ok(Before::Id(v.to_string()))
}

/// A page of rows (fetched with one row more than asked) and the cursor of the next page.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}

/// The store page for `params` with a resolved cursor, asking one row more than the limit.
pub fn store_page(limit: u32, before: Option<Cursor>) -> Page {
    Page {
        limit: limit.saturating_add(1),
        before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Query<Vec<(String, String)>>, QueryRejection> {
        Ok(Query(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn parameters_are_checked() {
        let p = parse(q(&[]), true).expect("empty query");
        assert_eq!((p.limit, p.before, p.state), (DEFAULT_LIMIT, None, None));
        let p = parse(
            q(&[
                ("limit", "500"),
                ("before", "job_ab12"),
                ("state", "running"),
            ]),
            true,
        )
        .expect("valid query");
        assert_eq!(p.limit, 500);
        assert_eq!(p.before, Some(Before::Id("job_ab12".into())));
        assert_eq!(p.state, Some(JobState::Running));
        let p = parse(q(&[("before", "1700000000000")]), false).expect("time cursor");
        assert_eq!(p.before, Some(Before::Time(1_700_000_000_000)));
        for bad in [
            vec![("limit", "0")],
            vec![("limit", "501")],
            vec![("limit", "ten")],
            vec![("before", "x y")],
            vec![("before", "'; DROP TABLE jobs")],
            vec![("before", "99999999999999999999999")],
            vec![("state", "done")],
            vec![("limit", "1"), ("limit", "2")],
        ] {
            let e = parse(q(&bad), true).expect_err("invalid query");
            assert_eq!(e.status_code().0.as_u16(), 422, "{bad:?}: {e}");
        }
        let e = parse(q(&[("state", "queued")]), false).expect_err("state on models");
        assert_eq!(e.status_code().1, "unknown_parameter");
    }

    #[test]
    fn pages_report_the_next_cursor_only_when_more_rows_exist() {
        let (rows, next) = page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2], Some("2".to_string())));
        let (rows, next) = page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2], None));
    }
}
