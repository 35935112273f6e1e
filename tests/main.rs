//! The one integration-test binary (one link saves build time on small machines).

mod cli;
mod fixtures;
mod formats;
mod roles;
mod song;
