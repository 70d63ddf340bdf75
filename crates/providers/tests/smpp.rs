//! Pins the SMPP 3.4 adapter against the testkit's fake SMSC on loopback:
//! it binds as a transceiver, sends UCS-2 and GSM-7 texts with the right
//! data_coding and, for long texts, numbered UDH segments (R8); turns
//! receipts and inbound deliver_sm into events (R13); classifies errors
//! (R12); and rebinds after the SMSC drops the link.

use serde_json::json;
use smsflow_core::encoding::{analyze, split, Encoding};
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use smsflow_providers::{build, Provider, SendError, SendRequest, WebhookEvent};
use smsflow_testkit::fakes::smpp::FakeSmsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(10);

async fn connect(smsc: &FakeSmsc) -> (Arc<dyn Provider>, UnboundedReceiver<WebhookEvent>) {
    let config = json!({"host": smsc.host(), "port": smsc.port(), "system_id": "smsflow", "password": "secret", "enquire_link_secs": 1});
    let provider = build("smpp", &config, "http://unused").expect("valid config");
    let events = provider.subscribe().expect("SMPP streams its events");
    assert!(
        provider.subscribe().is_none(),
        "the receiver is handed out once"
    );
    smsc.wait_for_binds(1).await;
    (provider, events)
}

fn request(body: &str) -> SendRequest {
    SendRequest {
        idempotency_key: "key-1".into(),
        from: E164::parse("+14155550100", None).unwrap(),
        from_external_id: None,
        to: E164::parse("+14155550123", None).unwrap(),
        body: body.into(),
        segments: analyze(body).segments,
    }
}

async fn next_event(events: &mut UnboundedReceiver<WebhookEvent>) -> WebhookEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the session is alive")
}

#[tokio::test]
async fn r8_a_300_character_ucs2_text_goes_as_numbered_udh_segments() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (provider, _events) = connect(&smsc).await;
    let text = "Привет! Ваш заказ готов. ".repeat(12);
    let text: String = text.chars().take(300).collect();
    let info = analyze(&text);
    assert_eq!(info.encoding, Encoding::Ucs2);
    assert_eq!(
        info.segments, 5,
        "300 UCS-2 characters are 5 segments of up to 67"
    );

    let receipt = provider.send(&request(&text)).await.expect("accepted");
    let parts = smsc.wait_for_submits(5).await;
    assert_eq!(parts.len(), 5);
    assert_eq!(
        receipt.provider_message_id, parts[0].message_id,
        "the first segment's id stands for the message"
    );
    assert_eq!(receipt.status, MessageStatus::Sent);
    let reference = parts[0].udh.as_ref().expect("a UDH")[3];
    let expected = split(&text);
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.data_coding, 8);
        assert_eq!(part.esm_class, 0x40);
        assert_eq!(part.registered_delivery, 1);
        assert_eq!(part.source_addr, "14155550100");
        assert_eq!(part.destination_addr, "14155550123");
        assert_eq!(
            part.udh.as_deref(),
            Some(&[0x05, 0x00, 0x03, reference, 5, i as u8 + 1][..])
        );
        assert_eq!(part.ucs2_text(), expected[i]);
        assert!(part.payload.len() <= 134);
    }
    let joined: String = parts.iter().map(|p| p.ucs2_text()).collect();
    assert_eq!(joined, text);
}

#[tokio::test]
async fn r8_a_160_character_gsm_text_is_one_submit_with_data_coding_0_and_no_udh() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (provider, _events) = connect(&smsc).await;
    let text = format!("{}@£", "a".repeat(158));
    provider.send(&request(&text)).await.expect("accepted");
    let parts = smsc.wait_for_submits(1).await;
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].data_coding, 0, "{:?}", parts[0]);
    assert_eq!(parts[0].esm_class, 0);
    assert!(parts[0].udh.is_none());
    // Unpacked GSM 03.38: one septet per octet; @ is 0x00 and £ 0x01.
    assert_eq!(parts[0].payload.len(), 160);
    assert_eq!(&parts[0].payload[158..], &[0x00, 0x01]);
}

#[tokio::test]
async fn r13_a_delivery_receipt_becomes_a_delivered_status_event() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (provider, mut events) = connect(&smsc).await;
    let receipt = provider.send(&request("Hello")).await.unwrap();
    smsc.deliver_receipt(
        &receipt.provider_message_id,
        "DELIVRD",
        "+14155550100",
        "+14155550123",
    )
    .await;
    assert_eq!(
        next_event(&mut events).await,
        WebhookEvent::Status {
            provider_message_id: receipt.provider_message_id.clone(),
            status: MessageStatus::Delivered,
            raw_status: "DELIVRD".into(),
            error_code: None,
        }
    );
    smsc.deliver_receipt(
        &receipt.provider_message_id,
        "UNDELIV",
        "+14155550100",
        "+14155550123",
    )
    .await;
    assert!(matches!(
        next_event(&mut events).await,
        WebhookEvent::Status {
            status: MessageStatus::Undelivered,
            ..
        }
    ));
}

#[tokio::test]
async fn an_inbound_deliver_sm_becomes_an_inbound_event() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (_provider, mut events) = connect(&smsc).await;
    smsc.deliver_mo("+14155550123", "+14155550100", "STOP")
        .await;
    smsc.deliver_mo("+14155550123", "+14155550100", "Спасибо 😀")
        .await;
    let from = E164::parse("+14155550123", None).unwrap();
    let to = E164::parse("+14155550100", None).unwrap();
    assert_eq!(
        next_event(&mut events).await,
        WebhookEvent::Inbound {
            from: from.clone(),
            to: to.clone(),
            body: "STOP".into(),
            provider_message_id: None
        }
    );
    assert_eq!(
        next_event(&mut events).await,
        WebhookEvent::Inbound {
            from,
            to,
            body: "Спасибо 😀".into(),
            provider_message_id: None
        }
    );
}

#[tokio::test]
async fn a_dropped_connection_is_rebound_and_sending_works_again() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (provider, _events) = connect(&smsc).await;
    smsc.drop_connection().await;
    smsc.wait_for_binds(2).await;
    let receipt = tokio::time::timeout(WAIT, async {
        // The adapter may still be reading the bind response; a send in
        // that instant is queued, one during backoff fails transiently.
        loop {
            match provider.send(&request("after the drop")).await {
                Ok(r) => return r,
                Err(SendError::Transient { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("sent after rebinding");
    let parts = smsc.wait_for_submits(1).await;
    assert_eq!(
        parts.last().unwrap().message_id,
        receipt.provider_message_id
    );
    assert_eq!(smsc.refused_binds(), 0);
}

#[tokio::test]
async fn enquire_link_keeps_the_session_alive() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (_provider, _events) = connect(&smsc).await;
    smsc.wait_for_enquire_links(1).await;
    assert_eq!(smsc.binds(), 1);
}

#[tokio::test]
async fn r12_throttling_is_transient_and_an_invalid_destination_permanent() {
    let smsc = FakeSmsc::start("smsflow", "secret").await;
    let (provider, _events) = connect(&smsc).await;
    smsc.reject_next_submit(0x58);
    assert!(
        matches!(provider.send(&request("hi")).await, Err(SendError::Transient { code, .. }) if code == "smpp:0x00000058")
    );
    smsc.reject_next_submit(0x0B);
    assert!(
        matches!(provider.send(&request("hi")).await, Err(SendError::Permanent { code, .. }) if code == "smpp:0x0000000B")
    );
    assert!(provider.send(&request("hi")).await.is_ok());
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_sends_fail_transiently() {
    let smsc = FakeSmsc::start("smsflow", "other").await;
    let config = json!({"host": smsc.host(), "port": smsc.port(), "system_id": "smsflow", "password": "secret"});
    let provider = build("smpp", &config, "http://unused").unwrap();
    let err = provider.send(&request("hi")).await.unwrap_err();
    assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
    assert!(smsc.refused_binds() >= 1);
    assert_eq!(smsc.binds(), 0);
}
