# shellcheck shell=bash
# The chat scenarios (issue 29), sourced by bench/run after its gateway stopped (it uses
# GATEWAY, DRIVER, SERVER_URL, SECONDS_EACH, OUT and the harness's line/want/say). Its own
# database, halo_bench_chat, seeded in SQL with CHAT_ORDERS (default 5,000) paid orders,
# each between its own customer and its own mitra; two gateway instances on it, A
# (:3902) and B (:3903), both pinned to core 0 as bench/run pins one, with the bus named
# by EVENT_BUS (default postgres); the driver on core 1 mints each party's token.
#   chat-idle     a socket per party of every order on a fresh A (10,000 users, each its
#                 own session): RSS per socket idle, and after each took a message
#   chat-deliver  200 messages/s posted on A for SECONDS_EACH, timed from when each was
#                 due to its arrival on the recipient's socket on B (1,000 orders, both
#                 parties' sockets on B)
#   chat-post     A alone, both parties' sockets on it, offered CHAT_RATES messages/s
#                 open-loop (default 500 1000 1500 2000), then 64 callers closed-loop
# Alone: BENCH_ONLY='chat-.*' bench/run [SECONDS]; EVENT_BUS=pubsub (with PUBSUB_*) to
# run them on the other bus.
if want chat-idle chat-deliver chat-post; then
  CHAT_ORDERS=${CHAT_ORDERS:-5000}
  CHAT_DB="$(with_database "$SERVER_URL" halo_bench_chat)"
  case $CHAT_DB in *\?*) CHAT_DB+="&sslmode=disable" ;; *) CHAT_DB+="?sslmode=disable" ;; esac
  say "seeding the chat database: $CHAT_ORDERS paid orders, each its own customer and mitra"
  psql "$SERVER_URL" -qc "DROP DATABASE IF EXISTS halo_bench_chat" -qc "CREATE DATABASE halo_bench_chat"
  DATABASE_URL=$CHAT_DB "$GATEWAY" migrate >/dev/null
  psql "$CHAT_DB" -q -v ON_ERROR_STOP=1 -v n="$CHAT_ORDERS" <<'SQL'
CREATE TEMP TABLE seeded AS
SELECT n, gen_random_uuid() AS customer_id, gen_random_uuid() AS mitra_id, gen_random_uuid() AS service_id,
       gen_random_uuid() AS order_id
FROM generate_series(1, :n) n;
INSERT INTO customers (id, is_anonymous, phone, display_name)
SELECT customer_id, false, '+62812' || lpad(n::text, 8, '0'), 'Pelanggan ' || n FROM seeded;
INSERT INTO mitras (id, phone, display_name, listed_name, verification_status)
SELECT mitra_id, '+62813' || lpad(n::text, 8, '0'), 'Mitra ' || n, 'Mitra ' || n, 'approved' FROM seeded;
INSERT INTO mitra_services (id, mitra_id, title, price, duration_minutes)
SELECT service_id, mitra_id, 'Pijat', 150000, 60 FROM seeded;
INSERT INTO orders (id, customer_id, mitra_id, service_id, service_title, duration_minutes, amount, status,
                    invoice_id, paid_at)
SELECT order_id, customer_id, mitra_id, service_id, 'Pijat', 60, 150000, 'paid', 'inv-chat-' || n, now() FROM seeded;
ANALYZE;
SQL
  # Each instance as bench/run starts its one; the limit per sender stays on (its upsert
  # is part of every post), above what the runs send (about 60 a minute each at 2,000/s).
  chat_instance() { # PORT
    DATABASE_URL=$CHAT_DB PORT=$1 EVENT_BUS=${EVENT_BUS:-postgres} CHAT_MESSAGES_PER_MINUTE=6000 \
      taskset -c 0 "$GATEWAY" serve >"$OUT/chat-gateway-$1.log" 2>&1 &
    CHAT_PIDS="$CHAT_PIDS $!"
    "$DRIVER" wait-ready --url "http://127.0.0.1:$1/readyz" --since-ns "$(date +%s%N)" >/dev/null
  }
  chat_stop() { kill $CHAT_PIDS 2>/dev/null || true; wait $CHAT_PIDS 2>/dev/null || true; CHAT_PIDS=; }
  CHAT_PIDS=
  trap "chat_stop; $(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")" EXIT
  chat_drive() { taskset -c 1 "$DRIVER" "$@" --database-url "$CHAT_DB"; }
  CHAT_A=http://127.0.0.1:3902 CHAT_B=http://127.0.0.1:3903
  bus="bus=${EVENT_BUS:-postgres}"

  if want chat-idle; then
    chat_instance 3902
    line "$(chat_drive chat-idle --base "$CHAT_A" --pid "${CHAT_PIDS##* }" --orders "$CHAT_ORDERS") $bus"
    chat_stop
  fi
  chat_instance 3902
  if want chat-deliver; then
    chat_instance 3903
    line "$(chat_drive chat --name chat-deliver --posts-on "$CHAT_A" --sockets-on "$CHAT_B" --orders 1000 \
      --rate 200 --seconds "$SECONDS_EACH") $bus"
    kill "${CHAT_PIDS##* }"; wait "${CHAT_PIDS##* }" 2>/dev/null || true; CHAT_PIDS=${CHAT_PIDS% *}
  fi
  if want chat-post; then
    for rate in ${CHAT_RATES:-500 1000 1500 2000}; do
      line "$(chat_drive chat --name chat-post --posts-on "$CHAT_A" --sockets-on "$CHAT_A" --orders 1000 \
        --rate "$rate" --seconds "$SECONDS_EACH") $bus"
    done
    line "$(chat_drive chat --name chat-post --posts-on "$CHAT_A" --sockets-on "$CHAT_A" --orders 1000 \
      --rate 0 --in-flight 64 --seconds "$SECONDS_EACH") $bus"
  fi
  chat_stop
fi
