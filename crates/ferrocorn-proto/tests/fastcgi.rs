//! Runs every connection in `tests/corpus/fastcgi/` through `HeadParser` and `StdinDecoder` the way
//! a server does, whole, split at every byte and one byte at a time, and checks the transcript
//! written in the file (format: `tests/corpus/fastcgi/README.md`); then mutates the corpus to check
//! the codec never panics, keeps every range in bounds and never depends on how bytes were split.
#![allow(clippy::unwrap_used)]

mod common;

use common::{load_cases, unescape, RawCase, Rng};
use ferrocorn_proto::fastcgi::{
    Control, HeadParser, HeadStatus, Limits, ProtocolStatus, RequestHead, StdinDecoder,
};

struct Case {
    name: String,
    limits: Limits,
    expect: Vec<Vec<u8>>,
    raw: Vec<u8>,
}

fn load() -> Vec<Case> {
    load_cases("fastcgi", "fcgi", true, to_case)
}

fn to_case(c: RawCase) -> Result<Case, String> {
    let mut case = Case {
        name: c.name,
        limits: Limits::default(),
        expect: Vec::new(),
        raw: c.raw,
    };
    for (key, value) in &c.meta {
        match key.as_str() {
            "description" => {}
            "expect" => case.expect.push(unescape(value)?),
            "option" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or(format!("bad option {value:?}"))?;
                let n: u64 = v.parse().map_err(|_| format!("bad number in {value:?}"))?;
                match k {
                    "max_params" => case.limits.max_params = n as usize,
                    "max_body" => case.limits.max_body = n,
                    _ => return Err(format!("unknown option {k:?}")),
                }
            }
            _ => return Err(format!("unknown key {key:?}")),
        }
    }
    Ok(case)
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn control_line(c: &Control) -> Vec<u8> {
    let s = match *c {
        Control::GetValues(q) => {
            let mut names = Vec::new();
            if q.max_conns {
                names.push("max_conns");
            }
            if q.max_reqs {
                names.push("max_reqs");
            }
            if q.mpxs_conns {
                names.push("mpxs_conns");
            }
            if names.is_empty() {
                names.push("none");
            }
            format!("control get_values {}", names.join(","))
        }
        Control::UnknownType(t) => format!("control unknown_type {t}"),
        Control::Refuse { request_id, status } => {
            let why = match status {
                ProtocolStatus::CantMpxConn => "cant_mpx_conn",
                ProtocolStatus::UnknownRole => "unknown_role",
                other => panic!("refused with {other:?}"),
            };
            format!("control refuse {request_id} {why}")
        }
        Control::Abort { request_id, .. } => format!("control abort {request_id}"),
    };
    s.into_bytes()
}

/// Hands out the input in pieces ending at the given cut points.
struct Source<'a> {
    raw: &'a [u8],
    /// Sorted cut points.
    cuts: Vec<usize>,
    /// Next cut point to look at.
    next_cut: usize,
    fed: usize,
}

impl Source<'_> {
    /// Append the next piece to `buf`; false when the input is used up.
    fn more(&mut self, buf: &mut Vec<u8>) -> bool {
        if self.fed >= self.raw.len() {
            return false;
        }
        while self.cuts.get(self.next_cut).is_some_and(|&c| c <= self.fed) {
            self.next_cut += 1;
        }
        let next = self
            .cuts
            .get(self.next_cut)
            .copied()
            .unwrap_or(self.raw.len())
            .min(self.raw.len());
        buf.extend_from_slice(&self.raw[self.fed..next]);
        self.fed = next;
        true
    }
}

fn check_head(head: &RequestHead, buf: &[u8], limits: &Limits) {
    assert!(head.head_len <= buf.len(), "head_len past the buffer");
    assert!(head.head_len <= limits.max_head(), "head_len past max_head");
    let area = head.params_area.range();
    assert!(area.start <= area.end && area.end <= head.head_len);
    for p in &head.params {
        for span in [p.name, p.value] {
            let r = span.range();
            assert!(area.start <= r.start && r.start <= r.end && r.end <= area.end);
        }
    }
}

/// Serve a connection like a server would; the transcript (see the README).
fn run(raw: &[u8], limits: Limits, cuts: Vec<usize>) -> Vec<Vec<u8>> {
    let mut src = Source {
        raw,
        cuts,
        next_cut: 0,
        fed: 0,
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut parser = HeadParser::new(limits);
    let mut head = RequestHead::default();
    loop {
        // The head.
        loop {
            match parser.parse(&mut buf, &mut head) {
                Err(e) => {
                    out.push(format!("error {e}").into_bytes());
                    return out;
                }
                Ok(HeadStatus::Partial) => {
                    assert!(parser.scanned() <= buf.len());
                    if !src.more(&mut buf) {
                        if !buf.is_empty() {
                            out.push(b"partial head".to_vec());
                        }
                        return out;
                    }
                }
                Ok(HeadStatus::Control(c)) => {
                    out.push(control_line(&c));
                    if let Control::Abort { keep_conn, .. } = c {
                        if !keep_conn {
                            out.push(b"close".to_vec());
                            return out;
                        }
                    }
                }
                Ok(HeadStatus::Complete) => break,
            }
        }
        check_head(&head, &buf, &limits);
        out.push(
            format!(
                "request id={} keep_conn={} head_len={}",
                head.request_id, head.keep_conn, head.head_len
            )
            .into_bytes(),
        );
        for p in &head.params {
            let mut line = b"param ".to_vec();
            line.extend_from_slice(p.name.get(&buf));
            line.push(b'=');
            line.extend_from_slice(p.value.get(&buf));
            out.push(line);
        }
        // The body.
        let keep = head.keep_conn;
        let mut dec: StdinDecoder = parser.take_stdin();
        assert_eq!(dec.request_id(), head.request_id);
        let mut pos = head.head_len;
        let mut body = Vec::new();
        let flush = |body: &mut Vec<u8>, out: &mut Vec<Vec<u8>>| {
            if !body.is_empty() {
                let mut line = b"body ".to_vec();
                line.extend_from_slice(body);
                out.push(line);
                body.clear();
            }
        };
        loop {
            let input = &buf[pos..];
            let step = match dec.decode(input) {
                Ok(step) => step,
                Err(e) => {
                    flush(&mut body, &mut out);
                    out.push(format!("error {e}").into_bytes());
                    return out;
                }
            };
            assert!(step.consumed <= input.len());
            assert!(step.data.start <= step.data.end && step.data.end == step.consumed);
            body.extend_from_slice(&input[step.data.clone()]);
            pos += step.consumed;
            if let Some(c) = step.control {
                assert!(step.data.is_empty());
                flush(&mut body, &mut out);
                out.push(control_line(&c));
                if let Control::Abort { .. } = c {
                    // The request is over; the decoder refuses to go on.
                    assert!(dec.decode(&buf[pos..]).is_err());
                    if !keep {
                        out.push(b"close".to_vec());
                        return out;
                    }
                    break;
                }
                continue;
            }
            if step.done {
                assert!(dec.is_done());
                flush(&mut body, &mut out);
                out.push(b"end".to_vec());
                if !keep {
                    out.push(b"close".to_vec());
                    return out;
                }
                break;
            }
            if step.data.is_empty() && !src.more(&mut buf) {
                flush(&mut body, &mut out);
                out.push(b"partial body".to_vec());
                return out;
            }
        }
        // The next request on a KEEP_CONN connection starts after what this one consumed.
        buf.drain(..pos);
    }
}

fn diff(want: &[Vec<u8>], got: &[Vec<u8>]) -> String {
    let w: Vec<String> = want.iter().map(|l| show(l)).collect();
    let g: Vec<String> = got.iter().map(|l| show(l)).collect();
    format!(
        "expected:\n  {}\ngot:\n  {}",
        w.join("\n  "),
        g.join("\n  ")
    )
}

/// The transcript must not depend on how the bytes arrive.
fn check_splits(raw: &[u8], limits: Limits, whole: &[Vec<u8>]) -> Result<(), String> {
    for k in 0..=raw.len() {
        let split = run(raw, limits, vec![k]);
        if split != whole {
            return Err(format!("split at {k}: {}", diff(whole, &split)));
        }
    }
    let bytewise = run(raw, limits, (0..=raw.len()).collect());
    if bytewise != whole {
        return Err(format!("byte by byte: {}", diff(whole, &bytewise)));
    }
    Ok(())
}

#[test]
fn corpus() {
    let cases = load();
    assert!(cases.len() >= 60, "corpus went missing: {}", cases.len());
    assert!(cases.iter().any(|c| c.name.starts_with("capture-nginx")));
    assert!(cases.iter().any(|c| c.name.starts_with("capture-cgi-fcgi")));
    let mut failures = Vec::new();
    for case in &cases {
        let whole = run(&case.raw, case.limits, Vec::new());
        if whole != case.expect {
            failures.push(format!("{}: {}", case.name, diff(&case.expect, &whole)));
            continue;
        }
        if let Err(e) = check_splits(&case.raw, case.limits, &whole) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// `PROTO_FUZZ_SCALE=50` runs 50 times as many rounds (as in `never_panics.rs`).
fn rounds(base: usize) -> usize {
    let scale = std::env::var("PROTO_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok());
    base * scale.unwrap_or(1)
}

#[test]
fn mutations_never_panic_and_do_not_depend_on_splits() {
    let seeds: Vec<Vec<u8>> = load().into_iter().map(|c| c.raw).collect();
    let extra = std::env::var("PROTO_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let mut rng = Rng(0x4643_4749_2d31 ^ extra.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for _ in 0..rounds(20_000) {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(4) {
            let len = input.len();
            match rng.below(7) {
                0 if len > 0 => input[rng.below(len)] = rng.next() as u8,
                // Record-header fields: small numbers matter most (types, ids, lengths, padding).
                1 if len > 0 => input[rng.below(len)] = rng.below(13) as u8,
                2 => input.insert(rng.below(len + 1), rng.next() as u8),
                3 if len > 0 => {
                    let at = rng.below(len);
                    let n = rng.below(len - at).min(24);
                    input.drain(at..at + n);
                }
                4 if len > 0 => input.truncate(rng.below(len)),
                5 if len > 0 => {
                    // Duplicate a slice (whole records, often).
                    let at = rng.below(len);
                    let n = (rng.below(len - at) + 1).min(64);
                    let copy = input[at..at + n].to_vec();
                    let to = rng.below(len + 1);
                    input.splice(to..to, copy);
                }
                _ => {
                    let other = &seeds[rng.below(seeds.len())];
                    if !other.is_empty() {
                        let at = rng.below(other.len());
                        let n = rng.below(other.len() - at) + 1;
                        let to = rng.below(len + 1);
                        input.splice(to..to, other[at..at + n].iter().copied());
                    }
                }
            }
        }
        let limits = if rng.chance(3) {
            Limits {
                max_params: rng.below(300),
                max_body: rng.below(40) as u64,
            }
        } else {
            Limits::default()
        };
        let whole = run(&input, limits, Vec::new());
        let mut cuts: Vec<usize> = (0..rng.below(6))
            .map(|_| rng.below(input.len() + 1))
            .collect();
        cuts.sort_unstable();
        let pieces = run(&input, limits, cuts.clone());
        assert_eq!(
            pieces,
            whole,
            "cuts {cuts:?} of {}\n{}",
            show(&input),
            diff(&whole, &pieces)
        );
        let bytewise = run(&input, limits, (0..=input.len()).collect());
        assert_eq!(bytewise, whole, "byte by byte of {}", show(&input));
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x7261_6e64_6663_6769);
    for _ in 0..rounds(20_000) {
        let len = rng.below(200);
        // Mostly version 1 headers so the state machine gets past the first record.
        let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut at = 0;
        while at + 8 <= input.len() {
            if rng.chance(2) {
                input[at] = 1;
                input[at + 1] = rng.below(13) as u8;
                input[at + 2] = 0;
                input[at + 3] = 1;
                input[at + 4] = 0;
                input[at + 5] %= 32;
            }
            at += 8 + usize::from(input[at + 5]) + usize::from(input[at + 6] % 8);
        }
        let whole = run(&input, Limits::default(), Vec::new());
        let bytewise = run(&input, Limits::default(), (0..=input.len()).collect());
        assert_eq!(bytewise, whole, "{}", show(&input));
    }
}
