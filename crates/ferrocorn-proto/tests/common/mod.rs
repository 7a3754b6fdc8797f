//! Corpus loading shared by the tests: the HTTP/1 request corpus in `tests/corpus/http1/`
//! (format: see the README there), and [`load_raw_cases`] for the other corpora (PROXY, uwsgi,
//! FastCGI), which share the file layout but not the keys.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ferrocorn_proto::http1::{HeaderMapPolicy, Limits};

/// What a case expects from `parse_head`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Ok,
    Partial,
    Status(u16),
}

/// One corpus file.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub limits: Limits,
    pub expect: Expect,
    /// `(key, unescaped value)` checks in file order, `expect` and `option` excluded.
    pub checks: Vec<(String, Vec<u8>)>,
    pub raw: Vec<u8>,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/http1")
}

/// All `*.http` files, sorted by name.
pub fn load_corpus() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p).unwrap();
            parse_case(&name, &text).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

pub fn parse_case(name: &str, text: &str) -> Result<Case, String> {
    let mut lines = text.lines();
    let mut limits = Limits::default();
    let mut expect = None;
    let mut checks = Vec::new();
    let mut separated = false;
    for line in lines.by_ref() {
        let line = line.trim_end();
        if line == "---" {
            separated = true;
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or(format!("no ':' in {line:?}"))?;
        let value = value.strip_prefix(' ').unwrap_or(value);
        match key {
            "expect" => {
                expect = Some(match value {
                    "ok" => Expect::Ok,
                    "partial" => Expect::Partial,
                    code => Expect::Status(code.parse().map_err(|_| format!("bad expect {code}"))?),
                })
            }
            "option" => apply_option(&mut limits, value)?,
            "description" => {}
            _ => checks.push((key.to_string(), unescape(value)?)),
        }
    }
    if !separated {
        return Err("no '---' line".into());
    }
    let mut raw = Vec::new();
    for line in lines {
        raw.extend(unescape(line.trim_end_matches([' ', '\t', '\r']))?);
    }
    Ok(Case {
        name: name.to_string(),
        limits,
        expect: expect.ok_or("no expect line")?,
        checks,
        raw,
    })
}

fn apply_option(l: &mut Limits, option: &str) -> Result<(), String> {
    let (key, value) = option.split_once('=').unwrap_or((option, ""));
    let num = || {
        value
            .parse::<u64>()
            .map_err(|_| format!("bad number in {option:?}"))
    };
    match key {
        "max_line" => l.max_line = num()? as usize,
        "max_fields" => l.max_fields = num()? as usize,
        "max_field_size" => l.max_field_size = num()? as usize,
        "max_body" => l.max_body = num()?,
        "permit_obsolete_folding" => l.permit_obsolete_folding = true,
        "permit_unconventional_method" => l.permit_unconventional_method = true,
        "casefold_method" => l.casefold_method = true,
        "strip_header_spaces" => l.strip_header_spaces = true,
        "header_map" => {
            l.header_map = match value {
                "drop" => HeaderMapPolicy::Drop,
                "refuse" => HeaderMapPolicy::Refuse,
                "dangerous" => HeaderMapPolicy::Dangerous,
                _ => return Err(format!("bad header_map {value:?}")),
            }
        }
        "forwarder_headers" => {
            l.forwarder_headers = value.split(',').map(|s| s.as_bytes().to_vec()).collect()
        }
        _ => return Err(format!("unknown option {key:?}")),
    }
    Ok(())
}

/// Escapes: `\r \n \t \0 \s` (space) `\\` and `\xNN`; everything else is literal.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b's') => out.push(b' '),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex: Vec<u8> = bytes.by_ref().take(2).collect();
                let hex = std::str::from_utf8(&hex).map_err(|e| e.to_string())?;
                let v = u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x{hex}"))?;
                out.push(v);
            }
            other => {
                return Err(format!(
                    "unknown escape \\{:?} in {s:?}",
                    other.map(char::from)
                ))
            }
        }
    }
    Ok(out)
}

/// Tiny deterministic PRNG (xorshift64*), so randomised tests need no extra crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// One corpus file of the shared layout: `key: value` lines (blank lines and `#` comments
/// dropped; `key:` alone has an empty value), a `---` line, then the raw bytes with escapes
/// (line breaks are not part of the bytes).
pub struct RawCase {
    pub name: String,
    pub meta: Vec<(String, String)>,
    pub raw: Vec<u8>,
}

/// Every case of a corpus, each turned into the test's own case type by `to_case` (a file it
/// refuses fails the test, naming the file).
pub fn load_cases<T>(
    subdir: &str,
    ext: &str,
    raw_comments: bool,
    to_case: fn(RawCase) -> Result<T, String>,
) -> Vec<T> {
    load_raw_cases(subdir, ext, raw_comments)
        .into_iter()
        .map(|c| {
            let name = c.name.clone();
            to_case(c).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

/// Every `*.EXT` file in `tests/corpus/SUBDIR`, sorted by name, split into meta lines and bytes.
/// `raw_comments`: lines of the raw part starting with `#` are comments too.
pub fn load_raw_cases(subdir: &str, ext: &str, raw_comments: bool) -> Vec<RawCase> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(subdir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(p).unwrap();
            split_raw_case(&name, &text, raw_comments).unwrap_or_else(|e| panic!("{name}: {e}"))
        })
        .collect()
}

fn split_raw_case(name: &str, text: &str, raw_comments: bool) -> Result<RawCase, String> {
    let (meta_text, raw_text) = text.split_once("---\n").ok_or("no '---' line")?;
    let mut meta = Vec::new();
    for line in meta_text.lines().map(str::trim_end) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(": ") {
            Some(kv) => kv,
            None => (
                line.strip_suffix(':').ok_or(format!("bad line {line:?}"))?,
                "",
            ),
        };
        meta.push((key.to_string(), value.to_string()));
    }
    let mut raw = Vec::new();
    for line in raw_text.lines() {
        if raw_comments && line.starts_with('#') {
            continue;
        }
        raw.extend(unescape(line.trim_end_matches([' ', '\t', '\r']))?);
    }
    Ok(RawCase {
        name: name.to_string(),
        meta,
        raw,
    })
}
