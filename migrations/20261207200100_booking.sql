-- Booking (contract §13, §16): mitra schedules, a time and a place on each order, no
-- double booking (enforced here), service areas for near-me browse, the accept timeout,
-- reminders and the cancellation policy snapshotted on each order.
--
-- Extensions: btree_gist (uuid equality inside a GiST exclusion constraint), cube and
-- earthdistance (great-circle distance with a GiST index). All three ship in Debian's
-- postgresql-NN package (contrib) and are supported by Cloud SQL.
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

-- A mitra's weekly hours and closed dates, in Asia/Jakarta (UTC+07:00, no DST).
-- `weekly` is the normalised list the API returns: [{"day","start","end"}], merged,
-- sorted, times "HH:MM" on the slot grid ("24:00" allowed as an end).
CREATE TABLE mitra_schedules (
    mitra_id     uuid PRIMARY KEY REFERENCES mitras (id),
    weekly       jsonb NOT NULL DEFAULT '[]',
    closed_dates date[] NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Where a mitra serves: a point and a radius. `lat`/`lng` are what the mitra set (only the
-- mitra sees them); every customer-facing computation uses the centre snapped to a
-- 0.01 degree grid (about 1 km), so a distance never pins the mitra's exact place.
CREATE TABLE mitra_service_areas (
    mitra_id    uuid PRIMARY KEY REFERENCES mitras (id),
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng         double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
    snapped_lat double precision NOT NULL CHECK (snapped_lat BETWEEN -90 AND 90),
    snapped_lng double precision NOT NULL CHECK (snapped_lng BETWEEN -180 AND 180),
    radius_km   integer NOT NULL CHECK (radius_km BETWEEN 1 AND 50),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- Near-me browse: an earth_box around the customer's point (the largest radius wide)
-- walks this index; the exact radius check runs on the few candidates.
CREATE INDEX mitra_service_areas_earth_idx ON mitra_service_areas USING gist (ll_to_earth(snapped_lat, snapped_lng));

-- The booked time and place. Orders made before §13 keep all of these null: their accept
-- timeout counts from paid_at, they may complete at any time and cancelling them is free.
ALTER TABLE orders ADD COLUMN starts_at timestamptz;
ALTER TABLE orders ADD COLUMN ends_at timestamptz;
ALTER TABLE orders ADD CONSTRAINT orders_booked_range CHECK (
    (starts_at IS NULL AND ends_at IS NULL) OR (starts_at IS NOT NULL AND ends_at > starts_at));
ALTER TABLE orders ADD COLUMN address_text text;
ALTER TABLE orders ADD COLUMN address_lat double precision CHECK (address_lat BETWEEN -90 AND 90);
ALTER TABLE orders ADD COLUMN address_lng double precision CHECK (address_lng BETWEEN -180 AND 180);
ALTER TABLE orders ADD COLUMN address_notes text;
-- The cancellation policy as it was when the order was made: free before
-- starts_at - CANCEL_FREE_HOURS (later: once accepted, at least accepted_at +
-- CANCEL_GRACE_MINUTES), then late_refund_percent back.
ALTER TABLE orders ADD COLUMN cancel_free_until timestamptz;
ALTER TABLE orders ADD COLUMN cancel_grace_minutes integer CHECK (cancel_grace_minutes >= 0);
ALTER TABLE orders ADD COLUMN late_refund_percent integer CHECK (late_refund_percent BETWEEN 0 AND 100);
ALTER TABLE orders ADD COLUMN accepted_at timestamptz;
-- Why a declined order was declined: 'mitra' or 'timeout' (the sweep).
ALTER TABLE orders ADD COLUMN decline_reason text CHECK (decline_reason IN ('mitra', 'timeout'));
-- When the start reminder went out (once per order).
ALTER TABLE orders ADD COLUMN reminded_at timestamptz;

-- No double booking: while an order holds its time, no other order of the same mitra may
-- overlap it (half-open ranges, so back-to-back orders are fine). Of concurrent inserts
-- for overlapping times exactly one commits.
ALTER TABLE orders ADD CONSTRAINT orders_no_double_booking EXCLUDE USING gist (
    mitra_id WITH =, tstzrange(starts_at, ends_at) WITH &&
) WHERE (starts_at IS NOT NULL AND status IN ('creating', 'pending_payment', 'paid', 'accepted', 'completed'));

-- The sweep's work lists, each a small partial index.
CREATE INDEX orders_creating_idx ON orders (created_at) WHERE status = 'creating';
CREATE INDEX orders_invoice_expiry_idx ON orders (invoice_expires_at) WHERE status = 'pending_payment';
CREATE INDEX orders_paid_idx ON orders (paid_at) WHERE status = 'paid';
CREATE INDEX orders_reminder_idx ON orders (starts_at) WHERE status = 'accepted' AND reminded_at IS NULL;
