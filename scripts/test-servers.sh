# Sourced by scripts/test.sh: starts PostgreSQL and redis-server on 127.0.0.1 in a
# temporary directory (installing the Debian packages when missing), exports their URLs
# for the session-store tests (HARNEXT_TEST_POSTGRES_URL, HARNEXT_TEST_REDIS_URL and
# HARNEXT_TEST_STORES=required, so a test fails rather than skips without them), and
# stops both when the calling shell exits.

hx_servers_dir=$(mktemp -d "${TMPDIR:-/tmp}/harnext-servers.XXXXXX")
hx_pg_bin=""
hx_as_pg=()

hx_free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

hx_find_pg() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    hx_pg_bin=$(dirname "$(command -v pg_ctl)")
    return 0
  fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then hx_pg_bin=$d; fi
  done
  [ -n "$hx_pg_bin" ]
}

hx_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing $*: install it (apt-get install -y $*) or run as root" >&2
    return 1
  fi
  say "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null; }
}

hx_stop_servers() {
  if [ -n "${hx_pg_started:-}" ]; then
    "${hx_as_pg[@]}" "$hx_pg_bin/pg_ctl" -D "$hx_servers_dir/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${hx_redis_pid:-}" ]; then
    kill "$hx_redis_pid" 2>/dev/null || true
    wait "$hx_redis_pid" 2>/dev/null || true
  fi
  rm -rf "$hx_servers_dir"
}
trap hx_stop_servers EXIT

hx_find_pg || { hx_install postgresql && hx_find_pg; } || { echo "PostgreSQL (initdb, pg_ctl) not found" >&2; exit 1; }
command -v redis-server >/dev/null || hx_install redis-server || exit 1

say "PostgreSQL ($("$hx_pg_bin/postgres" --version | awk '{print $3}')) and redis-server on 127.0.0.1, in $hx_servers_dir"
mkdir -p "$hx_servers_dir/pg"
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: its files and process belong to `postgres`.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown -R postgres "$hx_servers_dir"
  chmod 755 "$hx_servers_dir"
  hx_as_pg=(runuser -u postgres --)
fi
hx_pg_port=$(hx_free_port)
"${hx_as_pg[@]}" "$hx_pg_bin/initdb" -D "$hx_servers_dir/pg" -U harnext --auth=trust -E UTF8 >"$hx_servers_dir/initdb.log" 2>&1 ||
  { cat "$hx_servers_dir/initdb.log" >&2; exit 1; }
"${hx_as_pg[@]}" "$hx_pg_bin/pg_ctl" -D "$hx_servers_dir/pg" -l "$hx_servers_dir/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $hx_pg_port -k $hx_servers_dir -c fsync=off -c max_connections=200" start >/dev/null ||
  { cat "$hx_servers_dir/pg.log" >&2; exit 1; }
hx_pg_started=1

hx_redis_port=$(hx_free_port)
redis-server --bind 127.0.0.1 --port "$hx_redis_port" --save "" --appendonly no \
  --dir "$hx_servers_dir" --logfile "$hx_servers_dir/redis.log" </dev/null &
hx_redis_pid=$!
for _ in $(seq 1 100); do
  if node -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1");s.on("connect",()=>{s.write("PING\r\n")});s.on("data",d=>process.exit(String(d).startsWith("+PONG")?0:1));s.on("error",()=>process.exit(1))' "$hx_redis_port" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export HARNEXT_TEST_POSTGRES_URL="postgres://harnext@127.0.0.1:$hx_pg_port/postgres"
export HARNEXT_TEST_REDIS_URL="redis://127.0.0.1:$hx_redis_port"
export HARNEXT_TEST_STORES=required
