//! Runs every request in `tests/corpus/http1/` through `parse_head`, whole and byte by byte,
//! and checks the expectations written in the file (format: `tests/corpus/http1/README.md`).
#![allow(clippy::unwrap_used)]

mod common;

use common::{load_corpus, Case, Expect};
use ferrocorn_proto::http1::{parse_head, BodyKind, HttpError, Parsed, RequestHead, Version};

type Outcome = (Result<Parsed, HttpError>, RequestHead, Vec<u8>);

fn parse(case: &Case, raw: &[u8]) -> Outcome {
    let mut buf = raw.to_vec();
    let mut head = RequestHead::default();
    let result = parse_head(&mut buf, &case.limits, &mut head);
    (result, head, buf)
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn check_expectation(case: &Case, (result, head, buf): &Outcome) -> Result<(), String> {
    match (&case.expect, result) {
        (Expect::Ok, Ok(Parsed::Complete)) => {}
        (Expect::Partial, Ok(Parsed::Partial)) => return Ok(()),
        (Expect::Status(s), Err(e)) if e.status == *s => {}
        (want, got) => return Err(format!("expected {want:?}, got {got:?}")),
    }
    for (key, want) in &case.checks {
        let got: Vec<u8> = match key.as_str() {
            "reason" => match result {
                Err(e) => e.reason.as_bytes().to_vec(),
                Ok(_) => return Err("reason: given but the request parsed".into()),
            },
            _ if result.is_err() => return Err(format!("{key}: given for an error case")),
            "method" => head.method.get(buf).to_vec(),
            "target" => head.target.get(buf).to_vec(),
            "path" => head.path.get(buf).to_vec(),
            "query" => head.query.get(buf).to_vec(),
            "authority" => head
                .authority
                .map_or(b"none".to_vec(), |s| s.get(buf).to_vec()),
            "host" => head.host.map_or(b"none".to_vec(), |s| s.get(buf).to_vec()),
            "version" => match head.version {
                Version::Http10 => b"1.0".to_vec(),
                Version::Http11 => b"1.1".to_vec(),
            },
            "keep_alive" => head.keep_alive.to_string().into_bytes(),
            "expect_continue" => head.expect_continue.to_string().into_bytes(),
            "body" => match head.body {
                BodyKind::Empty => b"empty".to_vec(),
                BodyKind::Chunked => b"chunked".to_vec(),
                BodyKind::Length(n) => format!("length {n}").into_bytes(),
            },
            "head_len" => head.head_len.to_string().into_bytes(),
            "headers" => head.headers.len().to_string().into_bytes(),
            "rest" => case.raw.get(head.head_len..).unwrap_or_default().to_vec(),
            "header" => continue, // checked as a list below
            other => return Err(format!("unknown check {other:?}")),
        };
        if &got != want {
            return Err(format!(
                "{key}: expected {:?}, got {:?}",
                show(want),
                show(&got)
            ));
        }
    }
    let want_headers: Vec<&Vec<u8>> = case
        .checks
        .iter()
        .filter(|(k, _)| k == "header")
        .map(|(_, v)| v)
        .collect();
    if !want_headers.is_empty() {
        let got: Vec<Vec<u8>> = head
            .headers
            .iter()
            .map(|h| [h.name.get(buf), b": ", h.value.get(buf)].concat())
            .collect();
        let got_refs: Vec<&Vec<u8>> = got.iter().collect();
        if got_refs != want_headers {
            let fmt = |v: &[&Vec<u8>]| v.iter().map(|h| show(h)).collect::<Vec<_>>().join(" | ");
            return Err(format!(
                "headers: expected [{}], got [{}]",
                fmt(&want_headers),
                fmt(&got_refs)
            ));
        }
    }
    if let Ok(Parsed::Complete) = result {
        if head.head_len > buf.len() {
            return Err("head_len beyond the buffer".into());
        }
    }
    Ok(())
}

/// Feed every prefix: each must be `Partial` until the first one that is not, and that one
/// must agree with the whole parse (same status; or the same head, exactly at `head_len`).
fn check_byte_by_byte(case: &Case, whole: &Outcome) -> Result<(), String> {
    for k in 0..=case.raw.len() {
        let prefix = parse(case, &case.raw[..k]);
        match (&prefix.0, &whole.0) {
            (Ok(Parsed::Partial), _) => continue,
            (Err(p), Err(w)) if p.status == w.status => return Ok(()),
            (Ok(Parsed::Complete), Ok(Parsed::Complete)) => {
                if k != whole.1.head_len {
                    return Err(format!(
                        "prefix of {k} bytes complete, head_len {}",
                        whole.1.head_len
                    ));
                }
                if prefix.1 != whole.1 {
                    return Err(format!(
                        "prefix head {:?} != whole head {:?}",
                        prefix.1, whole.1
                    ));
                }
                if prefix.2[..k] != whole.2[..k] {
                    return Err("prefix rewrote the head differently".into());
                }
                return Ok(());
            }
            (p, w) => return Err(format!("prefix of {k} bytes gave {p:?}, whole gave {w:?}")),
        }
    }
    match whole.0 {
        Ok(Parsed::Partial) => Ok(()),
        ref w => Err(format!("every prefix partial, whole gave {w:?}")),
    }
}

#[test]
fn corpus() {
    let cases = load_corpus();
    assert!(cases.len() >= 80, "only {} corpus cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let whole = parse(case, &case.raw);
        let result =
            check_expectation(case, &whole).and_then(|()| check_byte_by_byte(case, &whole));
        if let Err(msg) = result {
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_every_status() {
    let cases = load_corpus();
    for status in [400, 413, 414, 417, 431, 501, 505] {
        assert!(
            cases.iter().any(|c| c.expect == Expect::Status(status)),
            "no corpus case expects {status}"
        );
    }
    assert!(cases.iter().any(|c| c.expect == Expect::Partial));
}
