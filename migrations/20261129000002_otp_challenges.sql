-- One-time codes sent by SMS. Only a keyed hash of the code is stored. The newest
-- unconsumed challenge of an (app, phone) pair is the one a verify checks.
CREATE TABLE otp_challenges (
    id              uuid PRIMARY KEY,
    user_type       text NOT NULL CHECK (user_type IN ('customer', 'mitra')),
    phone           text NOT NULL,
    code_hash       bytea NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    consumed_at     timestamptz
);
CREATE INDEX otp_challenges_lookup_idx ON otp_challenges (user_type, phone, created_at DESC)
    WHERE consumed_at IS NULL;
