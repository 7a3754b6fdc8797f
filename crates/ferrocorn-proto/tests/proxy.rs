//! Runs every PROXY header in `tests/corpus/proxy/` through `parse_proxy_header`, whole and at
//! every prefix, checks the expectations in the file (format: `tests/corpus/proxy/README.md`),
//! then mutates the corpus to check the parser never panics and never depends on how the bytes
//! were split.
#![allow(clippy::unwrap_used)]

mod common;

use common::{load_cases, unescape, RawCase, Rng};
use ferrocorn_proto::http1::HttpError;
use ferrocorn_proto::proxy::{
    parse_proxy_header, sniff_proxy_header, ProxyParse, ProxySniff, ProxyVersions, V2_SIGNATURE,
};

struct Case {
    name: String,
    versions: ProxyVersions,
    expect: String,
    checks: Vec<(String, Vec<u8>)>,
    raw: Vec<u8>,
}

fn load() -> Vec<Case> {
    load_cases("proxy", "proxy", false, to_case)
}

fn to_case(c: RawCase) -> Result<Case, String> {
    let mut case = Case {
        name: c.name,
        versions: ProxyVersions::Any,
        expect: String::new(),
        checks: Vec::new(),
        raw: c.raw,
    };
    for (key, value) in &c.meta {
        match key.as_str() {
            "description" => {}
            "expect" => case.expect = value.clone(),
            "option" => {
                case.versions = match value.as_str() {
                    "versions=v1" => ProxyVersions::V1,
                    "versions=v2" => ProxyVersions::V2,
                    "versions=any" => ProxyVersions::Any,
                    _ => return Err(format!("unknown option {value:?}")),
                }
            }
            _ => case.checks.push((key.clone(), unescape(value)?)),
        }
    }
    if case.expect.is_empty() {
        return Err("no expect line".into());
    }
    Ok(case)
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn check(case: &Case, result: &Result<ProxyParse, HttpError>) -> Result<(), String> {
    let header = match (case.expect.as_str(), result) {
        ("header", Ok(ProxyParse::Header(h))) => Some(*h),
        ("absent", Ok(ProxyParse::Absent)) | ("partial", Ok(ProxyParse::Partial)) => None,
        (code, Err(e)) if code.parse() == Ok(e.status) => None,
        (want, got) => return Err(format!("expected {want}, got {got:?}")),
    };
    for (key, want) in &case.checks {
        let got: Vec<u8> = match (key.as_str(), &header, result) {
            ("reason", _, Err(e)) => e.reason.as_bytes().to_vec(),
            ("protocol", Some(h), _) => h.protocol.as_bytes().to_vec(),
            ("client", Some(h), _) => h
                .addrs
                .map_or("none".into(), |(c, _)| c.to_string())
                .into_bytes(),
            ("proxy", Some(h), _) => h
                .addrs
                .map_or("none".into(), |(_, p)| p.to_string())
                .into_bytes(),
            ("len", Some(h), _) => h.len.to_string().into_bytes(),
            ("rest", Some(h), _) => case.raw.get(h.len..).unwrap().to_vec(),
            (other, _, _) => return Err(format!("check {other:?} does not apply here")),
        };
        if &got != want {
            return Err(format!(
                "{key}: expected {:?}, got {:?}",
                show(want),
                show(&got)
            ));
        }
    }
    Ok(())
}

/// Every prefix is `Partial` until the first that is not, and that one agrees with the whole:
/// same status, `Absent`, or the same header exactly when its last byte arrives.
fn check_prefixes(raw: &[u8], versions: ProxyVersions) -> Result<(), String> {
    let whole = parse_proxy_header(raw, versions);
    for k in 0..=raw.len() {
        let prefix = parse_proxy_header(&raw[..k], versions);
        match (&prefix, &whole) {
            (Ok(ProxyParse::Partial), _) => continue,
            (Err(p), Err(w)) if p.status == w.status => return Ok(()),
            (Ok(ProxyParse::Absent), Ok(ProxyParse::Absent)) => return Ok(()),
            (Ok(ProxyParse::Header(p)), Ok(ProxyParse::Header(w))) if p == w && k == w.len => {
                return Ok(())
            }
            _ => return Err(format!("prefix of {k} bytes: {prefix:?}, whole: {whole:?}")),
        }
    }
    match whole {
        Ok(ProxyParse::Partial) => Ok(()),
        other => Err(format!("every prefix partial, whole {other:?}")),
    }
}

#[test]
fn corpus() {
    let cases = load();
    assert!(cases.len() >= 40, "corpus went missing: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let result = parse_proxy_header(&case.raw, case.versions);
        if let Err(e) = check(case, &result) {
            failures.push(format!("{}: {e}", case.name));
        }
        if let Err(e) = check_prefixes(&case.raw, case.versions) {
            failures.push(format!("{} (byte by byte): {e}", case.name));
        }
        // The sniffer agrees with the parser on whether a header is there.
        let sniffed = sniff_proxy_header(&case.raw, case.versions);
        let absent = matches!(result, Ok(ProxyParse::Absent));
        if (sniffed == ProxySniff::Absent) != absent {
            failures.push(format!(
                "{}: sniffed {sniffed:?}, parsed {result:?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn mutations_never_panic_and_do_not_depend_on_splits() {
    let seeds: Vec<Vec<u8>> = load().into_iter().map(|c| c.raw).collect();
    let mut rng = Rng(0x5052_4f58_5921 | 1);
    for round in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            let len = input.len();
            match rng.below(5) {
                0 if len > 0 => input[rng.below(len)] = rng.next() as u8,
                1 => input.insert(rng.below(len + 1), b" :.\r\n0f["[rng.below(8)]),
                2 if len > 0 => input.truncate(rng.below(len)),
                // v2: a random length or family byte.
                3 if len > 15 && input.starts_with(V2_SIGNATURE) => {
                    input[12 + rng.below(4)] = rng.next() as u8
                }
                _ => {}
            }
        }
        let versions = [ProxyVersions::V1, ProxyVersions::V2, ProxyVersions::Any][round % 3];
        if let Ok(ProxyParse::Header(h)) = parse_proxy_header(&input, versions) {
            assert!(h.len <= input.len(), "{}", show(&input));
        }
        if let Err(e) = check_prefixes(&input, versions) {
            panic!("{e}\ninput: {}", show(&input));
        }
    }
}
