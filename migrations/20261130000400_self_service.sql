-- Account self-service: profile fields the apps edit, account deletion, and the Apple
-- grants that deletion must revoke.

-- Deleted accounts keep their row (orders and audit entries point at it) but lose every
-- piece of personal data; `deleted_at` marks them.
ALTER TABLE customers ADD COLUMN deleted_at timestamptz;
ALTER TABLE mitras ADD COLUMN deleted_at timestamptz;
-- A deleted mitra's phone is erased, so the number can sign up again as someone new.
ALTER TABLE mitras ALTER COLUMN phone DROP NOT NULL;

-- The mitra profile the mitra app edits and the marketplace lists.
ALTER TABLE mitras ADD COLUMN bio text NOT NULL DEFAULT '';
ALTER TABLE mitras ADD COLUMN verification_status text NOT NULL DEFAULT 'unsubmitted'
    CHECK (verification_status IN ('unsubmitted', 'pending', 'approved', 'rejected'));
ALTER TABLE mitras ADD COLUMN is_online boolean NOT NULL DEFAULT false;

-- Sign in with Apple: the refresh token Apple issued for the authorization code, kept
-- encrypted (AES-256-GCM, key derived from APPLE_PRIVATE_KEY) only to revoke the grant
-- when the customer deletes the account, as App Store rules require.
ALTER TABLE customer_identities ADD COLUMN provider_client_id text;
ALTER TABLE customer_identities ADD COLUMN provider_refresh_token bytea;

-- Grants to revoke at Apple, drained by a worker on the public gateway with the same
-- lease-and-retry pattern as push_outbox. No customer id: the account is already gone.
CREATE TABLE apple_revocations (
    id              bigserial PRIMARY KEY,
    client_id       text NOT NULL,
    refresh_token   bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'revoked', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX apple_revocations_due_idx ON apple_revocations (next_attempt_at) WHERE status = 'pending';
