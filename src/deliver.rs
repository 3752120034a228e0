//! Delivery of scheduled reports: an e-mail per account with the CSV and
//! PNG files attached (plain SMTP to a relay: EHLO, MAIL, RCPT, DATA; no
//! TLS or AUTH, so point it at a local relay), and a Slack-compatible JSON
//! message (`{"text": …}`) with the headline figures and the files' paths,
//! posted to an HTTP webhook. Knows files and sockets, not the engine.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where reports go.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// `host:port` of an SMTP relay.
    pub smtp: Option<String>,
    pub mail_from: Option<String>,
    pub mail_to: Vec<String>,
    /// `http://…` endpoint that takes Slack-style `{"text": …}`.
    pub webhook: Option<String>,
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

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4 + bytes.len() / 57 * 2);
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n"); // 76-character lines
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A header value as RFC 2047 encoded words when it is not plain printable
/// ASCII: an account name with a line break can never add a header, and a
/// name in any script arrives readable. Each word holds at most 45 bytes
/// (60 characters of base64), cut at character boundaries.
pub fn encoded_header(value: &str) -> String {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return value.to_string();
    }
    let mut words = Vec::new();
    let mut start = 0;
    while start < value.len() {
        let mut end = (start + 45).min(value.len());
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        words.push(format!(
            "=?UTF-8?B?{}?=",
            base64(&value.as_bytes()[start..end])
        ));
        start = end;
    }
    // Folded: CRLF and a space between words.
    words.join("\r\n ")
}

/// The DATA of an SMTP transaction (RFC 5321 §4.5.2): every line ending
/// made CRLF (a bare LF or CR would let a line start with "." unseen), and
/// every line that starts with "." given another one, the first included.
pub fn smtp_data(message: &str) -> String {
    let normalised = message.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(normalised.len() + 64);
    for line in normalised.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
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

/// The MIME message of one report.
pub fn message(from: &str, to: &[String], report: &Delivered) -> anyhow::Result<String> {
    let boundary = format!("replywatch-{}", report.run);
    let mut m = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        to.join(", "),
        encoded_header(&format!(
            "replywatch report {} for {}",
            report.run, report.account
        )),
        report.headline
    );
    for file in &report.files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("png") => "image/png",
            Some("csv") => "text/csv",
            _ => "application/octet-stream",
        };
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        m += &format!(
            "--{boundary}\r\nContent-Type: {kind}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64(&bytes)
        );
    }
    m += &format!("--{boundary}--\r\n");
    Ok(m)
}

async fn expect(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: &str,
) -> anyhow::Result<()> {
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(DELIVERY_TIMEOUT, reader.read_line(&mut line))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the SMTP server did not answer within {} s (expected {code})",
                    DELIVERY_TIMEOUT.as_secs()
                )
            })??;
        if read == 0 {
            bail!("the SMTP server closed the connection (expected {code})");
        }
        if !line.starts_with(code) {
            bail!(
                "the SMTP server answered {:?}, expected {code}",
                line.trim_end()
            );
        }
        // "250-…" continues, "250 …" ends a reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

/// Sends one message through an SMTP relay.
pub async fn send_mail(relay: &str, from: &str, to: &[String], data: &str) -> anyhow::Result<()> {
    let stream = tokio::time::timeout(DELIVERY_TIMEOUT, TcpStream::connect(relay))
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "connecting to SMTP {relay}: no answer within {} s",
                DELIVERY_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("connecting to SMTP {relay}"))?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    expect(&mut reader, "220").await?;
    let mut say = async |line: String, code: &str| -> anyhow::Result<()> {
        write.write_all(line.as_bytes()).await?;
        expect(&mut reader, code).await
    };
    say("EHLO replywatch\r\n".into(), "250").await?;
    say(format!("MAIL FROM:<{from}>\r\n"), "250").await?;
    for rcpt in to {
        say(format!("RCPT TO:<{rcpt}>\r\n"), "250").await?;
    }
    say("DATA\r\n".into(), "354").await?;
    say(format!("{}.\r\n", smtp_data(data)), "250").await?;
    say("QUIT\r\n".into(), "221").await?;
    Ok(())
}

/// Posts `{"text": …}` to an HTTP webhook.
pub async fn post_webhook(url: &str, text: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "text": text }).to_string();
    let r = reqwest::Client::builder()
        .connect_timeout(DELIVERY_TIMEOUT)
        .timeout(DELIVERY_TIMEOUT)
        .build()
        .context("building the HTTP client")?
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
    if let (Some(relay), Some(from)) = (&delivery.smtp, &delivery.mail_from)
        && !delivery.mail_to.is_empty()
    {
        for r in reports {
            let sent = match message(from, &delivery.mail_to, r) {
                Ok(m) => {
                    with_retries("e-mail", || send_mail(relay, from, &delivery.mail_to, &m)).await
                }
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
        if let Err(e) = with_retries("webhook", || post_webhook(url, &text)).await {
            errors.push(e);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_with_a_line_break_or_non_ascii_is_encoded_words() {
        // Issue 15: an account with CR/LF went raw into the Subject header.
        let subject = encoded_header("replywatch report daily for evil\r\nBcc: all@x");
        assert!(!subject.contains('\n'), "{subject}");
        assert!(!subject.contains("Bcc:"), "{subject}");
        assert!(subject.starts_with("=?UTF-8?B?"), "{subject}");
        assert_eq!(encoded_header("plain ascii"), "plain ascii");
        // Every word is at most 75 characters (RFC 2047 §2).
        let long = encoded_header(&"Zürich ".repeat(40));
        assert!(long.split("\r\n ").all(|w| w.len() <= 75), "{long}");
    }

    #[test]
    fn smtp_data_stuffs_every_dot_line_whatever_its_line_ending() {
        assert_eq!(
            smtp_data(".first\nok\n.\r\n..x\r."),
            "..first\r\nok\r\n..\r\n...x\r\n..\r\n"
        );
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

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
