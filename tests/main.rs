//! The one integration-test binary (one link saves build time on small machines).

mod batch;
mod bench_harness;
mod cli;
mod fixtures;
mod formats;
mod hostile;
mod memory;
mod repair;
mod roles;
mod song;
mod words;
