//! The message event of SPEC §1 and its parsing from one JSON object.
//!
//! Parsing happens once, at the boundary: a [`RawEvent`] holds whatever the
//! JSON had (borrowed where possible), and [`MessageEvent::from_json`] turns
//! it into validated types or lists every problem by field. Pure: no IO.

use super::ids::{AccountId, AgentName, ChannelName, ConversationId, EventId};
use super::time::{Timestamp, from_unix_integer, parse_rfc3339};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Who wrote a message (SPEC §1). The declaration order is the tie-break
/// order of SPEC §2 for events at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sender {
    /// The customer.
    Customer,
    /// A human on the business side.
    Agent,
    /// The business's own automation sending through the API.
    Bot,
    /// The platform's automatic responses (instant reply, away message).
    Auto,
}

impl Sender {
    pub const ALL: [Sender; 4] = [Sender::Customer, Sender::Agent, Sender::Bot, Sender::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Customer => "customer",
            Sender::Agent => "agent",
            Sender::Bot => "bot",
            Sender::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Sender> {
        Sender::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validated message event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    pub id: EventId,
    pub account: AccountId,
    pub channel: ChannelName,
    pub conversation: ConversationId,
    pub from: Sender,
    pub at: Timestamp,
    pub agent: Option<AgentName>,
}

/// One problem with one field of an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field \"{field}\": {reason}")]
pub struct FieldError {
    /// The JSON field name, or `(event)` when the object as a whole is wrong.
    pub field: &'static str,
    pub reason: String,
}

/// Where an event came from: a line of a file or an index in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line number of a file or NDJSON body.
    Line(u64),
    /// 0-based index in a JSON array.
    Index(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Index(n) => write!(f, "index {n}"),
        }
    }
}

/// A bad event, located: `line 12: field "from": expected …, got "admin"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct EventError {
    pub location: Location,
    pub problem: FieldError,
}

/// A JSON value as found in the object, before validation.
#[derive(Debug)]
enum JsonValue<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    NegInt(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl fmt::Display for JsonValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonValue::Str(s) if s.len() > 64 => {
                let cut = s.char_indices().nth(60).map_or(s.len(), |(i, _)| i);
                write!(f, "{:?}… ({} bytes)", &s[..cut], s.len())
            }
            JsonValue::Str(s) => write!(f, "{s:?}"),
            JsonValue::UInt(n) => write!(f, "{n}"),
            JsonValue::NegInt(n) => write!(f, "{n}"),
            JsonValue::Float(x) => write!(f, "{x}"),
            JsonValue::Bool(b) => write!(f, "{b}"),
            JsonValue::Null => f.write_str("null"),
            JsonValue::Array => f.write_str("an array"),
            JsonValue::Object => f.write_str("an object"),
        }
    }
}

struct JsonValueVisitor;

impl<'de> Visitor<'de> for JsonValueVisitor {
    type Value = JsonValue<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => JsonValue::UInt(u),
            Err(_) => JsonValue::NegInt(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(JsonValue::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Object)
    }
}

impl<'de> de::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonValueVisitor)
    }
}

/// The fields of SPEC §1, in the order errors are listed.
const FIELDS: [&str; 7] = [
    "id",
    "account",
    "channel",
    "conversation",
    "from",
    "at",
    "agent",
];

/// An event object as found in the input: known fields kept unvalidated,
/// unknown fields skipped.
#[derive(Debug, Default)]
struct RawEvent<'a> {
    values: [Option<JsonValue<'a>>; 7],
    duplicate_key: Option<&'static str>,
}

struct RawEventVisitor;

impl<'de> Visitor<'de> for RawEventVisitor {
    type Value = RawEvent<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawEvent::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match FIELDS.iter().position(|f| *f == key) {
                Some(i) => {
                    let v = map.next_value::<JsonValue<'de>>()?;
                    if raw.values[i].replace(v).is_some() {
                        raw.duplicate_key = Some(FIELDS[i]);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

impl<'de> de::Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawEventVisitor)
    }
}

fn field_error(field: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field,
        reason: reason.into(),
    }
}

/// A required string field, validated by `parse`.
fn string_field<T>(
    raw: &mut RawEvent<'_>,
    index: usize,
    parse: fn(&str) -> Result<T, String>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let field = FIELDS[index];
    match raw.values[index].take() {
        None => errors.push(field_error(field, "missing")),
        Some(JsonValue::Str(s)) => match parse(&s) {
            Ok(v) => return Some(v),
            Err(reason) => errors.push(field_error(field, reason)),
        },
        Some(other) => errors.push(field_error(
            field,
            format!("expected a string, got {other}"),
        )),
    }
    None
}

/// SPEC §1's range of instants, as said in errors.
const RANGE: &str = "is outside 1970-01-01T00:00:00Z … 9999-12-31T23:59:59.999999Z";

fn parse_at(value: Option<JsonValue<'_>>) -> Result<Timestamp, FieldError> {
    const EXPECTED: &str =
        "expected an RFC 3339 timestamp with offset or integer unix seconds/milliseconds";
    let err = |got: &dyn fmt::Display| field_error("at", format!("{EXPECTED}, got {got}"));
    match value {
        None => Err(field_error("at", "missing")),
        Some(JsonValue::Str(s)) => parse_rfc3339(&s).ok_or_else(|| {
            match chrono::DateTime::parse_from_rfc3339(&s) {
                // A well-formed time outside SPEC §1's range.
                Ok(_) => field_error("at", format!("{} {RANGE}", JsonValue::Str(s))),
                Err(_) => err(&JsonValue::Str(s)),
            }
        }),
        Some(JsonValue::UInt(n)) => {
            from_unix_integer(n).ok_or_else(|| field_error("at", format!("{n} {RANGE}")))
        }
        Some(JsonValue::NegInt(n)) => Err(field_error(
            "at",
            format!("integer timestamps must be non-negative, got {n}"),
        )),
        // JSON has one number type: 1730455200.0 is the integer 1730455200
        // (as JSON Schema's `integer` says); 1730455200.5 is not.
        Some(JsonValue::Float(x)) if x >= 0.0 && x.fract() == 0.0 && x < 1.8e19 => {
            from_unix_integer(x as u64).ok_or_else(|| field_error("at", format!("{x} {RANGE}")))
        }
        Some(other) => Err(err(&other)),
    }
}

impl MessageEvent {
    /// Parses one JSON object (a line of NDJSON or an element of an array)
    /// and validates every field; on failure lists every problem found.
    pub fn from_json(json: &[u8]) -> Result<MessageEvent, Vec<FieldError>> {
        let mut raw: RawEvent = match serde_json::from_slice(json) {
            Ok(raw) => raw,
            Err(e) if e.is_data() => {
                return Err(vec![field_error("(event)", "expected a JSON object")]);
            }
            Err(e) => return Err(vec![field_error("(event)", format!("invalid JSON: {e}"))]),
        };
        Self::from_raw(&mut raw)
    }

    /// Validates an already deserialized JSON value (an element of a JSON array body).
    pub fn from_value(value: &serde_json::Value) -> Result<MessageEvent, Vec<FieldError>> {
        let mut raw: RawEvent = match RawEvent::deserialize_value(value) {
            Some(raw) => raw,
            None => return Err(vec![field_error("(event)", "expected a JSON object")]),
        };
        Self::from_raw(&mut raw)
    }

    fn from_raw(raw: &mut RawEvent<'_>) -> Result<MessageEvent, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(field) = raw.duplicate_key {
            errors.push(field_error(field, "appears more than once"));
        }
        let id = string_field(raw, 0, EventId::parse, &mut errors);
        let account = string_field(raw, 1, AccountId::parse, &mut errors);
        let channel = string_field(raw, 2, ChannelName::parse, &mut errors);
        let conversation = string_field(raw, 3, ConversationId::parse, &mut errors);
        let from = string_field(
            raw,
            4,
            |s| {
                Sender::parse(s)
                    .ok_or_else(|| format!("expected customer|agent|bot|auto, got {s:?}"))
            },
            &mut errors,
        );
        let at = parse_at(raw.values[5].take())
            .map_err(|e| errors.push(e))
            .ok();
        let agent = match raw.values[6].take() {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::Str(s)) => match AgentName::parse(&s) {
                Ok(a) => Some(a),
                Err(reason) => {
                    errors.push(field_error("agent", reason));
                    None
                }
            },
            Some(other) => {
                errors.push(field_error(
                    "agent",
                    format!("expected a string or null, got {other}"),
                ));
                None
            }
        };
        match (id, account, channel, conversation, from, at) {
            (Some(id), Some(account), Some(channel), Some(conversation), Some(from), Some(at))
                if errors.is_empty() =>
            {
                Ok(MessageEvent {
                    id,
                    account,
                    channel,
                    conversation,
                    from,
                    at,
                    agent,
                })
            }
            _ => Err(errors),
        }
    }

    /// The event as a JSON object in the form of SPEC §1 (RFC 3339 `at`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id.as_str(),
            "account": self.account.as_str(),
            "channel": self.channel.as_str(),
            "conversation": self.conversation.as_str(),
            "from": self.from.as_str(),
            "at": self.at.to_string(),
        });
        if let (Some(agent), Some(obj)) = (&self.agent, v.as_object_mut()) {
            obj.insert("agent".into(), agent.as_str().into());
        }
        v
    }
}

impl<'a> RawEvent<'a> {
    fn deserialize_value(value: &'a serde_json::Value) -> Option<RawEvent<'a>> {
        let obj = value.as_object()?;
        let mut raw = RawEvent::default();
        for (i, field) in FIELDS.iter().enumerate() {
            raw.values[i] = obj.get(*field).map(|v| match v {
                serde_json::Value::String(s) => JsonValue::Str(Cow::Borrowed(s)),
                serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => JsonValue::UInt(u),
                    (None, Some(i), _) => JsonValue::NegInt(i),
                    (_, _, f) => JsonValue::Float(f.unwrap_or(f64::NAN)),
                },
                serde_json::Value::Bool(b) => JsonValue::Bool(*b),
                serde_json::Value::Null => JsonValue::Null,
                serde_json::Value::Array(_) => JsonValue::Array,
                serde_json::Value::Object(_) => JsonValue::Object,
            });
        }
        Some(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MessageEvent, Vec<FieldError>> {
        MessageEvent::from_json(s.as_bytes())
    }

    fn first_error(s: &str) -> String {
        parse(s).unwrap_err()[0].to_string()
    }

    const GOOD: &str = r#"{"id":"m1","account":"acme","channel":"messenger","conversation":"c1","from":"customer","at":"2026-11-01T09:00:00Z"}"#;

    #[test]
    fn a_complete_event_parses_and_unknown_fields_are_ignored() {
        let with_extra = GOOD.replace('}', r#","mood":{"x":[1,2]},"agent":"ayse"}"#);
        let e = parse(&with_extra).unwrap();
        assert_eq!(e.from, Sender::Customer);
        assert_eq!(e.agent.unwrap().as_str(), "ayse");
    }

    #[test]
    fn an_integral_json_float_is_an_integer_timestamp_and_a_fraction_is_not() {
        let at = |v: &str| GOOD.replace(r#""2026-11-01T09:00:00Z""#, v);
        assert_eq!(
            parse(&at("1730455200.0")).unwrap().at,
            parse(&at("1730455200")).unwrap().at
        );
        assert_eq!(
            parse(&at("1.7304552e12")).unwrap().at,
            parse(&at("1730455200000")).unwrap().at
        );
        assert!(first_error(&at("1730455200.5")).contains("got 1730455200.5"));
        assert!(parse(&at("-1.0")).is_err());
    }

    #[test]
    fn unknown_sender_is_named_with_the_value() {
        let bad = GOOD.replace("\"customer\"", "\"admin\"");
        assert_eq!(
            first_error(&bad),
            r#"field "from": expected customer|agent|bot|auto, got "admin""#
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = parse(r#"{"id":"","channel":"ALL","from":1,"at":-5}"#).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["id", "account", "channel", "conversation", "from", "at"]
        );
    }

    #[test]
    fn negative_and_float_timestamps_are_rejected() {
        assert!(
            first_error(&GOOD.replace("\"2026-11-01T09:00:00Z\"", "-1")).contains("non-negative")
        );
        assert!(first_error(&GOOD.replace("\"2026-11-01T09:00:00Z\"", "1.5")).contains("got 1.5"));
    }

    #[test]
    fn a_year_before_1970_is_refused_naming_the_range() {
        // Issue 15: year −1 was accepted, printed as "-0001-…" into the
        // cluster's log and dropped by the owner after the 202.
        let bad = GOOD.replace("2026-11-01T09:00:00Z", "0000-01-01T00:00:00+00:01");
        let why = first_error(&bad);
        assert!(
            why.starts_with("field \"at\"") && why.contains("outside 1970"),
            "{why}"
        );
    }

    #[test]
    fn a_nul_in_an_id_is_refused_naming_the_field() {
        // Issue 15: PostgreSQL refused such a row, failing every retry.
        let why = first_error(&GOOD.replace("\"m1\"", "\"m\\u0000\""));
        assert!(
            why.starts_with("field \"id\"") && why.contains("U+0000"),
            "{why}"
        );
        let why = first_error(&GOOD.replace("\"acme\"", "\"ac\\r\\nme\""));
        assert!(why.starts_with("field \"account\""), "{why}");
    }

    #[test]
    fn timestamp_without_offset_is_rejected() {
        let bad = GOOD.replace("09:00:00Z", "09:00:00");
        assert!(first_error(&bad).starts_with("field \"at\""));
    }

    #[test]
    fn non_objects_and_broken_json_are_rejected() {
        assert_eq!(
            first_error("[1,2]"),
            "field \"(event)\": expected a JSON object"
        );
        assert!(first_error("{\"id\":").contains("invalid JSON"));
    }

    #[test]
    fn json_array_elements_parse_like_lines() {
        let v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        assert_eq!(MessageEvent::from_value(&v).unwrap(), parse(GOOD).unwrap());
    }

    #[test]
    fn to_json_round_trips() {
        let e = parse(GOOD).unwrap();
        let back = MessageEvent::from_value(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }
}
