//! The rule for a person's name (a token subject) where one is given in a request.

use crate::catalog::clip;
use crate::error::{Error, Result};

/// A person is named like an account: 1–100 characters of letters, digits and `._@+-`,
/// starting with a letter or digit (so an e-mail address is fine, and nothing that could mean
/// something to SQL, a shell or a path is).
pub fn validate_person(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "{} is not a person's name: use 1-100 letters, digits and ._@+- starting with a letter or digit",
            clip(name)
        )))
    }
}

/// A team is named like an app: 3-30 characters, lowercase letters, digits and dashes,
/// starting with a letter.
pub fn validate_team_name(name: &str) -> Result<()> {
    let ok = (3..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "team name {} must be 3-30 lowercase letters, digits and dashes, starting with a letter",
            clip(name)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_named_like_accounts() {
        for good in ["alice", "bob@example.com", "a.b+c-d_e", "7"] {
            assert!(validate_person(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "a;drop", "../x", "a\0", &"x".repeat(101)] {
            assert!(validate_person(bad).is_err(), "{bad:?}");
        }
        assert!(validate_team_name("acme-1").is_ok());
        for bad in ["ab", "Acme", "1acme", "ac me", "acme;"] {
            assert!(validate_team_name(bad).is_err(), "{bad}");
        }
    }
}
