//! `GET`/`POST /webhooks/meta` (SPEC §7) with payloads shaped like Meta's
//! documented examples, signed with a test secret: stored events, stats,
//! retries, and every kind of bad delivery.

use crate::helpers::{Backend, TestApp};
use replywatch::webhooks::meta::sign;
use serde_json::json;

const SECRET: &str = "test-app-secret";

async fn app() -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, |c| {
        c.meta.meta_verify_token = Some("verify-me".into());
        c.meta.meta_app_secret = vec!["old-secret".into(), SECRET.into()];
        c.meta.meta_bot_app_id = vec!["263902037430900".into()];
        c.meta.meta_auto_app_id = vec!["1234".into()];
    })
    .await
}

async fn deliver(
    app: &TestApp,
    body: &[u8],
    signature: Option<String>,
) -> (u16, serde_json::Value) {
    let mut r = app
        .client
        .post(app.url("/webhooks/meta"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        r = r.header("x-hub-signature-256", s);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Messenger: a batch with two entries, messages, an echo from a bot app,
/// a human echo, a standby message, a read receipt and a reaction.
fn messenger_payload() -> serde_json::Value {
    json!({"object": "page", "entry": [
        {"id": "PAGE_ID", "time": 1793613600000u64, "messaging": [
            {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1793613600000u64,
             "message": {"mid": "m_1", "text": "hello, is the shop open?"}},
            {"sender": {"id": "PAGE_ID"}, "recipient": {"id": "PSID_1"}, "timestamp": 1793613605000u64,
             "message": {"mid": "m_2", "is_echo": true, "app_id": 263902037430900u64, "text": "Thanks! An agent will reply soon."}},
            {"sender": {"id": "PAGE_ID"}, "recipient": {"id": "PSID_1"}, "timestamp": 1793613900000u64,
             "message": {"mid": "m_3", "is_echo": true, "text": "Yes, until 18:00."}},
            {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1793613910000u64,
             "read": {"watermark": 1793613900000u64}},
            {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1793613920000u64,
             "reaction": {"mid": "m_3", "action": "react", "reaction": "love"}}
        ]},
        {"id": "PAGE_ID", "time": 1793614000000u64, "standby": [
            {"sender": {"id": "PSID_2"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1793614000000u64,
             "message": {"mid": "m_4", "text": "anyone there?"}}
        ]}
    ]})
}

fn whatsapp_payload() -> serde_json::Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA_ID", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15551234567", "phone_number_id": "PHONE_NUMBER_ID"},
        "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "16315551181"}],
        "messages": [{"from": "16315551181", "id": "wamid.ID1", "timestamp": "1793613600", "type": "text", "text": {"body": "Where is my order?"}}]
    }}, {"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15551234567", "phone_number_id": "PHONE_NUMBER_ID"},
        "statuses": [
            {"id": "wamid.ID2", "status": "sent", "timestamp": "1793617200", "recipient_id": "16315551181"},
            {"id": "wamid.ID2", "status": "delivered", "timestamp": "1793617201", "recipient_id": "16315551181"},
            {"id": "wamid.ID2", "status": "read", "timestamp": "1793617260", "recipient_id": "16315551181"}
        ]
    }}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = app().await;
    let ok = app
        .client
        .get(app.url(
            "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    for query in [
        "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
        "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1",
        "hub.challenge=1",
    ] {
        let r = app.get(&format!("/webhooks/meta?{query}")).await;
        assert_eq!(r.status, 403, "{query}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messenger_deliveries_are_stored_once_and_give_the_stats() {
    let app = app().await;
    let body = serde_json::to_vec(&messenger_payload()).unwrap();
    let (status, outcome) = deliver(&app, &body, Some(sign(&body, SECRET))).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 4);
    assert_eq!(outcome["ignored"], 2, "the read receipt and the reaction");
    // Meta retries: the same delivery again stores nothing new.
    let (status, again) = deliver(&app, &body, Some(sign(&body, "old-secret"))).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicates"], 4);
    let stats = app
        .get("/v1/stats?as_of=2026-11-03T00:00:00Z&window=7d&channel=messenger")
        .await
        .body;
    let g = &stats["groups"][0];
    assert_eq!(g["account"], "PAGE_ID");
    assert_eq!(g["requests"], 2);
    assert_eq!(
        g["answered"], 1,
        "the bot echo does not answer; the human echo does"
    );
    assert_eq!(g["median_first_reply_seconds"], 300.0);
    assert_eq!(
        g["badge_response_seconds"], 5.0,
        "the badge counts the bot's reply"
    );
    app.finish().await;
}

/// Instagram Direct (SPEC §7: `object: "instagram"`, the Messenger shape):
/// a customer message, an automatic reply by the configured auto app, and
/// a person's reply; on channel `instagram` of the Instagram account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_deliveries_are_stored_on_the_instagram_channel() {
    let app = app().await;
    let payload = json!({"object": "instagram", "entry": [
        {"id": "IG_ACCOUNT", "time": 1793613600000u64, "messaging": [
            {"sender": {"id": "IGSID_1"}, "recipient": {"id": "IG_ACCOUNT"}, "timestamp": 1793613600000u64,
             "message": {"mid": "ig_1", "text": "do you ship to Izmir?"}},
            {"sender": {"id": "IG_ACCOUNT"}, "recipient": {"id": "IGSID_1"}, "timestamp": 1793613601000u64,
             "message": {"mid": "ig_2", "is_echo": true, "app_id": 1234, "text": "We are away, back soon."}},
            {"sender": {"id": "IG_ACCOUNT"}, "recipient": {"id": "IGSID_1"}, "timestamp": 1793614200000u64,
             "message": {"mid": "ig_3", "is_echo": true, "text": "Yes, in 2 days."}}
        ]}
    ]});
    let body = serde_json::to_vec(&payload).unwrap();
    let (status, outcome) = deliver(&app, &body, Some(sign(&body, SECRET))).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 3);
    let stats = app
        .get("/v1/stats?as_of=2026-11-03T00:00:00Z&window=7d&account=IG_ACCOUNT")
        .await
        .body;
    let groups = stats["groups"].as_array().unwrap();
    let channels: Vec<&str> = groups
        .iter()
        .map(|g| g["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["instagram", "all"]);
    let g = &groups[0];
    assert_eq!(
        (g["requests"].as_u64(), g["answered"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        g["median_first_reply_seconds"], 600.0,
        "the automatic reply never answers; the person's does"
    );
    assert_eq!(
        g["badge_response_seconds"], 600.0,
        "nor does it for the badge (auto is not a bot)"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_sent_statuses_answer_customer_messages() {
    let app = app().await;
    let body = serde_json::to_vec(&whatsapp_payload()).unwrap();
    let (status, outcome) = deliver(&app, &body, Some(sign(&body, SECRET))).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["accepted"], 2);
    assert_eq!(outcome["ignored"], 2, "delivered and read statuses");
    let stats = app
        .get("/v1/stats?as_of=2026-11-03T00:00:00Z&channel=whatsapp")
        .await
        .body;
    assert_eq!(stats["groups"][0]["account"], "PHONE_NUMBER_ID");
    assert_eq!(stats["groups"][0]["median_first_reply_seconds"], 3600.0);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_store_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.meta.meta_app_secret = vec![SECRET.into()];
        c.ingestion.max_body_bytes = 4096;
    })
    .await;
    let body = serde_json::to_vec(&messenger_payload()).unwrap();
    let signed = sign(&body, SECRET);
    let cases: Vec<(&str, Vec<u8>, Option<String>, u16)> = vec![
        ("no signature", body.clone(), None, 401),
        ("wrong secret", body.clone(), Some(sign(&body, "nope")), 401),
        (
            "truncated body",
            body[..body.len() / 2].to_vec(),
            Some(signed.clone()),
            401,
        ),
        (
            "signed but truncated",
            body[..body.len() / 2].to_vec(),
            Some(sign(&body[..body.len() / 2], SECRET)),
            400,
        ),
        (
            "over the size limit",
            vec![b' '; 5000],
            Some(sign(&[b' '; 5000], SECRET)),
            413,
        ),
    ];
    for (what, b, sig, status) in cases {
        let (got, _) = deliver(&app, &b, sig).await;
        assert_eq!(got, status, "{what}");
    }
    // Wrong JSON types and an unknown object: acknowledged, nothing stored.
    for payload in [
        json!({"object": "page", "entry": [{"id": 5, "messaging": [{"message": {"mid": []}, "timestamp": "soon"}]}]}),
        json!({"object": "user", "entry": [{"id": "1", "changes": [{"field": "feed"}]}]}),
        json!({"object": "page", "entry": "nope"}),
    ] {
        let b = serde_json::to_vec(&payload).unwrap();
        let (status, outcome) = deliver(&app, &b, Some(sign(&b, SECRET))).await;
        assert_eq!(status, 200, "{payload}");
        assert_eq!(outcome["accepted"], 0);
    }
    let store = app.db.store().await;
    assert_eq!(store.count_events().await.unwrap(), 0);
    store.close().await;
    let metrics = app.scrape().await;
    assert!(
        metrics.contains("replywatch_events_rejected_total{reason=\"unsupported_object\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("replywatch_events_rejected_total{reason=\"bad_signature\"} 3"));
    app.finish().await;
}
