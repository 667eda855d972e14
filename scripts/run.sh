#!/usr/bin/env bash
# Builds neutrino and runs `neutrino serve` with its state under ./.neutrino.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin neutrino
state="${NEUTRINO_STATE_DIR:-$PWD/.neutrino}"
mkdir -p "$state"
echo "neutrino: state in $state; use: OS_CLIENT_CONFIG_FILE=$state/clouds.yaml openstack --os-cloud neutrino network list"
exec ./target/release/neutrino serve --state-dir "$state" "$@"
