//! Offline media with the real daemon: a medium that appears later is caught up, one that is
//! full fails without damage and resumes, an uninitialised mount point is never written, a
//! rolled-back store is caught against a medium, and retention prunes only what media hold.

use crate::support::media::{eject, extracted, init};
use crate::support::rng::noise;
use crate::support::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A site whose configuration has one log source and the given media.
fn media_site(media: &[(&str, &Path)], extra_store: &str) -> Site {
    let mut cfg = format!(
        "[store]\npath = \"store\"\nseal_interval = \"200ms\"\nscan_interval = \"100ms\"\nsegment_max_bytes = \"16KiB\"\n{extra_store}\n\
         [[source]]\nid = \"vpn\"\npaths = [\"logs/*.log\"]\n"
    );
    for (id, path) in media {
        cfg.push_str(&format!(
            "[[media]]\nid = \"{id}\"\npath = \"{}\"\n",
            path.display()
        ));
    }
    Site::new(&cfg)
}

#[test]
fn medium_attached_later_is_caught_up_and_verifies_alone() {
    let media_root = tempfile::tempdir().expect("tmp");
    let usb = media_root.path().join("usb");
    let mut site = media_site(&[("usb-a", &usb)], "");
    let mut written = noise(100_000, 7);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"kind\":\"segment\"");
    assert!(
        !usb.exists(),
        "nothing may create an absent medium's directory"
    );
    // Plug the disk in: the copier notices it and catches up.
    init(&usb, "usb-a");
    site.wait_record("\"what\":\"caught_up\"");
    site.append("a.log", b"after attach\n");
    written.extend_from_slice(b"after attach\n");
    site.term();
    eject(&site, "usb-a");
    // The medium alone, without the host: verifies and gives back every byte.
    let (code, out) = verify(&usb, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert_eq!(extracted(&usb, "a.log"), written);
    // A store rolled back to an older state is caught against the medium.
    let rolled = site.path("rolled");
    copy_tree(&site.path("store"), &rolled);
    let recs: Vec<PathBuf> = crate::support::store::record_files(&rolled);
    assert!(
        recs.len() > 6,
        "the store must hold more than the four records the roll-back removes: {recs:?}"
    );
    for r in recs.iter().rev().take(4) {
        fs::remove_file(r).expect("remove record");
    }
    fs::remove_file(rolled.join("head.json")).expect("remove head.json");
    // The cut store's start-up cache would name the removed head: it goes too, as a real
    // roll-back of the whole directory would take it back with the rest.
    let _ = fs::remove_file(rolled.join("replay-cache.json"));
    for s in crate::support::segment_files(&rolled) {
        let name = crate::support::file_name(&s);
        let seq: u64 = name[..16].parse().expect("seq");
        if !crate::support::store::record_path(&rolled, seq).exists() {
            fs::remove_file(&s).expect("remove segment");
        }
    }
    let (code, out) = verify(&rolled, &[]).code_and_text();
    assert_eq!(code, 0, "a cleanly cut store verifies on its own: {out}");
    let (code, out) = verify(&rolled, &["--against", usb.to_str().expect("utf-8")]).code_and_text();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("truncated or rolled back"), "{out}");
}

#[test]
fn uninitialised_mount_point_is_never_written() {
    let media_root = tempfile::tempdir().expect("tmp");
    let empty = media_root.path().join("mnt");
    fs::create_dir_all(&empty).expect("dir");
    let mut site = media_site(&[("usb-a", &empty)], "");
    site.append("a.log", &noise(50_000, 3));
    site.start();
    site.wait_record("\"kind\":\"segment\"");
    // Evidence that the copier looked at the mount point, with a segment there to copy: it
    // says that it does not write there (once per appearance of the path), and `media list`
    // reports the path's state.
    site.wait_until(
        30,
        "the copier to refuse the uninitialised mount point",
        |s| s.stderr().contains("not writing to this path"),
    );
    let config = site.config();
    let list = || {
        logkeep(&[
            "media".as_ref(),
            "list".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ])
    };
    let run = list();
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.text().contains("uninitialised"),
        "media list reports the mount point as uninitialised: {run}"
    );
    assert_eq!(
        fs::read_dir(&empty).expect("read").count(),
        0,
        "the empty mount point was written to while the daemon ran"
    );
    site.term();
    assert_eq!(
        fs::read_dir(&empty).expect("read").count(),
        0,
        "the empty mount point was written to"
    );
    let (code, out) = list().code_and_text();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("uninitialised"), "{out}");
}

/// A size-limited tmpfs the test mounts itself (CI runs as root), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs to fill a medium and must run as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_medium_fails_cleanly_and_resumes_when_space_returns() {
    let media_root = tempfile::tempdir().expect("tmp");
    let mnt = media_root.path().join("small");
    let _fs = Tmpfs::mount(&mnt, "1m");
    init(&mnt, "small");
    // Leave the medium almost no room.
    fs::write(mnt.join("filler"), vec![0u8; 900 * 1024]).expect("filler");
    let mut site = media_site(&[("small", &mnt)], "");
    let written = noise(300_000, 11);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"what\":\"failed\"");
    // The local store keeps everything and the medium holds a valid prefix, while it is full.
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    // What the medium holds while full is a valid prefix of the chain: the only problem verify
    // finds on it is the test's own filler.
    let run = verify(&mnt, &[]);
    assert_eq!(run.code, 1, "the filler is not part of a store: {run}");
    assert_eq!(
        run.fail_lines(),
        ["FAIL filler: extra file not part of the store"],
        "the full medium holds a valid prefix of the chain besides the filler: {run}"
    );
    let run = logkeep(&[
        "media".as_ref(),
        "list".as_ref(),
        "--config".as_ref(),
        site.config().as_os_str(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.text().contains("behind"),
        "media list reports the full medium as behind the store: {run}"
    );
    fs::remove_file(mnt.join("filler")).expect("free space");
    site.wait_record("\"what\":\"recovered\"");
    site.wait_record("\"what\":\"caught_up\"");
    site.term();
    eject(&site, "small");
    let (code, out) = verify(&mnt, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert_eq!(extracted(&mnt, "a.log"), written);
}

#[test]
fn retention_prunes_only_what_enough_media_hold() {
    let media_root = tempfile::tempdir().expect("tmp");
    let usb = media_root.path().join("usb");
    let nas = media_root.path().join("nas"); // configured, never present
    init(&usb, "usb-a");
    // Two copies required, one medium present: nothing may be pruned.
    let mut strict = media_site(
        &[("usb-a", &usb), ("nas", &nas)],
        "retain_local = \"1s\"\nmin_copies = 2",
    );
    strict.append("a.log", &noise(60_000, 5));
    strict.start();
    strict.wait_record("\"what\":\"caught_up\"");
    std::thread::sleep(Duration::from_secs(7)); // past the first retention check
    strict.term();
    assert!(
        !record_texts(&strict.store())
            .iter()
            .any(|r| r.contains("\"kind\":\"pruned\"")),
        "pruned with too few copies"
    );

    // One copy required and present: old segments leave the local store, the chain stays whole.
    let usb2 = media_root.path().join("usb2");
    init(&usb2, "usb-b");
    let mut site = media_site(&[("usb-b", &usb2)], "retain_local = \"1s\"\nmin_copies = 1");
    let written = noise(60_000, 9);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"kind\":\"pruned\"");
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pruned from this copy"), "{out}");
    // A bundle of the whole store holds the whole chain and every segment still here; the
    // pruned ones are justified by their records (verify_bundle reports any other as missing).
    let key = site.path("signing.key");
    let (code, out) = logkeep(&["keygen", "--key", key.to_str().expect("utf-8")]).code_and_text();
    assert_eq!(code, 0, "{out}");
    let bundle = site.path("case.tar");
    let (code, out) = logkeep(&[
        "export",
        "--store",
        site.path("store").to_str().expect("utf-8"),
        "--key",
        key.to_str().expect("utf-8"),
        "--out",
        bundle.to_str().expect("utf-8"),
    ])
    .code_and_text();
    assert_eq!(code, 0, "export of a store with pruned segments: {out}");
    assert!(
        out.contains("pruned from"),
        "the export says what it left out: {out}"
    );
    let (code, out) = verify(&bundle, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pruned from this copy"), "{out}");
    eject(&site, "usb-b");
    assert_eq!(extracted(&usb2, "a.log"), written);
}

/// An ext4 image the test loop-mounts itself, so that it can be pulled out mid-copy and
/// plugged back in with its content.
struct Image {
    file: PathBuf,
    at: PathBuf,
}

impl Image {
    fn create(file: PathBuf, at: PathBuf) -> Image {
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("{what}: {e} (apt-get install e2fsprogs mount)"));
            assert!(
                out.status.success(),
                "{what} (needs root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Command::new("truncate").args(["-s", "64M"]).arg(&file),
            "truncate",
        );
        run(
            Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&file),
            "mkfs.ext4",
        );
        fs::create_dir_all(&at).expect("mount point");
        let img = Image { file, at };
        img.plug();
        img
    }

    fn plug(&self) {
        let out = Command::new("mount")
            .args(["-o", "loop"])
            .arg(&self.file)
            .arg(&self.at)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mount -o loop (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Pull the disk out: a lazy unmount, as when a USB disk goes away under open files.
    fn pull(&self) {
        let st = Command::new("umount")
            .arg("-l")
            .arg(&self.at)
            .status()
            .expect("umount");
        assert!(st.success());
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.at).status();
    }
}

#[test]
fn medium_pulled_out_mid_copy_holds_only_whole_files() {
    let root = tempfile::tempdir().expect("tmp");
    let usb = root.path().join("usb");
    let img = Image::create(root.path().join("usb.img"), usb.clone());
    init(&usb, "usb-a");
    let mut site = media_site(&[("usb-a", &usb)], "");
    site.start();
    site.wait_record("\"what\":\"caught_up\"");
    // A burst big enough that copying it takes a while, then the disk goes away mid-copy.
    let written = noise(24 << 20, 13);
    site.append("a.log", &written);
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::support::segment_files(&usb).len() < 20 {
        assert!(
            Instant::now() < deadline,
            "copying never started: {}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    img.pull();
    site.wait_record("\"what\":\"missing\"");
    site.term();
    // Plugged back in: what it holds is a valid prefix of the chain, nothing half-written under
    // a real name (an interrupted temporary file is only a note).
    img.plug();
    let (code, out) = verify(&usb, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    // And the next sync completes it.
    eject(&site, "usb-a");
    let (code, out) = verify(&usb, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert_eq!(extracted(&usb, "a.log"), written);
}

#[test]
fn eject_through_the_running_daemon() {
    let media_root = tempfile::tempdir().expect("tmp");
    let usb = media_root.path().join("usb");
    init(&usb, "usb-a");
    let mut site = media_site(&[("usb-a", &usb)], "");
    // The control socket beside the store (the daemon does the eject while it holds the store).
    let cfg = fs::read_to_string(site.config()).expect("config");
    fs::write(
        site.config(),
        format!("[control]\nsocket = \"ctl.sock\"\n{cfg}"),
    )
    .expect("config");
    let written = noise(40_000, 21);
    site.append("a.log", &written);
    site.start();
    site.wait_record("\"what\":\"caught_up\"");
    eject(&site, "usb-a");
    site.wait_record("\"what\":\"detached\"");
    let (code, out) = verify(&usb, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    assert_eq!(extracted(&usb, "a.log"), written);
    site.term();
}

/// The state of medium `id` as `status --json` and as `media list --json` report it (`status`
/// only when the daemon runs).
fn states_of(site: &Site, id: &str, daemon: bool) -> (serde_json::Value, serde_json::Value) {
    let config = site.config();
    let find = |v: &serde_json::Value| {
        v.as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == id))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let status = if daemon {
        let run = logkeep(&[
            "status".as_ref(),
            "--json".as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ]);
        assert_eq!(run.code, 0, "status: {run}\n{}", site.stderr());
        let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("status JSON");
        find(&v["media"])
    } else {
        serde_json::Value::Null
    };
    let run = logkeep(&[
        "media".as_ref(),
        "list".as_ref(),
        "--json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(run.code, 0, "media list: {run}");
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("media list JSON");
    (status, find(&v))
}

const EJECTED: &str = "ejected (safe to unplug)";

#[test]
fn an_ejected_medium_stays_ejected_across_a_restart_until_it_is_unplugged() {
    let media_root = tempfile::tempdir().expect("tmp");
    let usb = media_root.path().join("usb");
    init(&usb, "usb-a");
    let mut site = media_site(&[("usb-a", &usb)], "");
    let cfg = fs::read_to_string(site.config()).expect("config");
    fs::write(
        site.config(),
        format!("[control]\nsocket = \"ctl.sock\"\n{cfg}"),
    )
    .expect("config");
    site.append("a.log", &noise(20_000, 5));
    site.start();
    site.wait_record("\"what\":\"caught_up\"");
    site.term();
    // Ejected directly on the store: media list agrees with what eject said.
    eject(&site, "usb-a");
    let medium_head = fs::read(usb.join("head.json")).expect("medium head");
    let (_, list) = states_of(&site, "usb-a", false);
    assert_eq!(list["state"], EJECTED, "without the daemon: {list}");

    // The daemon starts: still ejected, in status and in media list alike, and not written to
    // while the store grows (what it misses shows as behind).
    site.start();
    crate::support::control::wait_socket(&site.path("ctl.sock"), &site);
    site.append("a.log", b"after the eject\n");
    site.wait_captured(20_000 + 16);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, list) = states_of(&site, "usb-a", true);
        assert_eq!(status["state"], EJECTED, "{status}\n{}", site.stderr());
        assert_eq!(status["state"], list["state"], "{status} {list}");
        if status["behind"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "behind never grew: {status}\n{}",
            site.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        fs::read(usb.join("head.json")).unwrap(),
        medium_head,
        "an ejected medium was written to"
    );
    assert!(
        !crate::support::store::record_texts(&site.store())
            .iter()
            .rev()
            .take_while(|r| !r.contains("\"what\":\"detached\""))
            .any(|r| r.contains("\"what\":\"attached\"")),
        "the restart recorded the ejected medium as attached"
    );

    // Unplugged and plugged back in: copied to again.
    let away = media_root.path().join("away");
    fs::rename(&usb, &away).expect("unplug");
    site.wait_until(30, "the medium seen absent", |s| {
        states_of(s, "usb-a", true).0["state"] == "absent"
    });
    fs::rename(&away, &usb).expect("plug");
    site.wait_until(30, "the medium caught up again", |s| {
        let (status, _) = states_of(s, "usb-a", true);
        status["state"] == "present" && status["behind"] == 0
    });
    site.term();
    let (code, out) = verify(&usb, &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
}
