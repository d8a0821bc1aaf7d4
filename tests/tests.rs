//! Integration tests.
mod bundle;
mod bundle_support;
mod media;
