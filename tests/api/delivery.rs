//! Delivery of scheduled reports over TLS (issue 15): STARTTLS and AUTH to
//! an SMTP server, HTTPS to a webhook, against loopback servers with a
//! self-signed certificate made by the openssl CLI.

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1
/// (openssl CLI): (CA certificate, server certificate, server key) paths.
fn test_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let path = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("openssl must be installed");
        assert!(ok.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=replywatch test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        path("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// One SMTP session on `stream`; returns the stream when the client asked
/// for STARTTLS. Plain: only EHLO and STARTTLS are offered; over TLS, AUTH
/// PLAIN (user/secret) is required before MAIL.
async fn smtp_session<S>(
    stream: S,
    tls: bool,
    tx: &tokio::sync::mpsc::UnboundedSender<String>,
) -> Option<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut stream = BufReader::new(stream);
    let mut data: Option<String> = None;
    let mut authenticated = false;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if let Some(body) = data.as_mut() {
            if line == "." {
                let _ = tx.send(data.take().unwrap());
                stream.get_mut().write_all(b"250 queued\r\n").await.unwrap();
            } else {
                body.push_str(&line);
                body.push('\n');
            }
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if !tls => b"250-test\r\n250 STARTTLS\r\n",
            "EHLO" => b"250-test\r\n250 AUTH PLAIN\r\n",
            "STARTTLS" if !tls => {
                stream
                    .get_mut()
                    .write_all(b"220 go ahead\r\n")
                    .await
                    .unwrap();
                return Some(stream.into_inner());
            }
            "AUTH" if tls && line.ends_with("AHVzZXIAc2VjcmV0") => {
                authenticated = true;
                b"235 authenticated\r\n"
            }
            "AUTH" => b"535 no\r\n",
            "MAIL" if !authenticated => b"530 authenticate over TLS first\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go on\r\n"
            }
            "QUIT" => b"221 bye\r\n",
            _ => b"250 OK\r\n",
        };
        stream.get_mut().write_all(reply).await.unwrap();
    }
}

/// An SMTP server that requires STARTTLS and AUTH; yields each DATA.
async fn starttls_smtp_server(
    acceptor: tokio_rustls::TlsAcceptor,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            stream.write_all(b"220 test ready\r\n").await.unwrap();
            if let Some(plain) = smtp_session(stream, false, &tx).await
                && let Ok(secured) = acceptor.accept(plain).await
            {
                smtp_session(secured, true, &tx).await;
            }
        }
    });
    (port, rx)
}

/// An HTTPS endpoint that answers 200 and yields each request body.
async fn https_sink(
    acceptor: tokio_rustls::TlsAcceptor,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                continue;
            };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = tls.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = tx.send(body.to_string());
                        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                        let _ = tls.shutdown().await;
                        break;
                    }
                }
            }
        }
    });
    (port, rx)
}

/// Issue 15: a real relay needs STARTTLS and AUTH, and Slack needs HTTPS.
/// A report is e-mailed over STARTTLS with AUTH PLAIN and posted to an
/// HTTPS webhook, both trusting the test's own CA (`--report-tls-ca`); and
/// a relay that never answers costs bounded time, not a hung run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_go_out_over_starttls_with_auth_and_to_an_https_webhook() {
    use replywatch::reports::delivery::{Delivered, Delivery, deliver};
    let dir = std::env::temp_dir().join(format!("replywatch-delivery-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = test_pki(&dir);
    let acceptor = tls_acceptor(&cert, &key);
    let (smtp_port, mut mails) = starttls_smtp_server(acceptor.clone()).await;
    let (hook_port, mut posts) = https_sink(acceptor).await;
    let file = dir.join("daily.csv");
    std::fs::write(&file, "date,channel\n").unwrap();
    let report = Delivered {
        run: "daily-0000-2026-11-30".into(),
        account: "Café Zürich".into(),
        headline: "1 requests, response rate 100 %".into(),
        files: vec![file],
    };
    let delivery = Delivery {
        smtp: Some(
            format!("smtp://user:secret@localhost:{smtp_port}")
                .as_str()
                .into(),
        ),
        mail_from: Some("replywatch@example.test".into()),
        mail_to: vec!["manager@example.test".into()],
        webhook: Some(format!("https://localhost:{hook_port}/hook")),
        tls_ca: Some(ca.clone()),
    };
    let errors = deliver(&delivery, std::slice::from_ref(&report), &dir).await;
    assert!(errors.is_empty(), "{errors:?}");
    let mail = mails.try_recv().expect("the e-mail went out over STARTTLS");
    let subject = mail.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(
        subject.contains("=?utf-8?b?") && !mail.contains("Café"),
        "{mail}"
    );
    assert!(mail.contains("filename=\"daily.csv\""), "{mail}");
    let post = posts.try_recv().expect("the webhook went out over HTTPS");
    let text: serde_json::Value = serde_json::from_str(&post).unwrap();
    assert!(
        text["text"].as_str().unwrap().contains("Café Zürich"),
        "{post}"
    );

    // Without the CA the certificate is refused: nothing goes out in clear.
    let untrusted = Delivery {
        tls_ca: None,
        ..delivery.clone()
    };
    let errors = deliver(&untrusted, std::slice::from_ref(&report), &dir).await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(mails.try_recv().is_err() && posts.try_recv().is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
