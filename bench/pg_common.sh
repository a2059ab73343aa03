# Sourced by bench/pg_state.sh and bench/pg_fleet.sh: a throw-away PostgreSQL
# server (initdb + pg_ctl in a temporary folder, as the tests do; fsync on,
# reached by its Unix socket only) and the same generated store and mapping.
# Needs ROOT, BUILD, COUNT and PREFIX (the folder's name) set; sets BIN, GEN,
# PGBIN, WORK, AS, PORT, PSQL and PIDS (processes to kill on exit), and
# writes $WORK/store.db, $WORK/media and $WORK/m/all.yaml.
# Extra server settings: PG_OPTIONS (e.g. "-c max_connections=100").
BIN=$ROOT/$BUILD/reportbridge
GEN=$ROOT/$BUILD/tools/gen_store/reportbridge-gen-store
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$(mktemp -d "/tmp/$PREFIX-XXXXXX")
chmod 755 "$WORK"
AS=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$WORK"; AS=(runuser -u postgres --); fi
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT  # KEEP=1: leave the folder and the server for a look
"${AS[@]}" "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust --no-instructions -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-c listen_addresses='' -p $PORT -k $WORK ${PG_OPTIONS:-}" start >/dev/null
PSQL=("${AS[@]}" "$PGBIN/psql" -h "$WORK" -p "$PORT" -U postgres -qAt)
"$GEN" --db "$WORK/store.db" --media-root "$WORK/media" --count "$COUNT" --seed 5 >/dev/null
mkdir -p "$WORK/m"
cat > "$WORK/m/all.yaml" <<'YAML'
mapping: all
targets: [drop]
fields:
  - {name: Ref, from: id, required: true}
  - {name: Version, from: version}
  - {name: Kind, from: kind}
  - {name: Summary, from: summary, default: ""}
YAML
