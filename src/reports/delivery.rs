//! Delivery of scheduled reports: an e-mail per account with the CSV and
//! PNG files attached (lettre: SMTP with STARTTLS or implicit TLS and AUTH,
//! or plain SMTP to a local relay), and a Slack-compatible JSON message
//! (`{"text": …}`) with the headline figures and the files' paths, posted
//! to an HTTP or HTTPS webhook (reqwest). TLS is rustls with the `ring`
//! provider; `--report-tls-ca` adds a CA to the system's roots. Every step
//! has a timeout, every delivery up to three attempts. Knows files and
//! sockets, not the engine.

use anyhow::{Context, bail};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::{Path, PathBuf};

/// Where reports go.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// `HOST:PORT`, `smtp://…` or `smtps://…` (may hold a password).
    pub smtp: Option<crate::secret::Secret>,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
    /// `http://…` or `https://…` endpoint that takes Slack-style `{"text": …}`.
    pub webhook: Option<String>,
    /// PEM file of a CA trusted beside the system's roots (SMTP and webhook).
    pub tls_ca: Option<PathBuf>,
}

/// One account's report of one run, ready to deliver.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub run: String,
    pub account: String,
    pub headline: String,
    pub files: Vec<PathBuf>,
}

/// The file in each account's report folder that holds the account's name
/// (the folder's own name is only a readable prefix and a hash).
pub const ACCOUNT_FILE: &str = "account.txt";

/// The folder of an account's report: up to 40 bytes of the account with
/// anything but `[A-Za-z0-9._-]` replaced by `_`, then `-` and 12 hex
/// digits of its SHA-256. Any valid account (SPEC §1: up to 256 bytes,
/// any character but controls) gets a short, portable, distinct folder
/// name (issue 15: a 256-byte account broke every tenant's report run).
pub fn folder_name(account: &str) -> String {
    use sha2::Digest;
    let readable: String = account
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                true => c,
                false => '_',
            },
        )
        .take(40)
        .collect();
    let readable = readable.trim_start_matches('.');
    let digest = sha2::Sha256::digest(account.as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    match readable.is_empty() {
        true => hash,
        false => format!("{readable}-{hash}"),
    }
}

/// A name that is one plain path component.
pub fn safe_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Longest wait for one SMTP reply or one webhook answer.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Attempts per delivery, with a growing pause between them.
const DELIVERY_ATTEMPTS: u32 = 3;

/// Runs `attempt` up to [`DELIVERY_ATTEMPTS`] times, each within
/// [`DELIVERY_TIMEOUT`] per step, pausing 1 s then 4 s between tries.
async fn with_retries<F, Fut>(what: &str, mut attempt: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut last = None;
    for n in 0..DELIVERY_ATTEMPTS {
        if n > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(4u64.pow(n - 1))).await;
        }
        match tokio::time::timeout(DELIVERY_TIMEOUT * 4, attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(anyhow::anyhow!(
                    "{what}: no answer within {} s",
                    DELIVERY_TIMEOUT.as_secs() * 4
                ))
            }
        }
        tracing::warn!(
            what,
            attempt = n + 1,
            error = format!("{:#}", last.as_ref().expect("set above")),
            "delivery failed"
        );
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("{what}: not attempted")))
}

/// The message of one report: the headline as text, the files attached.
/// lettre encodes the subject per RFC 2047 when it is not plain ASCII (an
/// account name can never add a header line) and dot-stuffs the data.
pub fn message(from: &str, to: &[String], report: &Delivered) -> anyhow::Result<lettre::Message> {
    use lettre::message::header::ContentType;
    use lettre::message::{Attachment, MultiPart, SinglePart};
    let mut builder = lettre::Message::builder()
        .from(
            from.parse()
                .with_context(|| format!("--report-mail-from {from:?}"))?,
        )
        .subject(format!(
            "replywatch report {} for {}",
            report.run, report.account
        ));
    for rcpt in to {
        builder = builder.to(rcpt
            .parse()
            .with_context(|| format!("--report-mail-to {rcpt:?}"))?);
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(report.headline.clone()));
    for file in &report.files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("png") => "image/png",
            Some("csv") => "text/csv",
            _ => "application/octet-stream",
        };
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let kind = ContentType::parse(kind).context("a content type")?;
        parts = parts.singlepart(Attachment::new(name.to_string()).body(bytes, kind));
    }
    builder.multipart(parts).context("building the e-mail")
}

/// The SMTP transport for `--report-smtp`:
/// - `HOST:PORT`: plain SMTP to a trusted local relay (no TLS, no AUTH);
/// - `smtp://[USER:PASSWORD@]HOST[:PORT]` (default port 587): STARTTLS,
///   required; `?tls=none` for plain;
/// - `smtps://[USER:PASSWORD@]HOST[:PORT]` (default port 465): implicit TLS.
///
/// The certificate is checked against the system's roots and `ca` (PEM).
pub fn smtp_transport(
    spec: &str,
    ca: Option<&[u8]>,
) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls_for = |host: &str| -> anyhow::Result<TlsParameters> {
        let mut params = TlsParameters::builder(host.to_string());
        if let Some(pem) = ca {
            params =
                params.add_root_certificate(Certificate::from_pem(pem).context("--report-tls-ca")?);
        }
        params.build_rustls().context("setting up TLS for SMTP")
    };
    if !spec.contains("://") {
        let (host, port) = spec
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .with_context(|| {
                format!("--report-smtp {spec:?}: expected HOST:PORT, smtp://… or smtps://…")
            })?;
        return Ok(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .timeout(Some(DELIVERY_TIMEOUT))
                .build(),
        );
    }
    let url =
        url::Url::parse(spec).with_context(|| format!("--report-smtp: not a URL: {spec:?}"))?;
    let host = url
        .host_str()
        .with_context(|| "--report-smtp: the URL has no host")?
        .to_string();
    let plain = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let (tls, port) = match (url.scheme(), plain) {
        ("smtps", _) => (Tls::Wrapper(tls_for(&host)?), 465),
        ("smtp", false) => (Tls::Required(tls_for(&host)?), 587),
        ("smtp", true) => (Tls::None, 25),
        (other, _) => bail!("--report-smtp: scheme {other:?}: expected smtp or smtps"),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(port))
        .tls(tls)
        .timeout(Some(DELIVERY_TIMEOUT));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s)
                .with_context(|| "--report-smtp: bad percent-encoding in the credentials")
        };
        builder = builder.credentials(Credentials::new(
            decode(url.username())?,
            decode(url.password().unwrap_or_default())?,
        ));
    }
    Ok(builder.build())
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Sends one message.
pub async fn send_mail(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: lettre::Message,
) -> anyhow::Result<()> {
    transport
        .send(message)
        .await
        .context("sending the e-mail")?;
    Ok(())
}

/// The HTTP client of the webhook: rustls, the system's roots plus `ca`.
pub fn http_client(ca: Option<&[u8]>) -> anyhow::Result<reqwest::Client> {
    let mut builder = crate::tls::client_builder()
        .connect_timeout(DELIVERY_TIMEOUT)
        .timeout(DELIVERY_TIMEOUT);
    if let Some(pem) = ca {
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(pem).context("--report-tls-ca")?);
    }
    builder.build().context("building the HTTP client")
}

/// Posts `{"text": …}` to an HTTP(S) webhook.
pub async fn post_webhook(client: &reqwest::Client, url: &str, text: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "text": text }).to_string();
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    if !r.status().is_success() {
        bail!("the webhook {url} answered {}", r.status());
    }
    Ok(())
}

/// Delivers one run's reports as configured; each failure is returned.
pub async fn deliver(
    delivery: &Delivery,
    reports: &[Delivered],
    base: &Path,
) -> Vec<anyhow::Error> {
    let mut errors = Vec::new();
    let ca = match &delivery.tls_ca {
        Some(path) => match std::fs::read(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                errors.push(anyhow::anyhow!(
                    "reading --report-tls-ca {}: {e}",
                    path.display()
                ));
                return errors;
            }
        },
        None => None,
    };
    if let (Some(relay), Some(from)) = (&delivery.smtp, &delivery.mail_from)
        && !delivery.mail_to.is_empty()
    {
        let transport = match smtp_transport(relay.expose(), ca.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                return errors;
            }
        };
        for r in reports {
            let sent = match message(from, &delivery.mail_to, r) {
                Ok(m) => with_retries("e-mail", || send_mail(&transport, m.clone())).await,
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                errors.push(e.context(format!("e-mailing the report of {}", r.account)));
            }
        }
    }
    if let Some(url) = &delivery.webhook {
        let mut text = String::new();
        for r in reports {
            text += &format!("*{}* ({}): {}\n", r.account, r.run, r.headline);
            for f in &r.files {
                let shown = f.strip_prefix(base).unwrap_or(f);
                text += &format!("  /v1/reports/{}\n", shown.display());
            }
        }
        match http_client(ca.as_deref()) {
            Ok(client) => {
                if let Err(e) = with_retries("webhook", || post_webhook(&client, url, &text)).await
                {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(account: &str, headline: &str) -> Delivered {
        Delivered {
            run: "daily-0700-2026-11-30".into(),
            account: account.into(),
            headline: headline.into(),
            files: Vec::new(),
        }
    }

    #[test]
    fn an_account_with_a_line_break_cannot_add_a_header() {
        // Issue 15: the account went raw into the e-mail's Subject. (SPEC
        // §1 now refuses such accounts; the message is safe regardless.)
        let m = message(
            "r@example.test",
            &["m@example.test".into()],
            &report("evil\r\nBcc: all@x", "ok"),
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(!text.contains("\r\nBcc:"), "{text}");
        let subject = text.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(
            subject.contains("=?utf-8?") || subject.contains("=?UTF-8?"),
            "{subject}"
        );
        let m = message(
            "r@example.test",
            &["m@example.test".into()],
            &report("Café Zürich", "ok"),
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            !text.contains("Café"),
            "a non-ASCII subject is encoded: {text}"
        );
    }

    #[test]
    fn a_body_line_that_is_a_lone_dot_does_not_end_the_message() {
        // A bare "\n.\n" in the text must reach the relay dot-stuffed; lettre
        // writes CRLF lines, and its SMTP client stuffs lines starting with ".".
        let m = message(
            "r@example.test",
            &["m@example.test".into()],
            &report("a", "first\n.\nlast"),
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("first\r\n.\r\nlast"), "{text}");
        assert!(!text.contains("first\n.\nlast"), "{text}");
    }

    #[test]
    fn smtp_specs_choose_the_transport_and_name_what_is_wrong() {
        assert!(smtp_transport("localhost:2525", None).is_ok());
        assert!(smtp_transport("smtp://user:p%40ss@mail.example.test", None).is_ok());
        assert!(smtp_transport("smtps://mail.example.test:465", None).is_ok());
        assert!(smtp_transport("smtp://mail.example.test?tls=none", None).is_ok());
        let e = format!("{:#}", smtp_transport("ftp://x", None).unwrap_err());
        assert!(e.contains("scheme"), "{e}");
        let e = format!("{:#}", smtp_transport("no-port", None).unwrap_err());
        assert!(e.contains("HOST:PORT"), "{e}");
        assert_eq!(percent_decode("p%40ss"), Some("p@ss".into()));
    }

    #[test]
    fn folder_names_are_short_distinct_and_portable_for_any_account() {
        let long = "x".repeat(256);
        let names = [
            folder_name(&long),
            folder_name(&format!("{long}y")),
            folder_name("a/b"),
            folder_name("a_b"),
            folder_name(".."),
            folder_name("東京"),
        ];
        for n in &names {
            assert!(
                n.len() <= 53 && safe_component(n) && !n.starts_with('.'),
                "{n}"
            );
        }
        let distinct: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        assert!(folder_name("AmazonHelp").starts_with("AmazonHelp-"));
    }
}
