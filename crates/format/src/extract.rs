//! Byte-exact reconstruction of captured files from a verified store.
//!
//! Every file generation becomes one output file, `OUT/SOURCE/ORIGINAL/PATH.genN`, written from
//! the segments in chain order. The output directory must be new or empty; every name written
//! under it is built from checked components (a valid source id, then the normal components of
//! an absolute path), so nothing is ever written outside it, and no symlink is ever followed.

use crate::hash::Sha256;
use crate::layout::valid_source_id;
use crate::record::{Event, Record, Span};
use crate::segment::esc;
use crate::verify::{self, ChainVisitor, Report, VerifyError, VerifyOptions};
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

/// Name of the index written next to the extracted tree.
pub const INDEX_NAME: &str = "logkeep-extract.jsonl";

/// One line of the index: an extracted file and where it came from.
#[derive(Debug, Serialize)]
pub struct Extracted {
    /// Output path relative to the output directory.
    pub output: String,
    /// Source id.
    pub source: String,
    /// Original absolute path.
    pub path: String,
    /// Device and inode of the original.
    pub dev: u64,
    /// Inode of the original.
    pub ino: u64,
    /// Generation number.
    pub gen_id: u64,
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the output file.
    pub sha256: Sha256,
    /// Byte ranges that were never captured (left as holes), if any.
    pub missing: Vec<(u64, u64)>,
}

struct GenOut {
    rel: PathBuf,
    len: u64,
    hasher: sha2::Sha256,
    span: Span,
    missing: Vec<(u64, u64)>,
}

pub(crate) struct Extractor {
    out: PathBuf,
    gens: HashMap<u64, GenOut>,
    order: Vec<u64>,
    /// Position in the current segment's spans: (record seq, span index, offset in span).
    cursor: (u64, usize, u64),
}

/// The output path (relative) of a generation, or why it cannot be made safely.
pub fn output_path(source: &str, path: &str, gen_id: u64) -> Result<PathBuf, String> {
    if !valid_source_id(source) {
        return Err(format!("invalid source id {:?}", esc(source)));
    }
    let p = Path::new(path);
    if !p.is_absolute() || path.contains('\0') {
        return Err(format!("path {:?} is not absolute", esc(path)));
    }
    let mut rel = PathBuf::from(source);
    let mut any = false;
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => {
                rel.push(n);
                any = true;
            }
            _ => return Err(format!("path {:?} has a forbidden component", esc(path))),
        }
    }
    if !any {
        return Err(format!("path {:?} names no file", esc(path)));
    }
    let mut name = rel
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".gen{gen_id}"));
    rel.set_file_name(name);
    Ok(rel)
}

impl Extractor {
    fn write(&mut self, span: &Span, offset: u64, data: &mut dyn Read) -> io::Result<()> {
        let g = match self.gens.get_mut(&span.gen_id) {
            Some(g) => g,
            None => {
                let rel = output_path(&span.source, &span.path, span.gen_id)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                let full = self.out.join(&rel);
                if let Some(parent) = full.parent() {
                    fs::create_dir_all(parent)?;
                }
                File::create_new(&full)?;
                self.order.push(span.gen_id);
                self.gens.entry(span.gen_id).or_insert(GenOut {
                    rel,
                    len: 0,
                    hasher: sha2::Sha256::new(),
                    span: span.clone(),
                    missing: Vec::new(),
                })
            }
        };
        if offset < g.len {
            // Only possible in a damaged store extracted with force: keep the first copy.
            io::copy(data, &mut io::sink())?;
            return Ok(());
        }
        let full = self.out.join(&g.rel);
        if fs::symlink_metadata(&full)?.file_type().is_symlink() {
            return Err(io::Error::other(format!(
                "{} became a symlink",
                full.display()
            )));
        }
        let mut f = OpenOptions::new().write(true).open(&full)?;
        if offset > g.len {
            g.missing.push((g.len, offset));
            // Hash the hole as the zero bytes that reading the output file will return.
            let zeros = [0u8; 8192];
            let mut left = offset - g.len;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                g.hasher.update(&zeros[..n]);
                left -= n as u64;
            }
        }
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut pos = offset;
        loop {
            let n = data.read(&mut buf)?;
            if n == 0 {
                break;
            }
            f.write_all(&buf[..n])?;
            g.hasher.update(&buf[..n]);
            pos += n as u64;
        }
        g.len = pos;
        g.span.end = pos;
        Ok(())
    }
}

impl ChainVisitor for Extractor {
    fn member(
        &mut self,
        record: &Record,
        _: usize,
        _: &str,
        size: u64,
        data: &mut dyn Read,
    ) -> io::Result<()> {
        let Event::Segment { spans, .. } = &record.event else {
            return Ok(());
        };
        if self.cursor.0 != record.seq {
            self.cursor = (record.seq, 0, 0);
        }
        let (_, k, off) = self.cursor;
        let Some(span) = spans.get(k) else {
            return Ok(()); // more members than spans: reported by verification
        };
        self.write(span, span.start + off, data)?;
        self.cursor = if span.start + off + size >= span.end {
            (record.seq, k + 1, 0)
        } else {
            (record.seq, k, off + size)
        };
        Ok(())
    }
}

impl Extractor {
    /// An extractor writing under `out`, which [`prepare_out`] made ready.
    pub(crate) fn new(out: &Path) -> Extractor {
        Extractor {
            out: out.to_owned(),
            gens: HashMap::new(),
            order: Vec::new(),
            cursor: (0, 0, 0),
        }
    }

    /// Write the index and return what was extracted.
    pub(crate) fn finish(mut self) -> io::Result<Vec<Extracted>> {
        let mut list = Vec::new();
        let mut index = File::create_new(self.out.join(INDEX_NAME))?;
        for gen_id in std::mem::take(&mut self.order) {
            let Some(g) = self.gens.remove(&gen_id) else {
                continue;
            };
            let e = Extracted {
                output: g.rel.to_string_lossy().into_owned(),
                source: g.span.source,
                path: g.span.path,
                dev: g.span.dev,
                ino: g.span.ino,
                gen_id,
                size: g.len,
                sha256: Sha256(g.hasher.finalize().into()),
                missing: g.missing,
            };
            let mut line = serde_json::to_vec(&e).map_err(io::Error::other)?;
            line.push(b'\n');
            index.write_all(&line)?;
            list.push(e);
        }
        index.sync_all()?;
        Ok(list)
    }
}

/// Make `out` an empty directory: create it, or accept it if it exists and is empty.
pub(crate) fn prepare_out(out: &Path) -> io::Result<()> {
    match fs::read_dir(out) {
        Ok(mut d) => {
            if d.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "output directory is not empty",
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(out),
        Err(e) => Err(e),
    }
}

/// Verify the store at `root` and, if it verified (or `force` is set), write every captured
/// file generation under `out`, which must not exist or be empty. Returns the report of the
/// verification that accompanied the extraction and the list of files written.
pub fn extract_store(
    root: &Path,
    out: &Path,
    opts: &VerifyOptions,
    force: bool,
) -> Result<(Report, Vec<Extracted>), VerifyError> {
    let err = |source| VerifyError {
        path: out.to_owned(),
        source,
    };
    let first = verify::verify_store(root, opts)?;
    if !first.ok() && !force {
        return Ok((first, Vec::new()));
    }
    prepare_out(out).map_err(err)?;
    let mut ex = Extractor::new(out);
    let report = verify::verify_store_with(root, opts, &mut ex)?;
    let list = ex.finish().map_err(err)?;
    Ok((report, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside() {
        assert_eq!(
            output_path("vpn", "/var/log/a.log", 3).unwrap(),
            PathBuf::from("vpn/var/log/a.log.gen3")
        );
        assert!(output_path("vpn", "/var/../etc/passwd", 1).is_err());
        assert!(output_path("vpn", "relative/a", 1).is_err());
        assert!(output_path("..", "/a", 1).is_err());
        assert!(output_path("vpn", "/", 1).is_err());
        assert!(output_path("a/b", "/x", 1).is_err());
    }
}
