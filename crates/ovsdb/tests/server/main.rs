//! Integration tests of the OVSDB client against real `ovsdb-server` processes (see `harness`).

mod cluster;
mod harness;
mod locks;
mod monitor;
mod reconnect;
mod transact;
