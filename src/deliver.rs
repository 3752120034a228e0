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

/// The MIME message of one report.
pub fn message(from: &str, to: &[String], report: &Delivered) -> anyhow::Result<String> {
    let boundary = format!("replywatch-{}", report.run);
    let mut m = format!(
        "From: {from}\r\nTo: {}\r\nSubject: replywatch report {} for {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        to.join(", "),
        report.run,
        report.account,
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
        if reader.read_line(&mut line).await? == 0 {
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
    let stream = TcpStream::connect(relay)
        .await
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
    // Dot-stuffing: a line starting with "." gets another.
    let body = data.replace("\r\n.", "\r\n..");
    say(format!("{body}\r\n.\r\n"), "250").await?;
    say("QUIT\r\n".into(), "221").await?;
    Ok(())
}

/// Posts `{"text": …}` to an HTTP webhook.
pub async fn post_webhook(url: &str, text: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "text": text }).to_string();
    let r = reqwest::Client::new()
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
                Ok(m) => send_mail(relay, from, &delivery.mail_to, &m).await,
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
        if let Err(e) = post_webhook(url, &text).await {
            errors.push(e);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::base64;

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
