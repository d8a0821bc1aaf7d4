//! The integration tests: the real `logkeep` binary run on real files, with real tools. Every
//! module finds its daemon, store, CLI and random numbers through [`support`].
mod support;

mod admin;
mod bundle;
mod cli_errors;
mod control;
mod docs;
mod extract;
mod hostile;
mod killloop;
mod media;
mod model;
mod reload;
mod relp;
mod restart;
mod rotation;
mod roundtrip;
mod seal;
mod status_agree;
mod std_tools;
mod syslog;
mod tamper;
mod tidy;
mod udp_overload;
mod unreadable;
