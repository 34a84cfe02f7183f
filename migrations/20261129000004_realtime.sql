-- Realtime: events for a user's open sockets on any instance, instant session
-- revocation, and the devices push notifications go to.
--
-- Both kinds of news travel on one LISTEN/NOTIFY channel, `halo_realtime`, raised by
-- triggers, so no code path that writes an event or revokes a session can forget to
-- tell the other instances, and nothing is announced before its transaction commits.

CREATE TABLE user_events (
    id          bigserial PRIMARY KEY,
    user_type   text NOT NULL CHECK (user_type IN ('customer', 'mitra', 'cc_user')),
    user_id     uuid NOT NULL,
    type        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_events_created_idx ON user_events (created_at);

-- Small events travel whole in the notification (its payload limit is 8000 bytes);
-- larger ones are read back from the table by id.
CREATE FUNCTION notify_user_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('halo_realtime', json_build_object(
        'kind', 'event', 'id', NEW.id, 'user_type', NEW.user_type, 'user_id', NEW.user_id,
        'type', NEW.type, 'at', NEW.created_at,
        'data', CASE WHEN octet_length(NEW.data::text) <= 4000 THEN NEW.data END)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER user_events_notify AFTER INSERT ON user_events
    FOR EACH ROW EXECUTE FUNCTION notify_user_event();

-- One device (FCM registration token) per session.
CREATE TABLE devices (
    session_id  uuid PRIMARY KEY REFERENCES auth_sessions (id) ON DELETE CASCADE,
    user_type   text NOT NULL,
    user_id     uuid NOT NULL,
    fcm_token   text NOT NULL,
    platform    text NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX devices_fcm_token_key ON devices (fcm_token);
CREATE INDEX devices_user_idx ON devices (user_type, user_id);

-- A revoked session loses its device and is announced to every instance.
CREATE FUNCTION on_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM devices WHERE session_id = NEW.id;
    PERFORM pg_notify('halo_realtime', json_build_object(
        'kind', 'revoked', 'session_id', NEW.id, 'revoked_at', NEW.revoked_at)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER auth_sessions_revoked AFTER UPDATE OF revoked_at ON auth_sessions
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION on_session_revoked();

-- Messages staff send to a user, delivered over the socket and by push.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    user_type       text NOT NULL CHECK (user_type IN ('customer', 'mitra')),
    user_id         uuid NOT NULL,
    title           text NOT NULL,
    body            text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    created_by      uuid REFERENCES cc_users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    event_id        bigint NOT NULL REFERENCES user_events (id),
    ws_delivered_at timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_type, user_id, created_at DESC);
CREATE INDEX notifications_event_idx ON notifications (event_id);

-- Push deliveries waiting for, or done by, the FCM worker. A row is leased while being
-- sent; a worker that dies mid-send leaves the lease to expire and the row is retried.
CREATE TABLE push_outbox (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications (id),
    fcm_token       text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed', 'dead_token')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_outbox_due_idx ON push_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX push_outbox_notification_idx ON push_outbox (notification_id);
