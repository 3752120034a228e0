//! Validated identifiers of SPEC §1. Each newtype has a private field, so an
//! invalid id cannot exist once parsed. Backed by `CompactString`: ids of up
//! to 24 bytes live inline, which keeps millions of events compact.

use compact_str::CompactString;
use std::borrow::Borrow;
use std::fmt;

/// Longest accepted id, account, conversation or agent name, in bytes (SPEC §1).
pub const MAX_ID_BYTES: usize = 256;

/// SPEC §1: 1–256 bytes of UTF-8 with no control character (U+0000–U+001F,
/// U+007F). These strings end up in database rows, folder names, e-mail
/// headers, HTML and CSV cells: a NUL or a line break there is never a name.
fn check_length(s: &str) -> Result<(), String> {
    match s.len() {
        0 => return Err("must not be empty".into()),
        n if n > MAX_ID_BYTES => {
            return Err(format!("is {n} bytes long, at most {MAX_ID_BYTES} allowed"));
        }
        _ => {}
    }
    match s.bytes().position(is_control) {
        Some(at) => Err(format!(
            "holds the control character U+{:04X} at byte {at}; control characters (U+0000-U+001F, U+007F) are not allowed",
            s.as_bytes()[at]
        )),
        None => Ok(()),
    }
}

/// A control character of SPEC §1. Bytes ≥ 0x80 are parts of multi-byte
/// UTF-8 characters, never one of these.
fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// Validates `s`; the error says what is wrong with it.
            pub fn parse(s: &str) -> Result<Self, String> {
                $check(s)?;
                Ok($name(CompactString::from(s)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A message id, unique within (`account`, `channel`): the idempotency key.
    EventId,
    check_length
);
id_type!(
    /// A business account: a Page id, an Instagram account id, a WhatsApp phone-number id.
    AccountId,
    check_length
);
id_type!(
    /// The thread with one customer, unique within (`account`, `channel`).
    ConversationId,
    check_length
);
id_type!(
    /// Who replied, for per-agent figures.
    AgentName,
    check_length
);
id_type!(
    /// `messenger`, `instagram`, `whatsapp` or any `[a-z0-9_-]{1,32}` except `all`.
    ChannelName,
    check_channel
);

/// The pseudo-channel that carries an account's figures over all channels (SPEC §3).
pub const ALL_CHANNELS: &str = "all";

fn check_channel(s: &str) -> Result<(), String> {
    if s == ALL_CHANNELS {
        return Err("\"all\" is reserved for the per-account figures".into());
    }
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("expected 1-32 characters of [a-z0-9_-], got {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_all_is_reserved() {
        assert!(ChannelName::parse("all").is_err());
        assert!(ChannelName::parse("messenger").is_ok());
        assert!(ChannelName::parse("web_chat-2").is_ok());
    }

    #[test]
    fn channel_must_be_lowercase_and_short() {
        assert!(ChannelName::parse("Messenger").is_err());
        assert!(ChannelName::parse("").is_err());
        assert!(ChannelName::parse(&"x".repeat(33)).is_err());
    }

    #[test]
    fn control_characters_are_refused_in_every_string() {
        for bad in [
            "a\u{0}b",
            "line\nbreak",
            "cr\r",
            "tab\there",
            "del\u{7f}",
            "\u{1f}",
        ] {
            assert!(EventId::parse(bad).is_err(), "{bad:?}");
            assert!(AccountId::parse(bad).is_err(), "{bad:?}");
            assert!(ConversationId::parse(bad).is_err(), "{bad:?}");
            assert!(AgentName::parse(bad).is_err(), "{bad:?}");
        }
        let why = EventId::parse("a\u{0}b").unwrap_err();
        assert!(why.contains("U+0000") && why.contains("byte 1"), "{why}");
        // Non-ASCII text is fine, including characters whose UTF-8 bytes
        // are ≥ 0x80 (never mistaken for control bytes).
        assert!(AccountId::parse("Café Zürich — 東京").is_ok());
        assert!(
            AccountId::parse("\u{85}next-line").is_ok(),
            "C1 controls are not in SPEC §1's set"
        );
    }

    #[test]
    fn ids_are_1_to_256_bytes() {
        assert!(EventId::parse("").is_err());
        assert!(EventId::parse(&"é".repeat(128)).is_ok());
        assert!(EventId::parse(&"x".repeat(257)).is_err());
    }
}
