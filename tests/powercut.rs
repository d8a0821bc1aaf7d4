//! Power loss below the process: the daemon runs with its store, a medium and its signing state
//! on `logkeep-powercut` (a FUSE file system that keeps only what `fsync` made durable, see
//! `crates/powercut`), captures a log file and TCP syslog, seals, switches epoch keys and copies
//! to the medium, and the power is cut at random moments, hundreds of times over the long run.
//!
//! What counts as acknowledged as durable, asked of the daemon just before each cut:
//!
//! - the chain head `logkeep status` reports: that record (and so, through the hash chain,
//!   every record and segment before it) must survive;
//! - the log file's `committed` position in that status: extraction must give back at least
//!   those bytes;
//! - a syslog message: the listener's `messages` counter (counted only after the write-ahead
//!   log's fsync returned) says how many of the messages sent on the run's one connection are
//!   stored; exactly those, in order, are acknowledged;
//! - an eject's "safe to unplug": the head it names is on the medium;
//! - `logkeep keygen` and `logkeep media init` having returned: the power is cut right after
//!   them, and the signing state (its fingerprint) and the medium's identity must be there.
//!
//! The cut comes at a random moment, or between two random changes the daemon makes to the
//! file system (`arm`), sometimes while it opens and recovers the store and sometimes inside
//! its SIGTERM stop. After each cut the power comes back with the durable state only (or, half
//! the time, with torn tails: part of what was appended to a file since its last fsync), and the
//! daemon must start on it by itself (recover) and stop cleanly; then `logkeep verify` passes
//! and reaches the acknowledged head, the medium verifies and is not ahead of the store, and
//! extraction holds every acknowledged byte and message, none twice. At the end the daemon stops cleanly and the store holds the log file exactly and
//! every acknowledged message exactly once.
//!
//! `LOGKEEP_POWERCUT_CUTS` sets the number of cuts (default 20, two to three minutes; the long run
//! is `LOGKEEP_POWERCUT_CUTS=300`); `LOGKEEP_TEST_SEED` replays a run's schedule (the moments
//! depend on timing too); `LOGKEEP_TEST_KEEP=1` keeps its directory. A seed that finds a durability bug becomes a test of its own next to
//! `power_cuts_lose_nothing_acknowledged`, calling `run(SEED, CUTS)` with the count that reached
//! it, so the bug stays fixed.

use crate::support::daemon::Daemon;
use crate::support::syslog::{octet, parse_wal};
use crate::support::*;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The test file system's binary, built beside `logkeep` (`cargo build --workspace`).
fn powercut_bin() -> PathBuf {
    let p = Path::new(bin())
        .parent()
        .expect("binary dir")
        .join("logkeep-powercut");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p logkeep-powercut` (scripts/test builds the workspace)",
        p.display()
    );
    p
}

/// A running `logkeep-powercut`: the power switch of the file system mounted at `mnt`.
struct Power {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Power {
    fn start(mnt: &Path, state: &Path) -> Power {
        require_tool("fusermount3", "fuse3");
        assert!(
            Path::new("/dev/fuse").exists(),
            "/dev/fuse is missing: the power-loss test needs FUSE (modprobe fuse)"
        );
        let mut child = Command::new(powercut_bin())
            .arg("--mount")
            .arg(mnt)
            .arg("--state")
            .arg(state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start logkeep-powercut");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut p = Power {
            child,
            stdin,
            stdout,
        };
        assert_eq!(p.answer(), "ready", "logkeep-powercut did not mount");
        p
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read logkeep-powercut");
        line.trim_end().to_owned()
    }

    fn command(&mut self, cmd: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{cmd}").expect("command logkeep-powercut");
        stdin.flush().expect("flush");
        self.answer()
    }
}

impl Drop for Power {
    fn drop(&mut self) {
        // End of input unmounts and exits; kill only if it hangs.
        self.stdin.take();
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The syslog client: one connection per daemon run, numbered messages sent as fast as a
/// sender with a small pause sends them.
#[derive(Default)]
struct Sender {
    /// The run the client may connect to (0: none).
    allowed: u64,
    /// The run it is connected to, and the number of the first message sent on it.
    connected: Option<(u64, u64)>,
    /// The next message number.
    next: u64,
    /// Message number → its body.
    bodies: Vec<Vec<u8>>,
}

fn body(n: u64, pad: usize) -> Vec<u8> {
    let mut b = format!("<13>1 - powerhost app - - - msg-{n:08} ").into_bytes();
    b.extend(std::iter::repeat_n(b'x', pad));
    b
}

fn message_number(body: &[u8]) -> Option<u64> {
    let at = body.windows(4).position(|w| w == b"msg-")?;
    std::str::from_utf8(body.get(at + 4..at + 12)?)
        .ok()?
        .parse()
        .ok()
}

fn sender_thread(port: u16, shared: Arc<Mutex<Sender>>, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            let allowed = shared.lock().expect("lock").allowed;
            let already = shared.lock().expect("lock").connected.map(|c| c.0);
            if allowed != 0
                && already != Some(allowed)
                && let Ok(s) = TcpStream::connect(("127.0.0.1", port))
            {
                let mut g = shared.lock().expect("lock");
                let next = g.next;
                g.connected = Some((allowed, next));
                conn = Some(s);
            }
        }
        if let Some(s) = conn.as_mut() {
            let mut g = shared.lock().expect("lock");
            let n = g.next;
            let b = body(n, rng.below(100) as usize);
            // Numbered before it is sent: a message cut short by the cut may still be stored
            // in part, and is never sent again.
            g.next += 1;
            g.bodies.push(b.clone());
            if s.write_all(&octet(&b)).is_err() {
                conn = None;
            }
        }
        std::thread::sleep(Duration::from_millis(rng.range(2, 40)));
    }
}

/// The log writer: numbered lines appended to the log file, outside the cut file system.
fn writer_thread(log: PathBuf, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut line = format!("line {n:08} ").into_bytes();
        line.extend(noise_line(&mut rng));
        append(&log, &line);
        n += 1;
        std::thread::sleep(Duration::from_millis(rng.range(2, 40)));
    }
}

fn noise_line(rng: &mut Rng) -> Vec<u8> {
    let mut v: Vec<u8> = (0..rng.below(80))
        .map(|_| b'a' + rng.below(26) as u8)
        .collect();
    v.push(b'\n');
    v
}

/// Sets its flag when dropped, so that the client threads end when a check fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// What the daemon acknowledged just before a cut.
#[derive(Debug, Default, Clone)]
struct Acked {
    head: Option<(u64, String)>,
    log_committed: u64,
    /// The head an eject said the medium holds ("safe to unplug").
    medium_head: Option<(u64, String)>,
}

/// The paths of one power-loss run and the daemons it starts.
struct Rig {
    /// The run's directory (the temporary directory outlives the mount inside it).
    dir: PathBuf,
    seed: u64,
    store: PathBuf,
    medium: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    runs: u64,
    /// Everything the daemons wrote so far, for failure messages.
    daemon_log: String,
    /// What happened how often (cuts of each kind, ejects, torn files), for the closing line.
    tally: BTreeMap<&'static str, u64>,
}

impl Rig {
    fn config(&self) -> PathBuf {
        self.dir.join("logkeep.toml")
    }

    fn err(&self) -> PathBuf {
        self.dir.join(format!("daemon-{}.err", self.runs))
    }

    /// Start a daemon without waiting for anything.
    fn spawn(&mut self) -> Daemon {
        self.runs += 1;
        Daemon::spawn(
            Command::new(bin())
                .arg("run")
                .arg("--config")
                .arg(self.config())
                .env("LOGKEEP_LOG", "info")
                .env_remove("NOTIFY_SOCKET")
                .env_remove("WATCHDOG_USEC")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(self.err()).expect("stderr file")),
        )
    }

    /// Start a daemon and wait until it has opened (and so recovered) the store by itself and
    /// committed its start record.
    fn start(&mut self, cut: usize) -> Daemon {
        let mut d = self.spawn();
        let deadline = Instant::now() + DEADLINE;
        while !daemon::started_in(&self.store, d.pid()) {
            if let Some(st) = d.exited() {
                self.collect();
                panic!(
                    "the daemon did not start on the durable state ({st}); {}",
                    self.context(cut)
                );
            }
            if Instant::now() > deadline {
                self.collect();
                panic!(
                    "the daemon did not start within {DEADLINE:?}; {}",
                    self.context(cut)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Stop a daemon with SIGTERM: it must seal and exit 0.
    fn stop(&mut self, d: Daemon) {
        let err = self.err();
        d.stop(rustix::process::Signal::TERM, &|| {
            fs::read_to_string(&err).unwrap_or_default()
        });
        self.collect();
    }

    /// Add the last run's log to the record.
    fn collect(&mut self) {
        let text = fs::read_to_string(self.err()).unwrap_or_default();
        self.daemon_log
            .push_str(&format!("--- daemon run {} ---\n{text}", self.runs));
    }

    /// Note the power-on answer (`on files=N dirs=M torn=T refused=R`).
    fn powered(&mut self, on: &str) {
        self.daemon_log
            .push_str(&format!("--- power cut, then {on} ---\n"));
        let torn = on
            .split(' ')
            .find_map(|w| w.strip_prefix("torn="))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        *self.tally.entry("files torn").or_default() += torn;
    }

    fn context(&self, cut: usize) -> String {
        format!(
            "seed {} (LOGKEEP_TEST_SEED={} replays it), cut {cut}\n{}",
            self.seed, self.seed, self.daemon_log
        )
    }
}

/// Cuts per store: verification and extraction after each cut read the whole store, so a
/// long run is a series of stores of this many cuts each, seeded `seed`, `seed + 1`, ...
const CUTS_PER_STORE: usize = 5;

/// `cuts` cuts from `seed`, in stores of [`CUTS_PER_STORE`] cuts.
fn run(seed: u64, cuts: usize) {
    let mut left = cuts;
    let mut k = 0;
    while left > 0 {
        let n = left.min(CUTS_PER_STORE);
        run_store(seed.wrapping_add(k), n);
        left -= n;
        k += 1;
    }
}

/// One store through `cuts` cuts from `seed`.
fn run_store(seed: u64, cuts: usize) {
    eprintln!("power loss: seed {seed}, {cuts} cuts (LOGKEEP_TEST_SEED={seed} replays it)");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("mnt");
    let logs = dir.path().join("logs");
    for d in [&mnt, &logs] {
        fs::create_dir(d).expect("dir");
    }
    let mut power = Power::start(&mnt, &dir.path().join("powercut"));
    let port = syslog::free_tcp_port();
    let mut rig = Rig {
        store: mnt.join("store"),
        medium: mnt.join("medium"),
        socket: dir.path().join("control.sock"),
        log: logs.join("app.log"),
        dir: dir.path().to_owned(),
        seed,
        runs: 0,
        daemon_log: String::new(),
        tally: BTreeMap::new(),
    };
    fs::write(
        rig.config(),
        format!(
            "[store]\npath = {:?}\nseal_interval = \"400ms\"\nscan_interval = \"50ms\"\n\
             segment_max_bytes = \"4KiB\"\n\n[control]\nsocket = {:?}\n\n\
             [signing]\nkey = {:?}\nepoch = \"3s\"\n\n\
             [[source]]\nid = \"app\"\npaths = [{:?}]\n\n\
             [[source]]\nid = \"net\"\nlisten = \"tcp://127.0.0.1:{port}\"\nwal_file_bytes = \"4KiB\"\n\n\
             [[media]]\nid = \"disk\"\npath = {:?}\n",
            rig.store,
            rig.socket,
            mnt.join("state"),
            rig.log,
            rig.medium,
        ),
    )
    .expect("config");
    // The signing state and the medium are made on the cut file system by the commands
    // themselves: what they wrote must be durable when they return.
    // The medium's mount point exists durably, as a mounted disk's does.
    fs::create_dir(&rig.medium).expect("medium dir");
    fs::File::open(&mnt)
        .and_then(|d| d.sync_all())
        .expect("sync the mount point");
    let fingerprint = crate::support::seal::keygen(&mnt.join("state"));
    crate::support::media::init(&rig.medium, "disk");
    // A cut right after: what keygen printed and what media init made must still be there.
    assert_eq!(power.command("off"), "off");
    assert!(power.command("on").starts_with("on "));
    let run = logkeep(&[
        "fingerprint".as_ref(),
        "--key".as_ref(),
        mnt.join("state").as_os_str(),
    ]);
    assert!(
        run.code == 0 && run.stdout.contains(&fingerprint),
        "the signing state keygen made did not survive a power cut (seed {seed}):\n{run}"
    );
    assert!(
        rig.medium.join("logkeep-medium.json").is_file(),
        "the medium's identity did not survive a power cut after media init (seed {seed})"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let sender = Arc::new(Mutex::new(Sender::default()));
    let threads = [
        {
            let (log, stop) = (rig.log.clone(), stop.clone());
            std::thread::spawn(move || writer_thread(log, stop, seed ^ 1))
        },
        {
            let (shared, stop) = (sender.clone(), stop.clone());
            std::thread::spawn(move || sender_thread(port, shared, stop, seed ^ 2))
        },
    ];

    // A failing check stops the client threads too.
    let _stop_on_panic = StopOnDrop(stop.clone());
    // Message number → the cut before which it was acknowledged.
    let mut acked_msgs: BTreeMap<u64, usize> = BTreeMap::new();
    let mut acked = Acked::default();
    for cut in 0..cuts {
        // Sometimes the cut comes while the daemon is still opening and recovering the store.
        if rng.chance(20) {
            assert_eq!(power.command(&format!("arm {}", rng.below(300))), "armed");
            let d = rig.spawn();
            *rig.tally.entry("cuts while starting").or_default() += 1;
            let torn = rng.chance(50).then(|| rng.next());
            let on = cut_power(&mut power, d, true, torn);
            rig.collect();
            rig.daemon_log
                .push_str(&format!("--- power cut, then {on} ---\n"));
        }
        // The store opens by itself on whatever the last cut left; stopped, it holds all that
        // was acknowledged.
        let d = rig.start(cut);
        rig.stop(d);
        check_after_cut(&rig, &acked, &acked_msgs, cut);
        let d = rig.start(cut);
        sender.lock().expect("lock").allowed = rig.runs;
        // Work until a random moment: the log grows, messages arrive, seals, epoch switches
        // and media copies happen on their own; sometimes a seal is asked for.
        let until = Instant::now() + Duration::from_millis(rng.range(100, 1200));
        let mut medium_head = None;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(rng.range(10, 200)));
            if rng.chance(15) {
                let _ = control_call(&rig.socket, r#"{"op":"seal"}"#);
            }
            // The medium is ejected once, in a store's last cut (it stays ejected until it is
            // unplugged): "safe to unplug" acknowledges the head it names as on the medium.
            if cut + 1 == cuts && medium_head.is_none() && rng.chance(20) {
                medium_head = control_call(&rig.socket, r#"{"op":"eject","medium":"disk"}"#)
                    .and_then(|r| seq_hash(&r["head"]));
                *rig.tally.entry("ejects").or_default() += u64::from(medium_head.is_some());
            }
        }
        // What the daemon says is durable, just before the cut.
        if let Some(status) = control_call(&rig.socket, r#"{"op":"status"}"#) {
            acked = acknowledged(&status, &sender, rig.runs, cut, &mut acked_msgs);
        }
        acked.medium_head = medium_head.or(acked.medium_head.take());
        // Now, or after a random number of changes (between any two of them).
        let armed = rng.chance(70);
        if armed {
            assert_eq!(power.command(&format!("arm {}", rng.below(150))), "armed");
            // Sometimes the cut falls in the stop sequence: SIGTERM seals and records the stop.
            *rig.tally.entry("cuts between changes").or_default() += 1;
            if rng.chance(25) {
                *rig.tally.entry("of them in a stop").or_default() += 1;
                let pid = rustix::process::Pid::from_raw(d.pid() as i32).expect("pid");
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let torn = rng.chance(50).then(|| rng.next());
        let on = cut_power(&mut power, d, armed, torn);
        rig.collect();
        rig.powered(&on);
    }

    // The end: recovery and the checks of the last cut, then a clean run that captures
    // everything, then the whole account.
    let d = rig.start(cuts);
    rig.stop(d);
    check_after_cut(&rig, &acked, &acked_msgs, cuts);
    let d = rig.start(cuts);
    sender.lock().expect("lock").allowed = rig.runs;
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    let log_size = fs::metadata(&rig.log).map_or(0, |m| m.len());
    let deadline = Instant::now() + DEADLINE;
    loop {
        let committed = control_call(&rig.socket, r#"{"op":"status"}"#)
            .map(|s| log_committed(&s))
            .unwrap_or(0);
        if committed == log_size {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the last run committed {committed} of {log_size} bytes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.stop(d);
    let all = extract_all(&rig.store);
    assert_same_bytes(
        &log_bytes(&all, &rig.log),
        &fs::read(&rig.log).expect("log"),
        &format!("the log file after {cuts} cuts (seed {seed})"),
    );
    let counts = message_counts(&all);
    let g = sender.lock().expect("lock");
    for (n, c) in &counts {
        assert!(
            *c == 1 && (*n as usize) < g.bodies.len(),
            "message {n} is stored {c} times (seed {seed})"
        );
    }
    eprintln!(
        "power loss: seed {seed}: {cuts} cuts ({:?}), {} daemon runs, {log_size} log bytes, {} messages sent, {} acknowledged, {} stored",
        rig.tally,
        rig.runs,
        g.bodies.len(),
        acked_msgs.len(),
        counts.len()
    );
    drop(g);
    // LOGKEEP_TEST_KEEP=1 keeps the run's directory, with the durable state as a plain tree.
    if std::env::var_os("LOGKEEP_TEST_KEEP").is_some() {
        let tree = rig.dir.join("durable");
        assert_eq!(
            power.command(&format!("export {}", tree.display())),
            "exported"
        );
        drop(power);
        eprintln!("kept {}", dir.keep().display());
        return;
    }
    drop(power);
}

/// Cut the power under the daemon `d` (now, or when the armed count of changes has run), kill
/// it, and bring the power back with the durable state only, or (`torn`) with random parts of
/// the unsynced tails of files that only grew, as a disk may leave them.
fn cut_power(power: &mut Power, d: Daemon, armed: bool, torn: Option<u64>) -> String {
    if !armed || power.command("wait-off 2000") != "off" {
        assert_eq!(power.command("off"), "off");
    }
    // SIGKILL (dropping a daemon kills and reaps it); a daemon that met the cut while it was
    // starting may have exited by itself already, as a process at a power cut does not matter.
    drop(d);
    let on = match torn {
        Some(seed) => power.command(&format!("on torn {seed}")),
        None => power.command("on"),
    };
    assert!(on.starts_with("on "), "power on: {on}");
    on
}

/// `{"seq": N, "hash": H}` as a pair.
fn seq_hash(head: &serde_json::Value) -> Option<(u64, String)> {
    head["seq"]
        .as_u64()
        .zip(head["hash"].as_str().map(str::to_owned))
}

/// One control request's result, or `None` if the daemon did not answer.
fn control_call(socket: &Path, request: &str) -> Option<serde_json::Value> {
    use std::io::Read;
    let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("{request}\n").as_bytes()).ok()?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&buf).ok()?;
    (v["ok"] == true).then(|| v["result"].clone())
}

fn log_committed(status: &serde_json::Value) -> u64 {
    status["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["id"] == "app")
        .flat_map(|s| s["files"].as_array().into_iter().flatten())
        .filter_map(|f| f["committed"].as_u64())
        .max()
        .unwrap_or(0)
}

/// What `status` acknowledges: the head, the log's committed end, and the messages stored on
/// this run's connection (recorded into `acked_msgs`).
fn acknowledged(
    status: &serde_json::Value,
    sender: &Mutex<Sender>,
    run: u64,
    cut: usize,
    acked_msgs: &mut BTreeMap<u64, usize>,
) -> Acked {
    let head = &status["chain"]["head"];
    let listener = status["listeners"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["source"] == "net"));
    if let Some(l) = listener {
        let stored = l["messages"].as_u64().unwrap_or(0);
        let connections = l["connections"].as_u64().unwrap_or(0);
        let g = sender.lock().expect("lock");
        // Only with one connection in this run do the counted messages map to numbers.
        if let (1, Some((r, first))) = (connections, g.connected)
            && r == run
        {
            for n in first..first + stored {
                acked_msgs.entry(n).or_insert(cut);
            }
        }
    }
    Acked {
        head: seq_hash(head),
        log_committed: log_committed(status),
        medium_head: None,
    }
}

/// The checks after each cut, on the store the daemon recovered and stopped: it verifies and
/// reaches the acknowledged head, the medium verifies and is not ahead of it, the log's
/// committed bytes and every acknowledged message are there, and nothing is there twice.
fn check_after_cut(rig: &Rig, acked: &Acked, acked_msgs: &BTreeMap<u64, usize>, cut: usize) {
    let context = || rig.context(cut);
    let mut args = vec!["--against", rig.medium.to_str().expect("utf-8")];
    let expect;
    if let Some((seq, hash)) = &acked.head {
        expect = format!("{seq}:{hash}");
        args.extend(["--expect-head", expect.as_str()]);
    }
    // The store verifies, reaches the head acknowledged before the cut, and reaches the
    // medium's head (the medium is never ahead of it).
    let run = verify(&rig.store, &args);
    assert_eq!(
        run.code,
        0,
        "verify after the cut (the acknowledged head {:?} and the medium's head must be there):\n{run}\n{}",
        acked.head,
        context()
    );
    let medium_expect = acked
        .medium_head
        .as_ref()
        .map(|(seq, hash)| format!("{seq}:{hash}"));
    let mut args = vec![];
    if let Some(e) = &medium_expect {
        args = vec!["--expect-head", e.as_str()];
    }
    let run = verify(&rig.medium, &args);
    assert_eq!(
        run.code,
        0,
        "verify of the medium after the cut (an eject's head {:?} must be there):\n{run}\n{}",
        acked.medium_head,
        context()
    );
    let all = extract_all(&rig.store);
    let got = log_bytes(&all, &rig.log);
    let want = fs::read(&rig.log).expect("log");
    assert!(
        got.len() as u64 >= acked.log_committed,
        "the store holds {} bytes of the log after the cut, {} were committed before it\n{}",
        got.len(),
        acked.log_committed,
        context()
    );
    assert!(
        want.starts_with(&got),
        "the store's log is not the log's beginning: {}\n{}",
        first_difference(&got, &want[..want.len().min(got.len())]),
        context()
    );
    let counts = message_counts(&all);
    for (n, c) in &counts {
        assert_eq!(*c, 1, "message {n} stored {c} times\n{}", context());
    }
    for (n, when) in acked_msgs {
        assert!(
            counts.contains_key(n),
            "message {n}, acknowledged as durable before cut {when}, is not stored\n{}",
            context()
        );
    }
}

/// Every generation of `log` in the extraction, joined in generation order.
fn log_bytes(all: &Extracted, log: &Path) -> Vec<u8> {
    let prefix = gen_prefix("app", log);
    let mut gens: Vec<(u64, &Vec<u8>)> = all
        .files
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v)))
        .collect();
    gens.sort();
    gens.into_iter().flat_map(|(_, v)| v.clone()).collect()
}

/// How many times each message number is stored in the extracted write-ahead log files.
fn message_counts(all: &Extracted) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for (name, bytes) in &all.files {
        if !name.starts_with("net/") {
            continue;
        }
        for rec in parse_wal(bytes) {
            if let Some(n) = message_number(&rec.body) {
                *counts.entry(n).or_default() += 1;
            }
        }
    }
    counts
}

/// The test file system itself: after a cut, exactly what `fsync` of the file and of its
/// directory made durable is there, and while the power is off nothing works. Without this,
/// a file system that kept everything would let every power-loss test pass.
#[test]
fn the_file_system_keeps_only_what_fsync_made_durable() {
    let dir = tempfile::tempdir().expect("tmp");
    let mnt = dir.path().join("mnt");
    fs::create_dir(&mnt).expect("mnt");
    let mut power = Power::start(&mnt, &dir.path().join("powercut"));
    let sync_dir = |p: &Path| {
        fs::File::open(p)
            .and_then(|d| d.sync_all())
            .expect("sync dir")
    };
    let write_synced = |p: &Path, data: &[u8]| {
        let mut f = fs::File::create(p).expect("create");
        f.write_all(data).expect("write");
        f.sync_all().expect("fsync");
    };
    // Synced with its directory; then more bytes, not synced.
    write_synced(&mnt.join("a"), b"durable");
    sync_dir(&mnt);
    append(&mnt.join("a"), b" and lost");
    // A subdirectory synced into its parent, a file synced into it.
    fs::create_dir(mnt.join("sub")).expect("mkdir");
    sync_dir(&mnt);
    write_synced(&mnt.join("sub/s"), b"in a subdirectory");
    sync_dir(&mnt.join("sub"));
    // Synced and named durably, then renamed without a directory sync.
    write_synced(&mnt.join("t"), b"renamed");
    sync_dir(&mnt);
    fs::rename(mnt.join("t"), mnt.join("u")).expect("rename");
    // Synced, but its directory was not synced after it was created.
    write_synced(&mnt.join("b"), b"lost with its name");
    assert_eq!(fs::read(mnt.join("a")).expect("a"), b"durable and lost");

    assert_eq!(power.command("off"), "off");
    assert!(
        fs::write(mnt.join("x"), b"x").is_err(),
        "a write succeeded with the power off"
    );
    assert!(
        fs::read(mnt.join("a")).is_err(),
        "a read succeeded with the power off"
    );
    assert!(power.command("on").starts_with("on "));

    assert_eq!(fs::read(mnt.join("a")).expect("a"), b"durable");
    assert!(
        !mnt.join("b").exists(),
        "a file whose directory was not synced survived"
    );
    assert_eq!(fs::read(mnt.join("t")).expect("t"), b"renamed");
    assert!(
        !mnt.join("u").exists(),
        "a rename without a directory sync survived"
    );
    assert_eq!(
        fs::read(mnt.join("sub/s")).expect("s"),
        b"in a subdirectory"
    );

    // An armed cut comes between two changes: the second write fails, and is not kept.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(mnt.join("sub/s"))
        .expect("open");
    assert_eq!(power.command("arm 1"), "armed");
    f.write_all(b"first")
        .expect("the first write is before the cut");
    assert!(
        f.write_all(b"second").is_err(),
        "a write after the armed cut succeeded"
    );
    assert_eq!(power.command("wait-off 1000"), "off");
    drop(f);
    assert!(power.command("on").starts_with("on "));
    assert_eq!(
        fs::read(mnt.join("sub/s")).expect("s"),
        b"in a subdirectory"
    );
}

#[test]
fn power_cuts_lose_nothing_acknowledged() {
    let cuts = std::env::var("LOGKEEP_POWERCUT_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("LOGKEEP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(17);
    run(seed, cuts);
}
