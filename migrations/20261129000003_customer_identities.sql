-- Google and Apple accounts linked to customers. One provider subject belongs to at
-- most one customer; a customer may link several.
CREATE TABLE customer_identities (
    provider        text NOT NULL CHECK (provider IN ('google', 'apple')),
    subject         text NOT NULL,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    email           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_identities_pkey PRIMARY KEY (provider, subject)
);
CREATE INDEX customer_identities_customer_idx ON customer_identities (customer_id);
