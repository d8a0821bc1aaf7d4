//! SHA-256 digests as a value type, and readers/writers that hash what passes through them.
//!
//! Every hash in format v1 is SHA-256, written as 64 lowercase hexadecimal characters.

use sha2::{Digest, Sha256 as Hasher};
use std::fmt;
use std::io::{self, Read, Write};

/// A SHA-256 digest. Serialized as 64 lowercase hex characters; anything else is rejected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The all-zero digest, used as `prev` of the first record of a chain.
    pub const ZERO: Sha256 = Sha256([0; 32]);

    /// Hash a byte slice in one go.
    pub fn of(data: &[u8]) -> Sha256 {
        Sha256(Hasher::digest(data).into())
    }

    /// Parse 64 lowercase hex characters.
    pub fn parse(s: &str) -> Option<Sha256> {
        if s.len() != 64 || s.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Sha256(out))
    }

    /// The lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl serde::Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Sha256::parse(&s).ok_or_else(|| {
            serde::de::Error::custom("expected a SHA-256 digest as 64 lowercase hex characters")
        })
    }
}

/// A writer that hashes and counts every byte it passes on.
pub struct HashWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }

    /// The inner writer, the digest and the number of bytes written.
    pub fn finish(self) -> (W, Sha256, u64) {
        (
            self.inner,
            Sha256(self.hasher.finalize().into()),
            self.count,
        )
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
    limit: u64,
}

impl<R: Read> HashReader<R> {
    /// Wrap `inner`; reading more than `limit` bytes fails with [`io::ErrorKind::FileTooLarge`]
    /// so that hostile input cannot make us read (or decompress) without bound.
    pub fn with_limit(inner: R, limit: u64) -> Self {
        HashReader {
            inner,
            hasher: Hasher::new(),
            count: 0,
            limit,
        }
    }

    /// The digest and the number of bytes read.
    pub fn finish(self) -> (Sha256, u64) {
        (Sha256(self.hasher.finalize().into()), self.count)
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("more than the {} bytes allowed here", self.limit),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let h = Sha256::of(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256::parse(&h.to_hex()), Some(h));
        assert_eq!(Sha256::parse(&h.to_hex().to_uppercase()), None);
        assert_eq!(Sha256::parse("ab"), None);
    }

    #[test]
    fn reader_limit_is_enforced() {
        let mut r = HashReader::with_limit(&b"0123456789"[..], 4);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }
}
