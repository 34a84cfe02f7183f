-- Control-center operations: why a user is suspended, what staff decided about a mitra,
-- search indexes, and the append-only audit log of every staff write.

ALTER TABLE customers ADD COLUMN suspended_reason text;
ALTER TABLE mitras ADD COLUMN suspended_reason text;
ALTER TABLE mitras ADD COLUMN verification_note text;

-- Staff search: phone and name by prefix, email exactly or by prefix (all lower-cased
-- or E.164), newest first for lists.
CREATE INDEX customers_phone_prefix_idx ON customers (phone text_pattern_ops) WHERE phone IS NOT NULL;
CREATE INDEX customers_email_prefix_idx ON customers (lower(email) text_pattern_ops) WHERE email IS NOT NULL;
CREATE INDEX customers_name_prefix_idx ON customers (lower(display_name) text_pattern_ops)
    WHERE display_name IS NOT NULL;
CREATE INDEX customers_created_idx ON customers (created_at DESC, id DESC) WHERE merged_into IS NULL;
CREATE INDEX mitras_phone_prefix_idx ON mitras (phone text_pattern_ops) WHERE phone IS NOT NULL;
CREATE INDEX mitras_name_prefix_idx ON mitras (lower(display_name) text_pattern_ops) WHERE display_name IS NOT NULL;
CREATE INDEX mitras_created_idx ON mitras (created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (created_at DESC, id DESC);

-- One row per staff write, in the same transaction as the write. Never updated or
-- deleted: the trigger below refuses it, whoever asks.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES cc_users (id),
    actor_email text,
    action      text NOT NULL,
    target_type text,
    target_id   text,
    details     jsonb NOT NULL DEFAULT '{}',
    ip          text
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, at DESC);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
