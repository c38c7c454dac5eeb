//! Reading a request's input: JSON bodies (the platform's and OSB's rules for an empty one) and
//! the query string, with the messages clients see when they are malformed.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;

use crate::catalog::clip;
use crate::error::Error;

/// A platform API body; with `allow_empty`, an empty (or blank) body reads as `{}`.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8], allow_empty: bool) -> Result<T, Error> {
    let bytes: &[u8] = if allow_empty && bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(clip(&format!("request body is not valid: {e}"))))
}

/// An OSB body, which must be a JSON object (an empty one is refused).
pub fn osb_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest("request body must be a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(clip(&format!("request body is not valid: {e}"))))
}

/// The query string as a map (the last value of a repeated key wins).
pub fn query(req: &HttpRequest) -> Result<BTreeMap<String, String>, Error> {
    web::Query::<BTreeMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| Error::BadRequest(format!("malformed query string: {e}")))
}

/// A `true`/`false` query parameter, `false` when absent.
pub fn flag(q: &BTreeMap<String, String>, name: &str) -> Result<bool, Error> {
    match q.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(Error::BadRequest(format!(
            "{name} must be true or false, not {}",
            clip(other)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_body_is_an_empty_object_only_where_allowed() {
        let v: serde_json::Value = json_body(b"  ", true).unwrap();
        assert_eq!(v, serde_json::json!({}));
        assert!(json_body::<serde_json::Value>(b"", false).is_err());
        assert!(osb_body::<serde_json::Value>(b"\n").is_err());
    }

    #[test]
    fn flags_are_true_false_or_absent() {
        let mut q = BTreeMap::new();
        assert!(!flag(&q, "force").unwrap());
        q.insert("force".to_string(), "true".to_string());
        assert!(flag(&q, "force").unwrap());
        q.insert("force".to_string(), "yes".to_string());
        match flag(&q, "force") {
            Err(Error::BadRequest(m)) => assert_eq!(m, "force must be true or false, not yes"),
            other => panic!("{other:?}"),
        }
    }
}
