//! loudfail's integration tests: one binary (FIELD-NOTES: every test binary that links
//! deltalake costs a gigabyte and a link), one module per theme.

mod support;

mod checkpoint;
mod cli;
mod driver;
mod examples;
mod explore;
mod incident1;
mod incident2;
mod matrix;
mod programs;
mod schedule;
mod services;
mod spark;
mod storage;
mod topologies;
mod upstream;
