//! `logkeep check-config`: validate a configuration file and print the resolved sources, with
//! the files each pattern matches now.

use crate::config;
use anyhow::Result;

/// `logkeep check-config`.
pub fn run(path: &std::path::Path) -> Result<u8> {
    let c = config::Config::load(path)?;
    println!("config {} is valid (sha256 {})", c.file.display(), c.sha256);
    println!("store: {}", c.store.display());
    println!(
        "  seal_interval {}, segment_max_bytes {}, heartbeat_interval {}, scan_interval {}, compression_level {}",
        humantime::format_duration(c.seal_interval),
        bytesize::ByteSize(c.segment_max_bytes),
        humantime::format_duration(c.heartbeat_interval),
        humantime::format_duration(c.scan_interval),
        c.compression_level
    );
    for s in &c.sources {
        println!("source {}:", s.id);
        if let Some(l) = &s.listen {
            let stream = if l.transport == logkeep_syslog::Transport::Udp {
                String::new()
            } else {
                format!(
                    ", max_connections {}, idle_timeout {}, framing {:?}",
                    l.max_connections,
                    l.idle_timeout
                        .map_or("never".into(), |d| humantime::format_duration(d)
                            .to_string()),
                    l.framing
                )
            };
            let tls = l.tls.as_ref().map_or(String::new(), |t| {
                format!(
                    ", tls_cert {}{}",
                    t.cert.display(),
                    if t.client_ca.is_some() {
                        ", client certificates required"
                    } else {
                        ""
                    }
                )
            });
            println!(
                "  listen {}  (max_message_bytes {}{stream}{tls})",
                l.url,
                bytesize::ByteSize(l.max_message_bytes as u64)
            );
            println!("  its write-ahead log, captured as files:");
        }
        for p in &s.paths {
            let matches: Vec<String> = glob::glob(p)
                .map(|g| {
                    g.filter_map(|e| e.ok())
                        .map(|p| p.display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            println!("  {p}  ({} file(s) now)", matches.len());
            for m in matches {
                println!("    {m}");
            }
        }
    }
    Ok(0)
}
