//! In-process API tests: the whole router over a real SQLite database in a temp dir, the
//! embedded identity and the `logger` mechanism driver, driven with `tower::ServiceExt`.

mod errors;
mod floatingips;
mod harness;
mod identity;
mod identity_admin;
mod networks;
mod ports;
mod quotas;
mod rbac;
mod regressions;
mod routers;
mod security_groups;
mod subnets;
mod tags;
