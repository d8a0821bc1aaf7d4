//! The few XML documents S3 answers with, read with `quick-xml` events: errors, listings,
//! multipart upload ids, the bucket's object lock configuration; and the one it is sent
//! (`CompleteMultipartUpload`).

use crate::Listed;
use quick_xml::Reader;
use quick_xml::events::Event;

/// Every element's text, as `(path, text)` with the path of element names joined by `/`
/// (`ListBucketResult/Contents/Key`). `None` if the document is not well-formed.
fn texts(doc: &str) -> Option<Vec<(String, String)>> {
    let mut reader = Reader::from_str(doc);
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                // Every element opens a slot, so that an empty one still counts.
                out.push((path.join("/"), String::new()));
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                out.push((format!("{}/{name}", path.join("/")), String::new()));
            }
            Event::Text(t) => {
                let text = t.xml_content().ok()?.into_owned();
                if let Some(last) = out.last_mut()
                    && last.0 == path.join("/")
                {
                    last.1.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                // The five predefined entities and character references.
                let name = String::from_utf8_lossy(r.as_ref()).into_owned();
                let ch = match name.as_str() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => r.resolve_char_ref().ok().flatten(),
                };
                if let (Some(c), Some(last)) = (ch, out.last_mut())
                    && last.0 == path.join("/")
                {
                    last.1.push(c);
                }
            }
            Event::Eof => return Some(out),
            _ => {}
        }
    }
}

/// An `<Error>` document: its code and message.
pub fn error(doc: &str) -> Option<(String, String)> {
    let t = texts(doc)?;
    let get = |p: &str| t.iter().find(|(k, _)| k == p).map(|(_, v)| v.clone());
    Some((get("Error/Code")?, get("Error/Message").unwrap_or_default()))
}

/// The `UploadId` of an `InitiateMultipartUploadResult`.
pub fn upload_id(doc: &str) -> Option<String> {
    let t = texts(doc)?;
    t.into_iter()
        .find(|(k, _)| k == "InitiateMultipartUploadResult/UploadId")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// One page of a `ListObjectsV2` answer.
pub struct Page {
    pub objects: Vec<Listed>,
    pub truncated: bool,
    pub next: Option<String>,
}

pub fn list(doc: &str) -> Option<Page> {
    let t = texts(doc)?;
    let mut page = Page {
        objects: Vec::new(),
        truncated: false,
        next: None,
    };
    let mut key: Option<String> = None;
    for (k, v) in t {
        match k.as_str() {
            "ListBucketResult/IsTruncated" => page.truncated = v == "true",
            "ListBucketResult/NextContinuationToken" => page.next = Some(v),
            "ListBucketResult/Contents" => key = None,
            "ListBucketResult/Contents/Key" => key = Some(v),
            "ListBucketResult/Contents/Size" => {
                page.objects.push(Listed {
                    key: key.take()?,
                    size: v.parse().ok()?,
                });
            }
            _ => {}
        }
    }
    Some(page)
}

/// Whether an `ObjectLockConfiguration` says `Enabled`.
pub fn lock_enabled(doc: &str) -> bool {
    texts(doc).is_some_and(|t| {
        t.iter()
            .any(|(k, v)| k == "ObjectLockConfiguration/ObjectLockEnabled" && v == "Enabled")
    })
}

/// The `CompleteMultipartUpload` body for `(part number, ETag)`s.
pub fn complete(parts: &[(usize, String)]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (n, etag) in parts {
        let etag = etag
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('"', "&quot;");
        s.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_reads_keys_sizes_and_the_next_page() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated><Contents><Key>p/a&amp;b</Key><Size>12</Size></Contents><Contents><Key>p/c</Key><Size>0</Size></Contents><NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let page = list(doc).unwrap();
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].key, "p/a&b");
        assert_eq!(page.objects[0].size, 12);
        assert!(page.truncated);
        assert_eq!(page.next.as_deref(), Some("tok"));
        assert!(list("<a><b></a>").is_none());
    }

    #[test]
    fn errors_and_lock_configuration() {
        let e = error("<Error><Code>AccessDenied</Code><Message>no</Message></Error>").unwrap();
        assert_eq!(e, ("AccessDenied".into(), "no".into()));
        assert!(lock_enabled(
            "<ObjectLockConfiguration xmlns=\"x\"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"
        ));
        assert!(!lock_enabled(
            "<ObjectLockConfiguration></ObjectLockConfiguration>"
        ));
    }
}
