//! A segment file (`docs/FORMAT.md`): a zstd frame holding a tar stream of byte ranges and a
//! manifest, read as `verify` and `extract` read one.
//!
//! The control byte's lowest bit chooses what the rest is: the segment file itself (0), or its
//! tar stream (1), which this target compresses first, so that the fuzzer works on tar
//! headers and the manifest directly. Its upper bits bound the decompressed size.
//!
//! Checked: the digest and size are those of the file; every member handed out is read to
//! exactly its size or the segment is reported flawed; a tar stream compressed here is seen
//! whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logkeep_format::Sha256;
use logkeep_format::segment::{MemberSink, read_segment};
use std::io::{self, Read};

/// Reads every member, counting those shorter than their tar header says.
struct Sizes(usize);

impl MemberSink for Sizes {
    fn member(&mut self, _: usize, _: &str, size: u64, data: &mut dyn Read) -> io::Result<()> {
        if io::copy(data, &mut io::sink())? != size {
            self.0 += 1;
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let compressed;
    let (file, tar_len) = if control & 1 == 0 {
        (rest, None)
    } else {
        compressed = zstd::bulk::compress(rest, 1).expect("zstd compresses any bytes");
        (&compressed[..], Some(rest.len() as u64))
    };
    let max = match control >> 1 {
        0 => u64::MAX,
        m => u64::from(m) * 512,
    };
    let mut sizes = Sizes(0);
    let Ok(seen) = read_segment(file, max, &mut sizes) else {
        return;
    };
    assert_eq!(seen.sha256, Sha256::of(file));
    assert_eq!(seen.size, file.len() as u64);
    assert!(
        sizes.0 == 0 || !seen.flaws.is_empty(),
        "a member shorter than its header, and no flaw reported"
    );
    if let (Some(n), Some(content)) = (tar_len, seen.content)
        && n <= max
    {
        assert_eq!(content, n, "the decompressed size is not the tar stream's");
    }
});
