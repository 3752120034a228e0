//! A secret from the command line or the environment (API and metrics
//! tokens, Meta's verify token and app secrets): never shown by `Debug` or
//! `Display`, so it cannot reach a log through a printed config; compared
//! in constant time. Refused when empty (issue 15: an empty app secret let
//! a body signed with the empty key through).

use std::fmt;
use std::str::FromStr;

/// A non-empty secret string; `Debug` prints `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for comparing or signing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time independent of where
    /// they differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), presented)
    }
}

/// Byte strings equal, in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = String;
    /// Refuses an empty or blank secret: it would match an empty input.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().is_empty() {
            true => Err("must not be empty (an empty secret would match an empty token or signature key); check for a stray comma or an unset variable".into()),
            false => Ok(Secret(s.to_string())),
        }
    }
}

/// clap's parser of a secret option (explicit: clap would otherwise pick
/// the panicking `From<&str>` over `FromStr`).
pub fn parse_secret(s: &str) -> Result<Secret, String> {
    s.parse()
}

impl From<&str> for Secret {
    /// For tests and code that hold a literal; panics on an empty one.
    fn from(s: &str) -> Self {
        s.parse().expect("a non-empty secret")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let s: Secret = "hunter2".parse().unwrap();
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(vec![s])), "Some([Secret(***)])");
    }

    #[test]
    fn empty_and_blank_secrets_are_refused() {
        assert!("".parse::<Secret>().is_err());
        assert!("  ".parse::<Secret>().is_err());
        assert!("x".parse::<Secret>().is_ok());
    }

    #[test]
    fn secrets_match_only_when_equal() {
        let s: Secret = "secret".parse().unwrap();
        assert!(s.matches(b"secret"));
        assert!(!s.matches(b"secreT"));
        assert!(!s.matches(b"secret2"));
        assert!(!s.matches(b""));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
