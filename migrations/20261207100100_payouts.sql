-- Paying mitra through Xendit Payouts v2 (contract §12, §16). docs/money.md lists what
-- each payout posts to the ledger; the README has the flow and the operator's runbook.

-- Where a mitra's money goes: one account per mitra. The number is stored whole (Xendit
-- needs it) and only ever shown masked. Every change restarts the cooldown
-- (`payouts_allowed_from`); a payout that failed or bounced because of the account marks
-- it `invalid` until the mitra changes it.
CREATE TABLE payout_accounts (
    mitra_id             uuid PRIMARY KEY REFERENCES mitras (id),
    channel_code         text NOT NULL,
    channel_name         text NOT NULL,
    category             text NOT NULL CHECK (category IN ('BANK', 'EWALLET')),
    account_number       text NOT NULL,
    account_holder_name  text NOT NULL,
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invalid')),
    invalid_reason       text,
    payouts_allowed_from timestamptz NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The history staff see: every change of a payout account (masked), and every time a
-- payout marked it invalid. Insert-only by convention (no code updates it).
CREATE TABLE payout_account_changes (
    id                    bigserial PRIMARY KEY,
    mitra_id              uuid NOT NULL REFERENCES mitras (id),
    change                text NOT NULL CHECK (change IN ('set', 'invalidated')),
    channel_code          text NOT NULL,
    account_number_masked text NOT NULL,
    account_holder_name   text NOT NULL,
    payout_id             uuid,
    reason                text,
    at                    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_account_changes_mitra_idx ON payout_account_changes (mitra_id, id);

-- One payout: recorded (`pending`) with its ledger move available -> in_payout before
-- Xendit is asked. Its id is Xendit's Idempotency-key and reference_id; the destination
-- is snapshotted here, so a resubmission sends exactly what the first attempt sent.
CREATE TABLE payouts (
    id                   uuid PRIMARY KEY,
    mitra_id             uuid NOT NULL REFERENCES mitras (id),
    amount               bigint NOT NULL CHECK (amount > 0),
    currency             text NOT NULL DEFAULT 'IDR' CHECK (currency = 'IDR'),
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN (
                             'pending', 'accepted', 'succeeded', 'failed', 'cancelled', 'reversed')),
    channel_code         text NOT NULL,
    account_number       text NOT NULL,
    account_holder_name  text NOT NULL,
    description          text NOT NULL,
    -- What Xendit calls it (disb-…), once known.
    xendit_payout_id     text,
    failure_code         text,
    estimated_arrival_at timestamptz,
    -- How many times the create was sent (a resubmission looks the payout up first).
    attempts             integer NOT NULL DEFAULT 0,
    -- Why the last attempt left it pending (no secrets, no account number).
    last_error           text,
    accepted_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- Never two payouts in flight for one mitra (§16): two overlapping runs cannot both pay.
CREATE UNIQUE INDEX payouts_one_in_flight_idx ON payouts (mitra_id) WHERE status IN ('pending', 'accepted');
CREATE INDEX payouts_mitra_idx ON payouts (mitra_id, created_at DESC, id DESC);
CREATE INDEX payouts_created_idx ON payouts (created_at DESC, id DESC);
CREATE INDEX payouts_open_idx ON payouts (created_at, id) WHERE status IN ('pending', 'accepted');

-- Every payout callback received, as it came, with what applying it did.
CREATE TABLE payout_callbacks (
    id          bigserial PRIMARY KEY,
    payout_id   uuid,
    body        text NOT NULL,
    outcome     text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payout_callbacks_payout_idx ON payout_callbacks (payout_id, id);

-- An admin's hold: nothing is paid to the mitra while it stands.
CREATE TABLE payout_holds (
    mitra_id   uuid PRIMARY KEY REFERENCES mitras (id),
    reason     text NOT NULL,
    since      timestamptz NOT NULL DEFAULT now(),
    created_by uuid NOT NULL
);

-- A code that changes the payout account is not a sign-in code, and the other way round.
ALTER TABLE otp_challenges ADD COLUMN purpose text NOT NULL DEFAULT 'sign_in'
    CHECK (purpose IN ('sign_in', 'payout_account'));
DROP INDEX IF EXISTS otp_challenges_lookup_idx;
CREATE INDEX otp_challenges_lookup_idx ON otp_challenges (user_type, purpose, phone, created_at DESC)
    WHERE consumed_at IS NULL;
