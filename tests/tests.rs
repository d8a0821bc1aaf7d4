//! Integration tests.
mod media;
