# The weekly payout run (issue 27), sourced by bench/run: `public-gateway run-payouts`
# over 10,000 eligible mitra against a fake Xendit (`halo-bench fake-xendit`, reached
# through production's client by XENDIT_BASE_URL), timed, its memory read from /proc
# (VmRSS every 10 ms and the kernel's VmHWM) by `halo-bench measure`.
#   payouts-run   seconds, rss_max and hwm of the run; created/failed/skipped as it prints
# Alone: BENCH_ONLY=payouts-run bench/run. Needs bench/run's DATABASE_URL, GATEWAY, DRIVER,
# OUT and `line`.
if want payouts-run; then
say "seeding payouts: 10,000 mitra with a payout account and a released earning each"
# Each mitra's money is made the way the ledger makes it (docs/money.md): an order paid
# (cash −150,000, escrow +150,000) and completed (escrow −150,000, commission +30,000,
# mitra_pending +120,000), written here as the two postings those paths write; then the
# real `public-gateway release-earnings` moves each 120,000 to mitra_available. The
# insert-only and balance triggers check every row; `ledger-check` must hold after.
psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO customers (id, is_anonymous, phone)
VALUES ('00000000-0000-4000-a000-000000000001', false, '+6281190000001');
INSERT INTO mitras (id, phone, display_name, listed_name, verification_status)
SELECT ('00000000-0000-4000-b000-' || lpad(n::text, 12, '0'))::uuid, '+62816' || lpad(n::text, 7, '0'),
       'Payee ' || n, 'Payee ' || n, 'approved'
FROM generate_series(1, 10000) n;
INSERT INTO mitra_services (id, mitra_id, title, price, duration_minutes)
SELECT gen_random_uuid(), id, 'Pijat', 150000, 60 FROM mitras WHERE phone LIKE '+62816%';
-- Set more than a cooldown ago (as `PUT /api/mitra/payout-account` leaves it), so payable.
INSERT INTO payout_accounts (mitra_id, channel_code, channel_name, category, account_number,
                             account_holder_name, payouts_allowed_from, created_at, updated_at)
SELECT id, 'ID_BCA', 'Bank Central Asia (BCA)', 'BANK', '88' || substr(phone, 7), display_name,
       now() - interval '6 days', now() - interval '7 days', now() - interval '7 days'
FROM mitras WHERE phone LIKE '+62816%';
CREATE TEMP TABLE payee_orders AS
SELECT gen_random_uuid() AS id, s.mitra_id, s.id AS service_id
FROM mitra_services s JOIN mitras m ON m.id = s.mitra_id WHERE m.phone LIKE '+62816%';
-- Completed two days ago, released a day ago: what completion leaves (release due).
INSERT INTO orders (id, customer_id, mitra_id, service_id, service_title, duration_minutes, amount, status,
                    invoice_id, paid_at, earnings_base, commission_total, release_at, release_due, ended_at,
                    created_at)
SELECT id, '00000000-0000-4000-a000-000000000001', mitra_id, service_id, 'Pijat', 60, 150000, 'completed',
       'inv-' || id, now() - interval '3 days', 150000, 30000, now() - interval '1 day', true,
       now() - interval '2 days', now() - interval '3 days'
FROM payee_orders;
INSERT INTO ledger_transactions (reference, kind, order_id, mitra_id)
SELECT 'invoice:inv-' || id || ':paid', 'paid', id, mitra_id FROM payee_orders
UNION ALL
SELECT 'order:' || id || ':completed', 'order_completed', id, mitra_id FROM payee_orders;
INSERT INTO ledger_postings (transaction_id, account, order_id, mitra_id, amount, kind, at)
SELECT t.id, l.account, t.order_id, CASE WHEN l.account LIKE 'mitra\_%' THEN t.mitra_id END, l.amount, t.kind, t.at
FROM ledger_transactions t JOIN payee_orders o ON o.id = t.order_id
JOIN (VALUES ('paid', 'cash', -150000), ('paid', 'escrow', 150000),
             ('order_completed', 'escrow', -150000), ('order_completed', 'commission', 30000),
             ('order_completed', 'mitra_pending', 120000)) l (kind, account, amount) ON l.kind = t.kind;
ANALYZE;
SQL
released=$("$GATEWAY" release-earnings 2>/dev/null | grep -v '^{')

taskset -c 1 "$DRIVER" fake-xendit --port 3920 >"$OUT/fake-xendit.log" 2>&1 &
XENDIT_PID=$!
"$DRIVER" wait-ready --url http://127.0.0.1:3920/payouts_channels --since-ns "$(date +%s%N)" >/dev/null
# Production's settings for the job (deploy/), the fake in Xendit's place; PostgreSQL
# shares both cores, the job has core 0 as the gateway has in the other scenarios.
measured=$(PAYMENT_PROVIDER=xendit XENDIT_BASE_URL=http://127.0.0.1:3920 XENDIT_SECRET_KEY=xnd_bench_key \
  XENDIT_CALLBACK_TOKEN=bench-callback-token RUST_LOG=warn \
  taskset -c 0 "$DRIVER" measure "$GATEWAY" run-payouts 2>"$OUT/run-payouts.log")
counts=$(curl -fsS http://127.0.0.1:3920/bench/count)
kill $XENDIT_PID; wait $XENDIT_PID 2>/dev/null || true
ledger=$("$GATEWAY" ledger-check 2>/dev/null | grep -v '^{' | head -1 | cut -c1-60)
line "payouts-run mitra=10000 released=$released $(printf '%s' "$measured" | grep -v '^payouts:' | tr '\n' ' ')$(printf '%s' "$measured" | grep '^payouts:' | sed 's/^payouts: //') xendit=$counts ledger-check=\"$ledger\""
fi
