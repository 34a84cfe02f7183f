//! The conversation of an order (contract §14, §16): only its customer and mitra read or
//! post (anyone else: not found). It opens when the order is paid and takes messages
//! until `CHAT_OPEN_DAYS_AFTER_END` days after the order ended.
//!
//! A send is idempotent by `client_message_id`: the database's unique (order, sender,
//! client id) decides between racing retries, and the loser reads the winner's row. A new
//! message is a `message.created` event to every socket of both parties (the sender's
//! other devices too) and, for the recipient, a push sent only when no socket took the
//! event within three seconds (`notifications`' `push_unless_seen`). Everything commits
//! with the message. Reports of a message wait for staff, who dismiss them or hide the
//! message (audited; both parties then see `body: null, hidden: true` and get
//! `message.updated`). Each staff read of a conversation is an audit entry.

use anyhow::Context;
use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;
use poem_openapi::{Enum, Object};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{MarketError, Party, Side};
use crate::audit::{self, StaffActor, Target};
use crate::notifications::{self, Delivery};
use crate::pagination::{Cursor, Page};
use crate::ratelimit::{self, Verdict};
use crate::realtime;

const MAX_BODY: usize = 2000;
const MAX_CLIENT_ID: usize = 64;
const MAX_REASON: usize = 1000;
/// What a push shows of a message.
const PREVIEW: usize = 120;

/// One message of an order's conversation.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct Message {
    pub id: Uuid,
    pub order_id: Uuid,
    pub sender: Side,
    /// Null when staff hid it (`hidden` is then true) or its sender deleted their account.
    #[oai(nullable)]
    pub body: Option<String>,
    pub hidden: bool,
    pub client_message_id: String,
    pub created_at: DateTime<Utc>,
}

/// `data` of a `message.read` event: the reader has read every message up to `up_to`.
#[derive(Debug, Clone, Object)]
pub struct MessageRead {
    pub order_id: Uuid,
    pub reader: Side,
    /// A message id.
    pub up_to: Uuid,
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    id: Uuid,
    order_id: Uuid,
    sender: Side,
    body: Option<String>,
    hidden: bool,
    client_message_id: String,
    created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, order_id, sender, body, hidden_at IS NOT NULL AS hidden, client_message_id, created_at";

impl Row {
    /// As the parties see it: a hidden message has no body.
    fn for_parties(self) -> Message {
        let body = if self.hidden { None } else { self.body };
        Message {
            id: self.id,
            order_id: self.order_id,
            sender: self.sender,
            body,
            hidden: self.hidden,
            client_message_id: self.client_message_id,
            created_at: self.created_at,
        }
    }

    /// As staff see it: the body even when hidden.
    fn for_staff(self) -> Message {
        Message {
            id: self.id,
            order_id: self.order_id,
            sender: self.sender,
            body: self.body,
            hidden: self.hidden,
            client_message_id: self.client_message_id,
            created_at: self.created_at,
        }
    }
}

/// What the conversation's rules need of its order.
#[derive(Debug, sqlx::FromRow)]
struct Conversation {
    customer_id: Uuid,
    mitra_id: Uuid,
    /// Paid at some point and not past its closing day.
    open: bool,
}

impl Conversation {
    fn party(&self, side: Side) -> Party {
        match side {
            Side::Customer => Party::Customer(self.customer_id),
            Side::Mitra => Party::Mitra(self.mitra_id),
        }
    }
}

/// The order `id` if `party` is on it; `None` (not found) otherwise.
async fn conversation(
    conn: &mut PgConnection,
    party: Party,
    id: Uuid,
    open_days: u32,
) -> sqlx::Result<Option<Conversation>> {
    let (column, owner) = party.column();
    sqlx::query_as(&format!(
        "SELECT customer_id, mitra_id,
                paid_at IS NOT NULL AND (ended_at IS NULL OR ended_at + make_interval(days => $3) > now()) AS open
         FROM orders WHERE id = $1 AND {column} = $2 AND status <> 'creating'"
    ))
    .bind(id)
    .bind(owner)
    .bind(i32::try_from(open_days).unwrap_or(i32::MAX))
    .fetch_optional(conn)
    .await
}

/// The conversation's rules for a send.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// `CHAT_OPEN_DAYS_AFTER_END`.
    pub open_days_after_end: u32,
    /// `CHAT_MESSAGES_PER_MINUTE` per sender (0: no limit).
    pub messages_per_minute: u32,
}

/// A message body: 1–2000 characters after trimming, no control characters but newlines.
fn checked_body(input: &str) -> Result<String, MarketError> {
    let body = input.trim();
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_BODY {
        return Err(MarketError::Invalid(format!("body must be 1 to {MAX_BODY} characters")));
    }
    if body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(MarketError::Invalid("body must not contain control characters other than newlines".into()));
    }
    Ok(body.to_owned())
}

fn checked_client_id(input: &str) -> Result<&str, MarketError> {
    let chars = input.chars().count();
    if chars == 0 || chars > MAX_CLIENT_ID || input.chars().any(char::is_control) {
        return Err(MarketError::Invalid(format!(
            "client_message_id must be 1 to {MAX_CLIENT_ID} characters, none of them control characters"
        )));
    }
    Ok(input)
}

/// What a send found.
pub enum Sent {
    New(Message),
    /// The same sender sent this `client_message_id` with this body before.
    Existing(Message),
}

async fn by_client_id(
    conn: &mut PgConnection,
    order_id: Uuid,
    sender: Side,
    client_id: &str,
) -> sqlx::Result<Option<Row>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE order_id = $1 AND sender = $2 AND client_message_id = $3"
    ))
    .bind(order_id)
    .bind(sender)
    .bind(client_id)
    .fetch_optional(conn)
    .await
}

/// The earlier message of a client id, if it was this same send.
fn replay(existing: Row, body: &str) -> Result<Sent, MarketError> {
    if existing.body.as_deref() != Some(body) {
        return Err(MarketError::IdReused("this client_message_id was used before for a different message"));
    }
    Ok(Sent::Existing(existing.for_parties()))
}

/// Posts `party`'s message to order `order_id`'s conversation.
pub async fn post(
    db: &PgPool,
    party: Party,
    order_id: Uuid,
    body: &str,
    client_message_id: &str,
    rules: Rules,
) -> Result<Sent, MarketError> {
    let body = checked_body(body)?;
    let client_id = checked_client_id(client_message_id)?;
    let sender = party.side();
    let mut tx = db.begin().await.context("starting the message")?;
    let Some(conv) = conversation(&mut tx, party, order_id, rules.open_days_after_end).await? else {
        return Err(MarketError::NotFound("no such order"));
    };
    if let Some(existing) = by_client_id(&mut tx, order_id, sender, client_id).await? {
        return replay(existing, &body);
    }
    if !conv.open {
        return Err(MarketError::InvalidState(
            "the conversation opens when the order is paid and closes some days after it ended".into(),
        ));
    }
    let (_, sender_id) = party.column();
    let key = format!("chat:{}:{sender_id}", sender.as_str());
    if let Verdict::Limited { retry_after_secs } =
        ratelimit::hit(&mut *tx, &key, rules.messages_per_minute, 60).await.context("counting the message")?
    {
        return Err(MarketError::RateLimited(retry_after_secs));
    }
    let inserted: Option<Row> = sqlx::query_as(&format!(
        "INSERT INTO messages (id, order_id, sender, body, client_message_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (order_id, sender, client_message_id) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(order_id)
    .bind(sender)
    .bind(&body)
    .bind(client_id)
    .fetch_optional(&mut *tx)
    .await
    .context("writing the message")?;
    let Some(row) = inserted else {
        // A racing retry committed first (the insert waited for it): answer with its row.
        let existing = by_client_id(&mut tx, order_id, sender, client_id).await?;
        return replay(existing.context("the message that won the race is missing")?, &body);
    };
    let message = row.for_parties();
    announce(&mut tx, &conv, &message).await.context("announcing the message")?;
    tx.commit().await.context("committing the message")?;
    Ok(Sent::New(message))
}

/// `message.created` to both parties' sockets, and the recipient's push unless a socket
/// of theirs takes it within a few seconds.
async fn announce(conn: &mut PgConnection, conv: &Conversation, message: &Message) -> sqlx::Result<()> {
    let event = message.to_json().unwrap_or_default();
    let sender = conv.party(message.sender);
    let (_, sender_id) = sender.column();
    realtime::publish(&mut *conn, message.sender.user_type(), sender_id, "message.created", &event).await?;
    let recipient = message.sender.other();
    let (_, recipient_id) = conv.party(recipient).column();
    let title = match message.sender {
        Side::Customer => "Pesan baru dari pelanggan",
        Side::Mitra => "Pesan baru dari mitra",
    };
    let preview: String = message.body.as_deref().unwrap_or_default().chars().take(PREVIEW).collect();
    let data = json!({ "order_id": message.order_id.to_string(), "message_id": message.id.to_string() });
    let delivery = Delivery {
        notification_id: Uuid::new_v4(),
        user_type: recipient.user_type(),
        user_id: recipient_id,
        event_type: "message.created",
        event: &event,
        title,
        body: &preview,
        data: &data,
        created_by: None,
        push_unless_seen: true,
    };
    notifications::deliver(conn, &delivery).await
}

/// A page of order `order_id`'s messages as `party` sees them, newest first.
pub async fn history(
    db: &PgPool,
    party: Party,
    order_id: Uuid,
    page: Page,
) -> Result<(Vec<Message>, Option<String>), MarketError> {
    let mut conn = db.acquire().await.context("reading the conversation")?;
    if conversation(&mut conn, party, order_id, 0).await?.is_none() {
        return Err(MarketError::NotFound("no such order"));
    }
    let (rows, next) = page_of(&mut conn, order_id, page).await?;
    Ok((rows.into_iter().map(Row::for_parties).collect(), next))
}

async fn page_of(conn: &mut PgConnection, order_id: Uuid, page: Page) -> sqlx::Result<(Vec<Row>, Option<String>)> {
    let mut rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages
         WHERE order_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(order_id)
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(conn)
    .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.created_at, id: r.id });
    Ok((rows, next))
}

/// A page of any order's conversation for staff (bodies of hidden messages included);
/// each read is an audit entry `order.messages_viewed`. `None` when there is no such order.
pub async fn staff_history(
    db: &PgPool,
    actor: &StaffActor,
    order_id: Uuid,
    page: Page,
) -> Result<(Vec<Message>, Option<String>), MarketError> {
    let mut tx = db.begin().await.context("starting the read")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1 AND status <> 'creating')")
            .bind(order_id)
            .fetch_one(&mut *tx)
            .await
            .context("reading the order")?;
    if !exists {
        return Err(MarketError::NotFound("no such order"));
    }
    let (rows, next) = page_of(&mut tx, order_id, page).await?;
    let target = Target { kind: "order", id: order_id.to_string() };
    let details = json!({ "messages": rows.len(), "cursor": page.after.map(|c| c.encode()) });
    audit::append(&mut tx, actor, "order.messages_viewed", Some(target), details).await.context("auditing")?;
    tx.commit().await.context("committing the read")?;
    Ok((rows.into_iter().map(Row::for_staff).collect(), next))
}

/// Records that `party` has read order `order_id`'s messages up to `up_to` (never moving
/// back), and tells the other party (`message.read`).
pub async fn mark_read(db: &PgPool, party: Party, order_id: Uuid, up_to: Uuid) -> Result<(), MarketError> {
    let reader = party.side();
    let mut tx = db.begin().await.context("starting the receipt")?;
    let Some(conv) = conversation(&mut tx, party, order_id, 0).await? else {
        return Err(MarketError::NotFound("no such order"));
    };
    let at: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT created_at FROM messages WHERE id = $1 AND order_id = $2")
            .bind(up_to)
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading the message")?;
    let Some(at) = at else { return Err(MarketError::NotFound("no such message")) };
    sqlx::query(
        "INSERT INTO message_reads (order_id, reader, up_to_at, up_to_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (order_id, reader) DO UPDATE SET up_to_at = EXCLUDED.up_to_at, up_to_id = EXCLUDED.up_to_id
         WHERE (message_reads.up_to_at, message_reads.up_to_id) < (EXCLUDED.up_to_at, EXCLUDED.up_to_id)",
    )
    .bind(order_id)
    .bind(reader)
    .bind(at)
    .bind(up_to)
    .execute(&mut *tx)
    .await
    .context("recording the receipt")?;
    let event = MessageRead { order_id, reader, up_to }.to_json().unwrap_or_default();
    let (_, other_id) = conv.party(reader.other()).column();
    realtime::publish(&mut *tx, reader.other().user_type(), other_id, "message.read", &event)
        .await
        .context("telling the other party")?;
    tx.commit().await.context("committing the receipt")?;
    Ok(())
}

/// How many of the other party's messages `side` has not read, per order of `order_ids`.
pub async fn unread(db: &PgPool, side: Side, order_ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, i64)>> {
    sqlx::query_as(
        "SELECT o.id, count(m.id)
         FROM unnest($1::uuid[]) AS o (id)
         LEFT JOIN message_reads r ON r.order_id = o.id AND r.reader = $2
         LEFT JOIN messages m ON m.order_id = o.id AND m.sender <> $2
              AND (r.up_to_at IS NULL OR (m.created_at, m.id) > (r.up_to_at, r.up_to_id))
         GROUP BY o.id",
    )
    .bind(order_ids)
    .bind(side)
    .fetch_all(db)
    .await
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Waiting for staff.
    Open,
    Resolved,
}

/// What staff did about a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Enum)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum ReportAction {
    /// Nothing wrong: the message stays.
    Dismiss,
    /// Both parties see the message as `body: null, hidden: true`.
    HideMessage,
}

/// A party's report of a message, as staff see it: `message` shows its body even if
/// hidden since; `action`, `note` and `resolved_at` are null while it is open.
#[derive(Debug, Clone, Object)]
pub struct Report {
    pub id: Uuid,
    pub order_id: Uuid,
    // The reported message, its body shown even if hidden since.
    pub message: Message,
    pub reporter: Side,
    pub reason: String,
    pub status: ReportStatus,
    pub created_at: DateTime<Utc>,
    // Null while open (a nullable `$ref` would become `allOf`, which generators refuse).
    pub action: Option<ReportAction>,
    /// Staff's note on the resolution; null while open.
    #[oai(nullable)]
    pub note: Option<String>,
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Reports `message_id` of order `order_id` for staff. Reporting a message twice changes
/// nothing.
pub async fn report(
    db: &PgPool,
    party: Party,
    order_id: Uuid,
    message_id: Uuid,
    reason: &str,
) -> Result<(), MarketError> {
    let reason = super::text("reason", reason, 1, MAX_REASON)?;
    let mut conn = db.acquire().await.context("starting the report")?;
    if conversation(&mut conn, party, order_id, 0).await?.is_none() {
        return Err(MarketError::NotFound("no such order"));
    }
    let inserted = sqlx::query(
        "INSERT INTO message_reports (id, message_id, order_id, reporter, reason)
         SELECT $1, m.id, m.order_id, $4, $5 FROM messages m WHERE m.id = $2 AND m.order_id = $3
         ON CONFLICT (message_id, reporter) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(message_id)
    .bind(order_id)
    .bind(party.side())
    .bind(&reason)
    .execute(&mut *conn)
    .await
    .context("writing the report")?;
    if inserted.rows_affected() == 0 {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE id = $1 AND order_id = $2)")
            .bind(message_id)
            .bind(order_id)
            .fetch_one(&mut *conn)
            .await
            .context("reading the message")?;
        if !exists {
            return Err(MarketError::NotFound("no such message"));
        }
    }
    tracing::info!(%order_id, %message_id, "message reported");
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
struct ReportRow {
    p_id: Uuid,
    reporter: Side,
    reason: String,
    status: ReportStatus,
    action: Option<ReportAction>,
    note: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    p_created_at: DateTime<Utc>,
    #[sqlx(flatten)]
    message: Row,
}

const REPORT_COLUMNS: &str = "p.id AS p_id, p.reporter, p.reason, p.status, p.action, p.note, p.resolved_at,
     p.created_at AS p_created_at, m.id, m.order_id, m.sender, m.body, m.hidden_at IS NOT NULL AS hidden,
     m.client_message_id, m.created_at";

impl From<ReportRow> for Report {
    fn from(r: ReportRow) -> Self {
        let message = r.message.for_staff();
        Report {
            id: r.p_id,
            order_id: message.order_id,
            message,
            reporter: r.reporter,
            reason: r.reason,
            status: r.status,
            created_at: r.p_created_at,
            action: r.action,
            note: r.note,
            resolved_at: r.resolved_at,
        }
    }
}

/// A page of reports, newest first, optionally of one status.
pub async fn reports(
    db: &PgPool,
    status: Option<ReportStatus>,
    page: Page,
) -> sqlx::Result<(Vec<Report>, Option<String>)> {
    let mut rows: Vec<ReportRow> = sqlx::query_as(&format!(
        "SELECT {REPORT_COLUMNS} FROM message_reports p JOIN messages m ON m.id = p.message_id
         WHERE ($1::text IS NULL OR p.status = $1) AND ($2::timestamptz IS NULL OR (p.created_at, p.id) < ($2, $3))
         ORDER BY p.created_at DESC, p.id DESC LIMIT $4"
    ))
    .bind(status)
    .bind(page.after.map(|c| c.at))
    .bind(page.after.map(|c| c.id))
    .bind(page.fetch())
    .fetch_all(db)
    .await?;
    let next = page.finish(&mut rows, |r| Cursor { at: r.p_created_at, id: r.p_id });
    Ok((rows.into_iter().map(Report::from).collect(), next))
}

/// Resolves an open report (staff; audited). `HideMessage` hides the message for both
/// parties and sends them `message.updated`. A resolved report is `InvalidState`.
pub async fn resolve(
    db: &PgPool,
    actor: &StaffActor,
    id: Uuid,
    action: ReportAction,
    note: Option<&str>,
) -> Result<Report, MarketError> {
    let note = note.map(|n| super::text("note", n, 0, MAX_REASON)).transpose()?.filter(|n| !n.is_empty());
    let mut tx = db.begin().await.context("starting the resolution")?;
    let resolved: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE message_reports SET status = 'resolved', action = $2, note = $3, resolved_by = $4, resolved_at = now()
         WHERE id = $1 AND status = 'open' RETURNING message_id, order_id",
    )
    .bind(id)
    .bind(action)
    .bind(&note)
    .bind(actor.id)
    .fetch_optional(&mut *tx)
    .await
    .context("resolving the report")?;
    let Some((message_id, order_id)) = resolved else {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM message_reports WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .context("reading the report")?;
        return Err(if exists {
            MarketError::InvalidState("this report was resolved already".into())
        } else {
            MarketError::NotFound("no such report")
        });
    };
    if action == ReportAction::HideMessage {
        let hidden: Option<Row> = sqlx::query_as(&format!(
            "UPDATE messages SET hidden_at = now() WHERE id = $1 AND hidden_at IS NULL RETURNING {COLUMNS}"
        ))
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await
        .context("hiding the message")?;
        if let Some(row) = hidden {
            let parties: (Uuid, Uuid) = sqlx::query_as("SELECT customer_id, mitra_id FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_one(&mut *tx)
                .await
                .context("reading the order")?;
            let event = row.for_parties().to_json().unwrap_or_default();
            for (side, user_id) in [(Side::Customer, parties.0), (Side::Mitra, parties.1)] {
                realtime::publish(&mut *tx, side.user_type(), user_id, "message.updated", &event)
                    .await
                    .context("telling the parties")?;
            }
        }
    }
    let target = Target { kind: "message_report", id: id.to_string() };
    let details =
        json!({ "action": action_name(action), "message_id": message_id, "order_id": order_id, "note": note });
    audit::append(&mut tx, actor, "report.resolve", Some(target), details).await.context("auditing")?;
    let row: ReportRow = sqlx::query_as(&format!(
        "SELECT {REPORT_COLUMNS} FROM message_reports p JOIN messages m ON m.id = p.message_id WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .context("reading the report back")?;
    tx.commit().await.context("committing the resolution")?;
    Ok(row.into())
}

fn action_name(action: ReportAction) -> &'static str {
    match action {
        ReportAction::Dismiss => "dismiss",
        ReportAction::HideMessage => "hide_message",
    }
}

/// Erases the bodies of the messages a deleting party sent, in the caller's transaction
/// (the rows stay, so the other party's history keeps its shape).
pub async fn erase_party(conn: &mut PgConnection, party: Party) -> sqlx::Result<()> {
    let (column, owner) = party.column();
    sqlx::query(&format!(
        "UPDATE messages SET body = NULL
         WHERE sender = $1 AND body IS NOT NULL AND order_id IN (SELECT id FROM orders WHERE {column} = $2)"
    ))
    .bind(party.side())
    .bind(owner)
    .execute(conn)
    .await?;
    Ok(())
}
