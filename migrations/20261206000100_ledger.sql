-- Money that always adds up (contract §11, §16): a double-entry ledger the database
-- itself keeps honest, refunds with an identity, disputes, and the order columns money
-- needs. docs/money.md explains the chart of accounts and what each event posts.

-- One ledger transaction per money movement, under a unique reference
-- (`invoice:<xendit id>:paid`, `order:<id>:completed`, `refund:<id>:requested`, …): a
-- replayed callback or a second racing request finds the reference taken and posts
-- nothing.
CREATE TABLE ledger_transactions (
    id         bigserial PRIMARY KEY,
    reference  text NOT NULL UNIQUE,
    kind       text NOT NULL,
    order_id   uuid,
    mitra_id   uuid,
    refund_id  uuid,
    payout_id  uuid,
    at         timestamptz NOT NULL DEFAULT now()
);

-- The postings: signed whole rupiah, positive = the account holds more. `cash` is the
-- other side of everything (its postings are negative when money arrives at Xendit), so
-- every transaction sums to zero and cash equals the sum of all other balances.
-- An account is `account` plus the order (escrow, unmatched, refunds in flight, and the
-- order each commission or mitra posting came from) and the mitra (mitra_*).
CREATE TABLE ledger_postings (
    id             bigserial PRIMARY KEY,
    transaction_id bigint NOT NULL REFERENCES ledger_transactions (id),
    account        text NOT NULL CHECK (account IN (
                       'cash', 'escrow', 'commission', 'unmatched', 'refunds_in_flight',
                       'mitra_pending', 'mitra_available', 'mitra_in_payout')),
    order_id       uuid,
    mitra_id       uuid,
    payout_id      uuid,
    amount         bigint NOT NULL CHECK (amount <> 0),
    -- Copied from the transaction so a mitra's entries are one index range.
    kind           text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    CHECK (account NOT IN ('escrow', 'unmatched', 'refunds_in_flight') OR order_id IS NOT NULL),
    CHECK (account NOT LIKE 'mitra\_%' OR mitra_id IS NOT NULL)
);
CREATE INDEX ledger_postings_transaction_idx ON ledger_postings (transaction_id);
CREATE INDEX ledger_postings_order_idx ON ledger_postings (order_id, account) INCLUDE (amount)
    WHERE order_id IS NOT NULL;
CREATE INDEX ledger_postings_mitra_idx ON ledger_postings (mitra_id, id) INCLUDE (account, amount)
    WHERE mitra_id IS NOT NULL;

-- Insert-only, as the audit log: no UPDATE, DELETE or TRUNCATE of either table.
CREATE FUNCTION ledger_is_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is insert-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_postings_insert_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_is_insert_only();
CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_insert_only();
CREATE TRIGGER ledger_transactions_insert_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_is_insert_only();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_insert_only();

-- A ledger transaction whose postings do not sum to zero cannot commit: checked at
-- commit (deferred), once per posting, over that posting's transaction.
CREATE FUNCTION ledger_transaction_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    SELECT sum(amount) INTO total FROM ledger_postings WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its postings sum to %', NEW.transaction_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_postings_balance AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances();

-- Refunds have an identity (§16): each request is a row; its id is Xendit's
-- Idempotency-key and reference_id. A retry after a definitive failure is a new row.
CREATE TABLE refunds (
    id               uuid PRIMARY KEY,
    order_id         uuid NOT NULL REFERENCES orders (id),
    invoice_id       text NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    source           text NOT NULL CHECK (source IN ('escrow', 'unmatched', 'earnings')),
    -- requested: recorded, not yet accepted by Xendit; pending: Xendit has it;
    -- succeeded / failed: final.
    status           text NOT NULL DEFAULT 'requested'
                         CHECK (status IN ('requested', 'pending', 'succeeded', 'failed')),
    -- What Xendit calls it (rfd-…), once known.
    xendit_refund_id text,
    -- The key sent to Xendit: the id, or for refunds made before this table the
    -- order-derived key they were first requested with.
    idempotency_key  text NOT NULL,
    failure_code     text,
    outside_xendit   boolean NOT NULL DEFAULT false,
    -- Whether it empties the order (a full refund of a live order moves it to refunded).
    full_refund      boolean NOT NULL DEFAULT false,
    kind             text NOT NULL DEFAULT 'refund' CHECK (kind IN ('refund', 'dispute_refund')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_order_idx ON refunds (order_id, created_at);
CREATE INDEX refunds_open_idx ON refunds (created_at, id) WHERE status IN ('requested', 'pending');

-- A customer's report of a problem with a completed order; release waits while open.
CREATE TABLE disputes (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id),
    reason      text NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    outcome     text CHECK (outcome IN ('release', 'refund')),
    note        text,
    opened_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    resolved_by uuid
);
CREATE UNIQUE INDEX disputes_one_open_idx ON disputes (order_id) WHERE status = 'open';
CREATE INDEX disputes_order_idx ON disputes (order_id, opened_at DESC);

-- The hidden `creating` status (§16): committed before the invoice exists.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'creating', 'pending_payment', 'paid', 'expired', 'cancelled', 'accepted', 'declined',
    'completed', 'refund_pending', 'refunded'));

-- Snapshotted at creation from PLATFORM_COMMISSION_BPS; existing orders get the default.
ALTER TABLE orders ADD COLUMN commission_bps integer NOT NULL DEFAULT 2000
    CHECK (commission_bps BETWEEN 0 AND 10000);
-- A fingerprint of what a keyed create asked for (L-6).
ALTER TABLE orders ADD COLUMN request_fingerprint text;
-- Fixed at completion: the escrow E that was split and the commission C taken from it.
ALTER TABLE orders ADD COLUMN earnings_base bigint;
ALTER TABLE orders ADD COLUMN commission_total bigint;
-- When completed earnings become available, and whether some are still waiting.
ALTER TABLE orders ADD COLUMN release_at timestamptz;
ALTER TABLE orders ADD COLUMN release_due boolean NOT NULL DEFAULT false;
-- Sum of the refunds that succeeded.
ALTER TABLE orders ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN ended_at timestamptz;
CREATE INDEX orders_release_idx ON orders (release_at) WHERE release_due;
CREATE INDEX orders_mitra_release_idx ON orders (mitra_id, release_at) WHERE release_due;
CREATE INDEX orders_open_payment_idx ON orders (customer_id) WHERE status IN ('creating', 'pending_payment');
DROP INDEX IF EXISTS orders_pending_payment_idx;
CREATE INDEX orders_pending_payment_idx ON orders (created_at, id) WHERE status = 'pending_payment';

ALTER TABLE payment_callbacks DROP CONSTRAINT IF EXISTS payment_callbacks_kind_check;
ALTER TABLE payment_callbacks ADD CONSTRAINT payment_callbacks_kind_check CHECK (kind IN ('invoice', 'refund'));

-- Opening balances for the orders that hold money today (§16).
-- Paid declined/cancelled orders whose refund was never requested join refund_pending.
INSERT INTO order_events (order_id, from_status, to_status, actor_type)
SELECT id, status, 'refund_pending', 'system' FROM orders
WHERE status IN ('declined', 'cancelled') AND paid_at IS NOT NULL;
UPDATE orders SET status = 'refund_pending', updated_at = now()
WHERE status IN ('declined', 'cancelled') AND paid_at IS NOT NULL;

-- A refund row for each refund in flight, under the key it was requested with.
INSERT INTO refunds (id, order_id, invoice_id, amount, source, status, xendit_refund_id, idempotency_key, full_refund)
SELECT o.id, o.id, coalesce(o.invoice_id, 'unknown'), o.amount, 'escrow',
       CASE WHEN o.refund_id IS NULL THEN 'requested' ELSE 'pending' END,
       o.refund_id, 'halo-refund-' || o.id, true
FROM orders o WHERE o.status = 'refund_pending' AND o.paid_at IS NOT NULL;

INSERT INTO ledger_transactions (reference, kind, order_id, mitra_id)
SELECT 'opening:order:' || id, 'opening', id, mitra_id FROM orders
WHERE status IN ('paid', 'accepted', 'refund_pending') AND paid_at IS NOT NULL;
INSERT INTO ledger_postings (transaction_id, account, order_id, mitra_id, amount, kind)
SELECT t.id, 'cash', o.id, o.mitra_id, -o.amount, 'opening'
FROM ledger_transactions t JOIN orders o ON t.reference = 'opening:order:' || o.id
UNION ALL
SELECT t.id, CASE WHEN o.status = 'refund_pending' THEN 'refunds_in_flight' ELSE 'escrow' END,
       o.id, o.mitra_id, o.amount, 'opening'
FROM ledger_transactions t JOIN orders o ON t.reference = 'opening:order:' || o.id;

-- `payment_issue` holds bare codes from now on (docs/money.md lists them).
UPDATE orders SET payment_issue = 'amount_mismatch' WHERE payment_issue LIKE 'amount_mismatch%';
UPDATE orders SET payment_issue = 'refund_rejected' WHERE payment_issue = 'refund_failed';
