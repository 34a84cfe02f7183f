-- The marketplace: mitra services, customers' orders with their lifecycle, and what
-- staff suspension needs to hide a mitra from customers.

-- Set by staff (control center); a suspended user cannot sign in and a suspended mitra
-- is not listed.
ALTER TABLE customers ADD COLUMN suspended_at timestamptz;
ALTER TABLE mitras ADD COLUMN suspended_at timestamptz;

-- What a mitra offers. Prices are whole rupiah.
CREATE TABLE mitra_services (
    id               uuid PRIMARY KEY,
    mitra_id         uuid NOT NULL REFERENCES mitras (id),
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    price            bigint NOT NULL CHECK (price BETWEEN 1000 AND 100000000),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 1440),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mitra_services_mitra_idx ON mitra_services (mitra_id, created_at, id);
CREATE INDEX mitra_services_active_idx ON mitra_services (mitra_id) WHERE active;

-- Customers browse listable mitra in (created_at, id) order, page by page.
CREATE INDEX mitras_listable_idx ON mitras (created_at, id)
    WHERE verification_status = 'approved' AND suspended_at IS NULL AND deleted_at IS NULL;

-- An order copies the service's title, duration and price at creation: later edits of
-- the service never touch it. Status moves only as the state machine in
-- shared/src/marketplace/orders.rs allows, one conditional UPDATE per move.
CREATE TABLE orders (
    id                  uuid PRIMARY KEY,
    customer_id         uuid NOT NULL REFERENCES customers (id),
    mitra_id            uuid NOT NULL REFERENCES mitras (id),
    service_id          uuid NOT NULL REFERENCES mitra_services (id),
    service_title       text NOT NULL,
    duration_minutes    integer NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR'),
    note                text,
    status              text NOT NULL DEFAULT 'pending_payment' CHECK (status IN (
                            'pending_payment', 'paid', 'expired', 'cancelled', 'accepted', 'declined',
                            'completed', 'refund_pending', 'refunded')),
    -- A retried create with the same key from the same customer returns this order.
    idempotency_key     text,
    invoice_id          text,
    invoice_url         text,
    invoice_expires_at  timestamptz,
    paid_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_idempotency_key UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_mitra_idx ON orders (mitra_id, created_at DESC, id DESC);

-- Every move of every order, who made it and when.
CREATE TABLE order_events (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id),
    from_status text,
    to_status   text NOT NULL,
    actor_type  text NOT NULL CHECK (actor_type IN ('customer', 'mitra', 'cc_user', 'system')),
    actor_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Push for order updates goes only to a party that had no open socket: such rows wait a
-- moment and are skipped when the socket delivery was recorded meanwhile.
ALTER TABLE push_outbox ADD COLUMN unless_seen boolean NOT NULL DEFAULT false;
ALTER TABLE push_outbox DROP CONSTRAINT push_outbox_status_check;
ALTER TABLE push_outbox ADD CONSTRAINT push_outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'dead_token', 'seen'));
