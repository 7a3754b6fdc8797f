//! Runs every packet in `tests/corpus/uwsgi/` through `parse_packet`, whole and at every prefix,
//! checks the expectations in the file (format: `tests/corpus/uwsgi/README.md`), then mutates the
//! corpus to check the parser never panics and never depends on how the bytes were split.
#![allow(clippy::unwrap_used)]

mod common;

use common::{load_cases, unescape, RawCase, Rng};
use ferrocorn_proto::uwsgi::{parse_packet, Parsed, UwsgiError, Var, MAX_VARS};

struct Case {
    name: String,
    max_vars: usize,
    expect: String,
    checks: Vec<(String, Vec<u8>)>,
    raw: Vec<u8>,
}

fn load() -> Vec<Case> {
    load_cases("uwsgi", "uwsgi", false, to_case)
}

fn to_case(c: RawCase) -> Result<Case, String> {
    let mut case = Case {
        name: c.name,
        max_vars: MAX_VARS,
        expect: String::new(),
        checks: Vec::new(),
        raw: c.raw,
    };
    for (key, value) in &c.meta {
        match key.as_str() {
            "description" => {}
            "expect" => case.expect = value.clone(),
            "option" => {
                case.max_vars = value
                    .strip_prefix("max_vars=")
                    .and_then(|n| n.parse().ok())
                    .ok_or(format!("unknown option {value:?}"))?;
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

fn check(case: &Case, result: &Result<Parsed, UwsgiError>, vars: &[Var]) -> Result<(), String> {
    let raw = &case.raw;
    let complete = match (case.expect.as_str(), result) {
        ("complete", Ok(Parsed::Complete { header, body_start })) => Some((*header, *body_start)),
        ("partial", Ok(Parsed::Partial)) | ("error", Err(_)) => None,
        (want, got) => return Err(format!("expected {want}, got {got:?}")),
    };
    for (key, want) in &case.checks {
        match (key.as_str(), complete, result) {
            ("reason", _, Err(e)) => {
                if e.reason().as_bytes() != want.as_slice() {
                    return Err(format!(
                        "reason: expected {:?}, got {:?}",
                        show(want),
                        e.reason()
                    ));
                }
            }
            ("modifier1", Some((h, _)), _) => {
                if h.modifier1.to_string().as_bytes() != want.as_slice() {
                    return Err(format!("modifier1 is {}", h.modifier1));
                }
            }
            ("vars", Some(_), _) => {
                if vars.len().to_string().as_bytes() != want.as_slice() {
                    return Err(format!("{} vars", vars.len()));
                }
            }
            ("body", Some((_, start)), _) => {
                if raw.get(start..).unwrap() != want.as_slice() {
                    return Err(format!("body is {:?}", show(&raw[start..])));
                }
            }
            ("var", Some(_), _) => {
                let eq = want
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or("var needs KEY=VALUE")?;
                let (k, v) = (&want[..eq], &want[eq + 1..]);
                if !vars
                    .iter()
                    .any(|x| x.key.get(raw) == k && x.value.get(raw) == v)
                {
                    return Err(format!("no var {}={}", show(k), show(v)));
                }
            }
            (other, _, _) => return Err(format!("check {other:?} does not apply here")),
        }
    }
    Ok(())
}

/// Every prefix is `Partial` until the first that is not, and that one agrees with the whole.
fn check_prefixes(raw: &[u8], max_vars: usize) -> Result<(), String> {
    let mut out = Vec::new();
    let whole = parse_packet(raw, max_vars, &mut out);
    let whole_vars = out.clone();
    for k in 0..=raw.len() {
        let prefix = parse_packet(&raw[..k], max_vars, &mut out);
        match (&prefix, &whole) {
            (Ok(Parsed::Partial), _) => continue,
            (Err(p), Err(w)) if p == w => return Ok(()),
            (Ok(p @ Parsed::Complete { .. }), Ok(w)) if p == w && out == whole_vars => {
                return Ok(())
            }
            _ => return Err(format!("prefix of {k} bytes: {prefix:?}, whole: {whole:?}")),
        }
    }
    match whole {
        Ok(Parsed::Partial) => Ok(()),
        other => Err(format!("every prefix partial, whole {other:?}")),
    }
}

#[test]
fn corpus() {
    let cases = load();
    assert!(cases.len() >= 14, "corpus went missing: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let mut vars = Vec::new();
        let result = parse_packet(&case.raw, case.max_vars, &mut vars);
        if let Err(e) = check(case, &result, &vars) {
            failures.push(format!("{}: {e}", case.name));
        }
        if let Err(e) = check_prefixes(&case.raw, case.max_vars) {
            failures.push(format!("{} (byte by byte): {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn mutations_never_panic_and_do_not_depend_on_splits() {
    let seeds: Vec<Vec<u8>> = load().into_iter().map(|c| c.raw).collect();
    let mut rng = Rng(0x7577_7367_6921 | 1);
    let mut vars = Vec::new();
    for round in 0..20_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            let len = input.len();
            match rng.below(4) {
                0 if len > 0 => input[rng.below(len)] = rng.next() as u8,
                1 => input.insert(rng.below(len + 1), rng.next() as u8),
                2 if len > 0 => input.truncate(rng.below(len)),
                _ => {}
            }
        }
        let max_vars = [MAX_VARS, 4096, 100][round % 3];
        if let Ok(Parsed::Complete { body_start, .. }) = parse_packet(&input, max_vars, &mut vars) {
            assert!(body_start <= input.len(), "{}", show(&input));
            for v in &vars {
                assert!(v.key.end as usize <= body_start && v.value.end as usize <= body_start);
                assert!(!v.key.get(&input).is_empty());
            }
        }
        if let Err(e) = check_prefixes(&input, max_vars) {
            panic!("{e}\ninput: {}", show(&input));
        }
    }
}
