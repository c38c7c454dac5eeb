//! Backend resource names derived from OSB ids, and quoting for the places they reach.
//!
//! Names are derived, never random, so that a retry finds what an earlier attempt made. The
//! derived name keeps a readable, sanitised part of the id and a hash of the whole id, so two ids
//! that sanitise alike (`a-b`, `a_b`, `A-B`) still get different names.

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

/// Longest readable part of an id kept in a derived name.
const READABLE_LEN: usize = 24;

/// The id-derived stem of a resource name: `[a-z0-9_]` only, at most 33 characters.
pub fn stem(id: &str) -> String {
    let readable: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(READABLE_LEN)
        .collect();
    let digest = Sha256::digest(id.as_bytes());
    format!("{readable}_{}", &hex::encode(digest)[..8])
}

/// Quotes an SQL identifier (double quotes, embedded quotes doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal (single quotes, embedded quotes doubled; the server runs with
/// `standard_conforming_strings`, the default since PostgreSQL 9.1).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A fresh random password of `len` alphanumeric characters.
pub fn random_password(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_of_ids_that_sanitise_alike_differ() {
        assert_ne!(stem("a-b"), stem("a_b"));
        assert_ne!(stem("A-B"), stem("a-b"));
        assert!(stem("x").starts_with("x_"));
    }

    #[test]
    fn stems_are_short_and_safe_for_any_input() {
        for id in ["'; DROP DATABASE x; --", "\"", "ünïcødé", &"z".repeat(10_000), ""] {
            let s = stem(id);
            assert!(s.len() <= READABLE_LEN + 9, "{s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{s}"
            );
        }
    }

    #[test]
    fn quoting_doubles_embedded_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }

    #[test]
    fn passwords_are_random_and_alphanumeric() {
        let a = random_password(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_password(32));
    }
}
