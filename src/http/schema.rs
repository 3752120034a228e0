//! The schemas of the wire format for the OpenAPI document (SPEC §1's
//! event as sent): descriptions only — parsing lives in `domain::event`.
//! Imported by the handlers' annotations and by `openapi`; imports neither.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// A message event as sent (SPEC §1). Anything else in the object is ignored.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the wire format only; parsing is in `domain::event`
pub struct EventDoc {
    /// Message id, unique within (account, channel): the idempotency key.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    id: String,
    /// The business account: a Page id, an Instagram account id, a WhatsApp phone-number id.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    account: String,
    /// `messenger`, `instagram`, `whatsapp` or another lowercase name except `all`.
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    channel: String,
    /// The thread with one customer, unique within (account, channel).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    conversation: String,
    from: SenderDoc,
    at: AtDoc,
    /// Who replied, for per-agent figures.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F]+$"
    )]
    agent: Option<String>,
}

/// Who wrote the message.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum SenderDoc {
    Customer,
    Agent,
    Bot,
    Auto,
}

/// When it was sent: RFC 3339 with offset, or unix seconds / milliseconds (> 1e11).
pub struct AtDoc;

impl PartialSchema for AtDoc {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    // SPEC §1: within 1970 … 9999.
                    .pattern(Some(r"^(19[7-9][0-9]|[2-9][0-9]{3})-")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    // SPEC §1: > 1e11 means milliseconds; up to the year 9999.
                    .maximum(Some(253_402_300_799_999u64)),
            )
            .description(Some(
                "RFC 3339 timestamp with offset, or integer unix seconds (milliseconds above 1e11)",
            ))
            .into()
    }
}

impl ToSchema for AtDoc {}
