-- Payments through Xendit invoices: what each order's invoice and refund are, anything
-- staff must look at, and every callback exactly as it arrived.

ALTER TABLE orders ADD COLUMN refund_id text;
-- Set when a payment needs a person: a paid amount that differs from the order's, or a
-- refund the provider reports failed. The order does not move on its own then.
ALTER TABLE orders ADD COLUMN payment_issue text;
CREATE INDEX orders_pending_payment_idx ON orders (created_at) WHERE status = 'pending_payment';
CREATE INDEX orders_refund_idx ON orders (updated_at)
    WHERE status IN ('declined', 'cancelled', 'refund_pending') AND paid_at IS NOT NULL;

-- Every authentic callback (and every malformed one), stored raw before it is applied.
CREATE TABLE payment_callbacks (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('invoice', 'refund')),
    body        text NOT NULL,
    order_id    uuid,
    -- What applying it did: changed, unchanged, unknown_order, malformed, flagged.
    outcome     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_callbacks_order_idx ON payment_callbacks (order_id, id);
