//! SMPP 3.4: a bound transceiver session to an SMSC, PDUs encoded by the
//! `rusmpp` crate.
//!
//! One background task owns the TCP session: it connects, sends
//! `bind_transceiver`, keeps the link alive with `enquire_link`, and when the
//! link drops (or stops answering) reconnects with capped exponential
//! backoff and binds again. [`Smpp::send`] hands `submit_sm` PDUs to that
//! task and waits for each `submit_sm_resp`.
//!
//! Encoding (R8), as `smsflow_core::encoding` decides it:
//! * GSM-7 goes with `data_coding` 0 (the SMSC default alphabet), **unpacked**:
//!   one GSM 03.38 septet per octet, extension characters as ESC + code.
//!   That is what most SMSCs expect for `data_coding` 0 over SMPP; packing
//!   into 7 bits happens on the air interface, not here.
//! * UCS-2 goes with `data_coding` 8 as UTF-16BE (characters outside the BMP
//!   as surrogate pairs, which `split` never cuts).
//! * A text of several segments is cut by `smsflow_core::encoding::split`
//!   and each part sent as its own `submit_sm` with `esm_class` 0x40 (UDHI)
//!   and the UDH `05 00 03 ref total seq`; `ref` is shared by the parts.
//!
//! Every `submit_sm` asks for a receipt (`registered_delivery` 1). The
//! message's provider id is the SMSC's `message_id` for the **first**
//! segment, and the status follows the receipts for that id: carriers
//! deliver the parts of a concatenated text together, and receipts for the
//! other parts carry ids the engine does not know, so they are ignored.
//!
//! Errors: `ESME_RTHROTTLED`, `ESME_RMSGQFUL`, timeouts and a missing or lost
//! session are transient; every other `command_status` is permanent with the
//! code `smpp:0x%08X`. A session lost after a part was submitted but before
//! its response leaves the hand-off unknown; it is reported as transient.
//!
//! Inbound: `deliver_sm` with message type "SMSC delivery receipt"
//! (`esm_class` 0x04) becomes a status event (TLVs `receipted_message_id`
//! and `message_state` when present, else the `id:… stat:…` text); any other
//! `deliver_sm` is an inbound message. Each is answered `deliver_sm_resp`
//! and streamed through [`Provider::subscribe`].

use crate::connection::{optional_string, string, ConfigError};
use crate::{Provider, SendError, SendReceipt, SendRequest, WebhookEvent};
use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use rusmpp::extra::encoding::gsm7bit::Gsm7BitUnpacked;
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, InterfaceVersion, MessageState, Npi, RegisteredDelivery, ServiceType, Ton,
};
use rusmpp::{Command, CommandStatus, Pdu};
use serde_json::Value;
use smsflow_core::encoding::{analyze, split, Encoding};
use smsflow_core::message::MessageStatus;
use smsflow_core::phone::E164;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::Framed;

/// How to reach and bind to an SMSC.
#[derive(Clone)]
pub struct SmppConfig {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub source_ton: u8,
    pub source_npi: u8,
    /// Seconds between `enquire_link`s; a link that leaves one unanswered
    /// for that long is dropped and rebound.
    pub enquire_link: Duration,
    /// How long a `submit_sm` (or a bind) may wait for its response.
    pub response_timeout: Duration,
    /// First reconnect delay; doubles after each failed attempt up to
    /// `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl std::fmt::Debug for SmppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("enquire_link", &self.enquire_link)
            .finish_non_exhaustive()
    }
}

fn number(config: &Value, field: &str) -> Result<Option<u64>, ConfigError> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ConfigError::Field(field.into(), "must be a non-negative integer".into())
        }),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| {
                ConfigError::Field(field.into(), "must be a non-negative integer".into())
            })
        }
        Some(_) => Err(ConfigError::Field(
            field.into(),
            "must be a non-negative integer".into(),
        )),
    }
}

impl SmppConfig {
    /// Reads a connection's config: `host`, `port`, `system_id`, `password`
    /// (required); `system_type`, `source_ton` (default 1, international),
    /// `source_npi` (default 1, E.164), `enquire_link_secs` (default 30).
    pub fn from_json(config: &Value) -> Result<Self, ConfigError> {
        let host = string(config, "host")?;
        let port = number(config, "port")?
            .ok_or_else(|| ConfigError::Field("port".into(), "is required".into()))?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| ConfigError::Field("port".into(), "must be 1–65535".into()))?;
        let system_id = string(config, "system_id")?;
        if system_id.len() > 15 {
            return Err(ConfigError::Field(
                "system_id".into(),
                "must be at most 15 characters".into(),
            ));
        }
        let password = string(config, "password")?;
        if password.len() > 8 {
            return Err(ConfigError::Field(
                "password".into(),
                "must be at most 8 characters".into(),
            ));
        }
        let system_type = optional_string(config, "system_type").unwrap_or_default();
        if system_type.len() > 12 {
            return Err(ConfigError::Field(
                "system_type".into(),
                "must be at most 12 characters".into(),
            ));
        }
        let byte = |field: &str, default: u8| -> Result<u8, ConfigError> {
            number(config, field)?.map_or(Ok(default), |n| {
                u8::try_from(n)
                    .map_err(|_| ConfigError::Field(field.into(), "must be 0–255".into()))
            })
        };
        let enquire = number(config, "enquire_link_secs")?.unwrap_or(30);
        if enquire == 0 {
            return Err(ConfigError::Field(
                "enquire_link_secs".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(Self {
            host,
            port,
            system_id,
            password,
            system_type,
            source_ton: byte("source_ton", 1)?,
            source_npi: byte("source_npi", 1)?,
            enquire_link: Duration::from_secs(enquire),
            response_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(30),
        })
    }
}

/// One `submit_sm` waiting for the session.
struct Submit {
    pdu: SubmitSm,
    reply: oneshot::Sender<Result<String, SendError>>,
}

/// The SMPP adapter. Cheap to share; the session task stops when the last
/// handle is dropped.
#[derive(Debug)]
pub struct Smpp {
    config: SmppConfig,
    requests: mpsc::UnboundedSender<Submit>,
    /// Taken by the session task when it starts.
    session: Mutex<Option<Session>>,
    /// Taken once by [`Provider::subscribe`].
    events: Mutex<Option<mpsc::UnboundedReceiver<WebhookEvent>>>,
    /// Reference number of the next concatenated message's UDH.
    next_ref: AtomicU8,
}

struct Session {
    config: SmppConfig,
    requests: mpsc::UnboundedReceiver<Submit>,
    events: mpsc::UnboundedSender<WebhookEvent>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Smpp {
    pub fn new(config: SmppConfig) -> Self {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Self {
            session: Mutex::new(Some(Session {
                config: config.clone(),
                requests: requests_rx,
                events: events_tx,
            })),
            config,
            requests,
            events: Mutex::new(Some(events_rx)),
            next_ref: AtomicU8::new(rand_ref()),
        }
    }

    /// Starts the session task if it is not running yet. Needs a tokio
    /// runtime, so it runs on first use rather than when the adapter is built.
    fn ensure_started(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(session) = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            handle.spawn(session.run());
        }
    }

    /// The `submit_sm` PDUs `request` is sent as, in order.
    fn submits(&self, request: &SendRequest) -> Result<Vec<SubmitSm>, SendError> {
        let permanent = |message: String| SendError::Permanent {
            code: "smpp:encoding".into(),
            message,
        };
        let info = analyze(&request.body);
        let parts = split(&request.body);
        let total =
            u8::try_from(parts.len()).map_err(|_| permanent("more than 255 segments".into()))?;
        let reference = self.next_ref.fetch_add(1, Ordering::Relaxed);
        let source = address(&request.from).map_err(permanent)?;
        let destination = address(&request.to).map_err(permanent)?;
        let mut out = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let (mut bytes, data_coding) = match info.encoding {
                Encoding::Gsm7 => (
                    Gsm7BitUnpacked::new()
                        .encode_to_vec(part)
                        .map_err(|e| permanent(format!("{e:?}")))?,
                    DataCoding::McSpecific,
                ),
                Encoding::Ucs2 => (
                    part.encode_utf16()
                        .flat_map(u16::to_be_bytes)
                        .collect::<Vec<u8>>(),
                    DataCoding::Ucs2,
                ),
            };
            // Built from the octet: the crate's `EsmClass::default()` is not 0.
            let mut esm_class = EsmClass::from(0x00);
            if total > 1 {
                let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
                let mut udh = vec![0x05, 0x00, 0x03, reference, total, seq];
                udh.append(&mut bytes);
                bytes = udh;
                esm_class = EsmClass::from(0x40);
            }
            let short_message = OctetString::from_vec(bytes)
                .map_err(|e| permanent(format!("segment too long: {e:?}")))?;
            out.push(
                SubmitSm::builder()
                    .service_type(ServiceType::default())
                    .source_addr_ton(Ton::from(self.config.source_ton))
                    .source_addr_npi(Npi::from(self.config.source_npi))
                    .source_addr(source.clone())
                    .dest_addr_ton(Ton::International)
                    .dest_addr_npi(Npi::Isdn)
                    .destination_addr(destination.clone())
                    .esm_class(esm_class)
                    .registered_delivery(RegisteredDelivery::from(1))
                    .data_coding(data_coding)
                    .short_message(short_message)
                    .build(),
            );
        }
        Ok(out)
    }
}

fn rand_ref() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos % 256) as u8
}

/// An E.164 number as SMPP addresses it (TON international): digits only.
fn address(number: &E164) -> Result<COctetString<1, 21>, String> {
    COctetString::from_str(number.as_str().trim_start_matches('+'))
        .map_err(|e| format!("bad address {number}: {e:?}"))
}

/// Transient or permanent, from a response's `command_status`.
fn status_error(status: CommandStatus) -> SendError {
    let raw: u32 = status.into();
    let code = format!("smpp:0x{raw:08X}");
    let message = format!("{status:?}");
    match status {
        CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful => SendError::Transient {
            code,
            message,
            retry_after: Some(Duration::from_secs(1)),
        },
        _ => SendError::Permanent { code, message },
    }
}

fn transient(code: &str, message: impl Into<String>) -> SendError {
    SendError::Transient {
        code: format!("smpp:{code}"),
        message: message.into(),
        retry_after: None,
    }
}

#[async_trait]
impl Provider for Smpp {
    fn kind(&self) -> &str {
        "smpp"
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, SendError> {
        self.ensure_started();
        let pdus = self.submits(request)?;
        let mut first = None;
        for pdu in pdus {
            let (reply, answer) = oneshot::channel();
            self.requests
                .send(Submit { pdu, reply })
                .map_err(|_| transient("not_connected", "the SMPP session has stopped"))?;
            let id = tokio::time::timeout(self.config.response_timeout * 2, answer)
                .await
                .map_err(|_| transient("timeout", "no submit_sm_resp in time"))?
                .map_err(|_| {
                    transient(
                        "connection_lost",
                        "the SMPP session ended before submit_sm_resp",
                    )
                })??;
            first.get_or_insert(id);
        }
        let provider_message_id = first.unwrap_or_default();
        Ok(SendReceipt {
            provider_message_id,
            status: MessageStatus::Sent,
        })
    }

    fn subscribe(&self) -> Option<mpsc::UnboundedReceiver<WebhookEvent>> {
        self.ensure_started();
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn cstr<const MIN: usize, const MAX: usize>(s: &str) -> Result<COctetString<MIN, MAX>, String> {
    COctetString::from_str(s).map_err(|e| format!("{e:?}"))
}

/// How a bound session ended.
enum End {
    /// The link dropped or stopped answering: reconnect.
    Lost(String),
    /// Every adapter handle is gone: unbind and stop.
    Closed,
}

type Link = Framed<TcpStream, CommandCodec>;

impl Session {
    async fn run(mut self) {
        let mut delay = self.config.reconnect_min;
        loop {
            match self.bind().await {
                Ok(link) => {
                    delay = self.config.reconnect_min;
                    tracing::info!(host = %self.config.host, port = self.config.port, "SMPP session bound");
                    match self.serve(link).await {
                        End::Closed => return,
                        // A bound link that drops is retried at once.
                        End::Lost(why) => {
                            tracing::warn!(%why, "SMPP session lost; rebinding");
                            continue;
                        }
                    }
                }
                Err(why) => tracing::warn!(%why, retry_in = ?delay, "SMPP bind failed"),
            }
            // Waiting to reconnect: sends fail fast instead of queueing.
            let sleep = tokio::time::sleep(delay);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut sleep => break,
                    request = self.requests.recv() => match request {
                        Some(r) => { let _ = r.reply.send(Err(transient("not_connected", "the SMPP session is reconnecting"))); }
                        None => return,
                    },
                }
            }
            delay = (delay * 2).min(self.config.reconnect_max);
        }
    }

    async fn bind(&self) -> Result<Link, String> {
        let c = &self.config;
        let connect = TcpStream::connect((c.host.as_str(), c.port));
        let stream = tokio::time::timeout(c.response_timeout, connect)
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let mut link = Framed::new(stream, CommandCodec::new());
        let bind = BindTransceiver::builder()
            .system_id(cstr(&c.system_id)?)
            .password(cstr(&c.password)?)
            .system_type(cstr(&c.system_type)?)
            .interface_version(InterfaceVersion::Smpp3_4)
            .addr_ton(Ton::Unknown)
            .addr_npi(Npi::Unknown)
            .address_range(COctetString::empty())
            .build();
        link.send(Command::new(CommandStatus::EsmeRok, 1, bind))
            .await
            .map_err(|e| e.to_string())?;
        let answer = async {
            while let Some(frame) = link.next().await {
                let command = frame.map_err(|e| e.to_string())?;
                if let Some(Pdu::BindTransceiverResp(_)) | Some(Pdu::GenericNack) = command.pdu() {
                    return match command.status() {
                        CommandStatus::EsmeRok => Ok(()),
                        other => Err(format!("bind refused: {other:?}")),
                    };
                }
            }
            Err("connection closed during bind".to_string())
        };
        tokio::time::timeout(c.response_timeout, answer)
            .await
            .map_err(|_| "bind timed out".to_string())??;
        Ok(link)
    }

    /// Runs one bound session until it ends.
    async fn serve(&mut self, mut link: Link) -> End {
        let mut pending: HashMap<u32, oneshot::Sender<Result<String, SendError>>> = HashMap::new();
        let mut sequence: u32 = 1;
        let mut next_seq = move || {
            sequence = if sequence >= 0x7FFF_FFFF {
                2
            } else {
                sequence + 1
            };
            sequence
        };
        let mut keepalive = tokio::time::interval(self.config.enquire_link);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        keepalive.tick().await;
        let mut unanswered = false;
        let end = loop {
            tokio::select! {
                frame = link.next() => {
                    let command = match frame {
                        Some(Ok(c)) => c,
                        Some(Err(e)) => break End::Lost(e.to_string()),
                        None => break End::Lost("closed by the SMSC".into()),
                    };
                    let seq = command.sequence_number();
                    match command.pdu() {
                        Some(Pdu::SubmitSmResp(resp)) => {
                            if let Some(reply) = pending.remove(&seq) {
                                let result = match command.status() {
                                    CommandStatus::EsmeRok => Ok(resp.message_id().as_str().to_string()),
                                    status => Err(status_error(status)),
                                };
                                let _ = reply.send(result);
                            }
                        }
                        Some(Pdu::GenericNack) => {
                            if let Some(reply) = pending.remove(&seq) {
                                let _ = reply.send(Err(status_error(command.status())));
                            }
                        }
                        Some(Pdu::DeliverSm(deliver)) => {
                            match deliver_event(deliver) {
                                Some(event) => { let _ = self.events.send(event); }
                                None => tracing::warn!("unreadable deliver_sm acknowledged and dropped"),
                            }
                            let resp = Command::new(CommandStatus::EsmeRok, seq, DeliverSmResp::builder().build());
                            if let Err(e) = link.send(resp).await {
                                break End::Lost(e.to_string());
                            }
                        }
                        Some(Pdu::EnquireLink) => {
                            if let Err(e) = link.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLinkResp)).await {
                                break End::Lost(e.to_string());
                            }
                        }
                        Some(Pdu::EnquireLinkResp) => unanswered = false,
                        Some(Pdu::Unbind) => {
                            let _ = link.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp)).await;
                            break End::Lost("unbound by the SMSC".into());
                        }
                        _ => {}
                    }
                }
                request = self.requests.recv() => {
                    let Some(Submit { pdu, reply }) = request else {
                        let seq = next_seq();
                        let _ = tokio::time::timeout(Duration::from_secs(1), link.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind))).await;
                        break End::Closed;
                    };
                    let seq = next_seq();
                    if let Err(e) = link.send(Command::new(CommandStatus::EsmeRok, seq, pdu)).await {
                        let _ = reply.send(Err(transient("not_connected", e.to_string())));
                        break End::Lost(e.to_string());
                    }
                    pending.insert(seq, reply);
                }
                _ = keepalive.tick() => {
                    if unanswered {
                        break End::Lost("enquire_link unanswered".into());
                    }
                    let seq = next_seq();
                    if let Err(e) = link.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink)).await {
                        break End::Lost(e.to_string());
                    }
                    unanswered = true;
                }
            }
        };
        for (_, reply) in pending.drain() {
            let _ = reply.send(Err(transient(
                "connection_lost",
                "the SMPP session dropped before submit_sm_resp",
            )));
        }
        end
    }
}

/// GSM 03.38 septet (unpacked, ESC-prefixed for the extension table) →
/// character, built from the encoder so both directions share one table.
fn gsm7_table() -> &'static HashMap<Vec<u8>, char> {
    static TABLE: OnceLock<HashMap<Vec<u8>, char>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let codec = Gsm7BitUnpacked::new();
        let mut map = HashMap::new();
        for c in (0u32..0x400).filter_map(char::from_u32).chain(['€']) {
            if let Ok(bytes) = codec.encode_to_vec(c.encode_utf8(&mut [0; 4])) {
                map.entry(bytes).or_insert(c);
            }
        }
        map
    })
}

/// Decodes unpacked GSM 03.38 septets; unknown codes become `?`.
fn decode_gsm7(bytes: &[u8]) -> String {
    let table = gsm7_table();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let width = if bytes[i] == 0x1B && i + 1 < bytes.len() {
            2
        } else {
            1
        };
        out.push(table.get(&bytes[i..i + width]).copied().unwrap_or('?'));
        i += width;
    }
    out
}

/// A short message's text per its `data_coding`, without any UDH.
pub fn decode_text(data_coding: u8, udhi: bool, bytes: &[u8]) -> String {
    let body = if udhi && !bytes.is_empty() {
        bytes.get(1 + usize::from(bytes[0])..).unwrap_or_default()
    } else {
        bytes
    };
    match data_coding {
        8 => {
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // Latin-1 and IA5/ASCII.
        1 | 3 => body.iter().map(|b| char::from(*b)).collect(),
        _ => decode_gsm7(body),
    }
}

/// `key:value` from a receipt text such as `id:… stat:DELIVRD err:000`.
fn receipt_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let at = lower
        .match_indices(&format!("{key}:"))
        .find(|(i, _)| *i == 0 || lower.as_bytes()[i - 1] == b' ')
        .map(|(i, _)| i)?;
    text[at + key.len() + 1..].split_whitespace().next()
}

fn state_word(state: MessageState) -> &'static str {
    match state {
        MessageState::Delivered => "DELIVRD",
        MessageState::Expired => "EXPIRED",
        MessageState::Deleted => "DELETED",
        MessageState::Undeliverable => "UNDELIV",
        MessageState::Accepted => "ACCEPTD",
        MessageState::Rejected => "REJECTD",
        MessageState::Enroute => "ENROUTE",
        _ => "UNKNOWN",
    }
}

/// The normalised status of a receipt's `stat` word.
pub fn receipt_status(word: &str) -> MessageStatus {
    match word.to_ascii_uppercase().as_str() {
        "DELIVRD" => MessageStatus::Delivered,
        "UNDELIV" => MessageStatus::Undelivered,
        "REJECTD" | "EXPIRED" | "DELETED" => MessageStatus::Failed,
        "ACCEPTD" | "ENROUTE" => MessageStatus::Sent,
        _ => MessageStatus::Unknown,
    }
}

fn plus(digits: &str) -> Option<E164> {
    let digits = digits.trim();
    let with_plus = if digits.starts_with('+') {
        digits.to_string()
    } else {
        format!("+{digits}")
    };
    E164::parse(&with_plus, None).ok()
}

/// What a `deliver_sm` means: a receipt or an inbound message.
fn deliver_event(deliver: &DeliverSm) -> Option<WebhookEvent> {
    let esm: u8 = deliver.esm_class.into();
    let data_coding: u8 = deliver.data_coding.into();
    let udhi = esm & 0x40 != 0;
    let text = decode_text(data_coding, udhi, deliver.short_message().as_ref());
    if esm & 0x3C == 0x04 {
        let mut id = None;
        let mut state = None;
        for tlv in deliver.tlvs() {
            match tlv.value() {
                Some(TlvValue::ReceiptedMessageId(v)) => id = Some(v.as_str().to_string()),
                Some(TlvValue::MessageState(s)) => state = Some(state_word(*s)),
                _ => {}
            }
        }
        let id = id.or_else(|| receipt_field(&text, "id").map(str::to_string))?;
        let raw = state
            .or_else(|| receipt_field(&text, "stat"))
            .unwrap_or("UNKNOWN")
            .to_ascii_uppercase();
        let status = receipt_status(&raw);
        let error_code = receipt_field(&text, "err")
            .filter(|e| {
                !e.trim_start_matches('0').is_empty()
                    && !matches!(status, MessageStatus::Delivered | MessageStatus::Sent)
            })
            .map(|e| format!("smpp:err:{e}"));
        return Some(WebhookEvent::Status {
            provider_message_id: id,
            status,
            raw_status: raw,
            error_code,
        });
    }
    let from = plus(deliver.source_addr.as_str())?;
    let to = plus(deliver.destination_addr.as_str())?;
    Some(WebhookEvent::Inbound {
        from,
        to,
        body: text,
        provider_message_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_text_fields_are_read_case_insensitively() {
        let text = "id:abc123 sub:001 dlvrd:001 submit date:2603101800 done date:2603101801 stat:DELIVRD err:000 text:Hello";
        assert_eq!(receipt_field(text, "id"), Some("abc123"));
        assert_eq!(receipt_field(text, "stat"), Some("DELIVRD"));
        assert_eq!(receipt_field(text, "err"), Some("000"));
        assert_eq!(receipt_field("ID:X Stat:UNDELIV", "stat"), Some("UNDELIV"));
        assert_eq!(receipt_status("DELIVRD"), MessageStatus::Delivered);
        assert_eq!(receipt_status("UNDELIV"), MessageStatus::Undelivered);
        assert_eq!(receipt_status("REJECTD"), MessageStatus::Failed);
        assert_eq!(receipt_status("EXPIRED"), MessageStatus::Failed);
        assert_eq!(receipt_status("ACCEPTD"), MessageStatus::Sent);
    }

    #[test]
    fn r8_gsm7_round_trips_with_extension_characters() {
        let text = "Grüße {ok} 5€ @home";
        let bytes = Gsm7BitUnpacked::new().encode_to_vec(text).unwrap();
        assert_eq!(bytes.len() as u32, analyze(text).units);
        assert_eq!(decode_gsm7(&bytes), text);
        assert_eq!(
            decode_text(8, false, &[0x04, 0x36, 0xD8, 0x3D, 0xDE, 0x00]),
            "ж😀"
        );
    }

    #[test]
    fn throttling_is_transient_and_a_bad_destination_permanent() {
        assert!(matches!(
            status_error(CommandStatus::EsmeRthrottled),
            SendError::Transient { .. }
        ));
        assert!(matches!(
            status_error(CommandStatus::EsmeRmsgqful),
            SendError::Transient { .. }
        ));
        assert_eq!(
            status_error(CommandStatus::EsmeRinvdstadr),
            SendError::Permanent {
                code: "smpp:0x0000000B".into(),
                message: "EsmeRinvdstadr".into()
            }
        );
    }

    #[test]
    fn config_needs_host_port_and_credentials() {
        let ok = SmppConfig::from_json(&serde_json::json!({"host": "127.0.0.1", "port": 2775, "system_id": "sys", "password": "pw"})).unwrap();
        assert_eq!(ok.enquire_link, Duration::from_secs(30));
        assert!(!format!("{ok:?}").contains("pw\""));
        let err = SmppConfig::from_json(
            &serde_json::json!({"host": "h", "system_id": "s", "password": "p"}),
        )
        .unwrap_err();
        assert_eq!(err, ConfigError::Field("port".into(), "is required".into()));
        let err = SmppConfig::from_json(&serde_json::json!({"host": "h", "port": 1, "system_id": "s", "password": "waytoolong"})).unwrap_err();
        assert!(matches!(err, ConfigError::Field(f, _) if f == "password"));
    }
}
