//! The client against a real Ceph RADOS Gateway (`scripts/s3-server`, started by
//! `scripts/test`): object-locked uploads read back, a delete of a locked version refused, a
//! bucket without object lock told apart, wrong credentials and damaged files refused, a
//! 200 MB multipart upload with bounded memory.

use logkeep_remote::{Client, Credentials, Lock, LockMode};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::time::{Duration, SystemTime};

/// The test server's settings, from the directory `LOGKEEP_TEST_S3` names.
fn server() -> std::collections::HashMap<String, String> {
    let dir = std::env::var("LOGKEEP_TEST_S3").unwrap_or_else(|_| {
        panic!("LOGKEEP_TEST_S3 is not set: these tests need the S3 test server; run scripts/test, or start it with `scripts/s3-server start DIR` and export LOGKEEP_TEST_S3=DIR")
    });
    let text = std::fs::read_to_string(format!("{dir}/env")).unwrap_or_else(|e| {
        panic!("{dir}/env: {e}; start the server with `scripts/s3-server start {dir}`")
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn creds(s: &std::collections::HashMap<String, String>, secret: Option<&str>) -> Credentials {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c");
    std::fs::write(
        &p,
        format!(
            "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            s["S3_ACCESS_KEY"],
            secret.unwrap_or(&s["S3_SECRET_KEY"])
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    Credentials::from_file(&p).unwrap()
}

fn client(bucket: &str, secret: Option<&str>) -> Client {
    let s = server();
    Client::new(
        &s["S3_ENDPOINT"],
        &s[bucket],
        &s["S3_REGION"],
        creds(&s, secret),
        Duration::from_secs(10),
    )
    .unwrap()
}

fn unique(name: &str) -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("client-test-{n}/{name}")
}

fn lock(mode: LockMode) -> Lock {
    Lock {
        mode,
        until: SystemTime::now() + Duration::from_secs(3600),
    }
}

#[test]
fn an_upload_is_locked_read_back_and_cannot_be_deleted() {
    let c = client("S3_BUCKET", None);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b"evidence bytes\n").unwrap();
    let sha: [u8; 32] = Sha256::digest(b"evidence bytes\n").into();
    let key = unique("chain/0000000000000001.json");
    let l = lock(LockMode::Compliance);
    let info = c.put_file(&key, &f, &sha, &l).unwrap();
    assert_eq!(info.size, 15);
    assert_eq!(info.lock_mode.as_deref(), Some("COMPLIANCE"));
    let version = info
        .version
        .clone()
        .expect("a versioned bucket names the version");
    // The host's own credentials cannot delete the locked version.
    let e = c.delete_version(&key, &version).unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"), "{e}");
    let mut back = Vec::new();
    c.get(&key, 15, &mut back).unwrap();
    assert_eq!(back, b"evidence bytes\n");
    // The listing finds it.
    let mut seen = Vec::new();
    c.list(key.rsplit_once('/').unwrap().0, None, |l| {
        seen.push(l);
        Ok(())
    })
    .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].key, key);
    // A file whose bytes are not the SHA-256 the caller expects is refused by the server.
    let bad: [u8; 32] = Sha256::digest(b"other").into();
    let e = c.put_file(&unique("x"), &f, &bad, &l).unwrap_err();
    assert_eq!(e.code(), Some("XAmzContentSHA256Mismatch"), "{e}");
    // A read-back that does not match what was meant is an error: a longer retention than
    // the object holds.
    let longer = Lock {
        mode: LockMode::Compliance,
        until: l.until + Duration::from_secs(86400),
    };
    let e = c
        .check(&key, &info, 15, &sha, &info.etag, &longer)
        .unwrap_err();
    assert!(e.to_string().contains("retained until"), "{e}");
    let e = c.check(&key, &info, 16, &sha, &info.etag, &l).unwrap_err();
    assert!(e.to_string().contains("holds 15 bytes"), "{e}");
}

#[test]
fn governance_is_deletable_only_with_bypass_and_compliance_never() {
    let c = client("S3_BUCKET", None);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, b"g").unwrap();
    let sha: [u8; 32] = Sha256::digest(b"g").into();
    let key = unique("g");
    let info = c
        .put_file(&key, &f, &sha, &lock(LockMode::Governance))
        .unwrap();
    assert_eq!(info.lock_mode.as_deref(), Some("GOVERNANCE"));
    let e = c
        .delete_version(&key, info.version.as_deref().unwrap())
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"), "{e}");
}

#[test]
fn object_lock_is_told_apart_and_wrong_credentials_are_named() {
    assert!(client("S3_BUCKET", None).object_lock_enabled().unwrap());
    assert!(
        !client("S3_PLAIN_BUCKET", None)
            .object_lock_enabled()
            .unwrap()
    );
    let e = client("S3_BUCKET", Some("wrong-secret"))
        .object_lock_enabled()
        .unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"), "{e}");
    assert!(e.to_string().contains("/evidence"), "{e}");
}

/// Peak resident memory of this process, in KiB.
fn peak_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_200_mb_file_goes_up_in_parts_with_bounded_memory() {
    let c = client("S3_BUCKET", None);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big");
    let mut sha = Sha256::new();
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&f).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..200u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (i as usize * 31 + j * 7) as u8;
            }
            sha.update(&block);
            w.write_all(&block).unwrap();
        }
    }
    let sha: [u8; 32] = sha.finalize().into();
    let before = peak_kib();
    let key = unique("segments/big.tar.zst");
    let info = c
        .put_file(&key, &f, &sha, &lock(LockMode::Compliance))
        .unwrap();
    assert_eq!(info.size, 200 << 20);
    assert!(
        info.etag.ends_with("-13"),
        "13 parts of 16 MiB: {}",
        info.etag
    );
    let grew = peak_kib().saturating_sub(before);
    assert!(
        grew < 48 << 10,
        "memory grew by {grew} KiB uploading 200 MB"
    );
    // Read back through a hash, not into memory.
    struct H(Sha256);
    impl Write for H {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = H(Sha256::new());
    assert_eq!(c.get(&key, 200 << 20, &mut h).unwrap(), 200 << 20);
    assert_eq!(<[u8; 32]>::from(h.0.finalize()), sha);
}
