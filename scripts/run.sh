#!/usr/bin/env bash
# Builds neutrino and brings up the all-in-one (`neutrino up`): OVN, Open vSwitch (userspace
# datapath without the kernel module), the server with SQLite and the agent, all with their
# state and logs under ./.neutrino. Needs root and Debian's openvswitch-switch, ovn-central,
# ovn-host, udhcpc and ethtool (`neutrino up` names what is missing). Stop it with
# `./target/release/neutrino down --state-dir .neutrino`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin neutrino
state="${NEUTRINO_STATE_DIR:-$PWD/.neutrino}"
exec ./target/release/neutrino up --state-dir "$state" "$@"
