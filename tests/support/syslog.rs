//! Helpers for the syslog tests: free loopback ports, sites with listeners, raw senders, a
//! reader of write-ahead log records written from `docs/SYSLOG.md` alone (not from the code it
//! checks), extraction of what the store holds, rsyslog in a temporary directory, and
//! certificates made with openssl.

use super::rng::noise;
use super::*;
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fail unless rsyslog can speak TLS (the gtls network stream driver).
pub fn need_rsyslog_tls() {
    let found = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| d.path().join("rsyslog/lmnsd_gtls.so").exists());
    assert!(
        found,
        "rsyslog's TLS driver is missing: install the Debian package rsyslog-gnutls (scripts/test does)"
    );
}

/// A loopback TCP port that was free a moment ago (the configuration cannot say port 0).
pub fn free_tcp_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A configuration with a fast store and the given `[[source]]` tables.
pub fn config(sources: &str) -> String {
    format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\n\n{sources}"
    )
}

/// A `[[source]]` table for a listener, with extra `key = value` lines.
pub fn listener(id: &str, url: &str, extra: &[&str]) -> String {
    let mut s = format!("[[source]]\nid = \"{id}\"\nlisten = \"{url}\"\n");
    for e in extra {
        s.push_str(e);
        s.push('\n');
    }
    s.push('\n');
    s
}

/// Start the daemon with extra environment variables and wait until it is capturing (its
/// listeners are up by then).
pub fn start_with(site: &mut Site, env: &[(&str, &str)]) {
    let before = site.stderr().matches("capturing").count();
    site.spawn_with(env);
    site.wait_until(30, "the daemon to start capturing", |s| {
        s.stderr().matches("capturing").count() > before
    });
}

/// Poll `f` every 50 ms for at most `secs` seconds.
pub fn wait_until(site: &Site, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the daemon said:\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One write-ahead log record, as `docs/SYSLOG.md` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub time: String,
    pub transport: String,
    pub local: String,
    pub peer: String,
    pub flags: Vec<String>,
    pub body: Vec<u8>,
    /// False for a last record cut short by a kill.
    pub complete: bool,
}

impl Rec {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// The value of `key=value`.
    pub fn flag(&self, key: &str) -> Option<&str> {
        self.flags
            .iter()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Parse a write-ahead log file; panics on anything the format does not allow.
pub fn parse_wal(data: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(nl) = data[pos..].iter().position(|&b| b == b'\n') else {
            // A writer killed inside a header: the rest must be the start of one.
            assert!(
                b"LKS1 ".starts_with(&data[pos..data.len().min(pos + 5)])
                    || data[pos..].starts_with(b"LKS1 "),
                "offset {pos}: trailing bytes are no header"
            );
            break;
        };
        let line = std::str::from_utf8(&data[pos..pos + nl]).expect("ASCII header");
        let f: Vec<&str> = line.split(' ').collect();
        assert!(
            f.len() >= 6 && f[0] == "LKS1",
            "offset {pos}: bad header {line:?}"
        );
        assert!(
            f[1].len() == 30 && f[1].ends_with('Z'),
            "time with nine digits: {line:?}"
        );
        assert!(
            ["udp", "tcp", "tls", "relp", "relps"].contains(&f[2]),
            "offset {pos}: transport {line:?}"
        );
        let len: usize = f[5].parse().expect("length");
        let start = pos + nl + 1;
        let end = start + len;
        let complete = end < data.len();
        if complete {
            assert_eq!(data[end], b'\n', "offset {end}: record must end with LF");
        }
        out.push(Rec {
            time: f[1].into(),
            transport: f[2].into(),
            local: f[3].into(),
            peer: f[4].into(),
            flags: f[6..].iter().map(|s| s.to_string()).collect(),
            body: data[start..end.min(data.len())].to_vec(),
            complete,
        });
        pos = end + 1;
    }
    out
}

/// A message put back together from its records.
#[derive(Debug, Clone)]
pub struct Msg {
    pub body: Vec<u8>,
    /// The records it came in (one, or its pieces).
    pub recs: Vec<Rec>,
}

impl Msg {
    /// Flags of its last record (framing, `eof`).
    pub fn last(&self) -> &Rec {
        self.recs.last().expect("a record")
    }

    pub fn first(&self) -> &Rec {
        &self.recs[0]
    }
}

/// Join the pieces of oversize messages (consecutive records of one connection) and drop the
/// records logkeep writes itself.
pub fn messages(recs: &[Rec]) -> Vec<Msg> {
    let mut out = Vec::new();
    let mut open: HashMap<(String, String), Msg> = HashMap::new();
    for r in recs {
        if r.peer == "-" {
            continue;
        }
        let Some(part) = r.flag("part") else {
            out.push(Msg {
                body: r.body.clone(),
                recs: vec![r.clone()],
            });
            continue;
        };
        let key = (r.local.clone(), r.peer.clone());
        let m = open.entry(key.clone()).or_insert_with(|| Msg {
            body: Vec::new(),
            recs: Vec::new(),
        });
        m.body.extend_from_slice(&r.body);
        m.recs.push(r.clone());
        let last = match part.strip_suffix('+') {
            Some(_) => false,
            None => {
                let (i, n) = part.split_once('/').expect("part=I/N");
                i == n || r.has("eof")
            }
        };
        if last && let Some(m) = open.remove(&key) {
            out.push(m);
        }
    }
    assert!(open.is_empty(), "unfinished oversize messages: {open:?}");
    out
}

/// Write-ahead log files of `id` in the store now (`.wal` and `.wal.done`), by number.
pub fn wal_files(site: &Site, id: &str) -> Vec<(String, PathBuf)> {
    let dir = site.path("store/wal").join(id);
    let mut v: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| n.ends_with(".wal") || n.ends_with(".wal.done"))
        .collect();
    v.sort();
    v
}

/// Every record in the write-ahead log files of `id` now.
pub fn wal_records(site: &Site, id: &str) -> Vec<Rec> {
    wal_files(site, id)
        .iter()
        .flat_map(|(_, p)| parse_wal(&fs::read(p).unwrap_or_default()))
        .collect()
}

/// Wait until every needle is in some record body of `id`'s write-ahead log.
pub fn wait_wal(site: &Site, id: &str, needles: &[&[u8]]) {
    wait_until(site, 60, "the messages in the write-ahead log", || {
        let recs = wal_records(site, id);
        needles
            .iter()
            .all(|n| recs.iter().any(|r| contains(&r.body, n)))
    });
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Extract the store and return the captured write-ahead log files of `id`: (WAL file name
/// without `.done`, generation, bytes), in file order.
pub fn stored_files(store: &Path, id: &str) -> Vec<(String, u64, Vec<u8>)> {
    let out = tempfile::tempdir().expect("tmp");
    let dest = out.path().join("x");
    let (code, text) = logkeep(&[
        "extract",
        store.to_str().expect("utf-8"),
        "--out",
        dest.to_str().expect("utf-8"),
    ])
    .code_and_text();
    assert_eq!(code, 0, "{text}");
    let mut files = Vec::new();
    for p in walk(&dest.join(id)) {
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        let Some((stem, gen_id)) = name.rsplit_once(".gen") else {
            continue;
        };
        let stem = stem.trim_end_matches(".done");
        assert!(stem.ends_with(".wal"), "unexpected file {name}");
        files.push((
            stem.to_owned(),
            gen_id.parse::<u64>().expect("gen"),
            fs::read(&p).expect("read"),
        ));
    }
    files.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    files
}

/// Every record the store holds for `id`, in order.
pub fn stored_records(store: &Path, id: &str) -> Vec<Rec> {
    stored_files(store, id)
        .iter()
        .flat_map(|(_, _, b)| parse_wal(b))
        .collect()
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned();
    format!("{s:?} ({} bytes)", b.len())
}

/// Each of `expected` is the body of exactly one message in `msgs`.
pub fn assert_each_once(msgs: &[Msg], expected: &[Vec<u8>]) {
    let mut count: HashMap<&[u8], usize> = HashMap::new();
    for m in msgs {
        *count.entry(&m.body).or_default() += 1;
    }
    for e in expected {
        let n = count.get(e.as_slice()).copied().unwrap_or(0);
        assert_eq!(n, 1, "message {} stored {n} times", show(e));
    }
}

/// The only message whose body contains `needle`.
pub fn only<'m>(msgs: &'m [Msg], needle: &[u8]) -> &'m Msg {
    let found: Vec<&Msg> = msgs.iter().filter(|m| contains(&m.body, needle)).collect();
    assert_eq!(
        found.len(),
        1,
        "{} found {} times",
        show(needle),
        found.len()
    );
    found[0]
}

/// Send `data` on a new TCP connection and close it.
pub fn tcp_send(port: u16, data: &[u8]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(data).expect("send");
}

/// `LEN SP MSG`.
pub fn octet(msg: &[u8]) -> Vec<u8> {
    let mut v = format!("{} ", msg.len()).into_bytes();
    v.extend_from_slice(msg);
    v
}

/// Bytes with every value but LF (for LF-framed bodies).
pub fn noise_without_lf(n: usize, seed: u64) -> Vec<u8> {
    noise(n, seed)
        .into_iter()
        .map(|b| if b == b'\n' { b'x' } else { b })
        .collect()
}

/// rsyslogd with its own configuration and work directory in a temporary directory.
pub struct Rsyslog {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Rsyslog {
    /// Start `rsyslogd -n` with `global` parameters and the rest of `conf`; wait until
    /// `input_port` accepts connections.
    pub fn start(global: &str, conf: &str, input_port: u16) -> Rsyslog {
        require_tool("rsyslogd", "rsyslog");
        let dir = tempfile::tempdir().expect("tmp");
        let work = dir.path().join("work");
        fs::create_dir_all(&work).expect("work dir");
        let text = format!(
            "global(workDirectory=\"{}\" parser.escapeControlCharactersOnReceive=\"off\" maxMessageSize=\"256k\" {global})\n{conf}\n",
            work.display()
        );
        let cf = dir.path().join("rsyslog.conf");
        fs::write(&cf, text).expect("conf");
        let err = fs::File::create(dir.path().join("rsyslog.err")).expect("err file");
        let exe = if Path::new("/usr/sbin/rsyslogd").exists() {
            "/usr/sbin/rsyslogd"
        } else {
            "rsyslogd"
        };
        let child = Command::new(exe)
            .arg("-n")
            .arg("-f")
            .arg(&cf)
            .arg("-i")
            .arg(dir.path().join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start rsyslogd");
        let r = Rsyslog { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", input_port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen: {}",
                r.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("rsyslog.err")).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn make_certs(dir: &Path) -> Certs {
    require_tool("openssl", "openssl");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=logkeep test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
    for (name, usage, san) in [
        ("server", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
        ("client", "clientAuth", "DNS:client.test"),
    ] {
        let mut args = vec!["req"];
        args.extend(ec);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let subj = format!("/CN={name}.test");
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &args);
        let ext = format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\nsubjectAltName={san}\n"
        );
        fs::write(dir.join(format!("{name}.ext")), ext).expect("ext");
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &extfile,
            ],
        );
    }
    Certs {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    }
}

/// `logkeep status --json` through the control socket `sock`.
pub fn status_json(sock: &Path) -> serde_json::Value {
    let (code, out) = logkeep(&[
        "status",
        "--json",
        "--socket",
        sock.to_str().expect("utf-8"),
    ])
    .code_and_text();
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).expect("status json")
}
