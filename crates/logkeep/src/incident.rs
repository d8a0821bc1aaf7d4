//! The police's first question, in the bundle: the affected terminals (name, encryption state,
//! symptoms, when noticed) and free text, from `export --incident FILE` (TOML) or asked on a
//! terminal. With the host's network picture and the operator's device inventory it becomes
//! the bundle's `incident.json` and the first section of its `report.html`.
//!
//! ```toml
//! notes = "Ransom note found on the file server at 09:00 JST; VPN gateway suspected."
//!
//! [[terminal]]
//! name = "FS01"
//! encrypted = "yes"
//! symptoms = "files renamed *.lockbit, ransom note in every share"
//! noticed = "2026-11-20T09:00:00+09:00"
//! ```

use anyhow::{Context as _, Result, bail};
use logkeep_format::shown::Shown;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Whether a terminal's data was encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encrypted {
    /// Its files were encrypted.
    Yes,
    /// Some were.
    Partly,
    /// They were not.
    No,
    /// Not known yet.
    Unknown,
}

/// One affected terminal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Terminal {
    /// Its name (host name, asset number).
    pub name: String,
    /// Whether its data was encrypted.
    pub encrypted: Encrypted,
    /// What was seen (ransom note, renamed files, slowness, ...).
    #[serde(default)]
    pub symptoms: Option<String>,
    /// When it was noticed, as the operator gives it.
    #[serde(default)]
    pub noticed: Option<String>,
}

/// The incident file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
    /// The affected terminals.
    #[serde(default)]
    pub terminal: Vec<Terminal>,
}

impl Incident {
    /// Read an incident file; an error names the file and the line.
    pub fn load(path: &Path) -> Result<Incident> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--incident {}: cannot read", Shown::path(path)))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("--incident {}: {e}", Shown::path(path)))
    }

    /// The report's text for the first question.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for t in &self.terminal {
            let enc = match t.encrypted {
                Encrypted::Yes => "暗号化あり / encrypted",
                Encrypted::Partly => "一部暗号化 / partly encrypted",
                Encrypted::No => "暗号化なし / not encrypted",
                Encrypted::Unknown => "不明 / unknown",
            };
            s.push_str(&format!("- {}: {enc}", t.name));
            if let Some(sym) = &t.symptoms {
                s.push_str(&format!("; {sym}"));
            }
            if let Some(n) = &t.noticed {
                s.push_str(&format!(" (noticed {n})"));
            }
            s.push('\n');
        }
        if let Some(n) = &self.notes {
            s.push_str(n);
            s.push('\n');
        }
        s
    }

    /// Ask on the terminal, when both standard input and standard error are one; `None`
    /// otherwise or when the operator gives nothing.
    pub fn ask() -> Result<Option<Incident>> {
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            return Ok(None);
        }
        let mut err = std::io::stderr();
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut read = |prompt: &str| -> Result<String> {
            write!(err, "{prompt}")?;
            err.flush()?;
            Ok(lines
                .next()
                .transpose()?
                .unwrap_or_default()
                .trim()
                .to_owned())
        };
        let mut inc = Incident::default();
        eprintln!(
            "被害端末 / Affected terminals (the police ask for them; Enter on an empty name ends the list)"
        );
        loop {
            let name = read("  端末名 / terminal name: ")?;
            if name.is_empty() {
                break;
            }
            let encrypted = loop {
                match read("  暗号化 / encrypted (yes, partly, no, unknown): ")?.as_str() {
                    "yes" => break Encrypted::Yes,
                    "partly" => break Encrypted::Partly,
                    "no" => break Encrypted::No,
                    "unknown" | "" => break Encrypted::Unknown,
                    _ => continue,
                }
            };
            let symptoms = read("  症状 / symptoms: ")?;
            let noticed = read("  気付いた日時 / noticed at: ")?;
            inc.terminal.push(Terminal {
                name,
                encrypted,
                symptoms: (!symptoms.is_empty()).then_some(symptoms),
                noticed: (!noticed.is_empty()).then_some(noticed),
            });
        }
        let notes = read("メモ / notes (one line, Enter for none): ")?;
        inc.notes = (!notes.is_empty()).then_some(notes);
        if inc.terminal.is_empty() && inc.notes.is_none() {
            return Ok(None);
        }
        Ok(Some(inc))
    }
}

/// `incident.json`: the incident, the operator's inventory and the host's network picture.
pub fn to_json(
    incident: &Incident,
    inventory: &crate::config::Inventory,
    network: &serde_json::Value,
) -> Result<Vec<u8>> {
    if incident.terminal.iter().any(|t| t.name.is_empty()) {
        bail!("--incident: a terminal without a name");
    }
    let v = serde_json::json!({
        "incident": incident,
        "inventory": inventory,
        "network": network,
    });
    let mut out = serde_json::to_vec_pretty(&v)?;
    out.push(b'\n');
    Ok(out)
}
