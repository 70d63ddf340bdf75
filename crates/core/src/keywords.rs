//! Inbound keywords (R17) and opt-out by any reasonable means (R29).
//!
//! Two matchers, both pure functions of the message body:
//!
//! * [`match_keyword`] is the exact matcher carriers expect: the *whole*
//!   message, after trimming surrounding whitespace, punctuation, quotes and
//!   emoji and collapsing inner whitespace, compared without regard to case
//!   (Unicode-aware, so `arrêt` matches `ARRÊT`) against the account's
//!   stop, start and help lists. `stop` matches; `don't stop` and
//!   `STOP please` do not.
//! * [`detect_opt_out_intent`] catches replies that clearly ask to stop in
//!   other words (`please stop texting me`, `keine SMS mehr`, `lopeta
//!   viestit`), because the FCC requires honouring revocation "by any
//!   reasonable means". It is a hand-written phrase matcher, not a model: see
//!   its documentation for the approach and its limits.
//!
//! [`classify_inbound`] combines them, exact keywords first.
//!
//! Invariants:
//! * A body matches at most one keyword family. Valid settings never list a
//!   keyword in two families; should stored settings do so anyway, stop wins
//!   over start and help, because a missed opt-out is the costly mistake.
//! * `STOP`, `START` and `HELP` are always in their lists of valid settings
//!   (carriers require them; Twilio does not let them be removed either).
//! * Natural-language detection never resubscribes and never answers HELP:
//!   it only ever yields an opt-out intent, and only a
//!   [`Confidence::High`] one may be applied without an agent (R29).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The longest reply we accept: Twilio refuses bodies over 1600 characters
/// (error 21617).
pub const MAX_REPLY_CHARS: usize = 1600;

/// Default stop keywords. The English ones are the Twilio / HubSpot /
/// CTIA set plus AWS's `REMOVE` and `OPT-OUT`; `END` and `CANCEL` are common
/// words but industry-standard, so they stay.
///
/// Locale words: `STOPP` (Norwegian per Bronto; also German and Swedish) and
/// `ARRET` (French, AWS default) are sourced. `ARRÊT`, `ABMELDEN`,
/// `ABBESTELLEN` (German), `LOPETA` (Finnish), `BAJA`, `PARAR` (Spanish) and
/// `SLUTA` (Swedish) are UNVERIFIED: no source gives a standard, they are our
/// best reading of what a native speaker sends. Deliberately left out:
/// Finnish `PERU` ("cancel"), which in reply to an appointment reminder means
/// "cancel my booking", and AWS's `TD`, which means nothing outside the US.
pub const DEFAULT_STOP: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT-OUT",
    "OPT OUT",
    "REMOVE",
    "STOPP",
    "ARRET",
    "ARRÊT",
    "ABMELDEN",
    "ABBESTELLEN",
    "LOPETA",
    "BAJA",
    "PARAR",
    "SLUTA",
];

/// Default start keywords: only the Twilio / HubSpot set. A false
/// resubscribe sends marketing without consent, which is worse than a false
/// opt-out, so no locale words are guessed here (every stop reply says
/// "Reply START", which works in any language); accounts can add their own.
pub const DEFAULT_START: &[&str] = &["START", "UNSTOP", "YES", "SUBSCRIBE"];

/// Default help keywords. A false match only sends the help text, so locale
/// words are cheap: `HILFE` (German), `APUA` (Finnish), `AIDE` (French),
/// `AYUDA` (Spanish), `HJÄLP` (Swedish); UNVERIFIED as carrier keywords.
pub const DEFAULT_HELP: &[&str] = &["HELP", "INFO", "HILFE", "APUA", "AIDE", "AYUDA", "HJÄLP"];

/// The STOP confirmation (CTIA: "no further messages"; one confirmation is
/// allowed after revocation under FCC 24-18).
pub const DEFAULT_STOP_REPLY: &str =
    "You have been unsubscribed and will receive no further messages. Reply START to resubscribe.";

/// The START confirmation (CTIA: an opt-in confirmation carries opt-out
/// instructions).
pub const DEFAULT_START_REPLY: &str = "You are subscribed again. Reply STOP to opt out.";

/// The HELP answer. CTIA also wants the brand and a support contact, which
/// only the account knows; the settings UI should prompt for them.
pub const DEFAULT_HELP_REPLY: &str =
    "Msg frequency varies. Reply STOP to opt out. Msg & data rates may apply.";

/// The carrier-mandated keyword of each family, which can't be removed.
const REQUIRED: [(KeywordFamily, &str); 3] = [
    (KeywordFamily::Stop, "STOP"),
    (KeywordFamily::Start, "START"),
    (KeywordFamily::Help, "HELP"),
];

/// What an inbound keyword does (R17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeywordFamily {
    /// Unsubscribe the phone from every SMS subscription type of the account.
    Stop,
    /// Resubscribe the phone.
    Start,
    /// Answer with the account's help text.
    Help,
}

impl KeywordFamily {
    pub const ALL: [KeywordFamily; 3] = [
        KeywordFamily::Stop,
        KeywordFamily::Start,
        KeywordFamily::Help,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeywordFamily::Stop => "stop",
            KeywordFamily::Start => "start",
            KeywordFamily::Help => "help",
        }
    }
}

impl std::fmt::Display for KeywordFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a natural-language opt-out (R29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NaturalOptOut {
    /// Don't look for them: only exact keywords count.
    Off,
    /// Treat a high-confidence one as a STOP; flag a low-confidence one.
    Apply,
    /// Flag every one for an agent to confirm. The default: the detector is
    /// a heuristic, and an agent costs less than a wrong unsubscribe.
    #[default]
    Flag,
}

/// What the engine does with a detected intent, given the account setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutAction {
    /// Unsubscribe as if the person had sent STOP.
    Apply,
    /// Leave the subscription alone and put the conversation in front of an
    /// agent.
    Flag,
}

impl NaturalOptOut {
    /// `None` when detection is off; a low-confidence intent is only ever
    /// flagged.
    pub fn action(self, confidence: Confidence) -> Option<OptOutAction> {
        match (self, confidence) {
            (NaturalOptOut::Off, _) => None,
            (NaturalOptOut::Apply, Confidence::High) => Some(OptOutAction::Apply),
            (NaturalOptOut::Apply, Confidence::Low) | (NaturalOptOut::Flag, _) => {
                Some(OptOutAction::Flag)
            }
        }
    }
}

/// An account's keyword lists and replies, stored as JSON in the account
/// settings. Missing fields take their defaults, so settings saved by an
/// older version still load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct KeywordSettings {
    pub stop: Vec<String>,
    pub start: Vec<String>,
    pub help: Vec<String>,
    pub stop_reply: String,
    pub start_reply: String,
    pub help_reply: String,
    pub natural_language_opt_out: NaturalOptOut,
}

impl Default for KeywordSettings {
    fn default() -> Self {
        let owned = |list: &[&str]| list.iter().map(|k| k.to_string()).collect();
        Self {
            stop: owned(DEFAULT_STOP),
            start: owned(DEFAULT_START),
            help: owned(DEFAULT_HELP),
            stop_reply: DEFAULT_STOP_REPLY.to_string(),
            start_reply: DEFAULT_START_REPLY.to_string(),
            help_reply: DEFAULT_HELP_REPLY.to_string(),
            natural_language_opt_out: NaturalOptOut::default(),
        }
    }
}

impl KeywordSettings {
    /// The keywords of one family, as entered.
    pub fn keywords(&self, family: KeywordFamily) -> &[String] {
        match family {
            KeywordFamily::Stop => &self.stop,
            KeywordFamily::Start => &self.start,
            KeywordFamily::Help => &self.help,
        }
    }

    /// The reply sent when a keyword of `family` arrives.
    pub fn reply(&self, family: KeywordFamily) -> &str {
        match family {
            KeywordFamily::Stop => &self.stop_reply,
            KeywordFamily::Start => &self.start_reply,
            KeywordFamily::Help => &self.help_reply,
        }
    }

    /// Every problem, keyed by field path: `keywords.stop[2]` for one
    /// keyword, `keywords.stop` for the list, `keywords.stop_reply` for a
    /// reply. Keywords are compared in their matching form, so `Stop ` and
    /// `STOP` are the same keyword.
    pub fn validate(&self) -> Result<(), BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        // Matching form → the family that claimed it first.
        let mut seen: BTreeMap<String, KeywordFamily> = BTreeMap::new();
        for family in KeywordFamily::ALL {
            for (i, raw) in self.keywords(family).iter().enumerate() {
                let key = format!("keywords.{family}[{i}]");
                let form = keyword_form(raw);
                if form.is_empty() {
                    errors.insert(key, "must not be empty".to_string());
                    continue;
                }
                match seen.get(&form) {
                    Some(other) if *other != family => {
                        errors.insert(
                            key,
                            format!("`{}` is already a {other} keyword", raw.trim()),
                        );
                    }
                    // Listed twice in one family: harmless, matching is the same.
                    Some(_) => {}
                    None => {
                        seen.insert(form, family);
                    }
                }
            }
            let required = REQUIRED.iter().find(|(f, _)| *f == family).map(|(_, k)| *k);
            if let Some(required) = required {
                let present = self
                    .keywords(family)
                    .iter()
                    .any(|k| keyword_form(k) == keyword_form(required));
                if !present {
                    errors.insert(
                        format!("keywords.{family}"),
                        format!("must include {required}: carriers require it"),
                    );
                }
            }
            let reply = self.reply(family);
            let key = format!("keywords.{family}_reply");
            if reply.trim().is_empty() {
                errors.insert(key, "must not be empty".to_string());
            } else if reply.chars().count() > MAX_REPLY_CHARS {
                errors.insert(key, format!("must be at most {MAX_REPLY_CHARS} characters"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The form a body or a keyword is compared in: surrounding whitespace,
/// punctuation, quotes and emoji trimmed (people send `STOP.`, `"stop"`,
/// `STOP!!`), inner whitespace collapsed to one space, lowercased with
/// Unicode rules. Diacritics are kept: `ARRET` and `ARRÊT` are separate
/// keywords, as carriers treat them.
pub fn keyword_form(text: &str) -> String {
    let trimmed = text.trim_matches(|c: char| !c.is_alphanumeric());
    trimmed
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The keyword family whose list contains the whole message (R17), if any.
/// Stop is checked first, so a keyword wrongly listed twice still opts out.
pub fn match_keyword(body: &str, settings: &KeywordSettings) -> Option<KeywordFamily> {
    let form = keyword_form(body);
    if form.is_empty() {
        return None;
    }
    KeywordFamily::ALL.into_iter().find(|family| {
        settings
            .keywords(*family)
            .iter()
            .any(|k| keyword_form(k) == form)
    })
}

/// How sure the natural-language detector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Plausibly an opt-out, but the words have other common meanings
    /// (`not interested`, `abmelden` in a longer message): flag only.
    Low,
    /// The message clearly asks to stop messaging: may be applied as a STOP
    /// when the account says so.
    High,
}

/// A reply that asks to stop in other words (R29).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptOutIntent {
    pub confidence: Confidence,
    /// The words that triggered it, in normalised form (lowercase, no
    /// diacritics), for the agent and the consent ledger.
    pub matched: String,
}

/// What an inbound message is, for the engine to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundClass {
    Keyword(KeywordFamily),
    NaturalOptOut(OptOutIntent),
    Plain,
}

/// Exact keywords first (R17); then, unless the account turned it off, the
/// natural-language detector (R29); otherwise a plain message.
pub fn classify_inbound(body: &str, settings: &KeywordSettings) -> InboundClass {
    if let Some(family) = match_keyword(body, settings) {
        return InboundClass::Keyword(family);
    }
    if settings.natural_language_opt_out == NaturalOptOut::Off {
        return InboundClass::Plain;
    }
    match detect_opt_out_intent(body) {
        Some(intent) => InboundClass::NaturalOptOut(intent),
        None => InboundClass::Plain,
    }
}

/// Detects a reply that clearly asks to stop messages without being an
/// exact keyword, in English, German, Finnish, French, Spanish and Swedish.
///
/// Approach: the body is split into clauses at sentence punctuation
/// (`. , ; : ! ? ¡ ¿`, line breaks) and each clause into tokens: lowercase,
/// diacritics folded (`älä lähetä` → `ala laheta`, `envíen` → `envien`),
/// apostrophes dropped (`don't` → `dont`, `m'envoyez` → `menvoyez`), `do
/// not` → `dont`, `opt out` → `optout`. A clause then asks to stop when
///
/// * it consists only of stop words and politeness (`stop please`,
///   `abmelden bitte`, `lopeta kiitos`): high; or
/// * it contains one of the hand-written phrase patterns below (`stop
///   texting`, `remove me`, `no more <messages>`, `keine <SMS> mehr`,
///   `ne menvoyez plus`, `sluta skicka`): high or low per pattern. Phrases
///   around stop words need an object that is about messaging (`stop
///   sending me`, `stop the texts`), which is what keeps `the bus stop`,
///   `can you stop by tomorrow?` and `no more questions` out.
///
/// A match preceded by a negation of its language within two words (`don't
/// stop texting`, `nicht abmelden`; `want`/`to` are skipped, so `I don't
/// want to unsubscribe` is negated too), or with one inside a gap (`sluta
/// inte skicka`), doesn't count. High wins over low anywhere in the message.
///
/// Limits: no morphology beyond prefix patterns (Finnish cases, German
/// separable verbs are listed by hand); no spelling correction (`unsubcribe`
/// is missed); sarcasm, questions about opting out and messages mixing two
/// languages are not understood; negation is only local, so a run-on `I
/// don't care stop texting` is missed while `I don't care, stop texting` is
/// caught. It errs towards flagging: a low intent only reaches an agent.
pub fn detect_opt_out_intent(body: &str) -> Option<OptOutIntent> {
    let clauses = clauses(body);
    let mut low: Option<OptOutIntent> = None;
    for clause in &clauses {
        if is_bare_stop_request(clause) {
            return Some(OptOutIntent {
                confidence: Confidence::High,
                matched: clause.join(" "),
            });
        }
        for (lang, confidence, pattern) in RULES {
            let Some(matched) = find_pattern(clause, pattern, *lang) else {
                continue;
            };
            match confidence {
                Confidence::High => {
                    return Some(OptOutIntent {
                        confidence: Confidence::High,
                        matched,
                    })
                }
                Confidence::Low => {
                    low.get_or_insert(OptOutIntent {
                        confidence: Confidence::Low,
                        matched,
                    });
                }
            }
        }
    }
    low
}

/// The language a pattern is written in: its negations and the words that
/// may stand between a negation and what it negates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    En,
    De,
    Fi,
    Fr,
    Es,
    Sv,
}

impl Lang {
    fn negations(self) -> &'static [&'static str] {
        match self {
            Lang::En => &["dont", "not", "never", "doesnt", "didnt", "wont"],
            Lang::De => &["nicht", "nie", "niemals"],
            // älä / älkää (don't), ei / en (not).
            Lang::Fi => &["ala", "alkaa", "ei", "en"],
            Lang::Fr => &["pas", "jamais"],
            Lang::Es => &["no", "nunca"],
            Lang::Sv => &["inte", "aldrig"],
        }
    }

    /// Words skipped when looking back for a negation, so that `I don't
    /// want to unsubscribe` is still negated.
    fn see_through(self) -> &'static [&'static str] {
        match self {
            Lang::En => &[
                "to", "want", "wish", "like", "need", "ever", "please", "really", "just",
            ],
            Lang::De => &["bitte", "mich"],
            Lang::Fi => &[],
            Lang::Fr => &[],
            Lang::Es => &["por", "favor"],
            Lang::Sv => &[],
        }
    }

    fn negates(self, token: &str) -> bool {
        self.negations().contains(&token)
    }
}

/// Tokens that ask to stop on their own, in folded form.
const STOP_WORDS: &[&str] = &[
    "stop",
    "stopall",
    "stopp",
    "stoppa",
    "stoppen",
    "unsubscribe",
    "unsub",
    "optout",
    "revoke",
    "quit",
    "abmelden",
    "abbestellen",
    "austragen",
    "aufhoren",
    "aufhoeren",
    "lopeta",
    "lopettakaa",
    "arret",
    "arreter",
    "arretez",
    "desabonner",
    "desinscrire",
    "baja",
    "parar",
    "basta",
    "sluta",
    "avregistrera",
];

/// Politeness and emphasis that may surround a stop word (`stop please`,
/// `STOP STOP`, `stop now thanks`, `lopeta heti`, `baja por favor`).
const FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "now",
    "right",
    "immediately",
    "asap",
    "thanks",
    "thank",
    "you",
    "thx",
    "ty",
    "all",
    "it",
    "this",
    "ok",
    "okay",
    "just",
    "me",
    "bitte",
    "danke",
    "sofort",
    "jetzt",
    "alles",
    "kiitos",
    "heti",
    "nyt",
    "kaikki",
    "merci",
    "svp",
    "sil",
    "vous",
    "plait",
    "maintenant",
    "tout",
    "por",
    "favor",
    "gracias",
    "ya",
    "todo",
    "tack",
    "snalla",
    "nu",
    "allt",
];

/// A clause made only of stop words and filler, with at least one stop
/// word.
fn is_bare_stop_request(clause: &[String]) -> bool {
    let is = |set: &[&str], t: &String| set.contains(&t.as_str());
    clause.iter().any(|t| is(STOP_WORDS, t))
        && clause.iter().all(|t| is(STOP_WORDS, t) || is(FILLER, t))
}

/// What `{msg}` in a pattern stands for: nouns for messages in every
/// supported language, folded. Plurals and cases by prefix (`*`).
const MESSAGE_NOUNS: &[&str] = &[
    // English
    "text",
    "texts",
    "txt",
    "txts",
    "message*",
    "msg*",
    "sms*",
    "spam*",
    "promo*",
    "ads",
    "offers",
    "marketing",
    "notifications",
    "alerts",
    "reminders",
    "updates",
    // German
    "nachricht*",
    "mitteilung*",
    "werbung",
    "newsletter*",
    "kurznachricht*",
    // Finnish
    "viest*",
    "tekstiviest*",
    "mainos*",
    "markkinoin*",
    // French (message*, sms* above)
    "texto*",
    "publicite*",
    "offres",
    // Spanish
    "mensaj*",
    "textos",
    "publicidad",
    "promocion*",
    "ofertas",
    // Swedish
    "meddelande*",
    "textmeddelande*",
    "reklam*",
    "utskick*",
    "erbjudand*",
];

/// The phrase patterns, in folded form. Syntax, one element per word:
/// `a|b` alternatives, `a*` a prefix, `a?` optional, `~` up to four
/// arbitrary words (none of them a negation), `{msg}` any of
/// [`MESSAGE_NOUNS`], a leading `^` anchors at the start of the clause and a
/// trailing `$` at its end.
const RULES: &[(Lang, Confidence, &str)] = {
    use Confidence::{High, Low};
    use Lang::{De, En, Es, Fi, Fr, Sv};
    &[
        // English
        (En, High, "stop|quit|cease texting|txting|texing|messaging|msging|contacting|spamming|smsing|bothering|harassing|pestering|emailing"),
        (En, High, "stop|quit|cease sending|send me|us|them|these|those|{msg}"),
        (En, High, "stop|quit|cease|cancel all? the|these|those|your|ur|this|my|such|receiving|getting? {msg}"),
        (En, High, "please|pls|plz|just stop $"),
        (En, High, "remove|delete me|us"),
        (En, High, "remove|delete|lose|erase my|our|this number|phone|contact|details|info"),
        (En, High, "take me|us off"),
        (En, High, "take my|our|this number|phone off"),
        (En, High, "remove|delete|take ~ from|off your|ur|this|the? list|database|contacts|mailing"),
        (En, High, "unsubscribe*|unsub"),
        (En, High, "opt me|us out"),
        (En, High, "want|wish|like|need|wanna to? optout"),
        (En, High, "dont|never text|txt|message|msg|sms|contact|spam|email me|us|this|again|anymore"),
        (En, High, "dont|never text|txt|message|msg|sms|contact|spam $"),
        (En, High, "dont|never send me|us? any|these|those|such|your|more? more|further? {msg}"),
        (En, High, "dont|never send me|us anything|anymore|again $"),
        (En, High, "no more|further {msg}"),
        (En, High, "dont|not want|need any|these|those|the|your|ur|such|more? more|further? {msg}"),
        (En, High, "dont|not want|need to receive|get ~ {msg}"),
        (En, Low, "optout|opting"),
        (En, Low, "leave me|us alone"),
        (En, Low, "wrong number|person"),
        (En, Low, "not interested"),
        (En, Low, "^ stop|quit"),
        // German
        (De, High, "keine weitere*? {msg} mehr"),
        (De, High, "will|mochte|moechte|wollen|mochten|moechten|mag keine weitere*|solche*? {msg} $"),
        (De, High, "will|mochte|moechte|wollen|mochten|moechten|mag keine ~ {msg} ~ erhalten|bekommen|empfangen|zugeschickt|zugesandt"),
        (De, High, "bitte keine weitere*|solche*? {msg} $"),
        (De, High, "nicht mehr ~ schreiben|anschreiben|kontaktieren|schicken|senden|zusenden|zuschicken|simsen|texten|belastigen|belaestigen"),
        (De, High, "schreib|schreibe|schreiben|schreibt|schick|schicke|schicken|schickt|sende|senden|sendet|kontaktier*|simst ~ nicht mehr"),
        (De, High, "hor*|hoer* sie|ihr? auf ~ zu schreiben|senden|schicken|kontaktieren|simsen|texten|nerven|belastigen|belaestigen"),
        (De, High, "{msg} abmelden|abbestellen|stoppen|beenden|kundigen|kuendigen"),
        (De, High, "abbestellen"),
        (De, High, "melden sie ~ mich|uns ~ ab $"),
        (De, High, "meldet ~ mich|uns ~ ab $"),
        (De, High, "tragen sie ~ mich|uns ~ aus $"),
        (De, High, "tragt ~ mich|uns ~ aus $"),
        (De, High, "entfern* sie? bitte? mich|uns"),
        (De, High, "aus|von dem|der? verteiler|liste|kartei|datenbank|emailliste|kontaktliste ~ entfern*|austragen|loschen|loeschen|nehmen|streichen"),
        (De, High, "losch*|loesch* ~ meine|unsere nummer|daten|kontaktdaten|telefonnummer|handynummer"),
        (De, Low, "keine ~ {msg}"),
        (De, Low, "abmelden|austragen|abmeldung"),
        (De, Low, "meld* ~ mich|uns ~ ab $"),
        (De, Low, "hor*|hoer* sie|ihr? auf"),
        (De, Low, "aufhoren|aufhoeren"),
        (De, Low, "lass*|lasst mich|uns in ruhe"),
        (De, Low, "kein interesse"),
        (De, Low, "nicht interessiert"),
        (De, Low, "falsche nummer"),
        // Finnish
        (Fi, High, "ala|alkaa laheta*|lahetta* ~ {msg}|enaa|mitaan"),
        (Fi, High, "ala|alkaa laheta*|lahetta* $"),
        (Fi, High, "ala|alkaa tekstaa|tekstatko|viestita|viestittako|spammaa|spammatko"),
        (Fi, High, "lopeta|lopettakaa|lopettaa ~ {msg}|lahett*|tekstai*|spammaa*"),
        (Fi, High, "en halua enaa? naita|teidan|mitaan|lisaa|yhtaan? {msg}"),
        (Fi, High, "ei enaa {msg}"),
        (Fi, High, "poista|poistakaa minut|mut|numeroni|tietoni|meidat"),
        (Fi, High, "peru|perukaa|peruuta|peruutan|irtisano* ~ {msg}|uutiskirje*"),
        (Fi, Low, "peru|perukaa|peruuta|peruutan|irtisano* ~ tilau*"),
        (Fi, Low, "lopeta|lopettakaa"),
        (Fi, Low, "ei kiinnosta"),
        (Fi, Low, "vaara numero"),
        // French
        (Fr, High, "ne menvoyez|menvoie|menvoies|mecrivez|mecris plus"),
        (Fr, High, "ne me|nous contactez|contacte|textez|texte|ecrivez|envoyez plus"),
        (Fr, High, "nenvoyez|nenvoie plus de? {msg}|rien"),
        (Fr, High, "ne plus menvoyer|mecrire|nous|me"),
        (Fr, High, "arretez|arrete|arreter|cessez|cesse|stoppez de menvoyer|mecrire|me|nous"),
        (Fr, High, "arretez|arrete|arreter|cessez|cesse|stoppez denvoyer|decrire"),
        (Fr, High, "arretez|arrete|arreter|cessez|stoppez les|vos|ces|des? {msg}"),
        (Fr, High, "desabonn*|desinscri*"),
        (Fr, High, "retirez|supprimez|enlevez|effacez moi|nous"),
        (Fr, High, "retirez|supprimez|enlevez|effacez mon|notre numero|contact|nom"),
        (Fr, High, "ne veux|voulons plus de|recevoir? vos|ces|les|des|de? {msg}"),
        (Fr, High, "ne veux|voulons plus recevoir|etre"),
        (Fr, Low, "plus de {msg}"),
        (Fr, Low, "pas interesse*"),
        (Fr, Low, "mauvais numero"),
        // Spanish
        (Es, High, "no me|nos envien|envies|envie|envian|manden|mandes|mande|escriban|escribas|contacten|contactes ~ mas|{msg}"),
        (Es, High, "deja|dejen|dejad|dejes|dejar|para|paren|parad|pare|parar de enviar*|mandar*|escribir*|contactar*|molestar*"),
        (Es, High, "darme|denme|deme|dame|darnos|denos de baja"),
        (Es, High, "quitenme|quitame|saquenme|sacame|eliminenme|eliminame|borrenme|borrame"),
        (Es, High, "borren|eliminen|quiten|saquen mi|mis numero|datos"),
        (Es, High, "no quiero|queremos recibir? mas? sus|estos|tus? {msg}"),
        (Es, High, "no quiero|queremos recibir mas"),
        (Es, High, "no mas {msg}"),
        (Es, High, "basta de {msg}"),
        (Es, Low, "dar de baja"),
        (Es, Low, "no me interesa"),
        (Es, Low, "numero equivocado"),
        // Swedish
        (Sv, High, "sluta|slutta att? skicka*|sms*|smsa|messa|skriva|kontakta|spamma|hora"),
        (Sv, High, "inga fler|mer sadana|era|onodiga? {msg}"),
        (Sv, High, "skicka inte fler|mer? {msg}"),
        (Sv, High, "skicka inte fler|mer $"),
        (Sv, High, "vill inte ha|fa fler|mer? era? {msg}"),
        (Sv, High, "avregistrera*|avprenumerera*|avanmal*"),
        (Sv, High, "avsluta ~ prenumeration*|{msg}"),
        (Sv, High, "ta bort mig|oss|mitt|vart"),
        (Sv, Low, "inte intresserad"),
        (Sv, Low, "fel nummer"),
    ]
};

/// Splits a body into clauses of folded tokens.
fn clauses(body: &str) -> Vec<Vec<String>> {
    let mut clauses = Vec::new();
    let mut clause: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in body.chars() {
        if matches!(c, '\'' | '’' | '‘' | '´' | '`') {
            // Join contractions and elisions: don't → dont, m'envoyez → menvoyez.
            continue;
        }
        if c.is_alphanumeric() {
            for lower in c.to_lowercase() {
                fold_into(&mut word, lower);
            }
            continue;
        }
        if !word.is_empty() {
            clause.push(std::mem::take(&mut word));
        }
        if matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | '¡' | '¿' | '\n' | '\r' | '(' | ')'
        ) && !clause.is_empty()
        {
            clauses.push(std::mem::take(&mut clause));
        }
    }
    if !word.is_empty() {
        clause.push(word);
    }
    if !clause.is_empty() {
        clauses.push(clause);
    }
    clauses.into_iter().map(merge_tokens).collect()
}

/// Merges the two-word spellings patterns treat as one word.
fn merge_tokens(tokens: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let merged = match (out.last().map(String::as_str), token.as_str()) {
            (Some("do"), "not") => Some("dont"),
            (Some("does"), "not") => Some("doesnt"),
            (Some("opt"), "out") => Some("optout"),
            _ => None,
        };
        match merged {
            Some(m) => *out.last_mut().expect("checked above") = m.to_string(),
            None => out.push(token),
        }
    }
    out
}

/// Appends a lowercase character without its diacritics. People type
/// `arret`, `moechte` or `mochte`, `ala` for `älä`; patterns are written
/// folded so each spelling needs one entry at most.
fn fold_into(word: &mut String, c: char) {
    let folded = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        'š' => 's',
        'ž' => 'z',
        'ß' => return word.push_str("ss"),
        'æ' => return word.push_str("ae"),
        'œ' => return word.push_str("oe"),
        other => other,
    };
    word.push(folded);
}

/// The largest number of words a `~` skips.
const MAX_GAP: usize = 4;

/// The first non-negated match of `pattern` in `clause`, as its words.
fn find_pattern(clause: &[String], pattern: &str, lang: Lang) -> Option<String> {
    let elements: Vec<&str> = pattern.split_whitespace().collect();
    let (anchored, elements) = match elements.split_first() {
        Some((&"^", rest)) => (true, rest),
        _ => (false, &elements[..]),
    };
    let starts = if anchored {
        0..1.min(clause.len())
    } else {
        0..clause.len()
    };
    for start in starts {
        if let Some(end) = match_from(elements, clause, start, lang) {
            if !negated(clause, start, lang) {
                return Some(clause[start..end].join(" "));
            }
        }
    }
    None
}

/// Matches `elements` against `tokens` from `i`; the end of the match.
fn match_from(elements: &[&str], tokens: &[String], i: usize, lang: Lang) -> Option<usize> {
    let Some((&element, rest)) = elements.split_first() else {
        return Some(i);
    };
    match element {
        "$" => (i == tokens.len()).then_some(i),
        "~" => {
            for skip in 0..=MAX_GAP {
                if i + skip > tokens.len() || (skip > 0 && lang.negates(&tokens[i + skip - 1])) {
                    break;
                }
                if let Some(end) = match_from(rest, tokens, i + skip, lang) {
                    return Some(end);
                }
            }
            None
        }
        _ => {
            let (alternatives, optional) = match element.strip_suffix('?') {
                Some(alternatives) => (alternatives, true),
                None => (element, false),
            };
            let here = tokens.get(i).is_some_and(|t| word_matches(alternatives, t));
            let taken = if here {
                match_from(rest, tokens, i + 1, lang)
            } else {
                None
            };
            match taken {
                Some(end) => Some(end),
                None if optional => match_from(rest, tokens, i, lang),
                None => None,
            }
        }
    }
}

fn word_matches(alternatives: &str, token: &str) -> bool {
    let one = |alternative: &str| match alternative.strip_suffix('*') {
        Some(prefix) => token.starts_with(prefix),
        None => token == alternative,
    };
    alternatives.split('|').any(|alternative| {
        if alternative == "{msg}" {
            MESSAGE_NOUNS.iter().any(|n| one(n))
        } else {
            one(alternative)
        }
    })
}

/// Whether a negation of `lang` stands within two words before `start`,
/// not counting words that let a negation through (`to`, `want`).
fn negated(clause: &[String], start: usize, lang: Lang) -> bool {
    let mut counted = 0;
    for token in clause[..start].iter().rev() {
        if lang.negates(token) {
            return true;
        }
        if lang.see_through().contains(&token.as_str()) {
            continue;
        }
        counted += 1;
        if counted == 2 {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> KeywordSettings {
        KeywordSettings::default()
    }

    fn high(body: &str) -> bool {
        matches!(
            detect_opt_out_intent(body),
            Some(OptOutIntent {
                confidence: Confidence::High,
                ..
            })
        )
    }

    // ---- R17: exact keywords ----

    #[test]
    fn r17_stop_matches_whole_trimmed_message_in_any_case() {
        for body in [
            "STOP",
            "stop",
            "Stop",
            "  sToP \n",
            "STOP.",
            "stop!",
            "\"STOP\"",
            "“Stop”",
            "STOP!!! 🛑",
            "(stop)",
        ] {
            assert_eq!(
                match_keyword(body, &defaults()),
                Some(KeywordFamily::Stop),
                "{body:?}"
            );
        }
    }

    #[test]
    fn r17_every_default_stop_keyword_opts_out() {
        for keyword in DEFAULT_STOP {
            assert_eq!(
                match_keyword(keyword, &defaults()),
                Some(KeywordFamily::Stop),
                "{keyword}"
            );
            let lower = keyword.to_lowercase();
            assert_eq!(
                match_keyword(&lower, &defaults()),
                Some(KeywordFamily::Stop),
                "{lower}"
            );
        }
    }

    #[test]
    fn r17_every_default_start_and_help_keyword_matches_its_family() {
        for keyword in DEFAULT_START {
            assert_eq!(
                match_keyword(keyword, &defaults()),
                Some(KeywordFamily::Start),
                "{keyword}"
            );
        }
        for keyword in DEFAULT_HELP {
            assert_eq!(
                match_keyword(keyword, &defaults()),
                Some(KeywordFamily::Help),
                "{keyword}"
            );
        }
        assert_eq!(
            match_keyword(" unstop ", &defaults()),
            Some(KeywordFamily::Start)
        );
        assert_eq!(
            match_keyword("Help?", &defaults()),
            Some(KeywordFamily::Help)
        );
        assert_eq!(
            match_keyword("hjälp", &defaults()),
            Some(KeywordFamily::Help)
        );
    }

    #[test]
    fn r17_case_folding_is_unicode_aware() {
        assert_eq!(
            match_keyword("arrêt", &defaults()),
            Some(KeywordFamily::Stop)
        );
        assert_eq!(
            match_keyword("ARRÊT", &defaults()),
            Some(KeywordFamily::Stop)
        );
        assert_eq!(
            match_keyword("Arrêt.", &defaults()),
            Some(KeywordFamily::Stop)
        );
    }

    #[test]
    fn r17_inner_whitespace_is_collapsed() {
        assert_eq!(
            match_keyword("opt   out", &defaults()),
            Some(KeywordFamily::Stop)
        );
        assert_eq!(
            match_keyword("Opt\tOut!", &defaults()),
            Some(KeywordFamily::Stop)
        );
        assert_eq!(
            match_keyword("opt-out", &defaults()),
            Some(KeywordFamily::Stop)
        );
    }

    #[test]
    fn r17_only_the_whole_message_matches() {
        for body in [
            "don't stop",
            "STOP please",
            "please stop",
            "stopping",
            "the bus stop",
            "help me with my order",
            "yes please",
            "S T O P",
            "",
            "   ",
            "...",
        ] {
            assert_eq!(match_keyword(body, &defaults()), None, "{body:?}");
        }
    }

    #[test]
    fn r17_account_keywords_are_matched_in_the_same_form() {
        let mut settings = defaults();
        settings.stop.push("  Nie wieder ".to_string());
        settings.help.push("Kundendienst".to_string());
        assert_eq!(
            match_keyword("NIE  WIEDER!", &settings),
            Some(KeywordFamily::Stop)
        );
        assert_eq!(
            match_keyword("kundendienst", &settings),
            Some(KeywordFamily::Help)
        );
    }

    #[test]
    fn r17_stop_wins_when_stored_settings_list_a_keyword_twice() {
        let mut settings = defaults();
        settings.start.push("stop".to_string());
        assert_eq!(match_keyword("STOP", &settings), Some(KeywordFamily::Stop));
    }

    #[test]
    fn r17_default_settings_are_valid_and_round_trip_as_json() {
        assert_eq!(defaults().validate(), Ok(()));
        let json = serde_json::to_value(defaults()).unwrap();
        assert_eq!(json["natural_language_opt_out"], "flag");
        let back: KeywordSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, defaults());
    }

    #[test]
    fn r17_missing_settings_fields_take_their_defaults() {
        let settings: KeywordSettings =
            serde_json::from_str(r#"{"help_reply": "Acme: call 555-0100. Reply STOP to opt out.", "natural_language_opt_out": "apply"}"#).unwrap();
        assert_eq!(settings.stop, defaults().stop);
        assert_eq!(
            settings.help_reply,
            "Acme: call 555-0100. Reply STOP to opt out."
        );
        assert_eq!(settings.natural_language_opt_out, NaturalOptOut::Apply);
        assert_eq!(
            serde_json::to_string(&KeywordFamily::Help).unwrap(),
            "\"help\""
        );
    }

    #[test]
    fn r17_empty_keywords_are_refused_by_index() {
        let mut settings = defaults();
        settings.stop.push("  ".to_string());
        settings.help.insert(0, "!!".to_string());
        let errors = settings.validate().unwrap_err();
        assert_eq!(
            errors
                .get(&format!("keywords.stop[{}]", DEFAULT_STOP.len()))
                .map(String::as_str),
            Some("must not be empty")
        );
        assert_eq!(
            errors.get("keywords.help[0]").map(String::as_str),
            Some("must not be empty")
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn r17_a_keyword_in_two_families_is_refused_where_it_repeats() {
        let mut settings = defaults();
        settings.help.push("yes".to_string());
        let errors = settings.validate().unwrap_err();
        let key = format!("keywords.help[{}]", DEFAULT_HELP.len());
        assert_eq!(
            errors.get(&key).map(String::as_str),
            Some("`yes` is already a start keyword")
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn r17_stop_start_and_help_cannot_be_removed() {
        let mut settings = defaults();
        settings.stop.retain(|k| k != "STOP");
        settings.start = vec!["Start ".to_string()];
        settings.help = vec!["INFO".to_string()];
        let errors = settings.validate().unwrap_err();
        assert_eq!(
            errors.get("keywords.stop").map(String::as_str),
            Some("must include STOP: carriers require it")
        );
        assert_eq!(
            errors.get("keywords.help").map(String::as_str),
            Some("must include HELP: carriers require it")
        );
        assert!(
            !errors.contains_key("keywords.start"),
            "a different spelling of START still counts"
        );
    }

    #[test]
    fn r17_replies_must_be_present_and_fit_in_1600_characters() {
        let mut settings = defaults();
        settings.stop_reply = " ".to_string();
        settings.help_reply = "x".repeat(MAX_REPLY_CHARS + 1);
        settings.start_reply = "ä".repeat(MAX_REPLY_CHARS);
        let errors = settings.validate().unwrap_err();
        assert_eq!(
            errors.get("keywords.stop_reply").map(String::as_str),
            Some("must not be empty")
        );
        assert_eq!(
            errors.get("keywords.help_reply").map(String::as_str),
            Some("must be at most 1600 characters")
        );
        assert!(
            !errors.contains_key("keywords.start_reply"),
            "limit counts characters, not bytes"
        );
    }

    #[test]
    fn r17_default_replies_follow_ctia() {
        assert!(DEFAULT_STOP_REPLY.contains("no further messages"));
        assert!(DEFAULT_HELP_REPLY.contains("Reply STOP to opt out"));
        assert!(DEFAULT_HELP_REPLY.contains("Msg & data rates may apply"));
        assert!(DEFAULT_START_REPLY.contains("Reply STOP to opt out"));
    }

    // ---- R29: natural-language opt-out ----

    #[test]
    fn r29_english_requests_to_stop_are_high_confidence() {
        for body in [
            "please stop texting me",
            "Stop sending me messages",
            "remove me from your list",
            "Unsubscribe me",
            "don't text me anymore",
            "Do not message me again!!",
            "no more messages",
            "No more texts please.",
            "I don't want these texts",
            "Who is this? I don't know you, stop texting me",
            "stop please",
            "STOP. Thanks",
            "Stop it now",
            "take me off your list",
            "Please opt me out",
            "I want to opt out",
            "How do I unsubscribe?",
            "delete my number",
            "Could you please stop.",
            "stop the texts",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_german_requests_to_stop_are_high_confidence() {
        for body in [
            "keine SMS mehr",
            "Bitte keine Nachrichten mehr!",
            "abmelden bitte",
            "Bitte abmelden",
            "Ich möchte keine SMS mehr erhalten",
            "Ich moechte keine weiteren Nachrichten",
            "Schreiben Sie mir nicht mehr",
            "bitte nicht mehr anschreiben",
            "Bitte melden Sie mich ab",
            "Entfernen Sie mich aus dem Verteiler",
            "löschen Sie meine Nummer",
            "SMS abbestellen",
            "Stopp bitte",
            "hören Sie auf mir zu schreiben",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_finnish_requests_to_stop_are_high_confidence() {
        for body in [
            "älä lähetä enää viestejä",
            "Älkää lähettäkö minulle viestejä",
            "lopeta viestit",
            "Lopettakaa viestien lähettäminen",
            "en halua enää viestejä",
            "ei enää tekstiviestejä kiitos",
            "poistakaa minut listalta",
            "lopeta kiitos",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_french_requests_to_stop_are_high_confidence() {
        for body in [
            "ne m'envoyez plus de messages",
            "Ne m’envoyez plus de SMS svp",
            "Merci de ne plus m'envoyer de SMS",
            "arrêtez de m'envoyer des messages",
            "Arrêtez les SMS",
            "désabonnez-moi",
            "je veux me désabonner",
            "retirez-moi de votre liste",
            "je ne veux plus recevoir vos messages",
            "arrêt svp",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_spanish_requests_to_stop_are_high_confidence() {
        for body in [
            "no me envíen más mensajes",
            "No me manden más SMS por favor",
            "dejen de enviarme mensajes",
            "¿Pueden dejar de escribirme?",
            "quiero darme de baja",
            "baja por favor",
            "no quiero recibir más mensajes",
            "no más mensajes",
            "bórrenme de la lista",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_swedish_requests_to_stop_are_high_confidence() {
        for body in [
            "sluta skicka",
            "Sluta skicka sms till mig",
            "sluta smsa mig",
            "inga fler sms tack",
            "Inga mer meddelanden",
            "skicka inte fler meddelanden",
            "jag vill inte ha fler sms",
            "ta bort mig från listan",
            "avregistrera mig",
        ] {
            assert!(high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_ordinary_uses_of_stop_words_are_not_high() {
        for body in [
            "don't stop the delivery",
            "can you stop by tomorrow?",
            "the bus stop",
            "I'm at the bus stop",
            "no more questions, thanks",
            "Please don't stop texting me, I love the deals",
            "I don't want to unsubscribe",
            "Don't remove me from the list",
            "bitte nicht abmelden",
            "Ich habe keine SMS bekommen",
            "älä lopeta viestejä",
            "sluta inte skicka",
            "no dejen de enviarme ofertas",
            "Yes, see you at 3",
            "Is the store open on Sunday?",
            "Send me more messages like this",
            "Thanks, no more to add",
            "I stopped by yesterday",
            "estoy de baja hasta el lunes",
            "take me to the station",
            "Do you have any more messages for me?",
            "I don't want to miss your offers",
            "Ich will keine Nachricht verpassen",
            "Können Sie mich auf die Liste nehmen?",
            "supprimez mon rendez-vous",
            "peru tilaus",
            "no me envíen la factura",
            "vill inte missa era erbjudanden",
        ] {
            assert!(!high(body), "{body:?} -> {:?}", detect_opt_out_intent(body));
        }
    }

    #[test]
    fn r29_ordinary_messages_are_not_flagged_at_all() {
        for body in [
            "can you stop by tomorrow?",
            "the bus stop",
            "no more questions, thanks",
            "don't stop the delivery",
            "See you tomorrow!",
            "Kiitos, nähdään huomenna",
            "Danke, bis morgen",
            "",
        ] {
            assert_eq!(detect_opt_out_intent(body), None, "{body:?}");
        }
    }

    #[test]
    fn r29_ambiguous_wording_is_low_confidence_for_an_agent() {
        for body in [
            "Not interested",
            "wrong number",
            "Kein Interesse",
            "Ich möchte mich von der Veranstaltung abmelden",
            "ei kiinnosta",
            "Stop the delivery",
            "peru tilaus",
        ] {
            assert_eq!(
                detect_opt_out_intent(body).map(|i| i.confidence),
                Some(Confidence::Low),
                "{body:?}"
            );
        }
    }

    #[test]
    fn r29_intent_reports_the_words_that_matched() {
        let intent = detect_opt_out_intent("Hi there. Please STOP texting me!").unwrap();
        assert_eq!(
            intent,
            OptOutIntent {
                confidence: Confidence::High,
                matched: "stop texting".to_string()
            }
        );
        let intent = detect_opt_out_intent("Älä lähetä enää").unwrap();
        assert_eq!(intent.matched, "ala laheta enaa");
    }

    #[test]
    fn r29_high_anywhere_beats_an_earlier_low() {
        let intent = detect_opt_out_intent("Not interested. Remove me.").unwrap();
        assert_eq!(intent.confidence, Confidence::High);
        assert_eq!(intent.matched, "remove me");
    }

    #[test]
    fn r29_setting_decides_what_happens_to_an_intent() {
        assert_eq!(
            NaturalOptOut::Apply.action(Confidence::High),
            Some(OptOutAction::Apply)
        );
        assert_eq!(
            NaturalOptOut::Apply.action(Confidence::Low),
            Some(OptOutAction::Flag)
        );
        assert_eq!(
            NaturalOptOut::Flag.action(Confidence::High),
            Some(OptOutAction::Flag)
        );
        assert_eq!(NaturalOptOut::Off.action(Confidence::High), None);
        assert_eq!(NaturalOptOut::default(), NaturalOptOut::Flag);
    }

    #[test]
    fn r29_patterns_are_written_in_folded_form() {
        // The tokens they meet are folded lowercase ASCII-ish words, so a
        // pattern with an umlaut or a capital could never match.
        for (_, _, pattern) in RULES {
            let elements: Vec<&str> = pattern.split_whitespace().collect();
            assert!(!elements.is_empty());
            assert_ne!(elements.first(), Some(&"~"), "{pattern}");
            assert_ne!(elements.last(), Some(&"~"), "{pattern}");
            for (i, element) in elements.iter().enumerate() {
                assert!(*element != "^" || i == 0, "{pattern}");
                assert!(*element != "$" || i == elements.len() - 1, "{pattern}");
                assert!(
                    element
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || "|*?~{}^$".contains(c)),
                    "{pattern}"
                );
            }
        }
        for word in STOP_WORDS.iter().chain(FILLER).chain(MESSAGE_NOUNS) {
            assert!(
                word.chars().all(|c| c.is_ascii_lowercase() || c == '*'),
                "{word}"
            );
        }
    }

    // ---- R17 + R29 together ----

    #[test]
    fn r17_exact_keywords_come_before_natural_language() {
        assert_eq!(
            classify_inbound("STOP", &defaults()),
            InboundClass::Keyword(KeywordFamily::Stop)
        );
        assert_eq!(
            classify_inbound("lopeta", &defaults()),
            InboundClass::Keyword(KeywordFamily::Stop)
        );
        assert_eq!(
            classify_inbound("Yes!", &defaults()),
            InboundClass::Keyword(KeywordFamily::Start)
        );
        assert_eq!(
            classify_inbound("info", &defaults()),
            InboundClass::Keyword(KeywordFamily::Help)
        );
    }

    #[test]
    fn r29_classify_falls_back_to_natural_language_then_plain() {
        assert_eq!(
            classify_inbound("keine SMS mehr", &defaults()),
            InboundClass::NaturalOptOut(OptOutIntent {
                confidence: Confidence::High,
                matched: "keine sms mehr".to_string()
            })
        );
        assert_eq!(
            classify_inbound("can you stop by tomorrow?", &defaults()),
            InboundClass::Plain
        );
        let off = KeywordSettings {
            natural_language_opt_out: NaturalOptOut::Off,
            ..defaults()
        };
        assert_eq!(
            classify_inbound("keine SMS mehr", &off),
            InboundClass::Plain
        );
        assert_eq!(
            classify_inbound("STOP", &off),
            InboundClass::Keyword(KeywordFamily::Stop)
        );
    }
}
