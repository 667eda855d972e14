//! The OVN driver against real OVN: NB and SB `ovsdb-server`s and `ovn-northd` started per test
//! in a temp dir, neutrino's core over SQLite, rows checked with `ovn-nbctl`/`ovn-sbctl` and
//! connectivity with `ovn-trace`.

mod harness;
mod l2;
mod l3;
mod security;
