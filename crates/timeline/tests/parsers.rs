//! Every product's known lines, written by hand from the vendors' documented formats, with
//! the event each must give (kind, user, address, time); and lines that look alike but are
//! not events, which must give none. One `check` per line.

use logkeep_format::Timestamp;
use logkeep_timeline::event::Kind;
use logkeep_timeline::parse::parse;
use logkeep_timeline::when::Context;

/// The capture time the year-less lines take their year from.
const CAPTURED: &str = "2026-11-20T04:00:00Z";

#[track_caller]
fn check(line: &str, kind: Kind, user: Option<&str>, ip: Option<&str>, time: &str) {
    let f = parse(line).unwrap_or_else(|| panic!("no event in {line:?}"));
    assert_eq!(f.kind, kind, "{line}");
    assert_eq!(f.user.as_deref(), user, "user of {line}");
    assert_eq!(f.src_ip.as_deref(), ip, "address of {line}");
    let cx = Context {
        captured: Timestamp::parse(CAPTURED).unwrap(),
        assumed_offset: 0,
    };
    let (t, _) = f
        .time
        .and_then(|c| c.resolve(&cx))
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    assert_eq!(t, Timestamp::parse(time).unwrap(), "time of {line}");
}

#[track_caller]
fn none(line: &str) {
    assert_eq!(parse(line), None, "{line}");
}

#[test]
#[rustfmt::skip]
fn sshd_and_pam() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    check("Nov 20 03:10:12 gw sshd[812]: Accepted password for alice from 203.0.113.5 port 50122 ssh2", LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 gw sshd[812]: Accepted publickey for root from 2001:db8::7 port 50122 ssh2: ED25519 SHA256:abc", LogonSuccess, Some("root"), Some("2001:db8::7"), t);
    check("Nov 20 03:10:12 gw sshd[812]: Failed password for invalid user admin from 198.51.100.9 port 4022 ssh2", LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check("Nov 20 03:10:12 gw sshd[812]: Failed password for alice from 198.51.100.9 port 4022 ssh2", LogonFailure, Some("alice"), Some("198.51.100.9"), t);
    check("Nov 20 03:10:12 gw sshd[812]: Invalid user oracle from 198.51.100.9 port 4023", LogonFailure, Some("oracle"), Some("198.51.100.9"), t);
    check("Nov 20 03:10:12 gw sshd[812]: Disconnected from user alice 203.0.113.5 port 50122", Logoff, Some("alice"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 gw sshd[812]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.9  user=alice", LogonFailure, Some("alice"), Some("198.51.100.9"), t);
    check("Nov 20 03:10:12 gw sshd[812]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)", SessionStart, Some("alice"), None, t);
    check("Nov 20 03:10:12 gw sshd[812]: pam_unix(sshd:session): session closed for user alice", SessionEnd, Some("alice"), None, t);
    // The journal's ISO form (`journalctl -o short-iso`) and rsyslog's precise form.
    check("2026-11-20T12:10:12+0900 gw sshd[812]: Accepted password for alice from 203.0.113.5 port 50122 ssh2", LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check("2026-11-20T03:10:12.000000+00:00 gw sshd[812]: Accepted password for alice from 203.0.113.5 port 50122 ssh2", LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    none("Nov 20 03:10:12 gw sshd[812]: Connection closed by 198.51.100.9 port 4022 [preauth]");
    none("Nov 20 03:10:12 gw sshd[812]: Received disconnect from 198.51.100.9 port 4022:11: Bye Bye [preauth]");
    none("Nov 20 03:10:12 gw sshd[812]: Server listening on 0.0.0.0 port 22.");
    // Another program quoting an sshd line is not sshd.
    none("Nov 20 03:10:12 gw logger: Accepted password for alice from 203.0.113.5 port 50122 ssh2");
    none("Nov 20 03:10:12 gw CRON[99]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)x");
}

#[test]
#[rustfmt::skip]
fn sudo_and_accounts() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    check("Nov 20 03:10:12 gw sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash", PrivilegeUse, Some("alice"), None, t);
    check("Nov 20 03:10:12 gw sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash", LogonFailure, Some("alice"), None, t);
    check("Nov 20 03:10:12 gw useradd[901]: new user: name=backup2, UID=1002, GID=1002, home=/home/backup2, shell=/bin/bash, from=/dev/pts/0", AccountChange, Some("backup2"), None, t);
    none("Nov 20 03:10:12 gw sudo:    alice : command not allowed ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash");
    none("Nov 20 03:10:12 gw sudo: pam_unix(sudo:auth): conversation failed");
}

#[test]
#[rustfmt::skip]
fn openvpn() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    check("Nov 20 03:10:12 gw openvpn[700]: 203.0.113.5:51234 [alice] Peer Connection Initiated with [AF_INET]203.0.113.5:51234", VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 gw openvpn[700]: alice/203.0.113.5:51234 SIGTERM[soft,remote-exit] received, client-instance exiting", VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 gw ovpn-server[700]: 198.51.100.9:4000 TLS Auth Error: Auth Username/Password verification failed for peer", LogonFailure, None, Some("198.51.100.9"), t);
    // OpenVPN's own log file: ctime, and the ISO form of --log with timestamps.
    check("Fri Nov 20 03:10:12 2026 203.0.113.5:51234 [alice] Peer Connection Initiated with [AF_INET]203.0.113.5:51234", VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check("2026-11-20 03:10:12 alice/203.0.113.5:51234 SIGTERM[soft,remote-exit] received, client-instance exiting", VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    none("Nov 20 03:10:12 gw openvpn[700]: alice/203.0.113.5:51234 MULTI_sva: pool returned IPv4=10.8.0.6, IPv6=(Not enabled)");
    none("Fri Nov 20 03:10:12 2026 Initialization Sequence Completed");
}

#[test]
#[rustfmt::skip]
fn strongswan() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    check("Nov 20 03:10:12 gw charon: 10[IKE] IKE_SA rw[3] established between 192.0.2.1[gw.example]...203.0.113.5[alice@example.org]", VpnConnect, Some("alice@example.org"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 gw charon: 07[IKE] deleting IKE_SA rw[3] between 192.0.2.1[gw.example]...203.0.113.5[alice@example.org]", VpnDisconnect, Some("alice@example.org"), Some("203.0.113.5"), t);
    none("Nov 20 03:10:12 gw charon: 10[IKE] IKE_SA rw[3] state change: CONNECTING => ESTABLISHED");
    none("Nov 20 03:10:12 gw charon: 10[CFG] added configuration 'rw'");
}

#[test]
#[rustfmt::skip]
fn xrdp() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    check("[20261120-03:10:12] [INFO ] ++ created session (access granted): username alice, ip 203.0.113.5:51234 - socket: 12", SessionStart, Some("alice"), Some("203.0.113.5"), t);
    check("[20261120-03:10:12] [INFO ] ++ terminated session:  username alice, display :10.0, session_pid 2001, ip 203.0.113.5:51234 - socket: 12", SessionEnd, Some("alice"), Some("203.0.113.5"), t);
    check("[20261120-03:10:12] [INFO ] login successful for user alice on display 10", LogonSuccess, Some("alice"), None, t);
    check("Nov 20 03:10:12 gw xrdp-sesman[500]: login failed for user mallory", LogonFailure, Some("mallory"), None, t);
    none("[20261120-03:10:12] [INFO ] connected client computer name: DESKTOP-1");
    none("[20261120-03:10:12] [INFO ] xrdp-sesman started");
}

#[test]
#[rustfmt::skip]
fn wtmp_records() {
    use logkeep_timeline::wtmp;
    let mut rec = vec![0u8; wtmp::RECORD];
    rec[0..4].copy_from_slice(&7i32.to_le_bytes());
    rec[8..13].copy_from_slice(b"pts/0");
    rec[44..49].copy_from_slice(b"alice");
    rec[76..87].copy_from_slice(b"203.0.113.5");
    rec[340..344].copy_from_slice(&1_795_662_612u32.to_le_bytes());
    rec[348..352].copy_from_slice(&[203, 0, 113, 5]);
    let l = wtmp::parse(&rec, false).unwrap();
    assert_eq!(
        (l.kind, l.user.as_str(), l.from.as_str()),
        (Kind::LogonSuccess, "alice", "203.0.113.5")
    );
    assert_eq!(l.at, Timestamp::from_unix_nanos(1_795_662_612_000_000_000));
    assert_eq!(wtmp::parse(&rec, true).unwrap().kind, Kind::LogonFailure);
    rec[0..4].copy_from_slice(&2i32.to_le_bytes()); // BOOT_TIME
    assert!(wtmp::parse(&rec, false).is_none());
    assert!(wtmp::is_utmp_path("/var/log/wtmp") && wtmp::is_utmp_path("/var/log/btmp.1"));
    assert!(
        !wtmp::is_utmp_path("/var/log/wtmp-notes.txt.log")
            || wtmp::is_utmp_path("/var/log/wtmp-20261101")
    );
}

#[test]
#[rustfmt::skip]
fn fortigate() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    let head = "<189>date=2026-11-20 time=12:10:12 devname=\"FGT-EDGE\" devid=\"FG100F0000000001\"";
    check(&format!("{head} logid=\"0101039424\" type=\"event\" subtype=\"vpn\" level=\"information\" vd=\"root\" tz=\"+0900\" logdesc=\"SSL VPN tunnel up\" action=\"tunnel-up\" tunneltype=\"ssl-tunnel\" tunnelid=1 remip=203.0.113.5 user=\"alice\" group=\"vpn-users\" reason=\"N/A\" msg=\"SSL tunnel established\""), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{head} logid=\"0101039425\" type=\"event\" subtype=\"vpn\" tz=\"+0900\" logdesc=\"SSL VPN tunnel down\" action=\"tunnel-down\" remip=203.0.113.5 user=\"alice\""), VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{head} logid=\"0101039426\" type=\"event\" subtype=\"vpn\" tz=\"+0900\" logdesc=\"SSL VPN login fail\" action=\"ssl-login-fail\" remip=198.51.100.9 user=\"admin\" reason=\"sslvpn_login_permission_denied\""), LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{head} logid=\"0101039947\" type=\"event\" subtype=\"vpn\" tz=\"+0900\" logdesc=\"SSL VPN tunnel up\" remip=203.0.113.5 user=\"bob\""), VpnConnect, Some("bob"), Some("203.0.113.5"), t);
    check(&format!("{head} logid=\"0101039948\" type=\"event\" subtype=\"vpn\" tz=\"+0900\" logdesc=\"SSL VPN tunnel down\" remip=203.0.113.5 user=\"bob\""), VpnDisconnect, Some("bob"), Some("203.0.113.5"), t);
    check(&format!("{head} logid=\"0100032001\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Admin login successful\" user=\"admin\" ui=\"https(198.51.100.7)\" srcip=198.51.100.7 action=\"login\" status=\"success\""), AdminLogin, Some("admin"), Some("198.51.100.7"), t);
    check(&format!("{head} logid=\"0100032002\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Admin login failed\" user=\"admin\" srcip=198.51.100.9 action=\"login\" status=\"failed\""), LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{head} logid=\"0100032003\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Admin logout successful\" user=\"admin\" srcip=198.51.100.7"), Logoff, Some("admin"), Some("198.51.100.7"), t);
    check(&format!("{head} logid=\"0100032021\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Admin login disabled\" user=\"admin\""), LogonFailure, Some("admin"), None, t);
    check(&format!("{head} logid=\"0100044547\" type=\"event\" subtype=\"system\" tz=\"+0900\" logdesc=\"Object attribute configured\" user=\"admin\" ui=\"GUI(198.51.100.7)\" action=\"Edit\" cfgpath=\"firewall.policy\""), ConfigChange, Some("admin"), None, t);
    // Without `tz`, the time is local and the assumed zone applies (UTC here).
    check("date=2026-11-20 time=03:10:12 logid=\"0101039424\" type=\"event\" subtype=\"vpn\" remip=203.0.113.5 user=\"alice\"", VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    none(&format!("{head} logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" srcip=203.0.113.5 dstip=192.0.2.10 action=\"accept\""));
    none(&format!("{head} logid=\"0101039943\" type=\"event\" subtype=\"vpn\" logdesc=\"SSL VPN statistics\" user=\"alice\""));
    none("Nov 20 03:10:12 gw app: the logid=39424 of our ticket");
}

#[test]
#[rustfmt::skip]
fn cisco_asa() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    let h = "Nov 20 03:10:12 asa1 :";
    check(&format!("{h} %ASA-6-113039: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> AnyConnect parent session started."), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-4-113019: Group = GroupPolicy_VPN, Username = alice, IP = 203.0.113.5, Session disconnected. Session Type: SSL, Duration: 0h:12m:03s, Bytes xmt: 1000, Bytes rcv: 2000, Reason: User Requested"), VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-716001: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> WebVPN session started."), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-716002: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> WebVPN session terminated: User Requested."), VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-716038: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> Authentication: successful, Session Type: WebVPN."), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-716039: Group <DfltGrpPolicy> User <admin> IP <198.51.100.9> Authentication: rejected, Session Type: WebVPN."), LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{h} %ASA-6-722022: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> TCP SVC connection established without compression"), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-722023: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> TCP SVC connection terminated without compression"), VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-4-722051: Group <GroupPolicy_VPN> User <alice> IP <203.0.113.5> IPv4 Address <10.10.0.5> IPv6 address <::> assigned to session"), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} %ASA-6-605004: Login denied from 198.51.100.9/52311 to outside:192.0.2.1/ssh for user \"admin\""), LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{h} %ASA-6-605005: Login permitted from 198.51.100.7/52311 to inside:192.0.2.1/https for user \"admin\""), AdminLogin, Some("admin"), Some("198.51.100.7"), t);
    check(&format!("{h} %ASA-6-611101: User authentication succeeded: IP address: 198.51.100.7, Uname: admin"), LogonSuccess, Some("admin"), Some("198.51.100.7"), t);
    check(&format!("{h} %ASA-6-611102: User authentication failed: IP address: 198.51.100.9, Uname: admin"), LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{h} %ASA-5-111008: User 'admin' executed the 'write memory' command."), ConfigChange, Some("admin"), None, t);
    check(&format!("{h} %ASA-5-111010: User 'admin', running 'CLI' from IP 198.51.100.7, executed 'no logging enable'"), ConfigChange, Some("admin"), Some("198.51.100.7"), t);
    none(&format!("{h} %ASA-6-302013: Built inbound TCP connection 1 for outside:203.0.113.5/4000 (203.0.113.5/4000) to inside:192.0.2.10/443 (192.0.2.10/443)"));
    none(&format!("{h} %ASA-6-113039 without the colon"));
}

#[test]
#[rustfmt::skip]
fn ivanti() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    let h = "Nov 20 03:10:12 ics1 PulseSecure: 2026-11-20 03:10:12 - ive - [203.0.113.5] alice(Users)[Users] -";
    check(&format!("{h} AUT23457: Login succeeded for alice/Users (session:00000000) from 203.0.113.5 with Pulse-Secure/9.1.18."), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} AUT24326: Primary authentication successful for alice/Local from 203.0.113.5"), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check("Nov 20 03:10:12 ics1 PulseSecure: 2026-11-20 03:10:12 - ive - [198.51.100.9] admin(Users)[] - AUT24327: Primary authentication failed for admin/Local from 198.51.100.9", LogonFailure, Some("admin"), Some("198.51.100.9"), t);
    check(&format!("{h} AUT24414: Agent login succeeded for alice/Users from 203.0.113.5 with Pulse-Secure/9.1.18."), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} NWC23464: VPN Tunneling: Session started for user with IPv4 address 10.20.0.5, hostname DESKTOP-1"), VpnConnect, Some("alice"), Some("203.0.113.5"), t);
    check(&format!("{h} NWC23465: VPN Tunneling: Session ended for user with IPv4 address 10.20.0.5"), VpnDisconnect, Some("alice"), Some("203.0.113.5"), t);
    // WELF.
    check("id=firewall time=\"2026-11-20 03:10:12\" pri=6 fw=192.0.2.1 vpn=ive user=alice realm=\"Users\" roles=\"Users\" proto=auth src=203.0.113.5 type=vpn msg=\"AUT23457: Login succeeded for alice/Users (session:00000000) from 203.0.113.5.\"", LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    none(&format!("{h} AUT22673: Logout from 203.0.113.5 (session:00000000)"));
    none(&format!("{h} ERR24670: Cannot connect to NC client"));
}

#[test]
#[rustfmt::skip]
fn windows() {
    use Kind::*;
    let t = "2026-11-20T03:10:12Z";
    let wlb = |id: u32, channel: &str, provider: &str, data: &str| {format!("{{\"@timestamp\":\"2026-11-20T03:10:12.000Z\",\"winlog\":{{\"event_id\":\"{id}\",\"channel\":\"{channel}\",\"provider_name\":\"{provider}\",\"computer_name\":\"RDS1.example.local\",\"event_data\":{{{data}}}}}}}")};
    let sec = |id, data: &str| wlb(id, "Security", "Microsoft-Windows-Security-Auditing", data);
    check(&sec(4624, "\"TargetUserName\":\"alice\",\"LogonType\":\"10\",\"IpAddress\":\"203.0.113.5\""), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check(&sec(4624, "\"TargetUserName\":\"alice\",\"LogonType\":\"3\",\"IpAddress\":\"203.0.113.5\""), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    check(&sec(4624, "\"TargetUserName\":\"alice\",\"LogonType\":\"7\",\"IpAddress\":\"-\""), LogonSuccess, Some("alice"), None, t);
    check(&sec(4625, "\"TargetUserName\":\"administrator\",\"LogonType\":\"10\",\"IpAddress\":\"198.51.100.9\""), LogonFailure, Some("administrator"), Some("198.51.100.9"), t);
    check(&sec(4634, "\"TargetUserName\":\"alice\",\"LogonType\":\"10\""), Logoff, Some("alice"), None, t);
    check(&sec(4647, "\"TargetUserName\":\"alice\""), Logoff, Some("alice"), None, t);
    check(&sec(4778, "\"AccountName\":\"alice\",\"ClientAddress\":\"203.0.113.5\""), SessionStart, Some("alice"), Some("203.0.113.5"), t);
    check(&sec(4779, "\"AccountName\":\"alice\",\"ClientAddress\":\"203.0.113.5\""), SessionEnd, Some("alice"), Some("203.0.113.5"), t);
    check(&sec(4648, "\"SubjectUserName\":\"alice\",\"TargetUserName\":\"administrator\",\"IpAddress\":\"-\""), PrivilegeUse, Some("alice"), None, t);
    check(&sec(4672, "\"SubjectUserName\":\"administrator\""), PrivilegeUse, Some("administrator"), None, t);
    check(&sec(4720, "\"TargetUserName\":\"svc-backup\",\"SubjectUserName\":\"administrator\""), AccountChange, Some("svc-backup"), None, t);
    check(&sec(4732, "\"MemberName\":\"CN=svc-backup,CN=Users,DC=example,DC=local\",\"TargetUserName\":\"Administrators\""), AccountChange, Some("svc-backup"), None, t);
    check(&sec(4728, "\"MemberName\":\"-\",\"TargetUserName\":\"Domain Admins\""), AccountChange, Some("Domain Admins"), None, t);
    check("{\"@timestamp\":\"2026-11-20T03:10:12Z\",\"winlog\":{\"event_id\":1102,\"channel\":\"Security\",\"provider_name\":\"Microsoft-Windows-Eventlog\",\"user_data\":{\"SubjectUserName\":\"administrator\"}}}", LogCleared, Some("administrator"), None, t);
    check(&wlb(104, "System", "Microsoft-Windows-Eventlog", "\"Channel\":\"Application\",\"SubjectUserName\":\"administrator\""), LogCleared, Some("administrator"), None, t);
    check(&wlb(7045, "System", "Service Control Manager", "\"ServiceName\":\"PSEXESVC\",\"ImagePath\":\"%SystemRoot%\\\\PSEXESVC.exe\",\"AccountName\":\"LocalSystem\""), ServiceInstalled, Some("LocalSystem"), None, t);
    check(&wlb(1149, "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational", "Microsoft-Windows-TerminalServices-RemoteConnectionManager", "\"Param1\":\"alice\",\"Param2\":\"EXAMPLE\",\"Param3\":\"203.0.113.5\""), LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    let lsm = |id| {wlb(id, "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", "Microsoft-Windows-TerminalServices-LocalSessionManager", "\"User\":\"EXAMPLE\\\\alice\",\"SessionID\":\"2\",\"Address\":\"203.0.113.5\"")};
    check(&lsm(21), SessionStart, Some("alice"), Some("203.0.113.5"), t);
    check(&lsm(22), SessionStart, Some("alice"), Some("203.0.113.5"), t);
    check(&lsm(24), SessionEnd, Some("alice"), Some("203.0.113.5"), t);
    check(&lsm(25), SessionStart, Some("alice"), Some("203.0.113.5"), t);
    check(&lsm(23), Logoff, Some("alice"), None, t);
    // NXLog's to_json(): local EventTime (the assumed zone: UTC here), fields at the top.
    check("{\"EventTime\":\"2026-11-20 03:10:12\",\"Hostname\":\"RDS1\",\"EventID\":4624,\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"TargetUserName\":\"alice\",\"LogonType\":\"10\",\"IpAddress\":\"203.0.113.5\"}", LogonSuccess, Some("alice"), Some("203.0.113.5"), t);
    // After a syslog header (NXLog sending JSON over syslog).
    check("<14>Nov 20 03:10:12 RDS1 NXLog: {\"EventTime\":\"2026-11-20 03:10:12\",\"EventID\":4625,\"Channel\":\"Security\",\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"TargetUserName\":\"bob\",\"IpAddress\":\"198.51.100.9\"}", LogonFailure, Some("bob"), Some("198.51.100.9"), t);
    // Logon types that are not remote access, other channels reusing ids, broken JSON.
    none(&sec(4624, "\"TargetUserName\":\"SYSTEM\",\"LogonType\":\"5\""));
    none(&wlb(4624, "Application", "MyApp", "\"TargetUserName\":\"alice\",\"LogonType\":\"10\""));
    none(&wlb(104, "System", "Microsoft-Windows-Kernel-General", ""));
    none(&wlb(21, "Application", "MyApp", "\"User\":\"alice\""));
    none("{\"EventID\":4624,");
    none("{\"message\":\"4624 logon\"}");
}
