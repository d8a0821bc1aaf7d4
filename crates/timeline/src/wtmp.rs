//! wtmp and btmp: fixed 384-byte `struct utmp` records as glibc writes them on x86_64 (and
//! other 64-bit Linux ABIs with a 32-bit `ut_tv`), little-endian:
//!
//! ```text
//! offset size field
//!      0    4 ut_type     7 USER_PROCESS, 8 DEAD_PROCESS, 6 LOGIN_PROCESS, …
//!      4    4 ut_pid
//!      8   32 ut_line     tty, NUL-padded
//!     40    4 ut_id
//!     44   32 ut_user
//!     76  256 ut_host     remote host or address, NUL-padded
//!    332    4 ut_exit
//!    336    4 ut_session
//!    340    4 ut_tv.tv_sec
//!    344    4 ut_tv.tv_usec
//!    348   16 ut_addr_v6  IPv4 in the first word, network byte order
//!    364   20 unused
//! ```
//!
//! In wtmp a `USER_PROCESS` record is a logon and a `DEAD_PROCESS` record a logoff; in btmp
//! every record is a failed logon.

use crate::event::Kind;
use logkeep_format::Timestamp;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Size of one record.
pub const RECORD: usize = 384;

/// Whether a file of this path holds utmp records.
pub fn is_utmp_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    ["wtmp", "btmp"].iter().any(|n| {
        name == *n || name.starts_with(&format!("{n}.")) || name.starts_with(&format!("{n}-"))
    })
}

/// Whether the path is a btmp file (failed logons).
pub fn is_btmp(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or(path).starts_with("btmp")
}

/// One record's event: kind, user, address (or host name), time, tty.
pub struct Login {
    /// What it says.
    pub kind: Kind,
    /// `ut_user`.
    pub user: String,
    /// The address from `ut_addr_v6`, else `ut_host`.
    pub from: String,
    /// `ut_tv`.
    pub at: Timestamp,
    /// `ut_line`.
    pub line: String,
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn word(b: &[u8], at: usize) -> [u8; 4] {
    [b[at], b[at + 1], b[at + 2], b[at + 3]]
}

/// The event of one record, if it is one.
pub fn parse(rec: &[u8], btmp: bool) -> Option<Login> {
    if rec.len() != RECORD {
        return None;
    }
    let ty = i32::from_le_bytes(word(rec, 0));
    let kind = match (btmp, ty) {
        (true, 6 | 7) => Kind::LogonFailure,
        (false, 7) => Kind::LogonSuccess,
        (false, 8) => Kind::Logoff,
        _ => return None,
    };
    let sec = u32::from_le_bytes(word(rec, 340));
    let usec = u32::from_le_bytes(word(rec, 344));
    if usec >= 1_000_000 {
        return None;
    }
    let a = &rec[348..364];
    let from = if a[4..].iter().any(|&b| b != 0) {
        let mut o = [0u8; 16];
        o.copy_from_slice(a);
        Ipv6Addr::from(o).to_string()
    } else if a[..4].iter().any(|&b| b != 0) {
        Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
    } else {
        cstr(&rec[76..332])
    };
    Some(Login {
        kind,
        user: cstr(&rec[44..76]),
        from,
        at: Timestamp::from_unix_nanos(i128::from(sec) * 1_000_000_000 + i128::from(usec) * 1000),
        line: cstr(&rec[8..40]),
    })
}
