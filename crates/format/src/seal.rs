//! Format 2's forward-secure seals: the texts that key statements and checkpoints sign, how they
//! are made and checked, and the walk that proves a chain from the root key onwards.
//!
//! Pure functions over records and keys, no I/O: the verifier, the daemon and the bundle
//! writer share them. The signing state on disk (secrets, their switch and destruction) is the
//! `logkeep-seal` crate's.
//!
//! A key statement (an `epoch` record) signs
//!
//! ```text
//! logkeep epoch
//! epoch <E>
//! key <base64 of the epoch's public key>
//! head <seq> <hex sha256>          (or "head none" for an enrolment)
//! ```
//!
//! and a checkpoint (a `checkpoint` record) signs
//!
//! ```text
//! logkeep checkpoint
//! store <store id>
//! epoch <E>
//! head <seq> <hex sha256>
//! time <the checkpoint record's wall time>
//! ```
//!
//! every line ending in `\n`. `docs/FORMAT.md` says why these texts and not others.

use crate::hash::Sha256;
use crate::layout::Head;
use crate::record::{Event, Record};
use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;

/// Base64 (standard alphabet, padded) of `bytes`: how keys and signatures are written.
pub fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Decode base64 written by [`b64`]; exactly one encoding is accepted for each value.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    let bytes = Base64::decode_vec(text).ok()?;
    (b64(&bytes) == text).then_some(bytes)
}

/// A public key written as base64 of its 32 bytes.
pub fn parse_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = unb64(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a key is not base64 of 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "a key is not a valid Ed25519 public key".into())
}

/// A signature written as base64 of its 64 bytes.
pub fn parse_sig(text: &str) -> Result<Signature, String> {
    let bytes: [u8; 64] = unb64(text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a signature is not base64 of 64 bytes".to_string())?;
    Ok(Signature::from_bytes(&bytes))
}

fn head_line(head: Option<&Head>) -> String {
    match head {
        Some(h) => format!("head {} {}\n", h.seq, h.hash),
        None => "head none\n".into(),
    }
}

/// The exact text a key statement signs.
pub fn statement_text(epoch: u64, key_b64: &str, head: Option<&Head>) -> String {
    format!(
        "logkeep epoch\nepoch {epoch}\nkey {key_b64}\n{}",
        head_line(head)
    )
}

/// The exact text a checkpoint signs.
pub fn checkpoint_text(store: &str, epoch: u64, head: &Head, time: &str) -> String {
    format!(
        "logkeep checkpoint\nstore {store}\nepoch {epoch}\n{}time {time}\n",
        head_line(Some(head))
    )
}

/// The exact text a format 2 bundle's `SHA256SUMS.sig` signs: the SHA-256 of `SHA256SUMS`
/// and the epoch of the signing key (domain-separated from statements and checkpoints).
pub fn bundle_text(sums: &Sha256, epoch: u64) -> String {
    format!("logkeep bundle\nepoch {epoch}\nsums {sums}\n")
}

/// Make the `epoch` event introducing `key` as epoch `epoch`, signed by `signer` (the root for
/// an enrolment, `head` `None`; else the previous epoch's key).
pub fn sign_statement(
    signer: &SigningKey,
    epoch: u64,
    key: &VerifyingKey,
    head: Option<Head>,
) -> Event {
    let key_b64 = b64(key.as_bytes());
    let sig = signer.sign(statement_text(epoch, &key_b64, head.as_ref()).as_bytes());
    Event::Epoch {
        epoch,
        key: key_b64,
        head,
        signer_key: b64(signer.verifying_key().as_bytes()),
        sig: b64(&sig.to_bytes()),
    }
}

/// Make the `checkpoint` event of `head` for store `store`, for a record written at `time`.
pub fn sign_checkpoint(key: &SigningKey, store: &str, epoch: u64, head: Head, time: &str) -> Event {
    let sig = key.sign(checkpoint_text(store, epoch, &head, time).as_bytes());
    Event::Checkpoint {
        epoch,
        head,
        sig: b64(&sig.to_bytes()),
    }
}

/// A key statement, decoded and its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Epoch number.
    pub epoch: u64,
    /// The epoch's public key.
    pub key: VerifyingKey,
    /// The head at the switch; `None` for an enrolment.
    pub head: Option<Head>,
    /// Who signed.
    pub signer: VerifyingKey,
}

impl Statement {
    /// Decode an `epoch` event and check its signature against the key it names as signer
    /// (whether that signer is entitled to sign is the caller's question). `None` for another
    /// kind of event.
    pub fn check(event: &Event) -> Option<Result<Statement, String>> {
        let Event::Epoch {
            epoch,
            key,
            head,
            signer_key,
            sig,
        } = event
        else {
            return None;
        };
        Some((|| {
            if *epoch == 0 {
                return Err("epoch 0 does not exist".to_string());
            }
            let public = parse_key(key)?;
            let signer = parse_key(signer_key)?;
            let sig = parse_sig(sig)?;
            signer
                .verify(
                    statement_text(*epoch, key, head.as_ref()).as_bytes(),
                    &sig,
                )
                .map_err(|_| {
                    format!("the statement of epoch {epoch} does not verify with the key that claims to have signed it")
                })?;
            Ok(Statement {
                epoch: *epoch,
                key: public,
                head: *head,
                signer,
            })
        })())
    }
}

/// The fingerprint of a key given as base64 (see [`crate::bundle::fingerprint`]).
pub fn fingerprint_b64(key_b64: &str) -> Option<String> {
    parse_key(key_b64)
        .ok()
        .map(|k| crate::bundle::fingerprint(&k))
}

/// The newest checkpoint that checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proven {
    /// Every record up to this one is proven.
    pub seq: u64,
    /// The epoch whose key signed it.
    pub epoch: u64,
    /// The checkpoint's time.
    pub time: String,
    /// The checkpoint record itself.
    pub checkpoint: u64,
}

/// Where the proof broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unproven {
    /// The first record not proven.
    pub first: u64,
    /// The epoch in force at that record (0 before any statement).
    pub epoch: u64,
    /// The record holding the statement or checkpoint that did not check out.
    pub at: u64,
    /// Why, in one line.
    pub why: String,
}

/// What the walk found: the facts `verify` reports for a format 2 chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SealSummary {
    /// Fingerprint of the root key the statements were checked against.
    pub root_fingerprint: Option<String>,
    /// Whether that root was the fingerprint given to the verifier (else it is the key the
    /// chain itself names, to be compared by a person).
    pub fingerprint_checked: bool,
    /// Key statements that checked out.
    pub statements: u64,
    /// Checkpoints that checked out.
    pub checkpoints: u64,
    /// The newest epoch introduced.
    pub epoch: u64,
    /// The newest proof.
    pub proven: Option<Proven>,
    /// The first failure; everything from its `first` record on is not proven.
    pub unproven: Option<Unproven>,
    /// Records after the last checkpoint (`first`, `last`), when no failure came first: the
    /// unsealed tail, not yet covered by any seal.
    pub unsealed: Option<(u64, u64)>,
}

/// The walk over a chain: fed every record in order with its hash, it checks every key
/// statement from the root and every checkpoint with its epoch's key. See the module
/// documentation and `docs/FORMAT.md` ("Seals").
#[derive(Debug)]
pub struct SealWalk {
    store: String,
    expected: Option<String>,
    root: Option<VerifyingKey>,
    current: Option<(u64, VerifyingKey)>,
    /// Records after the last proof, each with its hash and the epoch in force.
    window: Vec<(u64, Sha256, u64)>,
    /// Valid key statements in `window`: their contents are proven by their own signatures.
    signed: Vec<u64>,
    prev: Option<(u64, Sha256)>,
    summary: SealSummary,
}

impl SealWalk {
    /// Walk a chain of store `store`. With `fingerprint`, enrolment statements must be signed by
    /// the root key of that fingerprint; without, by the root key the first one names.
    pub fn new(store: &str, fingerprint: Option<&str>) -> SealWalk {
        let expected = fingerprint.map(|f| {
            crate::bundle::normalize_fingerprint(f).unwrap_or_else(|| f.trim().to_owned())
        });
        SealWalk {
            store: store.to_owned(),
            expected: expected.clone(),
            root: None,
            current: None,
            window: Vec::new(),
            signed: Vec::new(),
            prev: None,
            summary: SealSummary {
                root_fingerprint: expected.map(|h| {
                    let hex: Vec<String> = h
                        .as_bytes()
                        .chunks(4)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    hex.join("-")
                }),
                fingerprint_checked: fingerprint.is_some(),
                ..SealSummary::default()
            },
        }
    }

    /// Take in a key statement from before the records walked (a bundle's `store/keys.jsonl`):
    /// checked by its signatures alone, since the records its head names are not at hand.
    pub fn prior_statement(&mut self, record: &Record) -> Result<(), String> {
        match Statement::check(&record.event) {
            Some(Ok(s)) => self.accept(&s, record.seq),
            Some(Err(e)) => Err(e),
            None => Err("not a key statement".into()),
        }
    }

    fn accept(&mut self, s: &Statement, at: u64) -> Result<(), String> {
        match s.head {
            None => {
                let fp = crate::bundle::fingerprint(&s.signer);
                if let Some(want) = &self.expected {
                    if crate::bundle::normalize_fingerprint(&fp).as_ref() != Some(want) {
                        return Err(format!(
                            "the enrolment of epoch {} is signed by key {fp}, not by the root {}",
                            s.epoch,
                            self.summary.root_fingerprint.as_deref().unwrap_or(want)
                        ));
                    }
                } else if let Some(root) = self.root {
                    if root != s.signer {
                        return Err(format!(
                            "the enrolment of epoch {} is signed by key {fp}, not by the root {} that enrolled the first epoch",
                            s.epoch,
                            crate::bundle::fingerprint(&root)
                        ));
                    }
                } else {
                    self.summary.root_fingerprint = Some(fp);
                }
                self.root = Some(s.signer);
                if s.epoch <= self.summary.epoch {
                    return Err(format!(
                        "enrols epoch {} but epoch {} came before it",
                        s.epoch, self.summary.epoch
                    ));
                }
            }
            Some(head) => {
                let Some((cur, key)) = self.current else {
                    return Err(format!(
                        "epoch {} is introduced by a switch, but no earlier statement introduced its signer",
                        s.epoch
                    ));
                };
                if s.signer != key {
                    return Err(format!(
                        "epoch {} is signed by a key that is not epoch {cur}'s",
                        s.epoch
                    ));
                }
                if s.epoch != cur + 1 {
                    return Err(format!(
                        "epoch {cur}'s key introduces epoch {}, not {}",
                        s.epoch,
                        cur + 1
                    ));
                }
                if head.seq >= at {
                    return Err(format!(
                        "the switch to epoch {} names head {} which is not before it",
                        s.epoch, head.seq
                    ));
                }
                if let Some((_, h, _)) = self.window.iter().find(|w| w.0 == head.seq)
                    && *h != head.hash
                {
                    return Err(format!(
                        "the switch to epoch {} names record {} with hash {}, but that record hashes to {h}",
                        s.epoch, head.seq, head.hash
                    ));
                }
            }
        }
        self.current = Some((s.epoch, s.key));
        self.summary.epoch = s.epoch;
        self.summary.statements += 1;
        Ok(())
    }

    fn fail(&mut self, at: u64, why: String) {
        if self.summary.unproven.is_some() {
            return;
        }
        let (first, epoch) = self
            .window
            .iter()
            .find(|w| !self.signed.contains(&w.0))
            .or(self.window.first())
            .map_or((at, self.current.map_or(0, |c| c.0)), |w| (w.0, w.2));
        self.summary.unproven = Some(Unproven {
            first,
            epoch,
            at,
            why,
        });
    }

    /// Take in the next record of the chain and the hash of its file.
    pub fn record(&mut self, record: &Record, hash: Sha256) {
        let epoch_now = self.current.map_or(0, |c| c.0);
        match &record.event {
            Event::Epoch { .. } => {
                self.window.push((record.seq, hash, epoch_now));
                let result = match Statement::check(&record.event) {
                    Some(Ok(s)) => self.accept(&s, record.seq),
                    Some(Err(e)) => Err(e),
                    None => Ok(()),
                };
                match result {
                    Ok(()) => self.signed.push(record.seq),
                    Err(why) => {
                        // Keys introduced from here on are not attested.
                        self.current = None;
                        self.fail(record.seq, why);
                    }
                }
            }
            Event::Checkpoint { epoch, head, sig } => {
                self.window.push((record.seq, hash, epoch_now));
                if self.summary.unproven.is_none() {
                    match self.check_checkpoint(record, *epoch, head, sig) {
                        Ok(()) => {
                            self.summary.checkpoints += 1;
                            self.summary.proven = Some(Proven {
                                seq: head.seq,
                                epoch: *epoch,
                                time: record.wall.clone(),
                                checkpoint: record.seq,
                            });
                            // The checkpoint's own record is proven by its signature for
                            // what it signs, and by the next checkpoint as a whole.
                            self.window.retain(|w| w.0 > record.seq);
                            self.signed.retain(|&s| s > record.seq);
                        }
                        Err(why) => self.fail(record.seq, why),
                    }
                }
            }
            _ => self.window.push((record.seq, hash, epoch_now)),
        }
        self.prev = Some((record.seq, hash));
    }

    fn check_checkpoint(
        &self,
        record: &Record,
        epoch: u64,
        head: &Head,
        sig: &str,
    ) -> Result<(), String> {
        let Some((cur, key)) = self.current else {
            return Err(format!(
                "a checkpoint of epoch {epoch}, but no valid key statement introduced an epoch before it"
            ));
        };
        if epoch != cur {
            return Err(format!(
                "a checkpoint of epoch {epoch}, but the current epoch is {cur}"
            ));
        }
        match self.prev {
            Some((seq, hash)) if seq == head.seq && hash == head.hash => {}
            Some((seq, hash)) => {
                return Err(format!(
                    "the checkpoint names record {} with hash {}, but the record before it is {seq} with hash {hash}",
                    head.seq, head.hash
                ));
            }
            None => {
                return Err("a checkpoint of nothing (the first record walked)".into());
            }
        }
        let sig = parse_sig(sig)?;
        key.verify(
            checkpoint_text(&self.store, epoch, head, &record.wall).as_bytes(),
            &sig,
        )
        .map_err(|_| format!("the checkpoint's signature does not verify with epoch {epoch}'s key"))
    }

    /// The facts found.
    pub fn finish(mut self) -> SealSummary {
        // A root was named, and nothing in the chain is signed by it: nothing is proven.
        if self.expected.is_some()
            && self.summary.statements == 0
            && self.summary.unproven.is_none()
            && let Some(&(first, _, _)) = self.window.first()
        {
            self.summary.unproven = Some(Unproven {
                first,
                epoch: 0,
                at: first,
                why: "no key statement in the chain: nothing is signed by the given root (the store was written without a signing state)".into(),
            });
        }
        if self.summary.unproven.is_none()
            && let (Some(first), Some(last)) = (self.window.first(), self.window.last())
        {
            self.summary.unsealed = Some((first.0, last.0));
        }
        self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{FORMAT_V2, Host};

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    struct Chain {
        records: Vec<(Record, Sha256)>,
    }

    impl Chain {
        fn push(&mut self, event: Event) -> Head {
            let (seq, prev) = self
                .records
                .last()
                .map_or((1, Sha256::ZERO), |(r, h)| (r.seq + 1, *h));
            let r = Record {
                v: FORMAT_V2,
                seq,
                prev,
                store: "s1".into(),
                wall: format!("2026-01-01T00:00:{seq:02}Z"),
                mono_ns: seq,
                host: Host {
                    hostname: "h".into(),
                    machine_id: String::new(),
                    boot_id: String::new(),
                },
                event,
            };
            let h = r.hash();
            self.records.push((r, h));
            Head { seq, hash: h }
        }
        fn head(&self) -> Head {
            let (r, h) = self.records.last().unwrap();
            Head {
                seq: r.seq,
                hash: *h,
            }
        }
        fn checkpoint(&mut self, k: &SigningKey, epoch: u64) {
            let head = self.head();
            let time = format!("2026-01-01T00:00:{:02}Z", head.seq + 1);
            self.push(sign_checkpoint(k, "s1", epoch, head, &time));
        }
        fn walk(&self, fp: Option<&str>) -> SealSummary {
            let mut w = SealWalk::new("s1", fp);
            for (r, h) in &self.records {
                w.record(r, *h);
            }
            w.finish()
        }
    }

    fn sample() -> (Chain, SigningKey) {
        let root = key(1);
        let mut c = Chain { records: vec![] };
        c.push(sign_statement(&root, 1, &key(11).verifying_key(), None));
        c.push(Event::Heartbeat {});
        c.checkpoint(&key(11), 1);
        let head = c.head();
        c.push(sign_statement(
            &key(11),
            2,
            &key(12).verifying_key(),
            Some(head),
        ));
        c.push(Event::Heartbeat {});
        c.checkpoint(&key(12), 2);
        c.push(Event::Heartbeat {});
        (c, root)
    }

    #[test]
    fn texts_are_exact() {
        let h = Head {
            seq: 5,
            hash: Sha256::ZERO,
        };
        assert_eq!(
            statement_text(2, "QUJD", Some(&h)),
            format!(
                "logkeep epoch\nepoch 2\nkey QUJD\nhead 5 {}\n",
                "0".repeat(64)
            )
        );
        assert_eq!(
            statement_text(1, "QUJD", None),
            "logkeep epoch\nepoch 1\nkey QUJD\nhead none\n"
        );
        assert_eq!(
            checkpoint_text("ab", 3, &h, "2026-01-01T00:00:00Z"),
            format!(
                "logkeep checkpoint\nstore ab\nepoch 3\nhead 5 {}\ntime 2026-01-01T00:00:00Z\n",
                "0".repeat(64)
            )
        );
        assert_eq!(unb64("QUJD").as_deref(), Some(&b"ABC"[..]));
        assert_eq!(unb64("QUJD\n"), None);
    }

    #[test]
    fn an_untouched_chain_is_proven_up_to_its_last_checkpoint() {
        let (c, root) = sample();
        let fp = crate::bundle::fingerprint(&root.verifying_key());
        let s = c.walk(Some(&fp));
        assert_eq!(s.unproven, None);
        assert_eq!(s.statements, 2);
        assert_eq!(s.checkpoints, 2);
        assert_eq!(s.epoch, 2);
        assert_eq!(s.proven.as_ref().map(|p| (p.seq, p.epoch)), Some((5, 2)));
        assert_eq!(s.unsealed, Some((7, 7)));
        let s = c.walk(None);
        assert!(!s.fingerprint_checked);
        assert_eq!(s.root_fingerprint, Some(fp));
    }

    #[test]
    fn a_chain_without_statements_proves_nothing_against_a_fingerprint() {
        let mut c = Chain { records: vec![] };
        c.push(Event::Heartbeat {});
        let s = c.walk(None);
        assert_eq!((s.unproven, s.unsealed), (None, Some((1, 1))));
        let fp = crate::bundle::fingerprint(&key(1).verifying_key());
        let u = c.walk(Some(&fp)).unproven.expect("fails");
        assert_eq!((u.first, u.epoch), (1, 0));
    }

    #[test]
    fn another_root_is_refused() {
        let (c, _) = sample();
        let other = crate::bundle::fingerprint(&key(9).verifying_key());
        let s = c.walk(Some(&other));
        let u = s.unproven.expect("fails");
        assert_eq!((u.first, u.at, u.epoch), (1, 1, 0));
        assert!(u.why.contains("not by the root"), "{}", u.why);
    }

    #[test]
    fn a_forged_record_re_signed_with_a_later_key_is_not_proven() {
        let (mut c, _) = sample();
        // Rewrite record 2 (epoch 1) and re-chain everything after it; the thief holds epoch
        // 2's key and re-signs the checkpoints of epoch 2, and forges epoch 1's checkpoint
        // with epoch 2's key.
        let old = std::mem::take(&mut c.records);
        for (r, _) in old {
            let mut event = r.event.clone();
            if r.seq == 2 {
                event = Event::Stop {
                    reason: "forged".into(),
                };
            }
            if let Event::Checkpoint { epoch, .. } = event {
                c.checkpoint(&key(12), epoch);
                continue;
            }
            c.push(event);
        }
        let s = c.walk(None);
        let u = s.unproven.expect("fails");
        assert_eq!((u.first, u.epoch, u.at), (2, 1, 3), "{}", u.why);
    }

    #[test]
    fn a_checkpoint_of_the_wrong_epoch_and_a_skipped_epoch_fail() {
        let (mut c, _) = sample();
        c.checkpoint(&key(11), 1);
        let u = c.walk(None).unproven.expect("fails");
        assert_eq!((u.first, u.epoch, u.at), (7, 2, 8));
        let (mut c, _) = sample();
        let head = c.head();
        c.push(sign_statement(
            &key(12),
            4,
            &key(14).verifying_key(),
            Some(head),
        ));
        let u = c.walk(None).unproven.expect("fails");
        assert!(u.why.contains("introduces epoch 4, not 3"), "{}", u.why);
    }
}
