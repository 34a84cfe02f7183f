-- Contract §14: the conversation of an order, reports of its messages, and reviews.
-- Parties are named by role only ('customer' | 'mitra'): who they are is the order's
-- customer_id / mitra_id, so a customer merge (which moves orders) moves these too.

CREATE TABLE messages (
    id                uuid PRIMARY KEY,
    order_id          uuid NOT NULL REFERENCES orders (id),
    sender            text NOT NULL CHECK (sender IN ('customer', 'mitra')),
    -- NULL once the sender deleted their account (erased).
    body              text,
    client_message_id text NOT NULL,
    -- Set by staff resolving a report with hide_message: both parties see body null.
    hidden_at         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A retried send names the same message: one row per sender, order and client id.
    CONSTRAINT messages_client_id UNIQUE (order_id, sender, client_message_id)
);
CREATE INDEX messages_order_idx ON messages (order_id, created_at DESC, id DESC);

-- How far each party of an order has read the other's messages (a message's key).
CREATE TABLE message_reads (
    order_id    uuid NOT NULL REFERENCES orders (id),
    reader      text NOT NULL CHECK (reader IN ('customer', 'mitra')),
    up_to_at    timestamptz NOT NULL,
    up_to_id    uuid NOT NULL,
    PRIMARY KEY (order_id, reader)
);

CREATE TABLE message_reports (
    id          uuid PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (id),
    order_id    uuid NOT NULL REFERENCES orders (id),
    reporter    text NOT NULL CHECK (reporter IN ('customer', 'mitra')),
    reason      text NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    action      text CHECK (action IN ('dismiss', 'hide_message')),
    note        text,
    resolved_by uuid REFERENCES cc_users (id),
    resolved_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- A party reports a message once; a repeat is accepted and changes nothing.
    CONSTRAINT message_reports_once UNIQUE (message_id, reporter)
);
CREATE INDEX message_reports_status_idx ON message_reports (status, created_at DESC, id DESC);

CREATE TABLE reviews (
    id            uuid PRIMARY KEY,
    order_id      uuid NOT NULL REFERENCES orders (id),
    reviewer      text NOT NULL CHECK (reviewer IN ('customer', 'mitra')),
    rating        smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    -- NULL when none was given, or once the reviewer deleted their account.
    comment       text,
    -- Double-blind: set on both rows when the second side reviews. Until then a review
    -- is published once its order's completed_at + REVIEW_WINDOW_DAYS has passed, which
    -- every read computes (no sweep needed).
    published_at  timestamptz,
    hidden_at     timestamptz,
    hidden_reason text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT reviews_once UNIQUE (order_id, reviewer)
);
-- Aggregates and listings reach a mitra's (or customer's) reviews through the orders'
-- party indexes, then this table's unique (order_id, reviewer).

-- When the order completed (kept if it is refunded later: it stays reviewable).
ALTER TABLE orders ADD COLUMN completed_at timestamptz;
UPDATE orders o SET completed_at = e.at
FROM (SELECT order_id, min(created_at) AS at FROM order_events WHERE to_status = 'completed' GROUP BY order_id) e
WHERE e.order_id = o.id;
