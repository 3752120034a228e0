//! Scheduled reports in `serve`: a run missed while the service was down
//! happens at start-up, once; `GET /v1/reports` lists it and serves its files.

use crate::helpers::{Backend, TestApp, TestDb};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_daily_report_runs_once_at_start_up_and_is_listed() {
    let db = TestDb::create(Backend::Sqlite).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let at = |h: u32, m: u32| {
        yesterday
            .and_hms_opt(h, m, 0)
            .unwrap()
            .and_utc()
            .to_rfc3339()
    };
    let events: Vec<replywatch::domain::MessageEvent> = [
        format!(r#"{{"id":"1","account":"acme","channel":"messenger","conversation":"c","from":"customer","at":"{}"}}"#, at(10, 0)),
        format!(r#"{{"id":"2","account":"acme","channel":"messenger","conversation":"c","from":"agent","at":"{}"}}"#, at(10, 20)),
    ]
    .iter()
    .map(|l| replywatch::domain::MessageEvent::from_json(l.as_bytes()).unwrap())
    .collect();
    let store = db.store().await;
    store.insert_events(&events).await.unwrap();
    store.close().await;
    let dir = std::env::temp_dir().join(format!("replywatch-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (smtp, mails) = smtp_server().await;
    let (hook, posts) = http_sink().await;
    let configure = |c: &mut replywatch::config::ServeConfig| {
        c.scheduled.reports = vec!["daily 00:00 UTC".into()];
        c.scheduled.reports_dir = dir.clone();
        c.scheduled.report_smtp = Some(smtp.to_string().as_str().into());
        c.scheduled.report_mail_from = Some("replywatch@example.test".into());
        c.scheduled.report_mail_to = vec!["manager@example.test".into()];
        c.scheduled.report_webhook = Some(format!("http://{hook}/hook"));
    };
    let app = TestApp::spawn_on(db, configure).await;
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = app.get("/v1/reports").await.body;
        if listed.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let runs = listed.as_array().expect("a list of reports").clone();
    assert_eq!(runs.len(), 1, "{listed}");
    assert_eq!(runs[0]["account"], "acme");
    assert_eq!(runs[0]["run"], format!("daily-0000-{yesterday}"));
    let daily = runs[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f.as_str().unwrap().ends_with("daily.csv"))
        .unwrap();
    let csv = app
        .client
        .get(app.url(daily.as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.contains(&format!("{yesterday},all,1,1,0,")), "{text}");
    assert_eq!(app.get("/v1/reports/x/../daily.csv").await.status, 404);

    // Delivered: one e-mail with the files attached, one webhook message.
    let mail = tokio::time::timeout(Duration::from_secs(10), mails.recv_async())
        .await
        .unwrap();
    assert!(
        mail.contains(&format!(
            "Subject: replywatch report daily-0000-{yesterday} for acme"
        )),
        "{mail}"
    );
    for name in [
        "daily.csv",
        "agents.csv",
        "requests.csv",
        "first-reply.png",
        "heatmap.png",
    ] {
        assert!(
            mail.contains(&format!("filename=\"{name}\"")),
            "{name} attached"
        );
    }
    assert!(
        mail.contains("1 requests, response rate"),
        "headline in the body"
    );
    // Compared with the previous period (issue 19), which had no request.
    assert!(
        mail.contains("median first reply 20 min (none answered in the previous day)"),
        "{mail}"
    );
    assert!(
        mail.contains("filename=\"summary.csv\""),
        "summary attached"
    );
    let post = tokio::time::timeout(Duration::from_secs(10), posts.recv_async())
        .await
        .unwrap();
    let text: serde_json::Value = serde_json::from_str(&post).unwrap();
    assert!(text["text"].as_str().unwrap().contains("*acme*"), "{post}");

    // After a restart the run is not repeated.
    let state_file = dir.join(".schedule-state.json");
    for _ in 0..100 {
        if state_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = std::fs::read_to_string(&state_file).unwrap();
    let run_folder = dir.join(format!("daily-0000-{yesterday}"));
    let written = std::fs::metadata(&run_folder).unwrap().modified().unwrap();
    let db = app.stop().await;
    let app = TestApp::spawn_on(db, configure).await;
    // The first run was delivered within a second of start-up; a repeat
    // would rewrite the folder and mail and post again.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), mails.recv_async())
            .await
            .is_err(),
        "a second e-mail after the restart"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), posts.recv_async())
            .await
            .is_err(),
        "a second webhook post after the restart"
    );
    assert_eq!(
        std::fs::metadata(&run_folder).unwrap().modified().unwrap(),
        written,
        "the run's folder was written again"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join(".schedule-state.json")).unwrap(),
        state
    );
    assert_eq!(
        app.get("/v1/reports").await.body.as_array().unwrap().len(),
        1
    );
    app.finish().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-message-at-a-time SMTP server on loopback; yields each DATA.
async fn smtp_server() -> (std::net::SocketAddr, Receiver) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 test ready\r\n").await.unwrap();
            let mut data: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(body) = data.as_mut() {
                    if line == "." {
                        tx.send(data.take().unwrap());
                        write.write_all(b"250 queued\r\n").await.unwrap();
                    } else {
                        body.push_str(&line);
                        body.push('\n');
                    }
                    continue;
                }
                let reply: &[u8] = match line.split_whitespace().next().unwrap_or("") {
                    "EHLO" => b"250-test\r\n250 OK\r\n",
                    "DATA" => {
                        data = Some(String::new());
                        b"354 go on\r\n"
                    }
                    "QUIT" => b"221 bye\r\n",
                    _ => b"250 OK\r\n",
                };
                write.write_all(reply).await.unwrap();
            }
        }
    });
    (addr, rx)
}

/// An HTTP endpoint that answers 200 and yields each request body.
async fn http_sink() -> (std::net::SocketAddr, Receiver) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let body = loop {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break Some(
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string(),
                        );
                    }
                }
            };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
            if let Some(b) = body {
                tx.send(b);
            }
        }
    });
    (addr, rx)
}

/// An unbounded channel of strings with an async receive.
#[derive(Clone)]
struct Sender(tokio::sync::mpsc::UnboundedSender<String>);
struct Receiver(tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<String>>);

impl Sender {
    fn send(&self, s: String) {
        let _ = self.0.send(s);
    }
}

impl Receiver {
    async fn recv_async(&self) -> String {
        self.0.lock().await.recv().await.unwrap()
    }
}

fn channel() -> (Sender, Receiver) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (Sender(tx), Receiver(tokio::sync::Mutex::new(rx)))
}
