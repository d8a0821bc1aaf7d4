//! `report.html`: one self-contained page (no network, no external assets, no script) in
//! Japanese and English that an investigator opens first. A [`Report`] is a [`Sink`]: it
//! tallies the events as the walk streams them (logons per user and per address, failed-logon
//! bursts, first-seen addresses, logons at odd hours, every `log_cleared`, `tamper` and `gap`,
//! events per source per hour) and keeps the rows behind every number, up to caps, so that
//! memory stays bounded. Every number links to the rows behind it.

use crate::event::{Kind, TimelineEvent};
use crate::walk::Sink;
use logkeep_format::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io;

/// Rows kept in the page; past this the page says how many more the timeline holds.
pub const MAX_ROWS: usize = 2000;
/// Keys kept per table (users, addresses, hours).
pub const MAX_KEYS: usize = 300;
/// Rows linked per number.
pub const MAX_LINKS: usize = 30;
/// Longest text of one field shown in a row (the timeline has it whole).
pub const MAX_FIELD: usize = 300;
/// The page stops adding rows past this size, so that it stays well under the 4 MiB a bundle
/// reader accepts for a metadata member.
pub const MAX_PAGE: usize = 3 << 20;

/// `s` cut to [`MAX_FIELD`] characters, escaped.
fn short(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD) {
        Some((i, _)) => format!("{}…", esc(&s[..i])),
        None => esc(s),
    }
}
/// Failed logons from one address within [`BURST_WINDOW_SECS`] that make a burst.
pub const BURST_COUNT: usize = 5;
/// The burst window.
pub const BURST_WINDOW_SECS: i128 = 600;

/// A number and the rows behind it.
#[derive(Default, Clone)]
struct Tally {
    count: u64,
    rows: Vec<usize>,
}

impl Tally {
    fn add(&mut self, row: Option<usize>) {
        self.count += 1;
        if let Some(r) = row
            && self.rows.len() < MAX_LINKS
        {
            self.rows.push(r);
        }
    }
}

/// What the page adds to the events: the input, and the answers the timeline cannot give
/// (the incident's affected terminals, the network picture), as preformatted text.
#[derive(Default, Clone)]
pub struct Context {
    /// The input's name, shown in the title.
    pub input: String,
    /// When the page was made.
    pub generated: Option<Timestamp>,
    /// Seconds east of UTC for "odd hours" (the zone the organisation works in).
    pub local_offset: i32,
    /// Affected terminals (the police's first question), if known.
    pub terminals: Option<String>,
    /// Network configuration (the second question), if known.
    pub network: Option<String>,
    /// The operator's inventory of internet-facing devices (the third question), if known.
    pub devices: Option<String>,
}

/// The tallies (see the module documentation).
#[derive(Default)]
pub struct Report {
    rows: Vec<TimelineEvent>,
    dropped: u64,
    by_kind: BTreeMap<Kind, Tally>,
    logons_user: BTreeMap<String, Tally>,
    logons_ip: BTreeMap<String, Tally>,
    failures_ip: BTreeMap<String, Tally>,
    first_seen: BTreeMap<String, (Timestamp, Option<usize>)>,
    recent_failures: BTreeMap<String, VecDeque<Timestamp>>,
    bursts: Vec<(String, Timestamp, Option<usize>)>,
    odd_hours: Tally,
    alarms: Tally,
    volume: BTreeMap<(String, i64), u64>,
    edge: BTreeMap<(String, &'static str), Tally>,
    local_offset: i32,
}

fn capped<'a, K: Ord + Clone, V: Default>(m: &'a mut BTreeMap<K, V>, k: &K) -> Option<&'a mut V> {
    if !m.contains_key(k) && m.len() >= MAX_KEYS {
        return None;
    }
    Some(m.entry(k.clone()).or_default())
}

fn secs(t: Timestamp) -> i128 {
    t.unix_nanos().div_euclid(1_000_000_000)
}

impl Report {
    /// An empty report; `local_offset` (seconds east of UTC) decides what "odd hours" are.
    pub fn new(local_offset: i32) -> Report {
        Report {
            local_offset,
            ..Report::default()
        }
    }
}

impl Sink for Report {
    fn event(&mut self, e: &TimelineEvent) -> io::Result<()> {
        let row = if self.rows.len() < MAX_ROWS {
            self.rows.push(e.clone());
            Some(self.rows.len() - 1)
        } else {
            self.dropped += 1;
            None
        };
        if let Some(t) = capped(&mut self.by_kind, &e.kind) {
            t.add(row);
        }
        let hour = (secs(e.datetime).div_euclid(3600)) as i64;
        if let Some(v) = capped(&mut self.volume, &(e.source.clone(), hour)) {
            *v += 1;
        }
        if matches!(
            e.product,
            "fortigate" | "cisco_asa" | "ivanti" | "openvpn" | "strongswan" | "xrdp"
        ) {
            let host = e.host.clone().unwrap_or_else(|| e.source.clone());
            if let Some(t) = capped(&mut self.edge, &(host, e.product)) {
                t.add(row);
            }
        }
        if matches!(e.kind, Kind::LogCleared | Kind::Tamper | Kind::Gap) {
            self.alarms.add(row);
        }
        if e.kind.is_logon() {
            if let Some(u) = &e.user
                && let Some(t) = capped(&mut self.logons_user, u)
            {
                t.add(row);
            }
            if let Some(ip) = &e.src_ip
                && let Some(t) = capped(&mut self.logons_ip, ip)
            {
                t.add(row);
            }
            let local = (secs(e.datetime) + i128::from(self.local_offset)).rem_euclid(86_400);
            let h = local / 3600;
            if !(6..22).contains(&h) {
                self.odd_hours.add(row);
            }
        }
        if let Some(ip) = &e.src_ip {
            let full = self.first_seen.len() >= MAX_KEYS;
            match self.first_seen.get_mut(ip) {
                Some(f) if f.0 > e.datetime => *f = (e.datetime, row),
                Some(_) => {}
                None if !full => {
                    self.first_seen.insert(ip.clone(), (e.datetime, row));
                }
                None => {}
            }
        }
        if e.kind == Kind::LogonFailure
            && let Some(ip) = &e.src_ip
        {
            if let Some(t) = capped(&mut self.failures_ip, ip) {
                t.add(row);
            }
            if let Some(q) = capped(&mut self.recent_failures, ip) {
                q.push_back(e.datetime);
                while q.len() > BURST_COUNT {
                    q.pop_front();
                }
                if q.len() == BURST_COUNT
                    && let (Some(a), Some(b)) = (q.front(), q.back())
                    && (secs(*b) - secs(*a)).abs() <= BURST_WINDOW_SECS
                {
                    if self.bursts.len() < MAX_KEYS {
                        self.bursts.push((ip.clone(), *a, row));
                    }
                    q.clear();
                }
            }
        }
        Ok(())
    }
}

/// HTML-escape.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;\
text-align:left;vertical-align:top}th{background:#eee}.n{text-align:right}\
.alarm{color:#a00;font-weight:bold}code{font-size:90%}h2{border-bottom:1px solid #888}\
:target{background:#ffd}";

impl Report {
    /// Write the page. `cx` adds what the events cannot say.
    pub fn render(&self, cx: &Context) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\">\
             <title>logkeep 調査レポート / investigation report — {}</title><style>{STYLE}</style>\
             </head><body>\n<h1>調査レポート / Investigation report</h1>\n<p>入力 / Input: <code>{}</code>",
            esc(&cx.input),
            esc(&cx.input)
        );
        if let Some(g) = cx.generated {
            let _ = write!(h, " — 作成 / generated {}", esc(&g.to_rfc3339()));
        }
        let _ = writeln!(
            h,
            "</p>\n<p>すべての数値は根拠となるタイムライン行へのリンクです。各行の証拠（元ファイル・世代・オフセット・長さ・SHA-256）で原本のバイトを確認できます。<br>\
             Every number links to the timeline rows behind it; each row's evidence (original file, generation, offset, length, SHA-256) points at the original bytes.</p>"
        );
        self.police(&mut h, cx);
        self.summary(&mut h);
        self.alarms_section(&mut h);
        self.table(
            &mut h,
            "logons-user",
            "ユーザー別ログオン / Logons per user",
            "ユーザー / User",
            &self.logons_user,
        );
        self.table(
            &mut h,
            "logons-ip",
            "送信元アドレス別ログオン / Logons per source address",
            "アドレス / Address",
            &self.logons_ip,
        );
        self.table(
            &mut h,
            "failures-ip",
            "送信元アドレス別ログオン失敗 / Failed logons per source address",
            "アドレス / Address",
            &self.failures_ip,
        );
        self.bursts_section(&mut h);
        self.first_seen_section(&mut h);
        let _ = writeln!(
            h,
            "<h2 id=\"odd\">深夜・早朝のログオン / Logons at odd hours (22:00–06:00, UTC{:+})</h2>\n<p>件数 / count: {}</p>",
            self.local_offset / 3600,
            self.link("odd", &self.odd_hours)
        );
        self.chart(&mut h);
        self.rows_section(&mut h);
        h.push_str("</body></html>\n");
        h
    }

    /// A number linking to its list of rows.
    fn link(&self, id: &str, t: &Tally) -> String {
        format!("<a href=\"#g-{}\">{}</a>", esc(id), t.count)
    }

    /// The lists of rows behind numbers, emitted once per number.
    fn rows_list(&self, h: &mut String, id: &str, t: &Tally) {
        let _ = write!(h, "<div id=\"g-{}\" class=\"rows\">→ ", esc(id));
        for r in &t.rows {
            let _ = write!(h, "<a href=\"#r{r}\">#{r}</a> ");
        }
        if t.count > t.rows.len() as u64 {
            let _ = write!(
                h,
                "… (+{} — タイムライン全体を参照 / see the full timeline)",
                t.count - t.rows.len() as u64
            );
        }
        h.push_str("</div>\n");
    }

    fn police(&self, h: &mut String, cx: &Context) {
        h.push_str(
            "<h2 id=\"police\">警察からの三つの質問 / The police's three questions</h2>\n<ol>\n",
        );
        let _ = write!(
            h,
            "<li><b>被害端末（暗号化の有無・症状）/ Affected terminals (encrypted or not, symptoms)</b>: "
        );
        match &cx.terminals {
            Some(t) => {
                let _ = write!(h, "<pre>{}</pre>", esc(t));
            }
            None => h.push_str("未提供 / not supplied with this input"),
        }
        let _ = write!(
            h,
            "</li>\n<li><b>ネットワーク構成 / Network configuration</b>: "
        );
        match &cx.network {
            Some(t) => {
                let _ = write!(h, "<pre>{}</pre>", esc(t));
            }
            None => h.push_str("未提供 / not supplied with this input"),
        }
        h.push_str("</li>\n<li><b>外部接続機器 / Internet-facing devices</b>");
        if let Some(d) = &cx.devices {
            let _ = write!(h, " (台帳 / inventory):<pre>{}</pre>", esc(d));
        }
        h.push_str(" (ログから判明 / seen in the logs):");
        if self.edge.is_empty() {
            h.push_str(" なし / none seen");
        } else {
            h.push_str("<table><tr><th>機器 / Device</th><th>製品 / Product</th><th>件数 / Events</th></tr>\n");
            for (i, ((host, product), t)) in self.edge.iter().enumerate() {
                let id = format!("edge-{i}");
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    short(host),
                    esc(product),
                    self.link(&id, t)
                );
            }
            h.push_str("</table>");
            for (i, t) in self.edge.values().enumerate() {
                self.rows_list(h, &format!("edge-{i}"), t);
            }
        }
        h.push_str("</li>\n</ol>\n");
    }

    fn summary(&self, h: &mut String) {
        h.push_str("<h2 id=\"summary\">イベント種別 / Events by kind</h2>\n<table><tr><th>種別 / Kind</th><th>件数 / Count</th></tr>\n");
        for (k, t) in &self.by_kind {
            let class = if matches!(k, Kind::LogCleared | Kind::Tamper | Kind::Gap) {
                " class=\"alarm\""
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<tr><td{class}>{}</td><td class=\"n\">{}</td></tr>",
                k.name(),
                self.link(&format!("kind-{}", k.name()), t)
            );
        }
        h.push_str("</table>\n");
        for (k, t) in &self.by_kind {
            self.rows_list(h, &format!("kind-{}", k.name()), t);
        }
    }

    fn alarms_section(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<h2 id=\"alarms\" class=\"alarm\">ログ消去・改ざん・欠落 / Logs cleared, tampering, gaps: {}</h2>",
            self.link("alarms", &self.alarms)
        );
        self.rows_list(h, "alarms", &self.alarms);
    }

    fn table(&self, h: &mut String, id: &str, title: &str, col: &str, m: &BTreeMap<String, Tally>) {
        let _ = writeln!(
            h,
            "<h2 id=\"{id}\">{title}</h2>\n<table><tr><th>{col}</th><th>件数 / Count</th></tr>"
        );
        for (i, (k, t)) in m.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
                short(k),
                self.link(&format!("{id}-{i}"), t)
            );
        }
        h.push_str("</table>\n");
        for (i, t) in m.values().enumerate() {
            self.rows_list(h, &format!("{id}-{i}"), t);
        }
    }

    fn bursts_section(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<h2 id=\"bursts\">ログオン失敗の集中 / Failed-logon bursts ({BURST_COUNT}+ in {} min)</h2>",
            BURST_WINDOW_SECS / 60
        );
        if self.bursts.is_empty() {
            h.push_str("<p>なし / none</p>\n");
            return;
        }
        h.push_str(
            "<table><tr><th>アドレス / Address</th><th>開始 / From</th><th>行 / Row</th></tr>\n",
        );
        for (ip, at, row) in &self.bursts {
            let r = row.map_or("—".to_owned(), |r| format!("<a href=\"#r{r}\">#{r}</a>"));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{r}</td></tr>",
                esc(ip),
                esc(&at.to_rfc3339())
            );
        }
        h.push_str("</table>\n");
    }

    fn first_seen_section(&self, h: &mut String) {
        h.push_str("<h2 id=\"first-seen\">初めて見たアドレス / First-seen addresses</h2>\n<table><tr><th>アドレス / Address</th><th>初出 / First seen</th><th>行 / Row</th></tr>\n");
        let mut v: Vec<_> = self.first_seen.iter().collect();
        v.sort_by_key(|(_, (t, _))| *t);
        for (ip, (at, row)) in v {
            let r = row.map_or("—".to_owned(), |r| format!("<a href=\"#r{r}\">#{r}</a>"));
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{r}</td></tr>",
                esc(ip),
                esc(&at.to_rfc3339())
            );
        }
        h.push_str("</table>\n");
    }

    /// Events per source per hour as an inline SVG: one row of bars per source over the
    /// whole span; hours without events are empty, and hours with a `gap` or `tamper` event
    /// are marked red.
    fn chart(&self, h: &mut String) {
        h.push_str(
            "<h2 id=\"volume\">ソース別の時間あたりイベント数 / Events per source per hour</h2>\n",
        );
        let (Some(lo), Some(hi)) = (
            self.volume.keys().map(|k| k.1).min(),
            self.volume.keys().map(|k| k.1).max(),
        ) else {
            h.push_str("<p>イベントなし / no events</p>\n");
            return;
        };
        let sources: Vec<&String> = {
            let mut s: Vec<&String> = self.volume.keys().map(|k| &k.0).collect();
            s.dedup();
            s
        };
        let hours = (hi - lo + 1).min(24 * 90) as usize;
        let width = 760.0_f64;
        let bw = width / hours as f64;
        let rowh = 40.0;
        let top = self.volume.values().copied().max().unwrap_or(1).max(1) as f64;
        let marks: Vec<(String, i64)> = self
            .rows
            .iter()
            .filter(|e| matches!(e.kind, Kind::Gap | Kind::Tamper | Kind::LogCleared))
            .map(|e| (e.source.clone(), secs(e.datetime).div_euclid(3600) as i64))
            .collect();
        let _ = writeln!(
            h,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart\" width=\"{}\" height=\"{}\" role=\"img\">",
            width + 160.0,
            rowh * sources.len() as f64 + 30.0
        );
        for (i, s) in sources.iter().enumerate() {
            let y = i as f64 * rowh;
            let _ = writeln!(
                h,
                "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text>",
                y + rowh / 2.0,
                short(s)
            );
            for ((src, hour), n) in self.volume.range(((*s).clone(), lo)..=((*s).clone(), hi)) {
                let _ = src;
                let x = 150.0 + (hour - lo) as f64 * bw;
                let bh = (*n as f64 / top) * (rowh - 8.0);
                let _ = writeln!(
                    h,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#369\"><title>{} {} h: {n}</title></rect>",
                    y + rowh - 4.0 - bh,
                    bw.max(1.0),
                    esc(s),
                    hour
                );
            }
            for (src, hour) in &marks {
                if src == *s {
                    let x = 150.0 + (hour - lo) as f64 * bw;
                    let _ = writeln!(
                        h,
                        "<rect class=\"mark\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{rowh}\" fill=\"#c00\" opacity=\"0.5\"/>",
                        bw.max(2.0)
                    );
                }
            }
        }
        let _ = writeln!(
            h,
            "<text x=\"150\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text></svg>",
            rowh * sources.len() as f64 + 20.0,
            esc(&Timestamp::from_unix_nanos(i128::from(lo) * 3_600_000_000_000).to_rfc3339()),
            width + 150.0,
            rowh * sources.len() as f64 + 20.0,
            esc(&Timestamp::from_unix_nanos(i128::from(hi) * 3_600_000_000_000).to_rfc3339()),
        );
    }

    fn rows_section(&self, h: &mut String) {
        h.push_str("<h2 id=\"timeline\">タイムライン / Timeline</h2>\n<table id=\"rows\"><tr><th>#</th><th>日時 (UTC) / Time</th><th>種別 / Event</th><th>ユーザー / User</th><th>送信元 / Source address</th><th>ホスト / Host</th><th>製品 / Product</th><th>内容 / Message</th><th>証拠 / Evidence</th></tr>\n");
        let mut cut = 0;
        for (i, e) in self.rows.iter().enumerate() {
            if h.len() > MAX_PAGE {
                cut = self.rows.len() - i;
                break;
            }
            let o = |s: &Option<String>| short(s.as_deref().unwrap_or(""));
            let _ = writeln!(
                h,
                "<tr id=\"r{i}\"><td>{i}</td><td>{}<br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{} gen {} @{}+{}<br>sha256 {}</code></td></tr>",
                esc(&e.datetime.to_rfc3339()),
                esc(&e.clock.describe()),
                e.kind.name(),
                o(&e.user),
                o(&e.src_ip),
                o(&e.host),
                esc(e.product),
                short(&e.message),
                short(&e.evidence.path),
                e.evidence.generation,
                e.evidence.offset,
                e.evidence.length,
                e.evidence.sha256
            );
        }
        h.push_str("</table>\n");
        let more = self.dropped + cut as u64;
        if more > 0 {
            let _ = writeln!(
                h,
                "<p>さらに {more} 行はタイムライン（logkeep timeline）にあります / {more} more rows are in the full timeline (logkeep timeline).</p>"
            );
        }
    }
}

/// The page a bundle carries when no timeline could be made of its store: why.
pub fn failed_page(cx: &Context, why: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><title>logkeep 調査レポート / investigation report</title><style>{STYLE}</style></head><body>\n<h1>調査レポート / Investigation report</h1>\n<p class=\"alarm\">タイムラインを作成できませんでした / No timeline could be made: {}</p>\n<p>入力 / Input: <code>{}</code></p></body></html>\n",
        short(why),
        esc(&cx.input)
    )
}
