-- Identities of the three kinds of user, and the sessions every sign-in creates.
-- Never edit this file once applied: add a new migration instead.

CREATE TABLE customers (
    id              uuid PRIMARY KEY,
    is_anonymous    boolean NOT NULL DEFAULT true,
    phone           text,
    email           text,
    display_name    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Set when an anonymous customer signed in as an existing one and was folded into it.
    merged_into     uuid REFERENCES customers (id),
    merged_at       timestamptz,
    CONSTRAINT customers_phone_key UNIQUE (phone)
);

CREATE TABLE mitras (
    id              uuid PRIMARY KEY,
    phone           text NOT NULL,
    display_name    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mitras_phone_key UNIQUE (phone)
);

CREATE TABLE cc_users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'agent')),
    display_name    text,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Emails are compared case-insensitively; the application stores them lower-cased.
CREATE UNIQUE INDEX cc_users_email_key ON cc_users (lower(email));

-- One row per login on one device. The refresh token is <session id>.<counter>.<secret>,
-- where secret is an HMAC of (id, counter) under a server key; only a bcrypt hash of the
-- current secret is stored here.
CREATE TABLE auth_sessions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    user_type       text NOT NULL CHECK (user_type IN ('customer', 'mitra', 'cc_user')),
    counter         bigint NOT NULL DEFAULT 0,
    secret_hash     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    rotated_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_reason  text,
    user_agent      text,
    ip              text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_type, user_id);
-- Start-up rebuilds the in-memory revocation set from recently revoked sessions.
CREATE INDEX auth_sessions_revoked_idx ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Fixed-window counters shared by every instance (anonymous sign-ins, OTP sends, login failures).
CREATE TABLE rate_limits (
    key             text PRIMARY KEY,
    window_end      timestamptz NOT NULL,
    count           integer NOT NULL
);
CREATE INDEX rate_limits_window_end_idx ON rate_limits (window_end);
