//! The one integration-test binary (one link saves build time on small machines).

mod batch;
mod cli;
mod fixtures;
mod formats;
mod hostile;
mod repair;
mod song;
