//! A fake SMSC speaking SMPP 3.4 over loopback TCP, PDUs encoded by
//! `rusmpp` as the adapter's are.
//!
//! It accepts `bind_transceiver` only with the expected `system_id` and
//! `password`, answers `enquire_link`, records every `submit_sm` (data
//! coding, esm_class, UDH and bytes) and answers `submit_sm_resp` with ids
//! `smsc-1`, `smsc-2`, …. A test can push `deliver_sm` receipts and inbound
//! messages to the bound client, and drop the connection to watch the
//! client rebind. Waits are bounded; a condition that never comes panics.

use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{BindTransceiverResp, DeliverSm, SubmitSmResp};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, MessageState, Npi, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::codec::Framed;

/// How long the fake waits for a condition before panicking.
pub const WAIT: Duration = Duration::from_secs(10);

/// One `submit_sm` as the SMSC received it.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub source_addr: String,
    pub destination_addr: String,
    pub esm_class: u8,
    pub data_coding: u8,
    pub registered_delivery: u8,
    /// The user data header when `esm_class` has UDHI (0x40), length octet
    /// included.
    pub udh: Option<Vec<u8>>,
    /// `short_message` after the UDH.
    pub payload: Vec<u8>,
    /// The id answered in `submit_sm_resp`.
    pub message_id: String,
}

impl Submitted {
    /// The payload as UTF-16BE text (for `data_coding` 8).
    pub fn ucs2_text(&self) -> String {
        let units: Vec<u16> = self
            .payload
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

enum Control {
    Deliver(Box<DeliverSm>, oneshot::Sender<()>),
    Drop,
}

#[derive(Default)]
struct State {
    binds: usize,
    refused_binds: usize,
    enquire_links: usize,
    submitted: Vec<Submitted>,
    /// Status to answer the next `submit_sm` with instead of OK.
    reject_next: Option<u32>,
    session: Option<mpsc::UnboundedSender<Control>>,
    next_id: u64,
    next_seq: u32,
}

/// The fake SMSC; stops when dropped.
pub struct FakeSmsc {
    port: u16,
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSmsc {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(session) = self.lock().session.take() {
            let _ = session.send(Control::Drop);
        }
    }
}

impl FakeSmsc {
    /// Listens on `127.0.0.1:0`, accepting binds with these credentials.
    pub async fn start(system_id: &str, password: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let changed = Arc::new(Notify::new());
        let (system_id, password) = (system_id.to_string(), password.to_string());
        let server = {
            let (state, changed) = (state.clone(), changed.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let session = Session {
                        state: state.clone(),
                        changed: changed.clone(),
                        system_id: system_id.clone(),
                        password: password.clone(),
                    };
                    tokio::spawn(session.run(Framed::new(stream, CommandCodec::new())));
                }
            })
        };
        Self {
            port,
            state,
            changed,
            server,
        }
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Successful binds so far.
    pub fn binds(&self) -> usize {
        self.lock().binds
    }

    pub fn refused_binds(&self) -> usize {
        self.lock().refused_binds
    }

    pub fn enquire_links(&self) -> usize {
        self.lock().enquire_links
    }

    pub fn submitted(&self) -> Vec<Submitted> {
        self.lock().submitted.clone()
    }

    /// Answers the next `submit_sm` with this `command_status`.
    pub fn reject_next_submit(&self, status: u32) {
        self.lock().reject_next = Some(status);
    }

    /// Waits until `check` holds; panics after [`WAIT`].
    async fn wait(&self, what: &str, check: impl Fn(&FakeSmsc) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let notified = self.changed.notified();
            if check(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("fake SMSC: timed out waiting for {what}");
            }
        }
    }

    pub async fn wait_for_binds(&self, n: usize) {
        self.wait(&format!("{n} binds"), |f| f.binds() >= n).await;
    }

    pub async fn wait_for_submits(&self, n: usize) -> Vec<Submitted> {
        self.wait(&format!("{n} submit_sm"), |f| f.lock().submitted.len() >= n)
            .await;
        self.submitted()
    }

    pub async fn wait_for_enquire_links(&self, n: usize) {
        self.wait(&format!("{n} enquire_link"), |f| f.enquire_links() >= n)
            .await;
    }

    /// Closes the bound client's connection.
    pub async fn drop_connection(&self) {
        self.wait("a bound session", |f| f.lock().session.is_some())
            .await;
        if let Some(session) = self.lock().session.take() {
            let _ = session.send(Control::Drop);
        }
    }

    /// Sends a `deliver_sm` to the bound client and waits for its
    /// `deliver_sm_resp`.
    async fn deliver(&self, pdu: DeliverSm) {
        self.wait("a bound session", |f| f.lock().session.is_some())
            .await;
        let (acked, ack) = oneshot::channel();
        let session = self.lock().session.clone().expect("a bound session");
        session
            .send(Control::Deliver(Box::new(pdu), acked))
            .unwrap_or_else(|_| panic!("fake SMSC: session gone"));
        tokio::time::timeout(WAIT, ack)
            .await
            .expect("fake SMSC: no deliver_sm_resp in time")
            .expect("fake SMSC: session dropped before deliver_sm_resp");
    }

    /// A delivery receipt (`esm_class` 0x04) for `message_id` with the
    /// receipt text `id:… stat:<stat> …` and the `receipted_message_id` and
    /// `message_state` TLVs.
    pub async fn deliver_receipt(&self, message_id: &str, stat: &str, from: &str, to: &str) {
        let text = format!("id:{message_id} sub:001 dlvrd:001 submit date:2603101800 done date:2603101801 stat:{stat} err:000 text:");
        let state = match stat {
            "DELIVRD" => MessageState::Delivered,
            "EXPIRED" => MessageState::Expired,
            "UNDELIV" => MessageState::Undeliverable,
            "ACCEPTD" => MessageState::Accepted,
            "REJECTD" => MessageState::Rejected,
            _ => MessageState::Unknown,
        };
        let pdu = DeliverSm::builder()
            .source_addr_ton(Ton::International)
            .source_addr_npi(Npi::Isdn)
            .source_addr(address(to))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(address(from))
            .esm_class(EsmClass::from(0x04))
            .short_message(OctetString::from_vec(text.into_bytes()).expect("receipt fits"))
            .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_str(message_id).expect("id"),
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::MessageState(state))
            .build();
        self.deliver(pdu).await;
    }

    /// A mobile-originated message from `from` to `to` (E.164), sent as
    /// GSM-7 (`data_coding` 0, unpacked) when ASCII letters and digits
    /// suffice, else UCS-2.
    pub async fn deliver_mo(&self, from: &str, to: &str, text: &str) {
        let (bytes, coding) = if text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ') {
            // These characters sit at their ASCII codes in GSM 03.38.
            (text.as_bytes().to_vec(), DataCoding::McSpecific)
        } else {
            (
                text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                DataCoding::Ucs2,
            )
        };
        let pdu = DeliverSm::builder()
            .source_addr_ton(Ton::International)
            .source_addr_npi(Npi::Isdn)
            .source_addr(address(from))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(address(to))
            .esm_class(EsmClass::from(0x00))
            .data_coding(coding)
            .short_message(OctetString::from_vec(bytes).expect("MO fits"))
            .build();
        self.deliver(pdu).await;
    }
}

fn address(e164: &str) -> COctetString<1, 21> {
    COctetString::from_str(e164.trim_start_matches('+')).expect("address")
}

struct Session {
    state: Arc<Mutex<State>>,
    changed: Arc<Notify>,
    system_id: String,
    password: String,
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self, mut link: Framed<tokio::net::TcpStream, CommandCodec>) {
        let (control_tx, mut control) = mpsc::unbounded_channel();
        let mut awaiting: HashMap<u32, oneshot::Sender<()>> = HashMap::new();
        let mut bound = false;
        loop {
            tokio::select! {
                frame = link.next() => {
                    let Some(Ok(command)) = frame else { break };
                    let seq = command.sequence_number();
                    let reply = match command.pdu() {
                        Some(Pdu::BindTransceiver(bind)) => {
                            let ok = bind.system_id.as_str() == self.system_id && bind.password.as_str() == self.password;
                            let status = if ok { CommandStatus::EsmeRok } else { CommandStatus::EsmeRbindfail };
                            {
                                let mut state = self.lock();
                                if ok {
                                    state.binds += 1;
                                    state.session = Some(control_tx.clone());
                                    bound = true;
                                } else {
                                    state.refused_binds += 1;
                                }
                            }
                            let system_id = COctetString::from_str("fakesmsc").expect("system id");
                            Some(Command::new(status, seq, BindTransceiverResp::builder().system_id(system_id).build()))
                        }
                        Some(Pdu::EnquireLink) => {
                            self.lock().enquire_links += 1;
                            Some(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp))
                        }
                        Some(Pdu::SubmitSm(submit)) if bound => {
                            let esm_class: u8 = submit.esm_class.into();
                            let data_coding: u8 = submit.data_coding.into();
                            let bytes = submit.short_message().as_ref().to_vec();
                            let (udh, payload) = if esm_class & 0x40 != 0 && !bytes.is_empty() {
                                let n = 1 + usize::from(bytes[0]);
                                (Some(bytes[..n.min(bytes.len())].to_vec()), bytes[n.min(bytes.len())..].to_vec())
                            } else {
                                (None, bytes)
                            };
                            let mut state = self.lock();
                            if let Some(status) = state.reject_next.take() {
                                Some(Command::new(CommandStatus::from(status), seq, SubmitSmResp::builder().build()))
                            } else {
                                state.next_id += 1;
                                let message_id = format!("smsc-{}", state.next_id);
                                state.submitted.push(Submitted {
                                    source_addr: submit.source_addr.as_str().to_string(),
                                    destination_addr: submit.destination_addr.as_str().to_string(),
                                    esm_class,
                                    data_coding,
                                    registered_delivery: submit.registered_delivery.into(),
                                    udh,
                                    payload,
                                    message_id: message_id.clone(),
                                });
                                let id = COctetString::from_str(&message_id).expect("id");
                                Some(Command::new(CommandStatus::EsmeRok, seq, SubmitSmResp::builder().message_id(id).build()))
                            }
                        }
                        Some(Pdu::SubmitSm(_)) => Some(Command::new(CommandStatus::EsmeRinvbndsts, seq, SubmitSmResp::builder().build())),
                        Some(Pdu::DeliverSmResp(_)) => {
                            if let Some(ack) = awaiting.remove(&seq) {
                                let _ = ack.send(());
                            }
                            None
                        }
                        Some(Pdu::Unbind) => {
                            let _ = link.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp)).await;
                            break;
                        }
                        _ => None,
                    };
                    self.changed.notify_waiters();
                    if let Some(reply) = reply {
                        if link.send(reply).await.is_err() {
                            break;
                        }
                    }
                }
                order = control.recv() => match order {
                    Some(Control::Deliver(pdu, ack)) => {
                        let seq = {
                            let mut state = self.lock();
                            state.next_seq += 1;
                            state.next_seq
                        };
                        awaiting.insert(seq, ack);
                        if link.send(Command::new(CommandStatus::EsmeRok, seq, *pdu)).await.is_err() {
                            break;
                        }
                    }
                    Some(Control::Drop) | None => break,
                },
            }
        }
        // Forget this session if it is still the current one.
        let mut state = self.lock();
        if state
            .session
            .as_ref()
            .is_some_and(|s| s.same_channel(&control_tx))
        {
            state.session = None;
        }
        drop(state);
        self.changed.notify_waiters();
    }
}
