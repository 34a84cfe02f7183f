-- Hardening 3, the data half (issue 30): bounded services, re-review of renamed mitra,
-- a record of service edits, erasure on deletion, and indexes for the daily purge.

-- M-3: at most 50 active services per mitra, held by the database too. Racing creates
-- (or reactivations) for one mitra take a per-mitra transaction lock before counting, so
-- the 51st is refused however many arrive at once; the code checks first for a friendly
-- message, and maps this constraint to the same 409.
CREATE FUNCTION mitra_services_active_cap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('mitra-services:' || NEW.mitra_id::text, 0));
    IF (SELECT count(*) FROM mitra_services
        WHERE mitra_id = NEW.mitra_id AND active AND id <> NEW.id) >= 50 THEN
        RAISE EXCEPTION 'a mitra may have at most 50 active services'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'mitra_services_active_cap';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER mitra_services_active_cap_insert BEFORE INSERT ON mitra_services
    FOR EACH ROW WHEN (NEW.active) EXECUTE FUNCTION mitra_services_active_cap();
CREATE TRIGGER mitra_services_active_cap_update BEFORE UPDATE OF active, mitra_id ON mitra_services
    FOR EACH ROW WHEN (NEW.active AND NOT OLD.active) EXECUTE FUNCTION mitra_services_active_cap();

-- L-7: the name customers see is the one staff approved. `listed_name` is set when staff
-- approve, kept while a renamed mitra waits in `pending` for re-review (it stays listed
-- under the approved name), and cleared by a rejection or deletion. A mitra is listed
-- only while it has one.
ALTER TABLE mitras ADD COLUMN listed_name text;
UPDATE mitras SET listed_name = display_name WHERE verification_status = 'approved';
DROP INDEX IF EXISTS mitras_listable_idx;
CREATE INDEX mitras_listable_idx ON mitras (created_at, id)
    WHERE listed_name IS NOT NULL AND suspended_at IS NULL AND deleted_at IS NULL;

-- L-7: every change of a service's title, description or price, for staff (one row per
-- field changed, as text before and after).
CREATE TABLE mitra_service_changes (
    id          bigserial PRIMARY KEY,
    service_id  uuid NOT NULL REFERENCES mitra_services (id),
    mitra_id    uuid NOT NULL REFERENCES mitras (id),
    field       text NOT NULL CHECK (field IN ('title', 'description', 'price')),
    before      text NOT NULL,
    after       text NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mitra_service_changes_mitra_idx ON mitra_service_changes (mitra_id, changed_at DESC, id DESC);

-- L-4: a revoked Apple grant keeps no sealed token.
ALTER TABLE apple_revocations ALTER COLUMN refresh_token DROP NOT NULL;
UPDATE apple_revocations SET refresh_token = NULL WHERE status = 'revoked';

-- Purge: events older than the replay window go even when a notification points at
-- them (the notification keeps its own title, body and data).
ALTER TABLE notifications ALTER COLUMN event_id DROP NOT NULL;
ALTER TABLE notifications DROP CONSTRAINT notifications_event_id_fkey;
ALTER TABLE notifications ADD CONSTRAINT notifications_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES user_events (id) ON DELETE SET NULL;

-- Purge: each deletion finds its old rows by index, a batch at a time.
CREATE INDEX otp_challenges_expires_idx ON otp_challenges (expires_at);
CREATE INDEX otp_phone_sends_sent_idx ON otp_phone_sends (sent_at);
CREATE INDEX auth_sessions_expires_idx ON auth_sessions (expires_at);
CREATE INDEX push_outbox_finished_idx ON push_outbox (created_at) WHERE status <> 'pending';
