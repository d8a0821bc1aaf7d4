//! The investigator's timeline: who came in over the VPN or RDP, from where and when, who
//! used privileges, whether logs were cleared — read from a verified store, medium or bundle,
//! every event pointing at the exact original bytes that prove it.
//!
//! The input is verified first, and an input that does not verify is an error: a timeline is
//! never built from bytes that were not checked. Then a second walk over the same chain
//! ([`walk::Walker`], a [`ChainVisitor`](logkeep_format::verify::ChainVisitor)) cuts every
//! captured file generation into lines, recognises events by content ([`parse`], [`wtmp`]),
//! and streams them to a [`walk::Sink`]: JSON Lines or CSV ([`output`]), or the report's
//! tallies ([`report`]). Memory stays flat: at most one line per open generation, and the
//! report's tables are capped.
//!
//! ```
//! use logkeep_timeline::parse::parse;
//! use logkeep_timeline::event::Kind;
//!
//! let f = parse("Nov 20 03:10:12 gw sshd[812]: Accepted password for alice from 203.0.113.5 port 50122 ssh2").unwrap();
//! assert_eq!(f.kind, Kind::LogonSuccess);
//! assert_eq!(f.user.as_deref(), Some("alice"));
//! assert_eq!(f.src_ip.as_deref(), Some("203.0.113.5"));
//! ```
//!
//! Evidence: `path` and `generation` name the file `logkeep extract` writes
//! (`SOURCE/PATH.genN`); `offset` and `length` cut the line out of it (without its LF), and
//! `sha256` is the hash of those bytes. For `tamper` and `gap`, logkeep's own records, the
//! evidence is the chain record file itself.

pub mod event;
pub mod journal;
pub mod output;
pub mod parse;
pub mod report;
pub mod walk;
pub mod when;
pub mod wtmp;

use logkeep_format::bundle::{self, BundleOptions};
use logkeep_format::verify::{self, Input, VerifyError, VerifyOptions};
use std::io;
use std::path::Path;

/// Why no timeline was made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be read, or is not a store, a medium or a bundle.
    #[error(transparent)]
    Input(#[from] VerifyError),
    /// The input did not verify: its problems, one per line.
    #[error("{path} does not verify; no timeline is made from unverified bytes:\n{problems}")]
    Unverified {
        /// The input.
        path: String,
        /// Its problems.
        problems: String,
    },
    /// Writing the output failed.
    #[error("writing the timeline: {0}")]
    Output(io::Error),
}

/// Verify `path` (a store or medium directory, or a bundle file, pinned to `fingerprint` if
/// given) and stream its events through `sink`. Returns the number of events written.
pub fn timeline(
    path: &Path,
    fingerprint: Option<String>,
    filter: walk::Filter,
    sink: &mut dyn walk::Sink,
) -> Result<u64, Error> {
    let input = verify::classify_input(path)?;
    let shown = logkeep_format::shown::path(path).to_string();
    let unverified = |problems: Vec<verify::Problem>, extra: Vec<String>| Error::Unverified {
        path: shown.clone(),
        problems: problems
            .iter()
            .map(|p| format!("  {}: {}", p.file, p.what))
            .chain(extra.into_iter().map(|e| format!("  {e}")))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let opts = BundleOptions {
        fingerprint,
        chain: VerifyOptions::default(),
    };
    // First the verdict, then the walk that reads events: nothing is written for an input
    // that does not verify. The walk checks again as it reads (the input could change).
    match input {
        Input::Store => {
            let r = verify::verify_store(path, &opts.chain)?;
            if !r.ok() {
                return Err(unverified(r.problems, Vec::new()));
            }
        }
        Input::Bundle => {
            let r = bundle::verify_bundle_file(path, &opts)?;
            if !r.ok() {
                let mut extra = r.custody_problems.clone();
                extra.extend(r.companion_problems.clone());
                return Err(unverified(r.report.problems, extra));
            }
        }
    }
    let mut watched = Watch {
        sink,
        failed: false,
    };
    let mut w = walk::Walker::new(filter, &mut watched);
    if matches!(input, Input::Store) {
        w = w.in_store(path);
    }
    let walked = match input {
        Input::Store => verify::verify_store_with(path, &opts.chain, &mut w)
            .map(|r| (!r.ok()).then_some((r.problems, Vec::new()))),
        Input::Bundle => bundle::verify_bundle_with(path, &opts, &mut w)
            .map(|r| (!r.ok()).then_some((r.report.problems, r.custody_problems))),
    };
    let damaged = w.damaged;
    let finished = w.finish();
    let problems = match walked {
        Ok(p) => p,
        // A walk error is the sink's when the sink failed, else the input's.
        Err(e) if watched.failed => return Err(Error::Output(e.source)),
        Err(e) => return Err(Error::Input(e)),
    };
    if let Some((p, extra)) = problems {
        return Err(unverified(p, extra));
    }
    if damaged {
        return Err(unverified(
            Vec::new(),
            vec!["a segment changed while it was read".into()],
        ));
    }
    finished.map_err(Error::Output)
}

/// A sink that remembers whether it failed, to tell the output's errors from the input's.
struct Watch<'a> {
    sink: &'a mut dyn walk::Sink,
    failed: bool,
}

impl walk::Sink for Watch<'_> {
    fn event(&mut self, e: &event::TimelineEvent) -> io::Result<()> {
        let r = self.sink.event(e);
        self.failed |= r.is_err();
        r
    }
}

/// The report of the store (or medium) at `store` in one verified walk (for `export`, which
/// seals it into the bundle): an error if the store does not verify.
pub fn report_store(
    store: &Path,
    filter: walk::Filter,
    cx: &report::Context,
) -> Result<String, Error> {
    let mut r = report::Report::new(cx.local_offset);
    let mut w = walk::Walker::new(filter, &mut r);
    let rep = verify::verify_store_with(store, &VerifyOptions::default(), &mut w)?;
    let damaged = w.damaged;
    w.finish().map_err(Error::Output)?;
    if !rep.ok() || damaged {
        return Err(Error::Unverified {
            path: logkeep_format::shown::path(store).to_string(),
            problems: rep
                .problems
                .iter()
                .map(|p| format!("  {}: {}", p.file, p.what))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(r.render(cx))
}
