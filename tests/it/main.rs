//! Black-box tests: the real server on 127.0.0.1:0 against a real database. SQLite by
//! default; set `HECTOR_TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306`) to run the same
//! suite against MySQL/MariaDB, one fresh database per test.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test should fail loudly at the first surprise"
)]

mod support;

mod abuse;
mod browser;
mod cli;
mod clients;
mod darknet;
mod errors;
mod events;
mod feeds;
mod findings;
mod hosts;
mod identity;
mod incidents;
mod layers;
mod mutations;
mod ops;
mod outage;
mod proxy;
mod scans;
mod schema;
mod security;
mod shape;
mod storage;
