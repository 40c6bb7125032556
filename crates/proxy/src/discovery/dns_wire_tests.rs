//! Encoding queries and parsing well-formed, malformed and hostile responses.

use super::*;

/// Builds a response to query `id` for `_web._tcp.example` (SRV) with the given records.
struct Builder {
    msg: Vec<u8>,
}

impl Builder {
    /// Header and question; counts are patched by `finish`.
    fn new(id: u16, rcode: u8) -> Self {
        let mut msg = encode_query(id, "_web._tcp.example", TYPE_SRV).unwrap();
        msg[2] = 0x81; // QR, RD
        msg[3] = 0x80 | rcode; // RA
        Self { msg }
    }

    fn counts(mut self, an: u16, ns: u16, ar: u16) -> Self {
        self.msg[6..8].copy_from_slice(&an.to_be_bytes());
        self.msg[8..10].copy_from_slice(&ns.to_be_bytes());
        self.msg[10..12].copy_from_slice(&ar.to_be_bytes());
        self
    }

    /// A record owned by the question's name (a compression pointer to offset 12).
    fn record(mut self, rtype: u16, rdata: &[u8]) -> Self {
        self.msg.extend_from_slice(&[0xC0, 12]);
        self.raw_record_tail(rtype, rdata)
    }

    /// A record owned by `name`, written uncompressed.
    fn named(mut self, name: &str, rtype: u16, rdata: &[u8]) -> Self {
        for label in name.split('.') {
            self.msg.push(label.len() as u8);
            self.msg.extend_from_slice(label.as_bytes());
        }
        self.msg.push(0);
        self.raw_record_tail(rtype, rdata)
    }

    fn raw_record_tail(mut self, rtype: u16, rdata: &[u8]) -> Self {
        self.msg.extend_from_slice(&rtype.to_be_bytes());
        self.msg.extend_from_slice(&CLASS_IN.to_be_bytes());
        self.msg.extend_from_slice(&60u32.to_be_bytes());
        self.msg
            .extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        self.msg.extend_from_slice(rdata);
        self
    }
}

fn srv_rdata(priority: u16, weight: u16, port: u16, target: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [priority, weight, port] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for label in target.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn sample() -> Vec<u8> {
    Builder::new(7, 0)
        .counts(2, 0, 1)
        .record(TYPE_SRV, &srv_rdata(1, 3, 8080, "a.example"))
        .record(TYPE_SRV, &srv_rdata(2, 0, 8081, "B.Example."))
        .named("a.example", TYPE_A, &[127, 0, 0, 1])
        .msg
}

#[test]
fn query_encoding() {
    let q = encode_query(0xABCD, "_web._tcp.example.", TYPE_SRV).unwrap();
    assert_eq!(&q[..4], &[0xAB, 0xCD, 0x01, 0x00]);
    assert_eq!(&q[12..17], b"\x04_web");
    assert_eq!(&q[q.len() - 4..], &[0, 33, 0, 1]);
    for bad in ["", ".", "a..b", &"x".repeat(64), &vec!["abc"; 70].join(".")] {
        assert!(
            matches!(encode_query(1, bad, TYPE_A), Err(WireError::BadName(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn srv_response_with_additional_address() {
    let response = parse_response(&sample(), 7).unwrap();
    assert!(!response.nxdomain && !response.truncated);
    assert_eq!(response.answers.len(), 2);
    assert_eq!(response.answers[0].name, "_web._tcp.example");
    assert_eq!(
        response.answers[1].data,
        RecordData::Srv {
            priority: 2,
            weight: 0,
            port: 8081,
            target: "b.example".into()
        }
    );
    assert_eq!(
        response.additional,
        vec![Record {
            name: "a.example".into(),
            data: RecordData::Address("127.0.0.1".parse().unwrap())
        }]
    );
}

#[test]
fn addresses_follow_cnames_in_the_answer() {
    let msg = Builder::new(9, 0)
        .counts(4, 0, 0)
        .named("web.example", TYPE_CNAME, b"\x04real\x07example\x00")
        .named("real.example", TYPE_A, &[10, 0, 0, 1])
        .named(
            "real.example",
            TYPE_AAAA,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        )
        .named("other.example", TYPE_A, &[10, 9, 9, 9])
        .msg;
    let response = parse_response(&msg, 9).unwrap();
    let addrs = response.addresses_of("WEB.example.");
    assert_eq!(
        addrs,
        vec![
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
}

#[test]
fn rcodes_ids_and_truncation() {
    let nx = parse_response(&Builder::new(3, 3).msg, 3).unwrap();
    assert!(nx.nxdomain && nx.answers.is_empty());
    assert_eq!(
        parse_response(&Builder::new(3, 2).msg, 3),
        Err(WireError::ServerError(2))
    );
    assert_eq!(parse_response(&sample(), 8), Err(WireError::Mismatch));
    let mut query = encode_query(5, "x", TYPE_A).unwrap();
    assert_eq!(parse_response(&query, 5), Err(WireError::Mismatch));
    query[2] |= 0x82; // QR and TC, sections cut off
    query[7] = 9;
    let cut = parse_response(&query, 5).unwrap();
    assert!(cut.truncated && cut.answers.is_empty());
}

#[test]
fn every_prefix_of_a_response_is_an_error_not_a_panic() {
    let full = sample();
    for len in 0..full.len() {
        assert!(parse_response(&full[..len], 7).is_err(), "prefix {len}");
    }
}

#[test]
fn compression_loops_and_forward_pointers_are_refused() {
    // The answer's owner name points at itself.
    let mut msg = Builder::new(1, 0).counts(1, 0, 0).msg;
    let at = msg.len() as u8;
    msg.extend_from_slice(&[0xC0, at]);
    assert!(matches!(
        parse_response(&msg, 1),
        Err(WireError::Malformed(_))
    ));

    // A label, then a pointer back into that same label: a loop through earlier bytes.
    let mut msg = Builder::new(1, 0).counts(1, 0, 0).msg;
    let at = msg.len() as u8;
    msg.extend_from_slice(&[1, b'a', 0xC0, at]);
    assert!(matches!(
        parse_response(&msg, 1),
        Err(WireError::Malformed(_))
    ));

    // A pointer past the end of the message.
    let mut msg = Builder::new(1, 0).counts(1, 0, 0).msg;
    msg.extend_from_slice(&[0xFF, 0xFF]);
    assert!(parse_response(&msg, 1).is_err());

    // Reserved label types 0x40 and 0x80.
    for kind in [0x41, 0x81] {
        let mut msg = Builder::new(1, 0).counts(1, 0, 0).msg;
        msg.extend_from_slice(&[kind, b'a', 0]);
        assert!(parse_response(&msg, 1).is_err());
    }
}

#[test]
fn wrong_record_lengths_and_counts_are_refused() {
    let short_a = Builder::new(1, 0)
        .counts(1, 0, 0)
        .record(TYPE_A, &[1, 2, 3])
        .msg;
    assert!(parse_response(&short_a, 1).is_err());
    let short_srv = Builder::new(1, 0)
        .counts(1, 0, 0)
        .record(TYPE_SRV, &[0, 1, 0, 1])
        .msg;
    assert!(parse_response(&short_srv, 1).is_err());
    let too_many = Builder::new(1, 0)
        .counts(3, 0, 0)
        .record(TYPE_A, &[1, 2, 3, 4])
        .msg;
    assert!(parse_response(&too_many, 1).is_err());
    let mut long_rdlength = Builder::new(1, 0)
        .counts(1, 0, 0)
        .record(TYPE_A, &[1, 2, 3, 4])
        .msg;
    let n = long_rdlength.len();
    long_rdlength[n - 6..n - 4].copy_from_slice(&60000u16.to_be_bytes());
    assert!(parse_response(&long_rdlength, 1).is_err());
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5256);
    let base = sample();
    for _ in 0..20_000 {
        let mut msg = base.clone();
        for _ in 0..rng.usize(1..8) {
            let i = rng.usize(..msg.len());
            msg[i] = rng.u8(..);
        }
        msg.truncate(rng.usize(..=msg.len()));
        let _ = parse_response(&msg, 7);
        let noise: Vec<u8> = (0..rng.usize(..600)).map(|_| rng.u8(..)).collect();
        let _ = parse_response(
            &noise,
            u16::from_be_bytes([
                noise.first().copied().unwrap_or(0),
                noise.get(1).copied().unwrap_or(0),
            ]),
        );
    }
}

#[test]
fn odd_label_bytes_are_escaped() {
    let mut name = String::new();
    push_label(&mut name, b"A.b\x00");
    assert_eq!(name, "a\\046b\\000");
}

#[test]
fn names_in_record_data_stay_within_their_record() {
    // A CNAME claiming no data, followed by bytes that read as a name and an A record: the
    // name must not be taken from the next record (which would alias a.test to 10.0.0.1).
    let mut borrowing = Builder::new(1, 0).counts(2, 0, 0).msg;
    borrowing.extend_from_slice(&[1, b'a', 4, b't', b'e', b's', b't', 0]);
    borrowing.extend_from_slice(&TYPE_CNAME.to_be_bytes());
    borrowing.extend_from_slice(&CLASS_IN.to_be_bytes());
    borrowing.extend_from_slice(&60u32.to_be_bytes());
    borrowing.extend_from_slice(&0u16.to_be_bytes());
    let borrowing = Builder { msg: borrowing }
        .named("x.evil", TYPE_A, &[10, 0, 0, 1])
        .msg;
    assert!(matches!(
        parse_response(&borrowing, 1),
        Err(WireError::Malformed(_))
    ));

    // An SRV target longer than the record's data says.
    let mut srv = srv_rdata(1, 1, 80, "a.example");
    srv.truncate(srv.len() - 3);
    let overrun = Builder::new(1, 0)
        .counts(1, 0, 1)
        .record(TYPE_SRV, &srv)
        .named("a.example", TYPE_A, &[127, 0, 0, 1])
        .msg;
    assert!(parse_response(&overrun, 1).is_err());

    // A name followed by slack inside its record's data.
    let mut padded = srv_rdata(1, 1, 80, "a.example");
    padded.push(0);
    let padded = Builder::new(1, 0)
        .counts(1, 0, 0)
        .record(TYPE_SRV, &padded)
        .msg;
    assert!(parse_response(&padded, 1).is_err());

    // Compressed targets that point back into the message still parse.
    let mut compressed = srv_rdata(1, 1, 80, "");
    compressed.truncate(6);
    compressed.extend_from_slice(&[0xC0, 12]);
    let ok = Builder::new(1, 0)
        .counts(1, 0, 0)
        .record(TYPE_SRV, &compressed)
        .msg;
    let parsed = parse_response(&ok, 1).unwrap();
    assert!(matches!(
        &parsed.answers[0].data,
        RecordData::Srv { target, .. } if target == "_web._tcp.example"
    ));
}

#[test]
fn a_response_cut_inside_the_question_is_malformed() {
    let mut msg = Builder::new(1, 0).msg;
    msg.truncate(msg.len() - 4);
    assert!(parse_response(&msg, 1).is_err());
}
