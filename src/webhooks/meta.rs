//! SPEC §7: Meta's webhook payloads (Messenger, Instagram, WhatsApp Cloud
//! API) mapped to message events, and the `X-Hub-Signature-256` check.
//! Pure and total: any bytes or JSON give a result, never a panic.

use crate::domain::{FieldError, MessageEvent};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// Which app ids send as the business's automation (`bot`) or as Meta's
/// automatic responses (`auto`); any other echo is a human `agent`.
#[derive(Debug, Clone, Default)]
pub struct AppIds {
    pub bot: Vec<String>,
    pub auto: Vec<String>,
}

/// What a payload held.
#[derive(Debug, Default)]
pub struct Mapped {
    pub events: Vec<MessageEvent>,
    /// Messaging items that are not messages (reads, deliveries, reactions,
    /// edits, postbacks, handovers, statuses other than `sent`…).
    pub ignored: u64,
    /// Items that looked like messages but could not become valid events
    /// (missing ids, bad timestamps…), each with why.
    pub invalid: Vec<String>,
    /// The `object` was none of page, instagram, whatsapp_business_account.
    pub unsupported_object: bool,
}

/// True when `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// one of `secrets`; compared in constant time.
pub fn signature_matches(
    header: Option<&str>,
    body: &[u8],
    secrets: &[crate::secret::Secret],
) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    secrets.iter().map(|s| s.expose()).any(|secret| {
        // Never an empty key (issue 15: `s3cret,` added one, and a body
        // signed with it was stored).
        if secret.is_empty() {
            return false;
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The signature header value for `body` under `secret` (for tests and clients).
pub fn sign(body: &[u8], secret: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Builds an event through the same validation as every other input.
fn event(out: &mut Mapped, fields: [(&str, Option<Value>); 6]) {
    let mut object = serde_json::Map::new();
    let mut missing = Vec::new();
    for (name, value) in fields {
        match value {
            Some(v) => {
                object.insert(name.to_string(), v);
            }
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        out.invalid.push(format!("missing {}", missing.join(", ")));
        return;
    }
    match MessageEvent::from_value(&Value::Object(object)) {
        Ok(e) => out.events.push(e),
        Err(errors) => out.invalid.push(
            errors
                .iter()
                .map(FieldError::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

/// Maps a parsed payload (SPEC §7).
pub fn map_payload(payload: &Value, apps: &AppIds) -> Mapped {
    let mut out = Mapped::default();
    let channel = match payload.get("object").and_then(Value::as_str) {
        Some("page") => "messenger",
        Some("instagram") => "instagram",
        Some("whatsapp_business_account") => "whatsapp",
        _ => {
            out.unsupported_object = true;
            return out;
        }
    };
    for entry in items(payload, "entry") {
        if channel == "whatsapp" {
            map_whatsapp_entry(entry, &mut out);
            continue;
        }
        let account = entry.get("id").and_then(id_string);
        for item in items(entry, "messaging").chain(items(entry, "standby")) {
            let Some(message) = item.get("message").filter(|m| m.is_object()) else {
                out.ignored += 1; // read, delivery, reaction, postback, handover…
                continue;
            };
            let echo = message.get("is_echo").and_then(Value::as_bool) == Some(true);
            let (conversation, from) = if echo {
                let app = message.get("app_id").and_then(id_string);
                let from = match app {
                    Some(a) if apps.bot.contains(&a) => "bot",
                    Some(a) if apps.auto.contains(&a) => "auto",
                    _ => "agent",
                };
                (str_of(item, &["recipient", "id"]), from)
            } else {
                (str_of(item, &["sender", "id"]), "customer")
            };
            event(
                &mut out,
                [
                    ("id", message.get("mid").cloned()),
                    ("account", account.clone().map(Value::String)),
                    ("channel", Some(json!(channel))),
                    ("conversation", conversation.map(|c| json!(c))),
                    ("from", Some(json!(from))),
                    ("at", item.get("timestamp").cloned()),
                ],
            );
        }
    }
    out
}

/// Page and app ids come as strings, sometimes as numbers.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// WhatsApp's `timestamp` is a string of unix seconds.
fn unix_seconds(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => s.trim().parse::<u64>().ok().map(|n| json!(n)),
        Value::Number(n) => Some(Value::Number(n.clone())),
        _ => None,
    }
}

fn map_whatsapp_entry(entry: &Value, out: &mut Mapped) {
    for change in items(entry, "changes") {
        let Some(value) = change.get("value") else {
            out.ignored += 1;
            continue;
        };
        let account = str_of(value, &["metadata", "phone_number_id"]).map(|a| json!(a));
        for m in items(value, "messages") {
            event(
                out,
                [
                    ("id", m.get("id").cloned()),
                    ("account", account.clone()),
                    ("channel", Some(json!("whatsapp"))),
                    ("conversation", m.get("from").cloned()),
                    ("from", Some(json!("customer"))),
                    ("at", unix_seconds(m.get("timestamp"))),
                ],
            );
        }
        for s in items(value, "statuses") {
            // SPEC §7: only `sent` is a business reply; delivered/read/failed are not.
            if s.get("status").and_then(Value::as_str) != Some("sent") {
                out.ignored += 1;
                continue;
            }
            event(
                out,
                [
                    ("id", s.get("id").cloned()),
                    ("account", account.clone()),
                    ("channel", Some(json!("whatsapp"))),
                    ("conversation", s.get("recipient_id").cloned()),
                    ("from", Some(json!("agent"))),
                    ("at", unix_seconds(s.get("timestamp"))),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sender;

    fn apps() -> AppIds {
        AppIds {
            bot: vec!["111".into()],
            auto: vec!["222".into()],
        }
    }

    #[test]
    fn a_signature_matches_only_the_body_and_secret_it_was_made_with() {
        let body = br#"{"object":"page"}"#;
        let header = sign(body, "s3cret");
        let secrets: Vec<crate::secret::Secret> = vec!["old".into(), "s3cret".into()];
        assert!(
            signature_matches(Some(&header), body, &secrets),
            "any configured secret (rotation)"
        );
        assert!(!signature_matches(
            Some(&header),
            b"{\"object\":\"page\" }",
            &secrets
        ));
        assert!(!signature_matches(Some(&header), body, &["other".into()]));
        assert!(!signature_matches(None, body, &secrets));
        assert!(!signature_matches(Some("sha1=abcd"), body, &secrets));
        assert!(!signature_matches(Some("sha256=zz"), body, &secrets));
    }

    #[test]
    fn messenger_echoes_are_classified_by_app_id() {
        let payload = json!({"object": "page", "entry": [{"id": "PAGE", "time": 1, "messaging": [
            {"sender": {"id": "USER"}, "recipient": {"id": "PAGE"}, "timestamp": 1762000000000u64,
             "message": {"mid": "m1", "text": "hi"}},
            {"sender": {"id": "PAGE"}, "recipient": {"id": "USER"}, "timestamp": 1762000060000u64,
             "message": {"mid": "m2", "is_echo": true, "app_id": 111}},
            {"sender": {"id": "PAGE"}, "recipient": {"id": "USER"}, "timestamp": 1762000070000u64,
             "message": {"mid": "m3", "is_echo": true, "app_id": "222"}},
            {"sender": {"id": "PAGE"}, "recipient": {"id": "USER"}, "timestamp": 1762000080000u64,
             "message": {"mid": "m4", "is_echo": true, "app_id": 999}},
            {"sender": {"id": "USER"}, "recipient": {"id": "PAGE"}, "timestamp": 1762000090000u64,
             "read": {"watermark": 1762000080000u64}}
        ]}]});
        let m = map_payload(&payload, &apps());
        let got: Vec<_> = m
            .events
            .iter()
            .map(|e| (e.id.as_str(), e.conversation.as_str(), e.from))
            .collect();
        assert_eq!(
            got,
            [
                ("m1", "USER", Sender::Customer),
                ("m2", "USER", Sender::Bot),
                ("m3", "USER", Sender::Auto),
                ("m4", "USER", Sender::Agent),
            ]
        );
        assert!(
            m.events
                .iter()
                .all(|e| e.account.as_str() == "PAGE" && e.channel.as_str() == "messenger")
        );
        assert_eq!(m.ignored, 1);
    }

    #[test]
    fn whatsapp_messages_are_customers_and_sent_statuses_are_agents() {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "PNID"},
        "messages": [{"from": "4915112345678", "id": "wamid.A", "timestamp": "1762000000", "type": "text", "text": {"body": "hi"}}],
        "statuses": [
            {"id": "wamid.B", "status": "sent", "timestamp": "1762000300", "recipient_id": "4915112345678"},
            {"id": "wamid.B", "status": "delivered", "timestamp": "1762000301", "recipient_id": "4915112345678"}
        ]}}]}]});
        let m = map_payload(&payload, &apps());
        assert_eq!(m.events.len(), 2);
        assert_eq!(m.events[0].from, Sender::Customer);
        assert_eq!(m.events[1].from, Sender::Agent);
        assert_eq!(m.events[1].at.since(m.events[0].at).as_seconds_f64(), 300.0);
        assert_eq!(m.events[0].account.as_str(), "PNID");
        assert_eq!(m.ignored, 1);
    }

    #[test]
    fn an_unknown_object_is_flagged_and_wrong_types_are_invalid_not_panics() {
        assert!(map_payload(&json!({"object": "user"}), &apps()).unsupported_object);
        assert!(map_payload(&json!([1, 2]), &apps()).unsupported_object);
        let m = map_payload(
            &json!({"object": "page", "entry": [{"id": {}, "messaging": [{"message": {"mid": 5}, "timestamp": "x"}]}, 7]}),
            &apps(),
        );
        assert!(m.events.is_empty());
        assert_eq!(m.invalid.len(), 1, "{:?}", m.invalid);
    }
}
