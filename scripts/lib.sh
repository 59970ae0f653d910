# Shared by scripts/run.sh and scripts/test.sh: make sure redis-server is installed, and the
# settings run.sh adds to the embedded defaults.

# run_defaults: the embedded default seeds no demo branch, so that no deployment gets one by
# accident; run.sh, the newcomer's way in, seeds it unless the caller chose otherwise
# (MB_DEMO__SEED=false keeps it off). tests/cli.rs checks what this sets.
run_defaults() {
  export MB_DEMO__SEED="${MB_DEMO__SEED:-true}"
}

ensure_redis_installed() {
  if command -v redis-server >/dev/null 2>&1; then
    return 0
  fi
  echo "redis-server is not installed; installing it with apt-get (Debian package redis-server)..." >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "error: run as root or install redis-server yourself: apt-get install redis-server" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: no apt-get here; install redis-server with your package manager and retry" >&2
    return 1
  fi
  $sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >&2 || {
    echo "error: could not install redis-server; install it yourself: apt-get install redis-server" >&2
    return 1
  }
  # Debian's package may start a system service on 6379; that is fine for run.sh, and
  # tests start their own servers on free ports.
}

# redis_ping HOST PORT: true when a Redis server answers there.
redis_ping() {
  local reply=""
  # A bare `exec 3<>… 2>/dev/null` would make the redirection of stderr permanent for the
  # caller (and every process it starts); a group scopes it to the opening of fd 3.
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 1 reply <&3 || true
  exec 3>&- 3<&-
  [ "${reply%$'\r'}" = "+PONG" ]
}
