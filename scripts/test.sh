#!/usr/bin/env bash
# The test command: installs what the tests need on a Debian machine, starts PostgreSQL, and
# runs the whole workspace's tests once (SQLite always; PostgreSQL through NEUTRINO_TEST_PG_URL;
# the real `openstack` CLI through NEUTRINO_OSC; a real Keystone through NEUTRINO_KEYSTONE_VENV).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
# Real OVN for the OVSDB client and OVN driver tests.
command -v ovsdb-server >/dev/null 2>&1 || need_apt+=(openvswitch-switch)
command -v ovn-northd >/dev/null 2>&1 || need_apt+=(ovn-central ovn-host)
# The end-to-end test: DHCP client in instance namespaces (busybox udhcpc), veth offloads.
command -v udhcpc >/dev/null 2>&1 || need_apt+=(udhcpc)
command -v ethtool >/dev/null 2>&1 || need_apt+=(ethtool)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

# PostgreSQL: the distribution's cluster, a superuser role for the tests (each test creates and
# drops its own database).
pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$pg_version main"; then
  pg_createcluster "$pg_version" main >/dev/null
fi
pg_ctlcluster "$pg_version" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname = 'neutrino'\"" | grep -q 1 ||
  su postgres -c "psql -q -c \"CREATE ROLE neutrino LOGIN SUPERUSER PASSWORD 'neutrino'\""
export NEUTRINO_TEST_PG_URL="postgres://neutrino:neutrino@127.0.0.1:5432/postgres"

# The openstack CLI, in a venv beside the build output.
venv="$PWD/target/osc-venv"
if [ ! -x "$venv/bin/openstack" ]; then
  echo "test.sh: installing python-openstackclient into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check python-openstackclient
fi
export NEUTRINO_OSC="$venv/bin/openstack"

# A real Keystone (SQLite, Fernet) for the external-Keystone mode test, in its own venv.
ks_venv="$PWD/target/keystone-venv"
if [ ! -x "$ks_venv/bin/keystone-manage" ]; then
  echo "test.sh: installing keystone into $ks_venv"
  python3 -m venv "$ks_venv"
  "$ks_venv/bin/pip" install -q --disable-pip-version-check keystone
fi
export NEUTRINO_KEYSTONE_VENV="$ks_venv"

if cargo nextest --version >/dev/null 2>&1; then
  profile=default
  [ "${CI:-}" = "true" ] && profile=ci
  cargo nextest run --workspace --profile "$profile"
else
  cargo test --workspace
fi
