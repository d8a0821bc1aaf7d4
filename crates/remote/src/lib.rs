//! An S3 client for off-site copies that nobody on the host can delete: every object is
//! uploaded with Object Lock (`x-amz-object-lock-mode` and `x-amz-object-lock-retain-until-date`
//! on the object itself) and a SHA-256 the server checks, then read back with `HEAD` before the
//! caller may count it as copied.
//!
//! The client is blocking and knows nothing of logkeep's daemon, its store or its chain: it
//! moves named files to keys and back. Requests are signed with AWS Signature Version 4 by the
//! `aws-sigv4` crate (the signer the official SDK uses, without the SDK's runtime), sent with
//! `ureq`, and the few XML answers S3 gives (listings, errors, multipart, the bucket's object
//! lock configuration) are read with `quick-xml`.
//!
//! Which SHA-256 the server checks: every upload is signed with the payload's SHA-256 as
//! `x-amz-content-sha256`, which S3 and Ceph's RADOS Gateway both recompute and refuse on a
//! mismatch (`XAmzContentSHA256Mismatch`); single-part uploads also carry
//! `x-amz-checksum-sha256`, which servers that keep checksums store and return on `HEAD`.
//! The read-back compares that checksum when the server returns it, and the ETag (the MD5 the
//! server computed, of the object or of its parts) otherwise, so a copy counts only when the
//! server holds exactly the bytes sent.
//!
//! ```no_run
//! use logkeep_remote::{Client, Credentials, Lock, LockMode};
//! use std::time::{Duration, SystemTime};
//! let creds = Credentials::from_file("/etc/logkeep/s3.credentials".as_ref())?;
//! let client = Client::new("http://127.0.0.1:7480", "evidence", "us-east-1", creds, Duration::from_secs(30))?;
//! let lock = Lock { mode: LockMode::Compliance, until: SystemTime::now() + Duration::from_secs(86400) };
//! let sha256 = [0u8; 32]; // the file's SHA-256, known beforehand
//! let info = client.put_file("host-1/chain/0000000000000001.json", "chain/0000000000000001.json".as_ref(), &sha256, &lock)?;
//! assert!(info.size > 0);
//! # Ok::<(), logkeep_remote::Error>(())
//! ```

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

mod xml;

/// Objects larger than this go up in parts of this size (S3 allows at most 10,000 parts, so one
/// object may be up to about 156 GiB; segments are far smaller).
pub const PART_SIZE: u64 = 16 << 20;

/// An error from the remote, naming the endpoint, key or file it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached or did not answer in time.
    #[error("{endpoint}: unreachable: {what}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// Why.
        what: String,
    },
    /// The server answered with an error status.
    #[error("{target}: {status} {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Server {
        /// Bucket and key (or bucket alone).
        target: String,
        /// HTTP status.
        status: u16,
        /// The S3 error code (`AccessDenied`, `RequestTimeTooSkewed`, ...), or the status text.
        code: String,
        /// The server's message, if any.
        message: String,
    },
    /// An object is not what was uploaded, or an answer does not make sense.
    #[error("{target}: {what}")]
    Mismatch {
        /// Bucket and key.
        target: String,
        /// What differs.
        what: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The credentials are missing or unusable.
    #[error("{where_}: {what}")]
    Credentials {
        /// The file, or the environment.
        where_: String,
        /// Why.
        what: String,
    },
}

impl Error {
    /// The S3 error code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// S3 credentials. Never printed: `Debug` shows only the access key id.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    secret_access_key: String,
    /// A session token, for temporary credentials.
    #[serde(default)]
    session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Read a credentials file (TOML: `access_key_id`, `secret_access_key`, optionally
    /// `session_token`). The file must be readable by its owner alone (mode 0600 or 0400):
    /// a secret others can read is refused, naming the mode.
    pub fn from_file(path: &Path) -> Result<Credentials, Error> {
        let err = |what: String| Error::Credentials {
            where_: path.display().to_string(),
            what,
        };
        let mut file = File::open(path).map_err(|e| err(e.to_string()))?;
        let meta = file.metadata().map_err(|e| err(e.to_string()))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "mode {mode:04o} lets others read the secret; make it 0600 (chmod 600 {})",
                path.display()
            )));
        }
        if meta.len() > 64 << 10 {
            return Err(err("larger than 64 KiB: not a credentials file".into()));
        }
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| err(e.to_string()))?;
        // The parser's message quotes the offending line, which may hold the secret: say only
        // where it is.
        let creds: Credentials = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| format!(" at line {}", text[..s.start].lines().count().max(1)))
                .unwrap_or_default();
            err(format!(
                "not a credentials file{at} (TOML with access_key_id and secret_access_key)"
            ))
        })?;
        if creds.access_key_id.is_empty() || creds.secret_access_key.is_empty() {
            return Err(err(
                "access_key_id and secret_access_key must not be empty".into()
            ));
        }
        Ok(creds)
    }

    /// The standard AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`), if the first two are set.
    pub fn from_env() -> Option<Credentials> {
        let id = std::env::var("AWS_ACCESS_KEY_ID").ok()?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok()?;
        Some(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        })
    }
}

/// The Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Nobody, not even the account's root user, can delete or shorten before the date.
    Compliance,
    /// Users with the bypass permission can.
    Governance,
}

impl LockMode {
    /// As S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        }
    }
}

/// The retention an object is uploaded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    /// Mode.
    pub mode: LockMode,
    /// Retain until (whole seconds are kept).
    pub until: SystemTime,
}

/// What `HEAD` says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// ETag, without quotes.
    pub etag: String,
    /// `x-amz-checksum-sha256`, if the server keeps checksums.
    pub sha256: Option<String>,
    /// Lock mode, as the server says it.
    pub lock_mode: Option<String>,
    /// Retain-until, as the server says it.
    pub lock_until: Option<SystemTime>,
    /// The version id.
    pub version: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The full key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A blocking S3 client for one bucket (path-style addressing, so any endpoint works).
pub struct Client {
    endpoint: String,
    bucket: String,
    region: String,
    creds: Credentials,
    timeout: Duration,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// A key is used as written in the URL path: only characters that need no escaping.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 1024
        && !key.starts_with('/')
        && !key.split('/').any(|p| p == "." || p == "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b))
}

enum Body<'a> {
    Empty,
    /// No body; the answer's body is expected to be about this many bytes (a download).
    Expect(u64),
    Bytes(&'a [u8]),
    Reader(&'a mut dyn Read, u64),
}

impl Client {
    /// A client for `bucket` at `endpoint` (`http://` or `https://`, no path). `timeout` bounds
    /// connecting and every wait for an answer; an upload may take longer in proportion to its
    /// size.
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        creds: Credentials,
        timeout: Duration,
    ) -> Result<Client, Error> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let bad = |what: &str| Error::Mismatch {
            target: endpoint.clone(),
            what: what.into(),
        };
        let rest = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"))
            .ok_or_else(|| bad("the endpoint must start with http:// or https://"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(bad("the endpoint must be a scheme, a host and a port only"));
        }
        if bucket.is_empty()
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
        {
            return Err(bad(
                "the bucket name must be lower-case letters, digits, - and .",
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout.max(Duration::from_secs(1)) * 4))
            .build()
            .into();
        Ok(Client {
            endpoint,
            bucket: bucket.into(),
            region: region.into(),
            creds,
            timeout,
            agent,
        })
    }

    /// The endpoint, as configured.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn target(&self, key: &str) -> String {
        if key.is_empty() {
            format!("{}/{}", self.endpoint, self.bucket)
        } else {
            format!("{}/{}/{key}", self.endpoint, self.bucket)
        }
    }

    /// Sign and send one request. `query` is already encoded; `payload` is the hex SHA-256 of
    /// the body (`None`: the body is empty).
    fn send(
        &self,
        method: &str,
        key: &str,
        query: &str,
        headers: &[(&str, String)],
        payload: Option<&str>,
        body: Body<'_>,
    ) -> Result<http::Response<ureq::Body>, Error> {
        if !key.is_empty() && !valid_key(key) {
            return Err(Error::Mismatch {
                target: self.target(key),
                what: "not a key logkeep writes".into(),
            });
        }
        let mut url = self.target(key);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let payload = payload.unwrap_or(EMPTY).to_owned();
        let mut all: Vec<(&str, String)> = headers.to_vec();
        all.push(("x-amz-content-sha256", payload.clone()));
        let signed = self.sign(method, &url, &all, &payload)?;
        let mut req = http::Request::builder().method(method).uri(&url);
        for (k, v) in all
            .iter()
            .map(|(k, v)| (*k, v))
            .chain(signed.iter().map(|(k, v)| (*k, v)))
        {
            req = req.header(k, v.as_str());
        }
        let size = match &body {
            Body::Empty | Body::Expect(_) => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Reader(_, n) => *n,
        };
        if method == "PUT" || method == "POST" {
            req = req.header("content-length", size.to_string());
        }
        // Sending may take as long as the bytes need at a slow 256 KiB/s, and the timeout more.
        let send_time = self.timeout + Duration::from_secs(size >> 18);
        // Receiving likewise, for a download.
        let expect = if let Body::Expect(n) = body { n } else { 0 };
        let recv_time =
            self.timeout.max(Duration::from_secs(1)) * 4 + Duration::from_secs(expect >> 18);
        let unreachable = |e: ureq::Error| Error::Unreachable {
            endpoint: self.endpoint.clone(),
            what: e.to_string(),
        };
        let result = match body {
            Body::Empty | Body::Expect(_) => {
                let req = req.body(()).map_err(|e| self.mismatch(key, e))?;
                self.agent
                    .configure_request(req)
                    .timeout_send_body(Some(send_time))
                    .timeout_recv_body(Some(recv_time))
                    .build()
                    .pipe(|r| self.agent.run(r))
            }
            Body::Bytes(b) => {
                let req = req.body(b.to_vec()).map_err(|e| self.mismatch(key, e))?;
                self.agent
                    .configure_request(req)
                    .timeout_send_body(Some(send_time))
                    .build()
                    .pipe(|r| self.agent.run(r))
            }
            Body::Reader(r, _) => {
                let req = req
                    .body(ureq::SendBody::from_reader(r))
                    .map_err(|e| self.mismatch(key, e))?;
                self.agent
                    .configure_request(req)
                    .timeout_send_body(Some(send_time))
                    .build()
                    .pipe(|r| self.agent.run(r))
            }
        };
        let resp = result.map_err(unreachable)?;
        let status = resp.status().as_u16();
        if status >= 300 {
            return Err(self.server_error(key, resp));
        }
        Ok(resp)
    }

    fn mismatch(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::Mismatch {
            target: self.target(key),
            what: e.to_string(),
        }
    }

    fn server_error(&self, key: &str, mut resp: http::Response<ureq::Body>) -> Error {
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_string()
            .unwrap_or_default();
        let (code, message) = xml::error(&text).unwrap_or_else(|| {
            (
                status.canonical_reason().unwrap_or("error").to_owned(),
                String::new(),
            )
        });
        Error::Server {
            target: self.target(key),
            status: status.as_u16(),
            code,
            message,
        }
    }

    fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        payload: &str,
    ) -> Result<Vec<(&'static str, String)>, Error> {
        use aws_sigv4::http_request::{
            PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
            UriPathNormalizationMode, sign,
        };
        let identity = aws_credential_types::Credentials::new(
            &self.creds.access_key_id,
            &self.creds.secret_access_key,
            self.creds.session_token.clone(),
            None,
            "logkeep",
        )
        .into();
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent (no double encoding, no normalisation).
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| self.mismatch("", e))?
            .into();
        let host = self
            .endpoint
            .split_once("://")
            .map(|(_, h)| h.to_owned())
            .unwrap_or_default();
        let mut with_host: Vec<(&str, &str)> = vec![("host", host.as_str())];
        with_host.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let signable = SignableRequest::new(
            method,
            url,
            with_host.into_iter(),
            SignableBody::Precomputed(payload.to_owned()),
        )
        .map_err(|e| self.mismatch("", e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| self.mismatch("", e))?
            .into_parts();
        let (hs, _) = instructions.into_parts();
        Ok(hs
            .into_iter()
            .filter(|h| h.name() != "x-amz-content-sha256")
            .map(|h| (h.name(), h.value().to_owned()))
            .collect())
    }

    /// Upload the file at `path` to `key` with `lock`. `sha256` is what the caller knows the
    /// file's SHA-256 to be (from the chain): the server refuses the bytes if they differ, so a
    /// file damaged on the local disk is never uploaded as if it were the committed one. Files
    /// larger than [`PART_SIZE`] go up in parts, read from the file twice (once to hash each
    /// part, once to send it), never held in memory. Returns what the read-back found.
    pub fn put_file(
        &self,
        key: &str,
        path: &Path,
        sha256: &[u8; 32],
        lock: &Lock,
    ) -> Result<ObjectInfo, Error> {
        let file_err = |source| Error::File {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(file_err)?;
        let size = file.metadata().map_err(file_err)?.len();
        let until = humantime::format_rfc3339_seconds(lock.until).to_string();
        let lock_headers = [
            ("x-amz-object-lock-mode", lock.mode.as_str().to_owned()),
            ("x-amz-object-lock-retain-until-date", until),
        ];
        let expect_etag = if size <= PART_SIZE {
            let md5 = hash_range(&mut file, 0, size, path)?.1;
            file.seek(SeekFrom::Start(0)).map_err(file_err)?;
            let mut headers = lock_headers.to_vec();
            headers.push((
                "x-amz-checksum-sha256",
                base64::engine::general_purpose::STANDARD.encode(sha256),
            ));
            headers.push((
                "content-md5",
                base64::engine::general_purpose::STANDARD.encode(md5),
            ));
            self.send(
                "PUT",
                key,
                "",
                &headers,
                Some(&hex::encode(sha256)),
                Body::Reader(&mut file, size),
            )?;
            hex::encode(md5)
        } else {
            self.put_multipart(key, &mut file, path, size, sha256, &lock_headers)?
        };
        let missing = || Error::Mismatch {
            target: self.target(key),
            what: "missing right after it was uploaded".into(),
        };
        let mut info = self.head(key)?.ok_or_else(missing)?;
        if info.lock_mode.is_none() && size > PART_SIZE {
            // Some servers (Ceph's RADOS Gateway 16) do not apply the lock headers of a
            // multipart upload: set the retention on the version just made.
            self.put_retention(key, info.version.as_deref(), lock)?;
            info = self.head(key)?.ok_or_else(missing)?;
        }
        self.check(key, &info, size, sha256, &expect_etag, lock)?;
        Ok(info)
    }

    fn put_multipart(
        &self,
        key: &str,
        file: &mut File,
        path: &Path,
        size: u64,
        sha256: &[u8; 32],
        lock_headers: &[(&str, String)],
    ) -> Result<String, Error> {
        let mut resp = self.send("POST", key, "uploads=", lock_headers, None, Body::Empty)?;
        let text = read_small(&mut resp, &self.target(key))?;
        let upload = xml::upload_id(&text).ok_or_else(|| Error::Mismatch {
            target: self.target(key),
            what: "the answer to starting a multipart upload has no UploadId".into(),
        })?;
        let result = (|| {
            let mut whole = Sha256::new();
            let mut md5s = Md5::new();
            let mut parts = Vec::new();
            let mut offset = 0;
            while offset < size {
                let n = PART_SIZE.min(size - offset);
                let (part_sha, part_md5) = hash_range_into(file, offset, n, path, &mut whole)?;
                md5s.update(part_md5);
                file.seek(SeekFrom::Start(offset))
                    .map_err(|source| Error::File {
                        path: path.to_owned(),
                        source,
                    })?;
                let number = parts.len() + 1;
                let mut take = (&mut *file).take(n);
                let resp = self.send(
                    "PUT",
                    key,
                    &format!("partNumber={number}&uploadId={}", encode_query(&upload)),
                    &[],
                    Some(&hex::encode(part_sha)),
                    Body::Reader(&mut take, n),
                )?;
                let etag = resp
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                parts.push((number, etag));
                offset += n;
            }
            let got: [u8; 32] = whole.finalize().into();
            if &got != sha256 {
                return Err(Error::Mismatch {
                    target: path.display().to_string(),
                    what: format!(
                        "hashes to {}, not {}: the local file is damaged",
                        hex::encode(got),
                        hex::encode(sha256)
                    ),
                });
            }
            let body = xml::complete(&parts);
            let payload = hex::encode(Sha256::digest(body.as_bytes()));
            let mut resp = self.send(
                "POST",
                key,
                &format!("uploadId={}", encode_query(&upload)),
                &[],
                Some(&payload),
                Body::Bytes(body.as_bytes()),
            )?;
            // A complete may answer 200 with an error in the body.
            let text = read_small(&mut resp, &self.target(key))?;
            if let Some((code, message)) = xml::error(&text) {
                return Err(Error::Server {
                    target: self.target(key),
                    status: 200,
                    code,
                    message,
                });
            }
            Ok(format!("{}-{}", hex::encode(md5s.finalize()), parts.len()))
        })();
        if result.is_err() {
            // Nothing half-uploaded stays behind when the server can be told.
            let _ = self.send(
                "DELETE",
                key,
                &format!("uploadId={}", encode_query(&upload)),
                &[],
                None,
                Body::Empty,
            );
        }
        result
    }

    /// Whether an object read back by `HEAD` is the one uploaded: size, checksum (or ETag),
    /// lock mode and retain-until date.
    pub fn check(
        &self,
        key: &str,
        info: &ObjectInfo,
        size: u64,
        sha256: &[u8; 32],
        etag: &str,
        lock: &Lock,
    ) -> Result<(), Error> {
        let bad = |what: String| Error::Mismatch {
            target: self.target(key),
            what,
        };
        if info.size != size {
            return Err(bad(format!("holds {} bytes, not {size}", info.size)));
        }
        match &info.sha256 {
            Some(s) => {
                let want = base64::engine::general_purpose::STANDARD.encode(sha256);
                if *s != want {
                    return Err(bad(format!("its SHA-256 is {s}, not {want}")));
                }
            }
            None if info.etag != etag => {
                return Err(bad(format!("its ETag is {}, not {etag}", info.etag)));
            }
            None => {}
        }
        if info.lock_mode.as_deref() != Some(lock.mode.as_str()) {
            return Err(bad(format!(
                "its lock mode is {}, not {}",
                info.lock_mode.as_deref().unwrap_or("none"),
                lock.mode.as_str()
            )));
        }
        let want = secs(lock.until);
        match info.lock_until.map(secs) {
            Some(got) if got >= want => Ok(()),
            got => Err(bad(format!(
                "retained until {}, not {}",
                got.map(|g| humantime::format_rfc3339_seconds(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(g)
                )
                .to_string())
                    .unwrap_or_else(|| "never".into()),
                humantime::format_rfc3339_seconds(lock.until)
            ))),
        }
    }

    /// `HEAD` an object: `None` if there is none.
    pub fn head(&self, key: &str) -> Result<Option<ObjectInfo>, Error> {
        let resp = match self.send(
            "HEAD",
            key,
            "",
            &[("x-amz-checksum-mode", "ENABLED".into())],
            None,
            Body::Empty,
        ) {
            Ok(r) => r,
            Err(Error::Server { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Some(ObjectInfo {
            size: h("content-length")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| self.mismatch(key, "HEAD answered without Content-Length"))?,
            etag: h("etag").unwrap_or_default().trim_matches('"').to_owned(),
            sha256: h("x-amz-checksum-sha256"),
            lock_mode: h("x-amz-object-lock-mode"),
            lock_until: h("x-amz-object-lock-retain-until-date")
                .and_then(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()),
            version: h("x-amz-version-id"),
        }))
    }

    /// Every object whose key starts with `prefix` and sorts after `after` (if given), in key
    /// order, handed to `each` page by page (memory holds one page of 1,000 keys).
    pub fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        mut each: impl FnMut(Listed) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("list-type=2&prefix={}", encode_query(prefix));
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", encode_query(t)));
            } else if let Some(a) = after {
                query.push_str(&format!("&start-after={}", encode_query(a)));
            }
            let mut resp = self.send("GET", "", &query, &[], None, Body::Empty)?;
            let text = read_small(&mut resp, &self.target(""))?;
            let page = xml::list(&text).ok_or_else(|| self.mismatch("", "not a listing"))?;
            for l in page.objects {
                each(l)?;
            }
            match page.next {
                Some(t) if page.truncated => token = Some(t),
                _ => return Ok(()),
            }
        }
    }

    /// Download `key` (about `size` bytes, as its listing said, which bounds how long the
    /// download may take) into `out`, streaming; returns the bytes written.
    pub fn get(&self, key: &str, size: u64, out: &mut dyn Write) -> Result<u64, Error> {
        let mut resp = self.send("GET", key, "", &[], None, Body::Expect(size))?;
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        io::copy(&mut reader, out).map_err(|e| Error::Unreachable {
            endpoint: self.endpoint.clone(),
            what: format!("{}: {e}", self.target(key)),
        })
    }

    /// Download a small object (at most `limit` bytes) into memory.
    pub fn get_small(&self, key: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let mut resp = self.send("GET", key, "", &[], None, Body::Empty)?;
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| self.mismatch(key, e))
    }

    /// Whether the bucket has Object Lock enabled (`GetObjectLockConfiguration`).
    pub fn object_lock_enabled(&self) -> Result<bool, Error> {
        let mut resp = match self.send("GET", "", "object-lock=", &[], None, Body::Empty) {
            Ok(r) => r,
            Err(Error::Server { code, .. }) if code == "ObjectLockConfigurationNotFoundError" => {
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let text = read_small(&mut resp, &self.target(""))?;
        Ok(xml::lock_enabled(&text))
    }

    /// Set the retention of an object's version (`PutObjectRetention`).
    pub fn put_retention(
        &self,
        key: &str,
        version: Option<&str>,
        lock: &Lock,
    ) -> Result<(), Error> {
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
            lock.mode.as_str(),
            humantime::format_rfc3339_seconds(lock.until)
        );
        let mut query = String::from("retention=");
        if let Some(v) = version {
            query.push_str(&format!("&versionId={}", encode_query(v)));
        }
        let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
        let sha = hex::encode(Sha256::digest(body.as_bytes()));
        self.send(
            "PUT",
            key,
            &query,
            &[("content-md5", md5)],
            Some(&sha),
            Body::Bytes(body.as_bytes()),
        )
        .map(drop)
    }

    /// Delete one version of an object (what an intruder with the host's credentials would
    /// try; a locked version is refused by the server).
    pub fn delete_version(&self, key: &str, version: &str) -> Result<(), Error> {
        self.send(
            "DELETE",
            key,
            &format!("versionId={}", encode_query(version)),
            &[],
            None,
            Body::Empty,
        )
        .map(drop)
    }
}

/// Apply a function to a value (keeps the request building readable).
trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn read_small(resp: &mut http::Response<ureq::Body>, target: &str) -> Result<String, Error> {
    resp.body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| Error::Mismatch {
            target: target.into(),
            what: format!("reading the answer: {e}"),
        })
}

/// Percent-encode a query value (everything but the unreserved characters).
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hash_range(
    file: &mut File,
    offset: u64,
    len: u64,
    path: &Path,
) -> Result<([u8; 32], [u8; 16]), Error> {
    let mut ignore = Sha256::new();
    hash_range_into(file, offset, len, path, &mut ignore)
}

/// SHA-256 and MD5 of `len` bytes at `offset`, also fed to `whole`.
fn hash_range_into(
    file: &mut File,
    offset: u64,
    len: u64,
    path: &Path,
    whole: &mut Sha256,
) -> Result<([u8; 32], [u8; 16]), Error> {
    let err = |source| Error::File {
        path: path.to_owned(),
        source,
    };
    file.seek(SeekFrom::Start(offset)).map_err(err)?;
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(err)?;
        if n == 0 {
            return Err(err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "shorter than it was a moment ago",
            )));
        }
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        whole.update(&buf[..n]);
        left -= n as u64;
    }
    Ok((sha.finalize().into(), md5.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain() {
        assert!(valid_key("vpn-gw-1/chain/0000000000000001.json"));
        assert!(!valid_key("a/../b"));
        assert!(!valid_key("/a"));
        assert!(!valid_key("a b"));
        assert!(!valid_key(""));
    }

    #[test]
    fn a_readable_credentials_file_is_refused_naming_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("creds");
        std::fs::write(
            &p,
            "access_key_id = \"a\"\nsecret_access_key = \"s3cr3t\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Credentials::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Credentials::from_file(&p).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        std::fs::write(&p, "access_key_id = \"a\"\nsecret_access_key = s3cr3t\n").unwrap();
        let e = Credentials::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("line 2") && !e.contains("s3cr3t"), "{e}");
    }
}
