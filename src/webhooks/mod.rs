//! Incoming webhooks: payload mapping to message events, pure (no IO, no
//! HTTP). The handlers live in `http::webhooks`.

pub mod meta;
