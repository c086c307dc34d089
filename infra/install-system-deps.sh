#!/usr/bin/env bash
# Installs what the project needs from the system's packages when it is missing: Java 17+ and Maven (the
# local Kafka broker), PostgreSQL's server, and Chromium with its driver (the console's browser tests).
# Needs root with apt-get to install; otherwise it says what is missing and what to do.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || command -v pg_ctl >/dev/null || missing+=(postgresql)
# runuser runs initdb/pg_ctl as the postgres user when we are root; it ships with util-linux.
[ "$(id -u)" -ne 0 ] || command -v runuser >/dev/null || missing+=(util-linux)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package starts its own cluster on 5432; the project runs its own server and leaves that one be.
else
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}), or point KAFKA_BOOTSTRAP_SERVERS" >&2
  echo "and DATABASE_URL at an existing broker and database." >&2
  exit 1
fi
