//! Paging of list endpoints: the `Range` header (`<field> [[]start]..[; max=N]`) in, 200 with
//! everything or 206 with a page and `Next-Range` out.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::catalog::clip;
use crate::error::Error;

/// Default page size of list endpoints.
pub const DEFAULT_PAGE: usize = 200;
/// Largest page size.
pub const MAX_PAGE: usize = 1000;

/// A parsed `Range` header: `<field> [[]start]..[; max=N]`.
struct Range {
    field: String,
    start: Option<String>,
    exclusive: bool,
    max: usize,
}

fn parse_range(req: &HttpRequest, fields: &[&str]) -> Result<Range, Error> {
    let default = Range {
        field: fields[0].to_string(),
        start: None,
        exclusive: false,
        max: DEFAULT_PAGE,
    };
    let Some(raw) = req.headers().get("range") else {
        return Ok(default);
    };
    let raw = raw
        .to_str()
        .map_err(|_| Error::BadRequest("Range header is not ASCII".into()))?;
    let bad = || {
        Error::BadRequest(format!(
            "Range must look like \"{} ..; max=200\"; got {}",
            fields[0],
            clip(raw)
        ))
    };
    let (spec, options) = raw.split_once(';').map_or((raw, ""), |(a, b)| (a, b));
    let (field, bounds) = spec.trim().split_once(' ').unwrap_or((spec.trim(), ".."));
    if !fields.contains(&field) {
        return Err(Error::BadRequest(format!(
            "Range can sort by {} only",
            fields.join(", ")
        )));
    }
    let (start, _) = bounds.trim().split_once("..").ok_or_else(bad)?;
    let (exclusive, start) = match start.strip_prefix(']') {
        Some(s) => (true, s),
        None => (false, start),
    };
    let mut max = DEFAULT_PAGE;
    for option in options.split([';', ',']) {
        if let Some(v) = option.trim().strip_prefix("max=") {
            max = v.parse::<usize>().map_err(|_| bad())?.clamp(1, MAX_PAGE);
        }
    }
    Ok(Range {
        field: field.to_string(),
        start: (!start.is_empty()).then(|| start.to_string()),
        exclusive,
        max,
    })
}

/// Answers a list: 200 with everything, or 206 with a page and `Next-Range`.
pub fn paginate<T: Serialize>(
    req: &HttpRequest,
    mut items: Vec<T>,
    fields: &[&str],
    key: impl Fn(&T, &str) -> String,
) -> Result<HttpResponse, Error> {
    let mut range = parse_range(req, fields)?;
    if range.field == "version" {
        // Version keys are zero-padded so that string order is numeric order; pad the start too.
        if let Some(start) = &range.start {
            let n: i64 = start
                .parse()
                .map_err(|_| Error::BadRequest("a version range starts at a number".into()))?;
            range.start = Some(numeric_key(n));
        }
    }
    items.sort_by_key(|item| key(item, &range.field));
    let items: Vec<T> = items
        .into_iter()
        .filter(|item| match &range.start {
            None => true,
            Some(s) if range.exclusive => key(item, &range.field) > *s,
            Some(s) => key(item, &range.field) >= *s,
        })
        .collect();
    let more = items.len() > range.max;
    let page: Vec<T> = items.into_iter().take(range.max).collect();
    let mut res = HttpResponse::build(if more {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    });
    res.insert_header(("accept-ranges", fields.join(", ")));
    if more {
        if let Some(last) = page.last() {
            let next = format!("{} ]{}..; max={}", range.field, key(last, &range.field), range.max);
            if let Ok(v) = HeaderValue::from_str(&next) {
                res.insert_header(("next-range", v));
            }
        }
    }
    Ok(res.json(page))
}

/// Sort key of a numeric field, so that string order is numeric order.
pub fn numeric_key(n: i64) -> String {
    format!("{n:020}")
}
