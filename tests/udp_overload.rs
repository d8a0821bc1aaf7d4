//! UDP under overload: a listener with a tiny receive buffer, flooded while its writer is slowed,
//! loses datagrams in the kernel — and accounts for every one of them: what was sent equals
//! what the store holds plus what the kernel reported dropped, exactly, in status and in the
//! chain (`drops=N` records).

use crate::support::syslog::*;
use crate::support::*;
use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::Duration;

#[test]
fn a_flooded_tiny_receive_buffer_accounts_for_every_datagram() {
    let port = free_udp_port();
    let mut site = Site::new(&format!(
        "{}[control]\nsocket = \"ctl.sock\"\n",
        config(&listener(
            "udp",
            &format!("udp://127.0.0.1:{port}"),
            &["receive_buffer = \"4KiB\""]
        ))
    ));
    start_with(&mut site, &[("LOGKEEP_TEST_WAL_DELAY_MS", "20")]);
    let sock = site.path("ctl.sock");
    let status = || status_json(&sock)["listeners"][0].clone();
    let rcvbuf = status()["udp"]["rcvbuf_bytes"].as_u64().expect("rcvbuf");
    assert!(
        rcvbuf < 64 * 1024,
        "the receive buffer was not made small: {rcvbuf}"
    );
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let sent = 20_000u64;
    for i in 0..sent {
        tx.send_to(
            format!("<13>1 - h flood - - - D{i:08}").as_bytes(),
            ("127.0.0.1", port),
        )
        .expect("send");
    }
    let counted = || {
        let l = status();
        let drops = l["udp"]["socket_drops"].as_u64().expect("per-socket drops");
        (l["messages"].as_u64().expect("messages"), drops)
    };
    wait_until(
        &site,
        60,
        "every datagram stored or counted as dropped",
        || {
            let (m, d) = counted();
            m + d >= sent
        },
    );
    // Nothing more arrives: the sum stays where it is.
    std::thread::sleep(Duration::from_millis(1500));
    let (messages, drops) = counted();
    assert_eq!(
        messages + drops,
        sent,
        "status: {messages} stored + {drops} dropped"
    );
    assert!(
        drops > 0,
        "the flood did not overflow the buffer; the test proves nothing"
    );
    site.term();
    let (code, out) = verify(&site.path("store"), &[]).code_and_text();
    assert_eq!(code, 0, "{out}");
    let recs = stored_records(&site.path("store"), "udp");
    let mut ids = HashSet::new();
    let mut dropped = 0u64;
    for r in &recs {
        if r.peer == "-" {
            dropped += r.flag("drops").expect("drops=N").parse::<u64>().expect("N");
        } else {
            let text = std::str::from_utf8(&r.body).expect("ascii");
            let id: u64 = text.rsplit_once(" D").expect("id").1.parse().expect("id");
            assert!(
                id < sent && ids.insert(id),
                "D{id} stored twice or never sent"
            );
        }
    }
    assert_eq!(
        dropped, drops,
        "the chain's drops=N records sum to the kernel's count"
    );
    assert_eq!(ids.len() as u64 + dropped, sent, "stored + dropped = sent");
    eprintln!(
        "UDP flood into a {rcvbuf}-byte receive buffer: {sent} sent, {} stored, {dropped} dropped and recorded",
        ids.len()
    );
}
