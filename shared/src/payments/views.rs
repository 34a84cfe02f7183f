//! Orders as the apps and staff see them, with what money did to them: the refunds, the
//! dispute, and for the mitra and staff what the mitra gets; staff also see the
//! commission and every posting. One query per kind of detail for a whole page.

use sqlx::PgPool;
use uuid::Uuid;

use super::money::commission_of;
use super::records;
use crate::ledger::read::{self as ledger, OrderBalances, OrderPosting};
use crate::marketplace::orders::{self, Filter, Order, Party};
use crate::marketplace::reviews::{self, Rating};
use crate::marketplace::{chat, Side};
use crate::pagination::Page;

/// Whose view it is: the mitra and staff also see `mitra_earnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Customer,
    Mitra,
    Staff,
}

impl Viewer {
    fn of(party: Party) -> Self {
        match party {
            Party::Customer(_) => Viewer::Customer,
            Party::Mitra(_) => Viewer::Mitra,
        }
    }
}

/// What a money figure of one order is built from.
struct Money {
    bps: i32,
    base: Option<i64>,
    balances: OrderBalances,
}

impl Money {
    /// The escrow that would be split now (before completion) and its commission.
    fn split(&self, order: &Order) -> (i64, i64) {
        let escrow = if order.payment.paid_at.is_some() { self.balances.escrow } else { order.amount };
        (escrow, commission_of(escrow, self.bps))
    }

    fn mitra_earnings(&self, order: &Order) -> i64 {
        match self.base {
            Some(_) => self.balances.mitra_pending + self.balances.mitra_available,
            None => {
                let (escrow, commission) = self.split(order);
                escrow - commission
            }
        }
    }

    fn commission(&self, order: &Order) -> i64 {
        match self.base {
            Some(_) => self.balances.commission,
            None => self.split(order).1,
        }
    }
}

/// The money figures of a page of orders (they need its ledger balances too).
async fn money_of(db: &PgPool, columns: &[records::ViewColumns]) -> sqlx::Result<Vec<(Uuid, Money)>> {
    let ids: Vec<Uuid> = columns.iter().map(|c| c.id).collect();
    let balances = ledger::orders_balances(db, &ids).await?;
    Ok(columns
        .iter()
        .map(|c| {
            let balances = balances.iter().find(|(o, _)| *o == c.id).map(|(_, b)| *b).unwrap_or_default();
            (c.id, Money { bps: c.commission_bps, base: c.earnings_base, balances })
        })
        .collect())
}

/// Fills in what a party's view adds (contract §14): the caller's unread messages and
/// the order's reviews as the caller sees them; for the mitra, each customer's rating
/// (one query each for a whole page). `window_days` is `REVIEW_WINDOW_DAYS`.
pub async fn fill_conversation(db: &PgPool, orders: &mut [Order], side: Side, window_days: u32) -> sqlx::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let unread = chat::unread(db, side, &ids).await?;
    let mut reviews = reviews::for_orders(db, side, &ids, window_days).await?;
    let ratings = if side == Side::Mitra {
        let mut customers: Vec<Uuid> = orders.iter().map(|o| o.customer_id).collect();
        customers.sort_unstable();
        customers.dedup();
        reviews::ratings(db, Side::Customer, &customers, window_days).await?
    } else {
        Vec::new()
    };
    for order in orders.iter_mut() {
        order.unread_messages = Some(unread.iter().find(|(id, _)| *id == order.id).map_or(0, |(_, n)| *n));
        order.reviews = reviews.iter_mut().find(|(id, _)| *id == order.id).map(|(_, r)| r.clone());
        if side == Side::Mitra {
            order.customer_rating =
                Some(ratings.iter().find(|(id, _)| *id == order.customer_id).map_or(Rating::NONE, |(_, r)| *r));
        }
    }
    Ok(())
}

/// Fills in the refunds, the dispute and (for the mitra and staff) the mitra's earnings:
/// one query for the order columns, refunds and disputes, one for the ledger's balances.
pub async fn fill(db: &PgPool, orders: &mut [Order], viewer: Viewer) -> sqlx::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let mut columns = records::view_columns(db, &ids).await?;
    let money = if viewer == Viewer::Customer { Vec::new() } else { money_of(db, &columns).await? };
    for order in orders.iter_mut() {
        if let Some(c) = columns.iter_mut().find(|c| c.id == order.id) {
            order.refunds = std::mem::take(&mut c.refunds.0);
            order.dispute = c.dispute.take().map(|d| d.0);
        }
        if let Some((_, money)) = money.iter().find(|(o, _)| *o == order.id) {
            order.mitra_earnings = Some(money.mitra_earnings(order));
        }
    }
    Ok(())
}

/// One order of `party`, filled in; another's is `None`.
pub async fn one(db: &PgPool, party: Party, id: Uuid) -> sqlx::Result<Option<Order>> {
    let Some(order) = orders::get(db, party, id).await? else { return Ok(None) };
    let mut one = [order];
    fill(db, &mut one, Viewer::of(party)).await?;
    let [order] = one;
    Ok(Some(order))
}

/// A page of `party`'s orders, filled in.
pub async fn page(
    db: &PgPool,
    party: Party,
    status: Option<orders::OrderStatus>,
    page: Page,
) -> sqlx::Result<(Vec<Order>, Option<String>)> {
    let (mut items, next) = orders::list(db, party, status, page).await?;
    fill(db, &mut items, Viewer::of(party)).await?;
    Ok((items, next))
}

/// A page of any orders, for staff, filled in.
pub async fn staff_page(db: &PgPool, filter: &Filter, page: Page) -> sqlx::Result<(Vec<Order>, Option<String>)> {
    let (mut items, next) = orders::list_all(db, filter, page).await?;
    fill(db, &mut items, Viewer::Staff).await?;
    Ok((items, next))
}

/// An order as it stands after a move, filled in for `viewer`.
pub async fn after_move(db: &PgPool, order: Order, viewer: Viewer) -> sqlx::Result<Order> {
    let mut one = [order];
    fill(db, &mut one, viewer).await?;
    let [order] = one;
    Ok(order)
}

/// What staff see of one order beyond the shared view.
pub struct StaffView {
    pub order: Order,
    pub commission: i64,
    pub ledger: Vec<OrderPosting>,
    pub events: Vec<records::PaymentEvent>,
}

pub async fn staff_one(db: &PgPool, id: Uuid) -> sqlx::Result<Option<StaffView>> {
    let Some(order) = orders::get_any(db, id).await? else { return Ok(None) };
    let mut one = [order];
    fill(db, &mut one, Viewer::Staff).await?;
    let [order] = one;
    let money = money_of(db, &records::view_columns(db, &[id]).await?).await?;
    let commission = money.first().map(|(_, m)| m.commission(&order)).unwrap_or(0);
    let ledger = ledger::order_postings(db, id).await?;
    let events = records::payment_events(db, id).await?;
    Ok(Some(StaffView { order, commission, ledger, events }))
}
