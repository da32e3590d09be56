# Sourced by ../test.sh: Java (Spark local mode), Chromium (browser tests) and PostgreSQL (the operational
# store's tests start a throwaway server) from Debian's packages.
# Installs only what is missing, and only when it can (root with apt-get); otherwise the tests that
# need them say why they are skipped.
need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Debian keeps initdb off PATH, under /usr/lib/postgresql/<version>/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]} and cannot apt-get install them here; those tests will skip" >&2
  fi
fi
