//! Remotes with the real daemon against a real Ceph RADOS Gateway: copies locked against
//! deletion and read back, a store pulled back whole from the bucket, a restart that resumes
//! where the listing says, an outage (the gateway stopped with SIGSTOP, then killed and
//! restarted) caught up while capture goes on, refused credentials and a bucket without
//! Object Lock named, and a rolled-back store caught against the remote.

use crate::support::media::extracted;
use crate::support::rng::noise;
use crate::support::s3::{S3, server, unique_prefix};
use crate::support::*;
use std::fs;

/// A site with one source and one remote; its credentials file is written (`secret`: a wrong
/// one instead of the server's).
fn remote_site(s3: &S3, endpoint: &str, bucket: &str, secret: Option<&str>) -> (Site, String) {
    let prefix = unique_prefix("host");
    let cfg = format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\nsegment_max_bytes = \"16KiB\"\n\
         [control]\nsocket = \"control.sock\"\n\
         [[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n{}",
        s3.remote_toml(endpoint, bucket, &prefix)
    );
    let site = Site::new(&cfg);
    s3.credentials(&site.path("creds"), secret);
    (site, prefix)
}

/// The daemon's state of its one remote, from `status --json`.
fn remote_state(site: &Site) -> Option<serde_json::Value> {
    let run = logkeep(&[
        "status".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    if run.code != 0 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&run.stdout).ok()?;
    Some(v["remotes"][0].clone())
}

/// Wait until the remote holds, read back, every record the store has.
fn wait_remote_caught_up(site: &mut Site) {
    site.wait_until(60, "the remote to hold every record", |s| {
        let head = records(&s.store()).len() as u64;
        remote_state(s).is_some_and(|r| r["behind"] == 0 && r["head"]["seq"] == head)
    });
}

fn count(site: &Site, needle: &str) -> usize {
    record_texts(&site.store())
        .iter()
        .filter(|r| r.contains(needle))
        .count()
}

fn pull(site: &Site, out: &std::path::Path) -> Run {
    logkeep(&[
        "remote".as_ref(),
        "pull".as_ref(),
        "central".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ])
}

#[test]
fn copies_are_locked_pulled_back_whole_resumed_by_listing_and_witness_a_rollback() {
    let s3 = server();
    let (mut site, prefix) = remote_site(&s3, "S3_ENDPOINT", "S3_BUCKET", None);
    let run = logkeep(&[
        "check-config".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("the bucket has Object Lock enabled"),
        "{run}"
    );
    let mut written = noise(60_000, 11);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"kind\":\"remote\"");
    wait_remote_caught_up(&mut site);
    site.term();
    let first_run = records(&site.store()).len() as u64;

    // A restart finds where the remote stands by listing it, and copies on from there: what
    // the first run copied is neither uploaded again nor taken on trust from a local note.
    let more = noise(30_000, 12);
    site.append("a.log", &more);
    written.extend_from_slice(&more);
    site.start();
    wait_remote_caught_up(&mut site);
    let caught = record_texts(&site.store())
        .into_iter()
        .rfind(|r| r.contains("\"what\":\"caught_up\"") && r.contains("\"kind\":\"remote\""))
        .expect("a caught_up record of the second run");
    let v: serde_json::Value = serde_json::from_str(&caught).expect("record");
    let detail = v["event"]["detail"].as_str().expect("detail");
    let uploaded: u64 = detail
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("count");
    assert!(
        uploaded < records(&site.store()).len() as u64 - first_run + 4,
        "the second run uploaded {uploaded} records; the first had copied all but its stop record of {first_run}: {detail}"
    );
    let run = logkeep(&[
        "remote".as_ref(),
        "list".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.contains("reachable; holds records 1 to"),
        "{run}"
    );
    site.term();

    // Every object is locked, and the host's own credentials cannot delete a locked version.
    let client = s3.client();
    let key = format!("{prefix}{}", record_rel(&site.store(), 1));
    let info = client.head(&key).expect("head").expect("record 1 is there");
    assert_eq!(info.lock_mode.as_deref(), Some("COMPLIANCE"));
    let err = client
        .delete_version(&key, info.version.as_deref().expect("version"))
        .expect_err("a locked version cannot be deleted");
    assert_eq!(err.code(), Some("AccessDenied"), "{err}");
    assert_eq!(
        client.head(&key).expect("head"),
        Some(info),
        "the locked version stays"
    );

    // The investigator's way in: a store pulled from the bucket verifies and extracts byte for
    // byte, on a directory of its own.
    let out = tempfile::tempdir().expect("tmp");
    let pulled = out.path().join("pulled");
    let run = pull(&site, &pulled);
    assert_eq!(run.code, 0, "{run}");
    let (code, text) = verify(&pulled, &[]).code_and_text();
    assert_eq!(code, 0, "{text}");
    assert_eq!(extracted(&pulled, "a.log"), written);

    // A store cut short after the remote copied it is caught against the remote.
    let rolled = site.path("rolled");
    copy_tree(&site.store(), &rolled);
    let recs = record_files(&rolled);
    for r in recs.iter().rev().take(4) {
        fs::remove_file(r).expect("remove record");
    }
    fs::remove_file(rolled.join("head.json")).expect("remove head.json");
    for s in segment_files(&rolled) {
        let name = file_name(&s);
        let (seq, _) = logkeep_format::layout::parse_segment_name(&name).expect("segment name");
        if !record_path(&rolled, seq).exists() {
            fs::remove_file(&s).expect("remove segment");
        }
    }
    let (code, text) = verify(&rolled, &[]).code_and_text();
    assert_eq!(code, 0, "a cleanly cut store verifies on its own: {text}");
    let config = site.config();
    let against = [
        "--against-remote",
        "central",
        "--config",
        config.to_str().expect("utf-8"),
    ];
    let (code, text) = verify(&rolled, &against).code_and_text();
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("truncated or rolled back"), "{text}");
    let (code, text) = verify(&site.store(), &against).code_and_text();
    assert_eq!(
        code, 0,
        "the store itself reaches the remote's head: {text}"
    );
}

/// Continues and restarts gateway `b` however the test ends, so that no later test finds it
/// stopped.
struct Revive<'a>(&'a S3);

impl Drop for Revive<'_> {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.0.gateway_pid("b")).expect("pid"),
            rustix::process::Signal::CONT,
        );
    }
}

#[test]
fn an_outage_is_retried_and_caught_up_while_capture_goes_on() {
    let s3 = server();
    let (mut site, _) = remote_site(&s3, "S3_ENDPOINT_B", "S3_BUCKET", None);
    let mut written = noise(20_000, 21);
    site.append("a.log", &written);
    site.start();
    wait_remote_caught_up(&mut site);
    let _revive = Revive(&s3);

    // The gateway hangs (SIGSTOP): uploads time out, capture goes on.
    let pid = rustix::process::Pid::from_raw(s3.gateway_pid("b")).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP");
    let before = count(&site, "\"kind\":\"segment\"");
    let more = noise(40_000, 22);
    site.append("a.log", &more);
    written.extend_from_slice(&more);
    site.wait_record("\"what\":\"failed\"");
    site.wait_until(30, "capture to go on during the outage", |s| {
        count(s, "\"kind\":\"segment\"") > before
    });
    let state = remote_state(&site).expect("status");
    assert!(
        state["state"]
            .as_str()
            .is_some_and(|s| s.starts_with("failed")),
        "{state}"
    );
    assert!(state["behind"].as_u64().is_some_and(|b| b > 0), "{state}");
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT");
    site.wait_record("\"what\":\"recovered\"");
    wait_remote_caught_up(&mut site);

    // The gateway is killed and started again.
    s3.gateway_b("rgw-stop");
    let more = noise(30_000, 23);
    site.append("a.log", &more);
    written.extend_from_slice(&more);
    site.wait_until(60, "a second failure", |s| {
        count(s, "\"what\":\"failed\"") >= 2
    });
    s3.gateway_b("rgw-start");
    site.wait_until(60, "a second recovery", |s| {
        count(s, "\"what\":\"recovered\"") >= 2
    });
    wait_remote_caught_up(&mut site);
    site.term();

    // Nothing lost or doubled: the pulled store verifies and holds every byte exactly once.
    let out = tempfile::tempdir().expect("tmp");
    let pulled = out.path().join("pulled");
    let run = pull(&site, &pulled);
    assert_eq!(run.code, 0, "{run}");
    let (code, text) = verify(&pulled, &[]).code_and_text();
    assert_eq!(code, 0, "{text}");
    assert_eq!(extracted(&pulled, "a.log"), written);
}

#[test]
fn refused_credentials_a_readable_secret_and_a_bucket_without_lock_are_named() {
    let s3 = server();
    let check = |site: &Site| {
        logkeep(&[
            "check-config".as_ref(),
            "--config".as_ref(),
            site.config().as_os_str(),
        ])
    };
    // Wrong secret: check-config names the server's refusal; the daemon captures anyway and
    // records the failure, never the secret.
    let (mut site, _) = remote_site(&s3, "S3_ENDPOINT", "S3_BUCKET", Some("not-the-secret"));
    let run = check(&site);
    assert_ne!(run.code, 0, "{run}");
    assert!(run.text().contains("SignatureDoesNotMatch"), "{run}");
    assert!(!run.text().contains("not-the-secret"), "{run}");
    site.append("a.log", &noise(5_000, 31));
    site.start();
    site.wait_record("\"what\":\"failed\"");
    site.wait_record("\"kind\":\"segment\"");
    let failed = record_texts(&site.store())
        .into_iter()
        .find(|r| r.contains("\"what\":\"failed\""))
        .expect("failed record");
    assert!(failed.contains("SignatureDoesNotMatch"), "{failed}");
    assert!(!failed.contains("not-the-secret") && !site.stderr().contains("not-the-secret"));
    site.term();

    // A credentials file others can read is refused, naming its mode.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(site.path("creds"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = check(&site);
    assert_ne!(run.code, 0, "{run}");
    assert!(run.text().contains("mode 0644"), "{run}");

    // A bucket without Object Lock is refused.
    let (site, _) = remote_site(&s3, "S3_ENDPOINT", "S3_PLAIN_BUCKET", None);
    let run = check(&site);
    assert_ne!(run.code, 0, "{run}");
    assert!(
        run.text().contains("does not have Object Lock enabled"),
        "{run}"
    );
}

#[test]
fn retention_counts_a_remote_as_a_copy() {
    let s3 = server();
    let prefix = unique_prefix("host");
    let cfg = format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\nsegment_max_bytes = \"16KiB\"\nretain_local = \"1s\"\nmin_copies = 1\n\
         [control]\nsocket = \"control.sock\"\n\
         [[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n{}",
        s3.remote_toml("S3_ENDPOINT", "S3_BUCKET", &prefix)
    );
    let mut site = Site::new(&cfg);
    s3.credentials(&site.path("creds"), None);
    let written = noise(40_000, 41);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"kind\":\"pruned\"");
    let pruned = record_texts(&site.store())
        .into_iter()
        .find(|r| r.contains("\"kind\":\"pruned\""))
        .expect("pruned record");
    let v: serde_json::Value = serde_json::from_str(&pruned).expect("record");
    assert_eq!(
        v["event"]["media"],
        serde_json::json!(["central"]),
        "{pruned}"
    );
    let file = v["event"]["file"].as_str().expect("file");
    assert!(!segment_path(&site.store(), file).exists());
    wait_remote_caught_up(&mut site);
    site.term();
    // The remote still holds what the store let go: pulled back, every byte is there.
    let out = tempfile::tempdir().expect("tmp");
    let pulled = out.path().join("pulled");
    let run = pull(&site, &pulled);
    assert_eq!(run.code, 0, "{run}");
    assert!(segment_path(&pulled, file).exists());
    assert_eq!(extracted(&pulled, "a.log"), written);
}
