//! A deterministic corpus of edge-host logs: OpenVPN and FortiGate SSL-VPN, sshd authentication,
//! firewall key=value and kernel lines, and Windows Security events as NXLog-style JSON.
//!
//! The same seed gives the same bytes on every machine (ChaCha8 is a portable stream), so two
//! runs of the benchmark, or two machines, measure the same input. The lines vary the way real
//! ones do: many distinct source addresses with a skewed set of repeat offenders, employee and
//! brute-force user names, ephemeral ports, session ids, and a clock that advances a few
//! milliseconds per line. That keeps zstd's ratio in the range real logs show (a repeated line
//! would compress a hundredfold and make every throughput figure meaningless).
//!
//! Two rare kinds of line are there on purpose, because real appliances emit them and
//! byte-exact capture must keep them: empty lines (about 1 in 10,000) and PowerShell
//! script-block events longer than 8 KiB (about 1 in 40,000).

use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What was written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CorpusStats {
    /// Bytes written.
    pub bytes: u64,
    /// Lines written (each ends with a newline).
    pub lines: u64,
    /// Empty lines among them.
    pub empty_lines: u64,
    /// Lines longer than 8 KiB (rsyslog's default maximum message size).
    pub long_lines: u64,
    /// Longest line, without its newline.
    pub longest_line: u64,
}

const SURNAMES: &[&str] = &[
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "watanabe",
    "ito",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
    "shimizu",
    "yamazaki",
    "mori",
    "abe",
    "ikeda",
    "hashimoto",
    "ishikawa",
];

/// Names that scanners try on every exposed login.
const GUESSES: &[&str] = &[
    "admin",
    "administrator",
    "root",
    "test",
    "guest",
    "oracle",
    "postgres",
    "ubuntu",
    "user",
    "support",
    "ftpuser",
    "git",
    "pi",
    "vpn",
    "backup",
    "scanner",
    "Administrator",
    "sa",
];

const PS_WORDS: &[&str] = &[
    "$client",
    "=",
    "New-Object",
    "System.Net.Sockets.TCPClient",
    "$stream",
    "$client.GetStream();",
    "[byte[]]$bytes",
    "0..65535|%{0};",
    "while(($i",
    "$stream.Read($bytes,",
    "0,",
    "$bytes.Length))",
    "-ne",
    "0){;",
    "$data",
    "(New-Object",
    "-TypeName",
    "System.Text.ASCIIEncoding).GetString($bytes,0,",
    "$i);",
    "$sendback",
    "(iex",
    "2>&1",
    "|",
    "Out-String",
    ");",
    "Invoke-WebRequest",
    "-Uri",
    "-OutFile",
    "$env:TEMP",
    "Start-Process",
    "-WindowStyle",
    "Hidden",
    "Get-ADUser",
    "-Filter",
    "*",
    "-Properties",
    "Set-MpPreference",
    "-DisableRealtimeMonitoring",
    "$true",
    "vssadmin",
    "delete",
    "shadows",
    "/all",
    "/quiet",
    "wevtutil",
    "cl",
    "Security",
];

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Calendar strings of one second, recomputed only when the simulated second changes.
struct Clock {
    secs: u64,
    /// `2026-11-20T04:00:00Z`
    iso: String,
    /// `Nov 20 04:00:00`
    syslog: String,
}

impl Clock {
    fn at(secs: u64) -> Clock {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let iso = humantime::format_rfc3339_seconds(t).to_string();
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month: usize = iso[5..7].parse().unwrap_or(1);
        let day: u32 = iso[8..10].parse().unwrap_or(1);
        let syslog = format!("{} {day:>2} {}", MONTHS[month - 1], &iso[11..19]);
        Clock { secs, iso, syslog }
    }
    fn date(&self) -> &str {
        &self.iso[..10]
    }
    fn time(&self) -> &str {
        &self.iso[11..19]
    }
}

/// The line generator.
pub struct Generator {
    rng: ChaCha8Rng,
    /// Simulated wall time in milliseconds since the epoch.
    ms: u64,
    clock: Clock,
    users: Vec<String>,
    /// Addresses that come back again and again (scanners, brute-forcers, the staff's homes).
    regulars: Vec<u32>,
    record_number: u64,
    session: u64,
    uptime_us: u64,
}

/// 2026-11-20T00:00:00Z, the corpus's first second.
const EPOCH_START: u64 = 1_795_132_800;

impl Generator {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut users = Vec::new();
        for s in SURNAMES {
            for _ in 0..6 {
                let initial = (b'a' + rng.random_range(0..26u8)) as char;
                users.push(format!("{initial}.{s}"));
            }
        }
        users
            .extend(["svc_backup", "svc_scan", "deploy", "helpdesk", "it-admin"].map(String::from));
        let regulars = (0..400).map(|_| rng.random::<u32>()).collect();
        let ms = (EPOCH_START + seed % 86_400) * 1000;
        Generator {
            clock: Clock::at(ms / 1000),
            rng,
            ms,
            users,
            regulars,
            record_number: 48_211_000 + seed % 1000,
            session: 3_100_000,
            uptime_us: 912_345_678_901,
        }
    }

    fn tick(&mut self) {
        let step = self.rng.random_range(0..12u64);
        self.ms += step;
        self.uptime_us += step * 1000 + self.rng.random_range(0..1000u64);
        if self.ms / 1000 != self.clock.secs {
            self.clock = Clock::at(self.ms / 1000);
        }
    }

    fn external(&mut self) -> u32 {
        if self.rng.random_bool(0.6) {
            // Skewed towards the first entries: a few addresses make most of the noise.
            let r: f64 = self.rng.random();
            self.regulars[(r * r * self.regulars.len() as f64) as usize]
        } else {
            self.rng.random()
        }
    }

    fn internal(&mut self) -> u32 {
        u32::from_be_bytes([
            10,
            self.rng.random_range(0..4),
            self.rng.random_range(0..=255),
            self.rng.random_range(1..255),
        ])
    }

    fn user(&mut self) -> String {
        if self.rng.random_bool(0.35) {
            GUESSES[self.rng.random_range(0..GUESSES.len())].to_owned()
        } else {
            let i = self.rng.random_range(0..self.users.len());
            self.users[i].clone()
        }
    }

    fn port(&mut self) -> u16 {
        self.rng.random_range(1024..=65535)
    }

    fn hex(&mut self, digits: usize) -> String {
        let mut s = String::with_capacity(digits);
        for _ in 0..digits {
            s.push(char::from(
                b"0123456789abcdef"[self.rng.random_range(0..16)],
            ));
        }
        s
    }

    /// Append one line, newline included.
    pub fn line(&mut self, out: &mut Vec<u8>) {
        self.tick();
        if self.rng.random_ratio(1, 10_000) {
            out.push(b'\n');
            return;
        }
        let kind = self.rng.random_range(0..100u32);
        let r = match kind {
            0..40 => self.firewall(out),
            40..48 => self.fortigate_vpn(out),
            48..60 => self.openvpn(out),
            60..80 => self.sshd(out),
            _ => self.windows(out),
        };
        r.expect("writing to a Vec cannot fail");
        out.push(b'\n');
    }

    fn firewall(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        if self.rng.random_bool(0.3) {
            let src = ip(self.external());
            let dst = ip(self.rng.random_range(0xCB00_7100..0xCB00_71FF));
            let dpt = [22, 3389, 443, 445, 23, 8080, 10443, 1194][self.rng.random_range(0..8)];
            let (spt, len, ttl, id, win) = (
                self.port(),
                self.rng.random_range(40..80),
                self.rng.random_range(30..128),
                self.rng.random::<u16>(),
                self.rng.random_range(1024..65535),
            );
            let up = self.uptime_us;
            let mac = self.hex(6);
            return write!(
                out,
                "{} gw01 kernel: [{}.{:06}] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:00:1c:7f:{}:{}:{}:08:00 SRC={src} DST={dst} LEN={len} TOS=0x00 PREC=0x00 TTL={ttl} ID={id} DF PROTO=TCP SPT={spt} DPT={dpt} WINDOW={win} RES=0x00 SYN URGP=0",
                self.clock.syslog,
                up / 1_000_000,
                up % 1_000_000,
                &mac[0..2],
                &mac[2..4],
                &mac[4..6],
            );
        }
        let outbound = self.rng.random_bool(0.7);
        let (src, dst) = if outbound {
            (self.internal(), self.rng.random())
        } else {
            (self.external(), 0xC633_6402)
        };
        let (srcport, dstport, service) = if outbound {
            let (p, s) = [
                (443, "HTTPS"),
                (80, "HTTP"),
                (53, "DNS"),
                (123, "NTP"),
                (993, "IMAPS"),
            ][self.rng.random_range(0..5)];
            (self.port(), p, s)
        } else {
            let (p, s) =
                [(10443, "SSLVPN"), (3389, "RDP"), (22, "SSH")][self.rng.random_range(0..3)];
            (self.port(), p, s)
        };
        let accept = outbound || self.rng.random_bool(0.2);
        let proto = if dstport == 53 || dstport == 123 {
            17
        } else {
            6
        };
        self.session += self.rng.random_range(1..40);
        let (sent, rcvd) = (
            self.rng.random_range(40..200_000u32),
            self.rng.random_range(0..2_000_000u32),
        );
        let country = [
            "Japan",
            "United States",
            "China",
            "Russian Federation",
            "Netherlands",
            "Germany",
            "Korea, Republic of",
            "Singapore",
        ][self.rng.random_range(0..8)];
        write!(
            out,
            "date={} time={} devname=\"FGT60F-HQ\" devid=\"FGT60FTK2109B4C1\" eventtime={}{:06} tz=\"+0900\" logid=\"{}\" type=\"traffic\" subtype=\"{}\" level=\"notice\" vd=\"root\" srcip={} srcport={srcport} srcintf=\"{}\" srcintfrole=\"{}\" dstip={} dstport={dstport} dstintf=\"{}\" dstintfrole=\"{}\" srccountry=\"{}\" dstcountry=\"{}\" sessionid={} proto={proto} action=\"{}\" policyid={} policytype=\"policy\" service=\"{service}\" trandisp=\"{}\" duration={} sentbyte={sent} rcvdbyte={rcvd} sentpkt={} rcvdpkt={} appcat=\"unscanned\"",
            self.clock.date(),
            self.clock.time(),
            self.ms,
            self.rng.random_range(0..1_000_000u32),
            if outbound { "0000000013" } else { "0000000011" },
            if outbound { "forward" } else { "local" },
            ip(src),
            if outbound { "internal" } else { "wan1" },
            if outbound { "lan" } else { "wan" },
            ip(dst),
            if outbound { "wan1" } else { "root" },
            if outbound { "wan" } else { "undefined" },
            if outbound { "Reserved" } else { country },
            if outbound { country } else { "Reserved" },
            self.session,
            if accept { "accept" } else { "deny" },
            if accept {
                self.rng.random_range(1..30)
            } else {
                0
            },
            if outbound { "snat" } else { "noop" },
            self.rng.random_range(0..600),
            sent / 700 + 1,
            rcvd / 1200 + 1,
        )
    }

    fn fortigate_vpn(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let user = self.user();
        let remip = ip(self.external());
        let (logid, action, msg, reason) = match self.rng.random_range(0..10) {
            0..4 => (
                "0101039426",
                "ssl-login-fail",
                "SSL user failed to logged in",
                "sslvpn_login_unknown_user",
            ),
            4..7 => ("0101039424", "tunnel-up", "SSL tunnel established", "N/A"),
            _ => ("0101039425", "tunnel-down", "SSL tunnel shutdown", "N/A"),
        };
        write!(
            out,
            "date={} time={} devname=\"FGT60F-HQ\" devid=\"FGT60FTK2109B4C1\" eventtime={}{:06} tz=\"+0900\" logid=\"{logid}\" type=\"event\" subtype=\"vpn\" level=\"{}\" vd=\"root\" logdesc=\"{msg}\" action=\"{action}\" tunneltype=\"ssl-tunnel\" tunnelid={} remip={remip} tunnelip=10.212.134.{} user=\"{user}\" group=\"SSLVPN-Users\" dst_host=\"N/A\" reason=\"{reason}\" msg=\"{msg}\"",
            self.clock.date(),
            self.clock.time(),
            self.ms,
            self.rng.random_range(0..1_000_000u32),
            if action == "ssl-login-fail" {
                "alert"
            } else {
                "information"
            },
            self.rng.random_range(100_000_000..999_999_999u32),
            self.rng.random_range(1..255),
        )
    }

    fn openvpn(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let (addr, port, user) = (ip(self.external()), self.port(), self.user());
        let pid = 1187;
        write!(out, "{} vpn-gw01 openvpn[{pid}]: ", self.clock.syslog)?;
        match self.rng.random_range(0..8) {
            0 => {
                let (a, b) = (self.hex(8), self.hex(8));
                write!(
                    out,
                    "{addr}:{port} TLS: Initial packet from [AF_INET]{addr}:{port}, sid={a} {b}"
                )
            }
            1 => write!(out, "{addr}:{port} VERIFY OK: depth=0, CN={user}"),
            2 => write!(
                out,
                "{addr}:{port} [{user}] Peer Connection Initiated with [AF_INET]{addr}:{port}"
            ),
            3 => write!(
                out,
                "{user}/{addr}:{port} MULTI_sva: pool returned IPv4=10.8.{}.{}, IPv6=(Not enabled)",
                self.rng.random_range(0..4),
                self.rng.random_range(2..255)
            ),
            4 => write!(
                out,
                "{addr}:{port} TLS Error: TLS key negotiation failed to occur within 60 seconds (check your network connectivity)"
            ),
            5 => write!(
                out,
                "{user}/{addr}:{port} SIGUSR1[soft,ping-restart] received, client-instance restarting"
            ),
            6 => write!(
                out,
                "{addr}:{port} TLS Auth Error: Auth Username/Password verification failed for peer"
            ),
            _ => write!(
                out,
                "{user}/{addr}:{port} Data Channel: cipher 'AES-256-GCM', peer-id: {}",
                self.rng.random_range(0..64)
            ),
        }
    }

    fn sshd(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        let pid = self.rng.random_range(20_000..99_999);
        let (addr, port, user) = (ip(self.external()), self.port(), self.user());
        write!(out, "{} bastion01 sshd[{pid}]: ", self.clock.syslog)?;
        match self.rng.random_range(0..9) {
            0 | 1 => write!(
                out,
                "Failed password for invalid user {user} from {addr} port {port} ssh2"
            ),
            2 => write!(
                out,
                "Failed password for {user} from {addr} port {port} ssh2"
            ),
            3 => write!(out, "Invalid user {user} from {addr} port {port}"),
            4 => {
                let mut fp = String::new();
                for _ in 0..43 {
                    fp.push(char::from(B64[self.rng.random_range(0..64)]));
                }
                write!(
                    out,
                    "Accepted publickey for {user} from {} port {port} ssh2: ED25519 SHA256:{fp}",
                    ip(self.internal())
                )
            }
            5 => write!(
                out,
                "pam_unix(sshd:session): session opened for user {user}(uid={}) by (uid=0)",
                self.rng.random_range(1000..1100)
            ),
            6 => write!(
                out,
                "Connection closed by authenticating user {user} {addr} port {port} [preauth]"
            ),
            7 => write!(
                out,
                "Received disconnect from {addr} port {port}:11: Bye Bye [preauth]"
            ),
            _ => write!(
                out,
                "Disconnected from invalid user {user} {addr} port {port} [preauth]"
            ),
        }
    }

    fn windows(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.record_number += 1;
        let host = [
            "RDP-GW01.corp.example",
            "DC01.corp.example",
            "FS01.corp.example",
        ][self.rng.random_range(0..3)];
        let common = format!(
            "\"EventTime\":\"{} {}\",\"Hostname\":\"{host}\",\"RecordNumber\":{},\"ProcessID\":{},\"ThreadID\":{}",
            self.clock.date(),
            self.clock.time(),
            self.record_number,
            self.rng.random_range(500..900),
            self.rng.random_range(1000..9000),
        );
        if self.rng.random_ratio(1, 400) {
            return self.script_block(out, &common);
        }
        let user = self.user();
        let addr = ip(self.external());
        let port = self.port();
        let logon_id = self.hex(8);
        match self.rng.random_range(0..10) {
            0..4 => write!(
                out,
                "{{{common},\"EventID\":4625,\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"Severity\":\"AUDIT_FAILURE\",\"TargetUserName\":\"{user}\",\"TargetDomainName\":\"CORP\",\"Status\":\"0xc000006d\",\"SubStatus\":\"{}\",\"LogonType\":\"{}\",\"LogonProcessName\":\"NtLmSsp \",\"AuthenticationPackageName\":\"NTLM\",\"WorkstationName\":\"{}\",\"IpAddress\":\"{addr}\",\"IpPort\":\"{port}\",\"Message\":\"An account failed to log on.\\r\\n\\r\\nSubject:\\r\\n\\tSecurity ID:\\t\\tS-1-0-0\\r\\n\\tAccount Name:\\t\\t-\\r\\n\\tAccount Domain:\\t\\t-\\r\\n\\tLogon ID:\\t\\t0x0\\r\\n\\r\\nLogon Type:\\t\\t\\t3\\r\\n\\r\\nAccount For Which Logon Failed:\\r\\n\\tSecurity ID:\\t\\tS-1-0-0\\r\\n\\tAccount Name:\\t\\t{user}\\r\\n\\tAccount Domain:\\t\\tCORP\\r\\n\\r\\nFailure Information:\\r\\n\\tFailure Reason:\\t\\tUnknown user name or bad password.\\r\\n\\tStatus:\\t\\t\\t0xC000006D\\r\\n\\r\\nNetwork Information:\\r\\n\\tWorkstation Name:\\t-\\r\\n\\tSource Network Address:\\t{addr}\\r\\n\\tSource Port:\\t\\t{port}\"}}",
                ["0xc0000064", "0xc000006a", "0xc0000072"][self.rng.random_range(0..3)],
                [3, 10][self.rng.random_range(0..2)],
                ["-", "WIN-8G4K2T", "kali", "DESKTOP-7QH1"][self.rng.random_range(0..4)],
            ),
            4..6 => write!(
                out,
                "{{{common},\"EventID\":4624,\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"Severity\":\"AUDIT_SUCCESS\",\"TargetUserName\":\"{user}\",\"TargetDomainName\":\"CORP\",\"TargetLogonId\":\"0x{logon_id}\",\"LogonType\":\"{}\",\"LogonProcessName\":\"User32 \",\"AuthenticationPackageName\":\"Negotiate\",\"IpAddress\":\"{}\",\"IpPort\":\"{port}\",\"ElevatedToken\":\"%%1843\",\"Message\":\"An account was successfully logged on.\\r\\n\\r\\nLogon Information:\\r\\n\\tLogon Type:\\t\\t10\\r\\n\\tRestricted Admin Mode:\\t-\\r\\n\\tVirtual Account:\\t\\tNo\\r\\n\\tElevated Token:\\t\\tYes\\r\\n\\r\\nNew Logon:\\r\\n\\tAccount Name:\\t\\t{user}\\r\\n\\tAccount Domain:\\t\\tCORP\\r\\n\\tLogon ID:\\t\\t0x{logon_id}\"}}",
                [2, 3, 10][self.rng.random_range(0..3)],
                ip(self.internal()),
            ),
            6 => write!(
                out,
                "{{{common},\"EventID\":4634,\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"Severity\":\"AUDIT_SUCCESS\",\"TargetUserName\":\"{user}\",\"TargetDomainName\":\"CORP\",\"TargetLogonId\":\"0x{logon_id}\",\"LogonType\":\"10\",\"Message\":\"An account was logged off.\"}}"
            ),
            7 => write!(
                out,
                "{{{common},\"EventID\":1149,\"SourceName\":\"Microsoft-Windows-TerminalServices-RemoteConnectionManager\",\"Channel\":\"Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational\",\"Severity\":\"INFO\",\"Param1\":\"{user}\",\"Param2\":\"CORP\",\"Param3\":\"{addr}\",\"Message\":\"Remote Desktop Services: User authentication succeeded:\\r\\n\\r\\nUser: {user}\\r\\nDomain: CORP\\r\\nSource Network Address: {addr}\"}}"
            ),
            8 => write!(
                out,
                "{{{common},\"EventID\":4776,\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"Channel\":\"Security\",\"Severity\":\"AUDIT_FAILURE\",\"PackageName\":\"MICROSOFT_AUTHENTICATION_PACKAGE_V1_0\",\"TargetUserName\":\"{user}\",\"Workstation\":\"WIN-{}\",\"Status\":\"0xc0000064\",\"Message\":\"The computer attempted to validate the credentials for an account.\"}}",
                self.hex(6).to_uppercase()
            ),
            _ => write!(
                out,
                "{{{common},\"EventID\":{},\"SourceName\":\"Microsoft-Windows-TerminalServices-LocalSessionManager\",\"Channel\":\"Microsoft-Windows-TerminalServices-LocalSessionManager/Operational\",\"Severity\":\"INFO\",\"User\":\"CORP\\\\{user}\",\"SessionID\":\"{}\",\"Address\":\"{addr}\"}}",
                [21, 24, 25][self.rng.random_range(0..3)],
                self.rng.random_range(1..40)
            ),
        }
    }

    /// Event 4104: a PowerShell script block, often a long obfuscated one.
    fn script_block(&mut self, out: &mut Vec<u8>, common: &str) -> std::io::Result<()> {
        write!(
            out,
            "{{{common},\"EventID\":4104,\"SourceName\":\"Microsoft-Windows-PowerShell\",\"Channel\":\"Microsoft-Windows-PowerShell/Operational\",\"Severity\":\"WARNING\",\"ScriptBlockId\":\"{}-{}-{}-{}-{}\",\"ScriptBlockText\":\"",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )?;
        // Most are short; one in a hundred carries an encoded payload past 8 KiB.
        let long = self.rng.random_ratio(1, 100);
        let words = if long {
            self.rng.random_range(200..600)
        } else {
            self.rng.random_range(10..60)
        };
        for _ in 0..words {
            out.extend_from_slice(PS_WORDS[self.rng.random_range(0..PS_WORDS.len())].as_bytes());
            out.push(b' ');
        }
        if long {
            out.extend_from_slice(b"-EncodedCommand ");
            for _ in 0..self.rng.random_range(6_000..16_000) {
                out.push(B64[self.rng.random_range(0..64)]);
            }
        }
        out.extend_from_slice(b"\"}");
        Ok(())
    }
}

fn ip(a: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(a)
}

/// Count what one line contributes to the statistics (`line` without its newline).
pub fn account(stats: &mut CorpusStats, line: &[u8]) {
    stats.lines += 1;
    stats.bytes += line.len() as u64 + 1;
    if line.is_empty() {
        stats.empty_lines += 1;
    }
    if line.len() > 8192 {
        stats.long_lines += 1;
    }
    stats.longest_line = stats.longest_line.max(line.len() as u64);
}

/// Write at least `size` bytes of whole lines from `seed` to `path`.
pub fn write_file(path: &Path, size: u64, seed: u64) -> Result<CorpusStats> {
    let f = File::create(path).with_context(|| format!("{}: cannot create", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut g = Generator::new(seed);
    let mut stats = CorpusStats::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    while stats.bytes < size {
        buf.clear();
        g.line(&mut buf);
        account(&mut stats, &buf[..buf.len() - 1]);
        w.write_all(&buf)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_whole_lines() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut ga, mut gb) = (Generator::new(7), Generator::new(7));
        for _ in 0..2000 {
            ga.line(&mut a);
            gb.line(&mut b);
        }
        assert_eq!(a, b);
        assert_eq!(a.last(), Some(&b'\n'));
        let mut c = Vec::new();
        let mut gc = Generator::new(8);
        for _ in 0..2000 {
            gc.line(&mut c);
        }
        assert_ne!(a, c);
    }

    #[test]
    fn compresses_like_logs_not_like_repeated_text() {
        let mut a = Vec::new();
        let mut g = Generator::new(1);
        while a.len() < 4 << 20 {
            g.line(&mut a);
        }
        let z = zstd_ratio(&a);
        assert!((3.0..20.0).contains(&z), "zstd -3 ratio {z}");
    }

    fn zstd_ratio(data: &[u8]) -> f64 {
        use std::process::{Command, Stdio};
        let mut child = Command::new("zstd")
            .args(["-3", "-c"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("zstd");
        let mut stdin = child.stdin.take().expect("stdin");
        let data2 = data.to_vec();
        let t = std::thread::spawn(move || stdin.write_all(&data2));
        let out = child.wait_with_output().expect("zstd output");
        t.join().expect("join").expect("write");
        data.len() as f64 / out.stdout.len() as f64
    }
}
