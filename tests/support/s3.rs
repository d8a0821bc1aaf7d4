//! The S3 test server (a real Ceph RADOS Gateway, `scripts/s3-server`) as the remote tests
//! use it: one server per test run, started by `scripts/test`, found through the directory
//! `LOGKEEP_TEST_S3` names. Without it the tests fail saying how to start it.

use logkeep_remote::{Client, Credentials};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The running test server.
pub struct S3 {
    /// Its state directory (pid files, `env`).
    pub dir: PathBuf,
    env: HashMap<String, String>,
}

/// The test server, or a failure that says how to start it.
pub fn server() -> S3 {
    let dir = std::env::var_os("LOGKEEP_TEST_S3").unwrap_or_else(|| {
        panic!(
            "LOGKEEP_TEST_S3 is not set: the remote tests need the S3 test server (a Ceph RADOS \
             Gateway; Debian packages ceph-mon ceph-osd radosgw ceph-common). scripts/test starts \
             it; by hand: `scripts/s3-server start /tmp/s3 && export LOGKEEP_TEST_S3=/tmp/s3`"
        )
    });
    let dir = PathBuf::from(dir);
    let text = std::fs::read_to_string(dir.join("env")).unwrap_or_else(|e| {
        panic!(
            "{}/env: {e}: start the S3 test server with `scripts/s3-server start {}`",
            dir.display(),
            dir.display()
        )
    });
    let env = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    S3 { dir, env }
}

impl S3 {
    /// A setting of `env` (`S3_ENDPOINT`, ...).
    pub fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("the S3 test server's env has no {key}"))
    }

    /// Write a credentials file (mode 0600) at `path`, with `secret` or the right one.
    pub fn credentials(&self, path: &Path, secret: Option<&str>) {
        std::fs::write(
            path,
            format!(
                "access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
                self.get("S3_ACCESS_KEY"),
                secret.unwrap_or(self.get("S3_SECRET_KEY"))
            ),
        )
        .expect("credentials file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }

    /// A `[[remote]]` table for gateway `endpoint_key` (`S3_ENDPOINT` or `S3_ENDPOINT_B`),
    /// `bucket_key`, a prefix of its own, credentials in `creds`.
    pub fn remote_toml(&self, endpoint_key: &str, bucket_key: &str, prefix: &str) -> String {
        format!(
            "\n[[remote]]\nid = \"central\"\nendpoint = \"{}\"\nbucket = \"{}\"\nprefix = \"{prefix}\"\ncredentials = \"creds\"\nretention = \"1h\"\ntimeout = \"2s\"\n",
            self.get(endpoint_key),
            self.get(bucket_key)
        )
    }

    /// A client of the locked bucket with the host's own credentials.
    pub fn client(&self) -> Client {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("creds");
        self.credentials(&p, None);
        Client::new(
            self.get("S3_ENDPOINT"),
            self.get("S3_BUCKET"),
            self.get("S3_REGION"),
            Credentials::from_file(&p).expect("credentials"),
            Duration::from_secs(10),
        )
        .expect("client")
    }

    /// The pid of gateway `gw` (`a` or `b`).
    pub fn gateway_pid(&self, gw: &str) -> i32 {
        std::fs::read_to_string(self.dir.join(format!("client.rgw.{gw}.pid")))
            .expect("gateway pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    /// `scripts/s3-server ACTION DIR b`.
    pub fn gateway_b(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3-server");
        let st = std::process::Command::new(script)
            .arg(action)
            .arg(&self.dir)
            .arg("b")
            .status()
            .expect("scripts/s3-server");
        assert!(st.success(), "scripts/s3-server {action} failed");
    }
}

/// A key prefix no other test uses.
pub fn unique_prefix(what: &str) -> String {
    let n = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("time")
        .as_nanos();
    format!("{what}-{n}/")
}
