#!/usr/bin/env bash
# Checks the system tools the embedded infrastructure (and, for `make test`, the browser test; for PDF
# report exports, the DejaVu font) needs; installs missing ones with apt-get
# when running as root on Debian/Ubuntu, otherwise says what to install. Skips what the
# settings make unnecessary (CRM_KAFKA_BOOTSTRAP, CRM_DATABASE_URL).
set -euo pipefail

missing=()
if [ -z "${CRM_KAFKA_BOOTSTRAP:-}" ]; then
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
fi
if [ -z "${CRM_DATABASE_URL:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null \
     && [ -z "${CRM_POSTGRES_BINDIR:-}" ]; then
    missing+=(postgresql)
  fi
fi
# The PDF export (crm report export --format pdf) sets its text in DejaVu Sans.
if [ -z "${CRM_PDF_FONT_DIR:-}" ] && [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ]; then
  missing+=(fonts-dejavu-core)
fi
# The dashboard's browser test drives Debian's chromium (never a downloaded browser); `make test`
# asks for it with CRM_NEED_BROWSER=1.
if [ "${CRM_NEED_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]})," >&2
  echo "or point CRM_KAFKA_BOOTSTRAP / CRM_DATABASE_URL at existing servers." >&2
  exit 1
fi
