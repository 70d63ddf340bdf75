//! A provider connection's directory (Aircall's numbers, users and the links
//! between them) written into the account's numbers and users, inside the
//! caller's transaction: a sync is seen whole or not at all (R3: what it
//! brings is visible to the next query), and running it again with the same
//! lists changes nothing.
//!
//! * Users are found again by (connection, provider id): created once, then
//!   their name and email follow the provider. A user gone from the provider
//!   is kept (messages and workflows name it) but loses its links to the
//!   connection's numbers.
//! * Numbers are found by (connection, provider id), else by E.164: a number
//!   the account already has on this connection (added by hand before the
//!   sync) is adopted; one on another provider is left alone and reported
//!   as skipped. Label, SMS capability and provider id follow the provider
//!   on every sync.
//! * The links between the connection's numbers and the connection's users
//!   mirror the provider's; links an admin made to other users are kept.
//! * A number gone from the provider is never deleted — messages,
//!   conversations and workflows reference it — but it stops being
//!   SMS-capable (it leaves the number options, R2) and loses its links to
//!   the connection's users. Should it come back, the next sync restores it.

use crate::connections::ConnectionRow;
use crate::rows::{int, opt_text, text};
use crate::tx::{i, t};
use crate::{ms, Result, StoreTx};
use chrono::{DateTime, Utc};
use smsflow_core::ids::{AccountId, NumberId, UserId};
use smsflow_core::phone::E164;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A user as the provider lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedUser {
    pub external_id: String,
    pub name: String,
    pub email: String,
}

/// A number as the provider lists it, with the provider ids of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedNumber {
    pub external_id: String,
    pub e164: E164,
    pub label: String,
    pub sms: bool,
    pub user_external_ids: Vec<String>,
}

/// One sync of one connection's directory.
#[derive(Debug, Clone)]
pub struct DirectorySync<'a> {
    /// The connection id (what numbers name as their `provider`).
    pub provider: &'a str,
    pub numbers: &'a [SyncedNumber],
    pub users: &'a [SyncedUser],
    /// Throughput (segments per second, R11) of numbers the sync creates.
    pub throughput: i64,
    pub at: DateTime<Utc>,
}

/// What a sync did to numbers or to users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Known from an earlier sync, no longer listed by the provider.
    pub gone: u32,
}

/// A listed number the sync left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSkip {
    pub external_id: String,
    /// `None` when the provider's entry had no usable phone number.
    pub e164: Option<E164>,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub numbers: SyncCounts,
    pub users: SyncCounts,
    pub skipped: Vec<SyncSkip>,
}

/// A number of the account as the sync found it.
struct Existing {
    id: NumberId,
    e164: String,
    label: String,
    provider: String,
    sms: bool,
    external_id: Option<String>,
}

impl StoreTx {
    /// Stores a new provider connection, with the sync of its directory in
    /// the same transaction.
    pub async fn create_connection(&mut self, c: &ConnectionRow) -> Result<()> {
        self.execute(
            "INSERT INTO provider_connections (id, account_id, kind, name, config, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                t(c.id.as_str()),
                t(c.account_id.as_str()),
                t(c.kind.as_str()),
                t(c.name.as_str()),
                t(crate::rows::to_json(&c.config)),
                i(ms(c.created_at)),
            ],
        )
        .await?;
        Ok(())
    }

    /// Writes one connection's directory (see the module's rules).
    pub async fn sync_directory(
        &mut self,
        account: &AccountId,
        sync: &DirectorySync<'_>,
    ) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let users = self.sync_users(account, sync, &mut report).await?;

        let rows = self
            .fetch_all(
                "SELECT id, e164, label, provider, sms, external_id FROM numbers WHERE account_id = $1",
                vec![t(account.as_str())],
            )
            .await?;
        let mut existing = rows
            .iter()
            .map(|r| {
                Ok(Existing {
                    id: NumberId::from_string(text(r, "id")?),
                    e164: text(r, "e164")?,
                    label: text(r, "label")?,
                    provider: text(r, "provider")?,
                    sms: int(r, "sms")? != 0,
                    external_id: opt_text(r, "external_id")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let provider = sync.provider;
        let mut listed: HashSet<NumberId> = HashSet::new();
        let (mut seen_ids, mut seen_e164) = (HashSet::new(), HashSet::new());
        for n in sync.numbers {
            if !seen_ids.insert(n.external_id.as_str()) || !seen_e164.insert(n.e164.as_str()) {
                report.skipped.push(SyncSkip {
                    external_id: n.external_id.clone(),
                    e164: Some(n.e164.clone()),
                    reason: "listed twice by the provider".into(),
                });
                continue;
            }
            let ours = |e: &Existing| {
                e.provider == provider && e.external_id.as_deref() == Some(n.external_id.as_str())
            };
            // The provider id now names another phone number: the old row
            // keeps its phone number (E.164 never changes) and is retired.
            if let Some(old) = existing
                .iter_mut()
                .find(|e| ours(e) && e.e164 != n.e164.as_str())
            {
                self.execute(
                    "UPDATE numbers SET external_id = NULL, sms = 0 WHERE id = $1",
                    vec![t(old.id.as_str())],
                )
                .await?;
                old.external_id = None;
                old.sms = false;
                let id = old.id.clone();
                self.set_provider_links(&id, provider, &BTreeSet::new())
                    .await?;
                report.numbers.gone += 1;
            }
            let found = existing
                .iter()
                .position(ours)
                .or_else(|| existing.iter().position(|e| e.e164 == n.e164.as_str()));
            let wanted: BTreeSet<UserId> = n
                .user_external_ids
                .iter()
                .filter_map(|x| users.get(x).cloned())
                .collect();
            match found {
                Some(at) if existing[at].provider != provider => {
                    report.skipped.push(SyncSkip {
                        external_id: n.external_id.clone(),
                        e164: Some(n.e164.clone()),
                        reason: format!(
                            "{} is already connected to provider `{}`",
                            n.e164, existing[at].provider
                        ),
                    });
                }
                Some(at) => {
                    let e = &mut existing[at];
                    let changed = e.label != n.label
                        || e.sms != n.sms
                        || e.external_id.as_deref() != Some(n.external_id.as_str());
                    if changed {
                        self.execute(
                            "UPDATE numbers SET label = $1, sms = $2, external_id = $3 WHERE id = $4",
                            vec![
                                t(n.label.as_str()),
                                i(i64::from(n.sms)),
                                t(n.external_id.as_str()),
                                t(e.id.as_str()),
                            ],
                        )
                        .await?;
                        e.label = n.label.clone();
                        e.sms = n.sms;
                        e.external_id = Some(n.external_id.clone());
                    }
                    let id = e.id.clone();
                    let relinked = self.set_provider_links(&id, provider, &wanted).await?;
                    if changed || relinked {
                        report.numbers.updated += 1;
                    } else {
                        report.numbers.unchanged += 1;
                    }
                    listed.insert(id);
                }
                None => {
                    let id = NumberId::generate();
                    self.execute(
                        "INSERT INTO numbers (id, account_id, e164, label, provider, sms, mms, voice, throughput, external_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, 1, $7, $8, $9)",
                        vec![
                            t(id.as_str()),
                            t(account.as_str()),
                            t(n.e164.as_str()),
                            t(n.label.as_str()),
                            t(provider),
                            i(i64::from(n.sms)),
                            i(sync.throughput),
                            t(n.external_id.as_str()),
                            i(ms(sync.at)),
                        ],
                    )
                    .await
                    .map_err(|e| {
                        crate::directory::conflict(e, "a number with this e164 already exists")
                    })?;
                    self.set_provider_links(&id, provider, &wanted).await?;
                    report.numbers.created += 1;
                    existing.push(Existing {
                        id: id.clone(),
                        e164: n.e164.to_string(),
                        label: n.label.clone(),
                        provider: provider.to_string(),
                        sms: n.sms,
                        external_id: Some(n.external_id.clone()),
                    });
                    listed.insert(id);
                }
            }
        }

        for e in existing.iter().filter(|e| {
            e.provider == provider && e.external_id.is_some() && !listed.contains(&e.id)
        }) {
            report.numbers.gone += 1;
            if e.sms {
                self.execute(
                    "UPDATE numbers SET sms = 0 WHERE id = $1",
                    vec![t(e.id.as_str())],
                )
                .await?;
            }
            self.set_provider_links(&e.id, provider, &BTreeSet::new())
                .await?;
        }
        Ok(report)
    }

    /// Creates or updates the listed users; answers provider id → user id
    /// for the users listed now.
    async fn sync_users(
        &mut self,
        account: &AccountId,
        sync: &DirectorySync<'_>,
        report: &mut SyncReport,
    ) -> Result<HashMap<String, UserId>> {
        let rows = self
            .fetch_all(
                "SELECT id, name, email, external_id FROM users \
                 WHERE account_id = $1 AND provider = $2 AND external_id IS NOT NULL",
                vec![t(account.as_str()), t(sync.provider)],
            )
            .await?;
        let mut known: HashMap<String, (UserId, String, String)> = HashMap::new();
        for r in &rows {
            known.insert(
                text(r, "external_id")?,
                (
                    UserId::from_string(text(r, "id")?),
                    text(r, "name")?,
                    text(r, "email")?,
                ),
            );
        }
        let mut ids: HashMap<String, UserId> = HashMap::new();
        for u in sync.users {
            if ids.contains_key(&u.external_id) {
                continue;
            }
            let id = match known.get(&u.external_id) {
                Some((id, name, email)) => {
                    if *name != u.name || *email != u.email {
                        self.execute(
                            "UPDATE users SET name = $1, email = $2 WHERE id = $3",
                            vec![t(u.name.as_str()), t(u.email.as_str()), t(id.as_str())],
                        )
                        .await?;
                        report.users.updated += 1;
                    } else {
                        report.users.unchanged += 1;
                    }
                    id.clone()
                }
                None => {
                    let id = UserId::generate();
                    self.execute(
                        "INSERT INTO users (id, account_id, name, email, provider, external_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        vec![
                            t(id.as_str()),
                            t(account.as_str()),
                            t(u.name.as_str()),
                            t(u.email.as_str()),
                            t(sync.provider),
                            t(u.external_id.as_str()),
                            i(ms(sync.at)),
                        ],
                    )
                    .await?;
                    report.users.created += 1;
                    id
                }
            };
            ids.insert(u.external_id.clone(), id);
        }
        report.users.gone = u32::try_from(known.keys().filter(|k| !ids.contains_key(*k)).count())
            .unwrap_or(u32::MAX);
        Ok(ids)
    }

    /// Makes the links between `number` and the users synced from
    /// `provider` exactly `users`; links to any other user are kept.
    /// Answers whether anything changed.
    async fn set_provider_links(
        &mut self,
        number: &NumberId,
        provider: &str,
        users: &BTreeSet<UserId>,
    ) -> Result<bool> {
        let rows = self
            .fetch_all(
                "SELECT l.user_id FROM number_users l JOIN users u ON u.id = l.user_id \
                 WHERE l.number_id = $1 AND u.provider = $2",
                vec![t(number.as_str()), t(provider)],
            )
            .await?;
        let current = rows
            .iter()
            .map(|r| Ok(UserId::from_string(text(r, "user_id")?)))
            .collect::<Result<BTreeSet<_>>>()?;
        for stale in current.difference(users) {
            self.execute(
                "DELETE FROM number_users WHERE number_id = $1 AND user_id = $2",
                vec![t(number.as_str()), t(stale.as_str())],
            )
            .await?;
        }
        for new in users.difference(&current) {
            self.execute(
                "INSERT INTO number_users (number_id, user_id) VALUES ($1, $2)",
                vec![t(number.as_str()), t(new.as_str())],
            )
            .await?;
        }
        Ok(current != *users)
    }
}
