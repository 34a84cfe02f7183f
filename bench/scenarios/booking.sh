# Booking's reads (issue 28), sourced by bench/run while the gateway serves:
#   slots    GET /api/client/mitras/{id}/slots for one mitra and one day, 200 orders on
#            that mitra's calendar, 4 connections: a latency target (p99 < 10 ms), read
#            below saturation, as bench/money reads earnings
#   near-me  GET /api/client/mitras?near=LAT,LNG&limit=20 over 10,000 listed mitra with
#            service areas spread over Jakarta, points from a 5 x 5 grid over the city
#            (targets: >= 2,000 rps, p99 < 20 ms)
# Alone: BENCH_ONLY='slots|near-me' bench/run. Needs bench/run's DATABASE_URL, BASE, TOKEN,
# wrk_run and `line`.
if want slots near-me; then
say "seeding booking: 10,000 mitra with areas over Jakarta; one mitra with 200 orders"
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
-- Listed (approved, a service, open every day 07:00-22:00), each with a service area of
-- 5, 10 or 15 km around a point spread over a 0.4-degree square (~44 km) of Jakarta.
INSERT INTO mitras (id, phone, display_name, listed_name, bio, verification_status, is_online, created_at)
SELECT ('00000000-0000-4000-c000-' || lpad(n::text, 12, '0'))::uuid, '+62817' || lpad(n::text, 7, '0'),
       'Nearby ' || n, 'Nearby ' || n, 'Pijat dan refleksi', 'approved', n % 2 = 0, now() - make_interval(secs => n)
FROM generate_series(1, 10001) n;
INSERT INTO mitra_services (id, mitra_id, title, price, duration_minutes)
SELECT gen_random_uuid(), id, 'Pijat 60 menit', 150000, 60 FROM mitras WHERE phone LIKE '+62817%';
INSERT INTO mitra_schedules (mitra_id, weekly)
SELECT id, (SELECT jsonb_agg(jsonb_build_object('day', d, 'start', '07:00', 'end', '22:00'))
            FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) d)
FROM mitras WHERE phone LIKE '+62817%';
INSERT INTO mitra_service_areas (mitra_id, lat, lng, snapped_lat, snapped_lng, radius_km)
SELECT id, lat, lng, round(lat::numeric, 2)::float8, round(lng::numeric, 2)::float8, 5 + (n % 3) * 5
FROM (SELECT id, substr(phone, 7)::int AS n,
             -6.45 + 0.4 * ((hashtext(id::text || 'lat') & 65535) / 65535.0) AS lat,
             106.65 + 0.4 * ((hashtext(id::text || 'lng') & 65535) / 65535.0) AS lng
      FROM mitras WHERE phone LIKE '+62817%' AND phone <> '+628170010001') s;
-- The busy mitra (the 10,001st, no area): 200 orders that hold time over the next 20
-- days, ten a day (09:00-10:00, 10:30-11:30, …), accepted or waiting for payment (an
-- invoice valid for days, so the sweep leaves them), and 40 cancelled or expired ones
-- that hold nothing.
INSERT INTO customers (id, is_anonymous, phone)
VALUES ('00000000-0000-4000-a000-000000000002', false, '+6281190000002');
INSERT INTO orders (id, customer_id, mitra_id, service_id, service_title, duration_minutes, amount, status,
                    invoice_id, invoice_expires_at, paid_at, accepted_at, starts_at, ends_at)
SELECT gen_random_uuid(), '00000000-0000-4000-a000-000000000002', s.mitra_id, s.id, 'Pijat 60 menit', 60, 150000,
       CASE WHEN k >= 10 THEN (ARRAY['cancelled', 'expired'])[k % 2 + 1]
            WHEN k % 4 = 0 THEN 'pending_payment' ELSE 'accepted' END,
       'inv-bench-' || d || '-' || k, now() + interval '30 days',
       CASE WHEN k < 10 AND k % 4 <> 0 THEN now() END, CASE WHEN k < 10 AND k % 4 <> 0 THEN now() END,
       t, t + interval '60 minutes'
FROM mitra_services s, generate_series(1, 20) d, generate_series(0, 11) k,
     LATERAL (SELECT ((((now() AT TIME ZONE 'Asia/Jakarta')::date + d + time '09:00') AT TIME ZONE 'Asia/Jakarta')
                      + make_interval(mins => 90 * (k % 10))) AS t) st
WHERE s.mitra_id = '00000000-0000-4000-c000-000000010001';
ANALYZE;
SQL
BUSY=00000000-0000-4000-c000-000000010001
BUSY_SERVICE=$(psql "$DATABASE_URL" -qAtc "SELECT id FROM mitra_services WHERE mitra_id = '$BUSY'")
BUSY_DAY=$(psql "$DATABASE_URL" -qAtc "SELECT ((now() AT TIME ZONE 'Asia/Jakarta')::date + 3)::text")
held=$(psql "$DATABASE_URL" -qAtc "SELECT count(*) FROM orders WHERE mitra_id = '$BUSY' AND status IN ('accepted', 'pending_payment')")
want slots && line "$(wrk_run slots 4 "/api/client/mitras/$BUSY/slots?service_id=$BUSY_SERVICE&date=$BUSY_DAY" bearer.lua) c=4 orders=$held"
want near-me && line "$(NEAR_PATH='/api/client/mitras?limit=20&near=' wrk_run near-me 16 / near.lua) c=16 mitra=10000"
fi
