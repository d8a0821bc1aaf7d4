//! Integration tests.
mod bundle;
mod bundle_support;
mod harness;
mod media;
mod rotate;
mod store;
