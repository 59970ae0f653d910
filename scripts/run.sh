#!/usr/bin/env bash
# Runs mobile-branch on its embedded default configuration: the insecure `sim` bot "demo" on
# 127.0.0.1:8080, plus a seeded demo branch (which only this script turns on, see run_defaults
# in scripts/lib.sh), against a local Redis that this script starts if none answers
# (installing redis-server through apt-get when it is missing). Stop with Ctrl-C: it stops the
# server, and the redis-server too if this script started it (a Redis that was already
# running is left alone).
#
# Environment: MB_* overrides apply as in production (e.g. MB_SERVER__LISTEN=127.0.0.1:9090).
# The insecure demo bot is served on loopback addresses only: a listen address such as
# 0.0.0.0 makes the server refuse to start.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
run_defaults

url="${MB_REDIS__URL:-redis://127.0.0.1:6379}"
listen="${MB_SERVER__LISTEN:-127.0.0.1:8080}"
hostport="${url#redis://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$hostport" ] && port=6379

# What this script started, so that whatever ends it (Ctrl-C, a build error, the server
# refusing to start) stops exactly those: the server, and redis-server only if it was ours.
server=""
redis_pid=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then
    echo "stopping the redis-server this script started (pid $redis_pid, port $port)" >&2
    kill -TERM "$redis_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if redis_ping "$host" "$port"; then
  echo "using the Redis already answering at $host:$port; it keeps running when this script stops" >&2
else
  case "$host" in
    127.0.0.1|localhost) ;;
    *) echo "error: no Redis answers at $host:$port; start it or set MB_REDIS__URL" >&2; exit 1 ;;
  esac
  ensure_redis_installed
  mkdir -p .data
  echo "starting a local redis-server on port $port (data in .data/); Ctrl-C stops it too" >&2
  rm -f "$PWD/.data/redis-$port.pid"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$PWD/.data" \
    --pidfile "$PWD/.data/redis-$port.pid" \
    --appendonly yes --save "" --logfile "$PWD/.data/redis.log"
  for _ in $(seq 50); do redis_ping "$host" "$port" && break; sleep 0.1; done
  redis_pid="$(cat "$PWD/.data/redis-$port.pid" 2>/dev/null || true)"
  redis_ping "$host" "$port" || { echo "error: redis-server did not start; see .data/redis.log" >&2; exit 1; }
fi

echo "building mobile-branch (the first build takes a few minutes)..." >&2
cargo build --locked --quiet
"${CARGO_TARGET_DIR:-target}/debug/mobile-branch" serve &
server=$!

for _ in $(seq 100); do
  curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { wait "$server" || exit $?; exit 1; }
  sleep 0.1
done

cat <<MSG

mobile-branch is running at http://$listen with the sim bot "demo".
The demo branch 演示支部 is bound to sim chat g1; 张三 and 李四 are on its roster.
Talk to the bot (paste this):

  curl -s http://$listen/webhook/sim/demo -H 'content-type: application/json' -d '{"chat_id":"g1","user_id":"u1","user_name":"张三","message_id":"'\$(date +%s%N)'","text":"帮助"}'

Then try "text":"加入 张三" and "text":"我的"; the secretary is user_id "secretary" (try "成员").
What the bot sent on its own (announcements, reminders, private notices):
  curl -s 'http://$listen/webhook/sim/demo/messages?chat_id=g1'             (the group)
  curl -s 'http://$listen/webhook/sim/demo/messages?chat_id=dm:secretary'   (one person's private chat)
Press Ctrl-C to stop.
MSG
wait "$server"
