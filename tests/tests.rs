//! The integration tests: the real `logkeep` binary run on real files, with real tools. Every
//! module finds its daemon, store, CLI and random numbers through [`support`].
mod support;

mod admin;
mod bundle;
mod cli_errors;
mod clock;
mod control;
mod detect;
mod docs;
mod drill;
mod extract;
mod hostile;
mod journal;
mod killloop;
mod logins;
mod media;
mod model;
mod powercut;
mod reload;
mod relp;
mod remote;
mod restart;
mod rewritten;
mod rotation;
mod roundtrip;
mod seal;
mod status_agree;
mod std_tools;
mod syslog;
mod tamper;
mod tidy;
mod timeline;
mod udp_overload;
mod unreadable;
