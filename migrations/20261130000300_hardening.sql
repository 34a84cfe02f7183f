-- Single-use WebSocket tickets (POST /api/shared/ws/ticket), so apps that cannot set a
-- header on the upgrade need not put an access token in a URL that proxies log. Only a
-- SHA-256 of the ticket is stored; one conditional DELETE … RETURNING consumes it, so a
-- ticket opens at most one socket on any instance.
CREATE TABLE ws_tickets (
    ticket_hash bytea PRIMARY KEY,
    user_type   text NOT NULL,
    user_id     uuid NOT NULL,
    session_id  uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    -- The access token the ticket was bought with: the socket closes when it expires.
    token_iat   bigint NOT NULL,
    token_exp   bigint NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ws_tickets_expires_idx ON ws_tickets (expires_at);

-- Google and Apple ID tokens already used to sign in, until they expire: a captured
-- token replayed within its lifetime is refused instead of minting another session.
CREATE TABLE id_token_uses (
    token_hash  bytea PRIMARY KEY,
    provider    text NOT NULL,
    subject     text NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX id_token_uses_expires_idx ON id_token_uses (expires_at);

-- Codes sent per number, for the rolling 24-hour cap (OTP_SENDS_PER_PHONE_PER_DAY): each
-- send frees its slot 24 hours after it was made, instead of a fixed day that one
-- burst can fill right after it starts.
CREATE TABLE otp_phone_sends (
    phone   text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otp_phone_sends_phone_idx ON otp_phone_sends (phone, sent_at);
