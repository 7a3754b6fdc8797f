//! Static files (`--static URL=DIR`, uWSGI's `static-map`): answered by the worker thread in Rust,
//! before the app is called and without entering Python — the same for every front end, because
//! [`crate::front::run_app`] asks [`StaticFiles::serve`] first.
//!
//! The rules:
//!
//! - The prefix is matched on a path-segment boundary (`/static` matches `/static/x`, not
//!   `/staticx`) against the request's whole URL path, percent-decoded (for CGI front ends:
//!   `SCRIPT_NAME` + `PATH_INFO` as they sent them; `--script-name` plays no part).
//! - The longest matching prefix is searched first, then shorter ones, and mappings with the
//!   same prefix in the order given (uWSGI searches repeated `static-map`s the same way). The
//!   first one under which the path names a regular file serves it.
//! - A directory under a prefix (the root itself too) gets `404` without reaching the app: no
//!   listings, no `index.html`. A path that names nothing under any of them — missing, or a
//!   socket or FIFO — goes to the app, as uWSGI's `static-map` does.
//! - A path we refuse — a `..` segment (also `%2e%2e`, and `..%2f` once `%2f` is decoded to
//!   `/`), a NUL byte, a backslash, or a file that resolves outside the mapped root through a
//!   symlink — gets `404` without reaching the app or any file (logged at debug).
//! - GET and HEAD only: another method on a path that names a file gets `405` with
//!   `Allow: GET, HEAD`.
//! - Responses carry `Content-Type` (a built-in table), `Content-Length`, `Last-Modified`,
//!   `ETag` (`"<mtime-hex>-<size-hex>"`), `Cache-Control` ([`CACHE_CONTROL`]) and
//!   `Accept-Ranges: bytes`. `If-Match`/`If-Unmodified-Since` (412), `If-None-Match` (lists,
//!   `*`, weak comparison) and `If-Modified-Since` (304; `If-None-Match` takes precedence) are
//!   evaluated in RFC 9110's order.
//! - `Range` (GET only): one range `a-b`, `a-` or `-n` gets `206` with `Content-Range`; an
//!   unsatisfiable one `416` with `Content-Range: bytes */SIZE`; several ranges get the whole
//!   file (`200`), which RFC 9110 allows. `If-Range` (an ETag, compared strongly, or a date equal
//!   to `Last-Modified`) that does not match also gets the whole file.
//! - Precompressed siblings: when `FILE.br` or `FILE.gz` is a regular file in the same root and
//!   the client's `Accept-Encoding` accepts it, it is sent instead (`br` preferred at equal
//!   q-values) with `Content-Encoding`, its own ETag (suffixed `-br`/`-gz`) and
//!   `Vary: Accept-Encoding`; the uncompressed response carries the same `Vary` when a sibling
//!   exists. Requests with a `Range` header always get the uncompressed file, so ranges and
//!   `If-Range` refer to one representation.
//! - Files are opened with `openat2(RESOLVE_BENEATH)` under the directory opened at start-up
//!   (and on HUP); what that refuses (absolute symlinks) or a kernel without it is checked on the
//!   opened file's real path instead.
//! - Bodies up to 32 KiB are read and sent with the head in one write; larger ones go by
//!   `sendfile(2)`. File I/O blocks (local disk); waits on the client go through the handler's
//!   [`Unlocker`].

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use crate::app::{app_paths, Exchange, Outcome, Request, Unlocker};
use crate::log;

/// `Cache-Control` on static responses: an hour, then revalidation (cheap: a 304).
pub const CACHE_CONTROL: &[u8] = b"public, max-age=3600";

/// The `--static` mappings, checked once at start-up (roots canonicalized and opened).
#[derive(Debug)]
pub struct StaticFiles {
    /// Longest prefix first; equal prefixes in configuration order.
    maps: Vec<Mapping>,
    /// `openat2(RESOLVE_BENEATH)` works here (cleared when the kernel or a seccomp filter says
    /// no; then every lookup takes the path-based way).
    beneath: AtomicBool,
}

#[derive(Debug)]
struct Mapping {
    /// URL prefix without a trailing `/` (empty: everything).
    prefix: Vec<u8>,
    /// Canonical directory.
    root: PathBuf,
    /// The directory, open: files are opened beneath it.
    dir: File,
}

/// What a request path means under the mappings.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a short-lived value on the stack, never stored
enum Lookup {
    /// Not under any prefix, or names nothing servable under any of them: the app's.
    App,
    /// A directory under a prefix (and no file under another mapping): 404 without the app.
    Directory,
    /// A path we refuse to look up (traversal and the like): 404 without the app.
    Refused(String),
    /// A regular file inside a root.
    File(Found),
}

/// An open regular file inside a root.
#[derive(Debug)]
struct Found {
    file: File,
    meta: Metadata,
    path: PathBuf,
    /// `path` relative to the root.
    rel: PathBuf,
    /// The root it was found under (for its siblings' containment check).
    root_index: usize,
}

impl StaticFiles {
    /// The mappings from the config (`URL`, `DIR`); DIR relative to the current directory.
    pub fn new(map: &[(String, PathBuf)]) -> Result<StaticFiles, String> {
        let mut maps = Vec::with_capacity(map.len());
        for (url, dir) in map {
            let root = std::fs::canonicalize(dir).map_err(|e| {
                format!(
                    "static_map: cannot use directory {:?} for {url}: {e}",
                    dir.display().to_string()
                )
            })?;
            if !root.is_dir() {
                return Err(format!(
                    "static_map: {:?} for {url} is not a directory",
                    dir.display().to_string()
                ));
            }
            let dir = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(&root)
                .map_err(|e| {
                    format!(
                        "static_map: cannot open directory {:?} for {url}: {e}",
                        root.display().to_string()
                    )
                })?;
            maps.push(Mapping {
                prefix: url.trim_end_matches('/').as_bytes().to_vec(),
                root,
                dir,
            });
        }
        // Stable: mappings with the same prefix keep their order.
        maps.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(StaticFiles {
            maps,
            beneath: AtomicBool::new(true),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Answer the request if it is for a static file; `None` hands it to the app. `scratch`
    /// receives the decoded path.
    pub fn serve(
        &self,
        ex: &mut Exchange,
        u: &dyn Unlocker,
        scratch: &mut Vec<u8>,
    ) -> Option<Outcome> {
        // Borrow the head's fields apart from `ex.resp`, which is written below.
        let req = Request::new(ex.body.buffer(), &ex.head);
        app_paths(&req, b"", scratch);
        let found = match self.lookup(scratch) {
            Lookup::App => return None,
            Lookup::Directory => {
                return Some(small(ex, u, 404, b"404 Not Found", &[], b"Not Found\n"));
            }
            Lookup::Refused(why) => {
                if log::enabled(log::LogLevel::Debug) {
                    log::debug(&format!(
                        "static: refused {} from {}: {why}",
                        req.describe(),
                        ex.info.client_addr()
                    ));
                }
                return Some(small(ex, u, 404, b"404 Not Found", &[], b"Not Found\n"));
            }
            Lookup::File(f) => f,
        };
        let method = req.method();
        let is_get = method == b"GET";
        if !is_get && method != b"HEAD" {
            return Some(small(
                ex,
                u,
                405,
                b"405 Method Not Allowed",
                &[(b"Allow", b"GET, HEAD")],
                b"Method Not Allowed\n",
            ));
        }
        let cond = Conditions {
            if_match: req.header(b"if-match"),
            if_unmodified_since: req.header(b"if-unmodified-since"),
            if_none_match: req.header(b"if-none-match"),
            if_modified_since: req.header(b"if-modified-since"),
            range: req.header(b"range"),
            if_range: req.header(b"if-range"),
        };
        let accept = req.header(b"accept-encoding");
        let content_type = content_type(found.path.as_os_str().as_bytes());

        // The representation: a precompressed sibling, unless a Range asks for identity bytes.
        let mapping = &self.maps[found.root_index];
        let with_ext = |p: &Path, ext: &str| {
            let mut p = p.as_os_str().to_owned();
            p.push(ext);
            PathBuf::from(p)
        };
        let siblings = [(Coding::Br, ".br"), (Coding::Gzip, ".gz")].map(|(c, ext)| {
            let p = with_ext(&found.path, ext);
            std::fs::metadata(&p)
                .is_ok_and(|m| m.is_file())
                .then_some((c, p, ext))
        });
        let vary = siblings.iter().any(Option::is_some);
        let mut rep = Representation {
            file: found.file,
            meta: found.meta,
            coding: None,
        };
        if vary && cond.range.is_none() {
            if let Some(ae) = accept {
                let mut best: Option<(u16, Coding, &Path, &str)> = None;
                for (c, p, ext) in siblings.iter().flatten() {
                    let q = coding_q(ae, *c);
                    if q > 0 && best.is_none_or(|(bq, _, _, _)| q > bq) {
                        best = Some((q, *c, p, ext));
                    }
                }
                if let Some((_, c, p, ext)) = best {
                    match self.open_in(mapping, &with_ext(&found.rel, ext), p) {
                        Ok(Opened::File(file, meta)) => {
                            rep = Representation {
                                file,
                                meta,
                                coding: Some(c),
                            }
                        }
                        Ok(Opened::Dir | Opened::Nothing) => {}
                        Err(why) => log::debug(&format!("static: sibling skipped: {why}")),
                    }
                }
            }
        }
        let v = rep.validators();
        let plan = decide(&cond, &v, is_get);
        // The decoded path is no longer needed: its buffer carries a small body.
        Some(respond(
            ex,
            u,
            &rep,
            &v,
            plan,
            content_type,
            vary,
            is_get,
            scratch,
        ))
    }

    /// Find what `path` (decoded) names.
    fn lookup(&self, path: &[u8]) -> Lookup {
        let mut saw_dir = false;
        for (i, m) in self.maps.iter().enumerate() {
            let Some(rest) = under(path, &m.prefix) else {
                continue;
            };
            let segs = match segments(rest) {
                Ok(s) => s,
                Err(why) => return Lookup::Refused(why.into()),
            };
            if segs.is_empty() {
                saw_dir = true; // the root itself
                continue;
            }
            // Segments are pushed one by one: none is empty, `.`/`..` or contains `/`, so the
            // path stays relative (an absolute component would replace the root in `join`).
            let mut rel = PathBuf::new();
            for s in segs {
                rel.push(OsStr::from_bytes(s));
            }
            let p = m.root.join(&rel);
            match self.open_in(m, &rel, &p) {
                Ok(Opened::File(file, meta)) => {
                    return Lookup::File(Found {
                        file,
                        meta,
                        path: p,
                        rel,
                        root_index: i,
                    })
                }
                Ok(Opened::Dir) => saw_dir = true,
                Ok(Opened::Nothing) => {}
                Err(why) => return Lookup::Refused(why),
            }
        }
        if saw_dir {
            Lookup::Directory
        } else {
            Lookup::App
        }
    }

    /// Open `rel` (`full` is the same file as a path) if it is a regular file inside `m`'s
    /// directory. The fast way is one `openat2` with `RESOLVE_BENEATH`: the kernel resolves
    /// relative symlinks itself and refuses anything that would leave the directory. What it
    /// refuses (an absolute symlink, which may still point inside, or one that leaves) and
    /// kernels without `openat2` take the path-based way ([`open_inside`]).
    fn open_in(&self, m: &Mapping, rel: &Path, full: &Path) -> Result<Opened, String> {
        use nix::errno::Errno;
        use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
        if self.beneath.load(Ordering::Relaxed) {
            let how = OpenHow::new()
                .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            match openat2(&m.dir, rel, how) {
                Ok(fd) => {
                    let file = File::from(fd);
                    // A directory, FIFO or device opened with O_NONBLOCK is closed unread.
                    return Ok(match file.metadata() {
                        Ok(meta) if meta.is_file() => Opened::File(file, meta),
                        Ok(meta) if meta.is_dir() => Opened::Dir,
                        _ => Opened::Nothing,
                    });
                }
                Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(Opened::Nothing),
                Err(Errno::ENOSYS | Errno::EPERM) => self.beneath.store(false, Ordering::Relaxed),
                // EXDEV (a symlink out of the directory, or an absolute one), ELOOP, EACCES...
                Err(_) => {}
            }
        }
        open_inside(full, &m.root)
    }
}

/// The rest of `path` after `prefix`, if `path` is under it on a segment boundary.
fn under<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest[0] == b'/').then_some(rest)
}

/// The path segments of `rest` (`/a//b/./c` → `a`, `b`, `c`), or why the path is refused.
fn segments(rest: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let mut out = Vec::new();
    for s in rest.split(|&b| b == b'/') {
        match s {
            b"" | b"." => {}
            b".." => return Err("a .. segment"),
            _ if s.contains(&0) => return Err("a NUL byte"),
            _ if s.contains(&b'\\') => return Err("a backslash"),
            _ => out.push(s),
        }
    }
    Ok(out)
}

/// Open `p` if it is a regular file that is really inside `root` (symlinks resolved on the open
/// descriptor, so what is checked is what is sent). `Ok(None)`: not a regular file (or
/// missing); `Err`: refused.
/// What a path under a root turned out to be.
enum Opened {
    File(File, Metadata),
    Dir,
    Nothing,
}

fn open_inside(p: &Path, root: &Path) -> Result<Opened, String> {
    // stat first: a FIFO or device is never opened.
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => {}
        Ok(m) if m.is_dir() => {
            // Only a directory inside the root counts as one (a symlink out is refused).
            return match std::fs::canonicalize(p) {
                Ok(real) if real.starts_with(root) => Ok(Opened::Dir),
                Ok(real) => Err(format!(
                    "{} resolves to {}, outside {}",
                    p.display(),
                    real.display(),
                    root.display()
                )),
                Err(e) => Err(format!("cannot resolve {}: {e}", p.display())),
            };
        }
        _ => return Ok(Opened::Nothing),
    }
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Opened::Nothing),
        Err(e) => return Err(format!("cannot open {}: {e}", p.display())),
    };
    let meta = match file.metadata() {
        Ok(m) if m.is_file() => m,
        _ => return Ok(Opened::Nothing),
    };
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .or_else(|_| std::fs::canonicalize(p));
    match real {
        Ok(real) if real.starts_with(root) => Ok(Opened::File(file, meta)),
        Ok(real) => Err(format!(
            "{} resolves to {}, outside {}",
            p.display(),
            real.display(),
            root.display()
        )),
        Err(e) => Err(format!("cannot resolve {}: {e}", p.display())),
    }
}

/// Content codings we have precompressed siblings for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Br,
    Gzip,
}

impl Coding {
    fn name(self) -> &'static [u8] {
        match self {
            Coding::Br => b"br",
            Coding::Gzip => b"gzip",
        }
    }
    fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Br => "-br",
            Coding::Gzip => "-gz",
        }
    }
}

/// How much `Accept-Encoding` wants `coding`, in thousandths (0: not acceptable). An explicit
/// entry wins over `*`; `x-gzip` counts as `gzip`.
fn coding_q(accept: &[u8], coding: Coding) -> u16 {
    let mut star = None;
    for item in accept.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let name = parts.next().unwrap_or_default().trim_ascii();
        let mut q = 1000;
        for p in parts {
            let p = p.trim_ascii();
            if let Some(v) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) {
                q = parse_q(v);
            }
        }
        let hit = name.eq_ignore_ascii_case(coding.name())
            || (coding == Coding::Gzip && name.eq_ignore_ascii_case(b"x-gzip"));
        if hit {
            return q;
        }
        if name == b"*" {
            star = Some(q);
        }
    }
    star.unwrap_or(0)
}

/// A q-value (`1`, `0.5`, `0.001`) in thousandths; malformed counts as 0.
fn parse_q(v: &[u8]) -> u16 {
    let v = v.trim_ascii();
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    match int {
        b"1" if frac.iter().all(|&d| d == b'0') => 1000,
        b"0" => frac
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')),
        _ => 0,
    }
}

/// The file being sent and how it is encoded.
struct Representation {
    file: File,
    meta: Metadata,
    coding: Option<Coding>,
}

/// What conditional requests compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Validators {
    /// `"…"` including the quotes.
    etag: String,
    /// Seconds since the epoch (clamped at 0).
    mtime: u64,
    size: u64,
}

impl Representation {
    fn validators(&self) -> Validators {
        validators(
            self.meta.mtime(),
            self.meta.size(),
            self.coding.map_or("", Coding::etag_suffix),
        )
    }
}

fn validators(mtime: i64, size: u64, suffix: &str) -> Validators {
    let mtime = mtime.max(0) as u64;
    Validators {
        etag: format!("\"{mtime:x}-{size:x}{suffix}\""),
        mtime,
        size,
    }
}

/// The request's conditional and range headers.
#[derive(Debug, Default, Clone, Copy)]
struct Conditions<'a> {
    if_match: Option<&'a [u8]>,
    if_unmodified_since: Option<&'a [u8]>,
    if_none_match: Option<&'a [u8]>,
    if_modified_since: Option<&'a [u8]>,
    range: Option<&'a [u8]>,
    if_range: Option<&'a [u8]>,
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Full,
    /// First and last byte, inclusive.
    Partial(u64, u64),
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
}

/// RFC 9110 §13.2.2: the preconditions in order, then the range.
fn decide(c: &Conditions<'_>, v: &Validators, is_get: bool) -> Plan {
    if let Some(im) = c.if_match {
        if !etag_list_matches(im, &v.etag, false) {
            return Plan::PreconditionFailed;
        }
    } else if let Some(t) = c.if_unmodified_since.and_then(parse_date) {
        if v.mtime > t {
            return Plan::PreconditionFailed;
        }
    }
    if let Some(inm) = c.if_none_match {
        if etag_list_matches(inm, &v.etag, true) {
            return Plan::NotModified;
        }
    } else if let Some(t) = c.if_modified_since.and_then(parse_date) {
        if v.mtime <= t {
            return Plan::NotModified;
        }
    }
    // Range is defined for GET only; HEAD and the rest ignore it.
    let Some(range) = c.range.filter(|_| is_get) else {
        return Plan::Full;
    };
    if let Some(ir) = c.if_range {
        if !if_range_holds(ir, v) {
            return Plan::Full;
        }
    }
    match parse_range(range, v.size) {
        RangeSpec::Ignore => Plan::Full,
        RangeSpec::Single(a, b) => Plan::Partial(a, b),
        RangeSpec::Unsatisfiable => Plan::Unsatisfiable,
    }
}

/// An HTTP date as seconds since the epoch.
fn parse_date(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let t = httpdate::parse_http_date(s).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Whether a list of entity tags (`If-Match`, `If-None-Match`) names `etag`, or is `*`.
/// `weak`: compare ignoring `W/` (If-None-Match); otherwise weak tags never match (If-Match).
fn etag_list_matches(list: &[u8], etag: &str, weak: bool) -> bool {
    let list = list.trim_ascii();
    if list == b"*" {
        return true;
    }
    let ours = etag.as_bytes();
    let mut rest = list;
    loop {
        rest = rest.trim_ascii_start();
        while let Some(r) = rest.strip_prefix(b",") {
            rest = r.trim_ascii_start();
        }
        if rest.is_empty() {
            return false;
        }
        let (is_weak, r) = match rest.strip_prefix(b"W/") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        // An entity tag: `"` opaque `"`; anything else ends the (malformed) list.
        let Some(body) = r.strip_prefix(b"\"") else {
            return false;
        };
        let Some(end) = body.iter().position(|&b| b == b'"') else {
            return false;
        };
        let tag = &r[..end + 2];
        if tag == ours && (weak || !is_weak) {
            return true;
        }
        rest = &r[end + 2..];
    }
}

/// `If-Range`: an entity tag (strong comparison) or a date equal to `Last-Modified`.
fn if_range_holds(v: &[u8], val: &Validators) -> bool {
    let v = v.trim_ascii();
    if v.starts_with(b"\"") {
        v == val.etag.as_bytes()
    } else if v.starts_with(b"W/") {
        false
    } else {
        parse_date(v) == Some(val.mtime)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSpec {
    /// No usable single range (malformed, another unit, several ranges): send everything.
    Ignore,
    /// First and last byte, inclusive, within the file.
    Single(u64, u64),
    Unsatisfiable,
}

/// A digit string as u64, saturating (a huge position is simply past the end).
fn parse_pos(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `Range: bytes=a-b | a- | -n` against a file of `size` bytes.
fn parse_range(v: &[u8], size: u64) -> RangeSpec {
    let v = v.trim_ascii();
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return RangeSpec::Ignore;
    };
    if !v[..eq].trim_ascii().eq_ignore_ascii_case(b"bytes") {
        return RangeSpec::Ignore;
    }
    let mut specs = v[eq + 1..]
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return RangeSpec::Ignore; // none, or several: the whole file
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (spec[..dash].trim_ascii(), spec[dash + 1..].trim_ascii());
    if first.is_empty() {
        // Suffix: the last n bytes.
        return match parse_pos(last) {
            None => RangeSpec::Ignore,
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if size == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Single(size - n.min(size), size - 1),
        };
    }
    let Some(a) = parse_pos(first) else {
        return RangeSpec::Ignore;
    };
    let b = if last.is_empty() {
        u64::MAX
    } else {
        match parse_pos(last) {
            Some(b) if b >= a => b,
            _ => return RangeSpec::Ignore,
        }
    };
    if a >= size {
        RangeSpec::Unsatisfiable
    } else {
        RangeSpec::Single(a, b.min(size - 1))
    }
}

/// The `Content-Type` for a file name, by extension (`application/octet-stream` otherwise).
pub fn content_type(name: &[u8]) -> &'static str {
    let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    let Some(dot) = base.iter().rposition(|&b| b == b'.') else {
        return "application/octet-stream";
    };
    let ext = &base[dot + 1..];
    let mut lower = [0u8; 12];
    if ext.is_empty() || ext.len() > lower.len() {
        return "application/octet-stream";
    }
    for (d, s) in lower.iter_mut().zip(ext) {
        *d = s.to_ascii_lowercase();
    }
    match &lower[..ext.len()] {
        b"html" | b"htm" => "text/html; charset=utf-8",
        b"css" => "text/css; charset=utf-8",
        b"js" | b"mjs" | b"cjs" => "text/javascript; charset=utf-8",
        b"txt" => "text/plain; charset=utf-8",
        b"csv" => "text/csv; charset=utf-8",
        b"md" | b"markdown" => "text/markdown; charset=utf-8",
        b"ics" => "text/calendar; charset=utf-8",
        b"json" | b"map" => "application/json",
        b"webmanifest" => "application/manifest+json",
        b"xml" => "application/xml",
        b"rss" => "application/rss+xml",
        b"atom" => "application/atom+xml",
        b"svg" | b"svgz" => "image/svg+xml",
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"webp" => "image/webp",
        b"avif" => "image/avif",
        b"ico" => "image/x-icon",
        b"bmp" => "image/bmp",
        b"tif" | b"tiff" => "image/tiff",
        b"woff" => "font/woff",
        b"woff2" => "font/woff2",
        b"ttf" => "font/ttf",
        b"otf" => "font/otf",
        b"eot" => "application/vnd.ms-fontobject",
        b"pdf" => "application/pdf",
        b"zip" => "application/zip",
        b"gz" => "application/gzip",
        b"tar" => "application/x-tar",
        b"wasm" => "application/wasm",
        b"mp4" | b"m4v" => "video/mp4",
        b"webm" => "video/webm",
        b"ogv" => "video/ogg",
        b"mp3" => "audio/mpeg",
        b"ogg" | b"oga" => "audio/ogg",
        b"m4a" => "audio/mp4",
        b"wav" => "audio/wav",
        b"flac" => "audio/flac",
        b"vtt" => "text/vtt; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Bodies up to this size are read and sent with the head in one write; larger ones go by
/// `sendfile`.
const SMALL_FILE: u64 = 32 * 1024;

/// Read `len` bytes at `offset` into `buf` (fewer if the file is shorter now).
fn read_at_most(file: &File, offset: u64, len: u64, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    buf.clear();
    buf.resize(len as usize, 0);
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(())
}

/// A short response of our own (404, 405, 412) that keeps the connection.
fn small(
    ex: &mut Exchange,
    u: &dyn Unlocker,
    code: u16,
    status: &[u8],
    headers: &[(&[u8], &[u8])],
    body: &[u8],
) -> Outcome {
    let r = &mut ex.resp;
    r.start(status, code);
    for (n, v) in headers {
        r.header(n, v);
    }
    r.header(b"Content-Type", b"text/plain; charset=utf-8");
    let mut len = itoa::Buffer::new();
    r.header(b"Content-Length", len.format(body.len()).as_bytes());
    r.commit();
    match r.write(body, u).and_then(|_| r.finish(u)) {
        Ok(()) => Outcome::Done,
        Err(_) => Outcome::Close,
    }
}

/// Write the planned response for `rep`.
#[allow(clippy::too_many_arguments)]
fn respond(
    ex: &mut Exchange,
    u: &dyn Unlocker,
    rep: &Representation,
    v: &Validators,
    plan: Plan,
    content_type: &str,
    vary: bool,
    is_get: bool,
    buf: &mut Vec<u8>,
) -> Outcome {
    if plan == Plan::PreconditionFailed {
        return small(
            ex,
            u,
            412,
            b"412 Precondition Failed",
            &[],
            b"Precondition Failed\n",
        );
    }
    let mut num = itoa::Buffer::new();
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(v.mtime));
    let r = &mut ex.resp;
    let validators = |r: &mut crate::response::ResponseWriter| {
        r.header(b"Last-Modified", last_modified.as_bytes());
        r.header(b"ETag", v.etag.as_bytes());
        r.header(b"Cache-Control", CACHE_CONTROL);
        if vary {
            r.header(b"Vary", b"Accept-Encoding");
        }
    };
    let (offset, len) = match plan {
        Plan::NotModified => {
            r.start(b"304 Not Modified", 304);
            validators(r);
            r.commit();
            return match r.finish(u) {
                Ok(()) => Outcome::Done,
                Err(_) => Outcome::Close,
            };
        }
        Plan::Unsatisfiable => {
            r.start(b"416 Range Not Satisfiable", 416);
            r.header(b"Content-Range", format!("bytes */{}", v.size).as_bytes());
            r.header(b"Accept-Ranges", b"bytes");
            r.header(b"Content-Length", b"0");
            r.commit();
            return match r.finish(u) {
                Ok(()) => Outcome::Done,
                Err(_) => Outcome::Close,
            };
        }
        Plan::Partial(a, b) => {
            r.start(b"206 Partial Content", 206);
            r.header(
                b"Content-Range",
                format!("bytes {a}-{b}/{}", v.size).as_bytes(),
            );
            (a, b - a + 1)
        }
        Plan::Full | Plan::PreconditionFailed => {
            r.start(b"200 OK", 200);
            (0, v.size)
        }
    };
    r.header(b"Content-Type", content_type.as_bytes());
    r.header(b"Content-Length", num.format(len).as_bytes());
    if let Some(c) = rep.coding {
        r.header(b"Content-Encoding", c.name());
    }
    r.header(b"Accept-Ranges", b"bytes");
    validators(r);
    r.commit();
    let sent = if !is_get {
        0 // HEAD: no body
    } else if len <= SMALL_FILE {
        // Small: read it and send head and body in one write (one packet, no sendfile call).
        match read_at_most(&rep.file, offset, len, buf) {
            Ok(()) => match r.write(buf, u) {
                Ok(n) => n as u64,
                Err(_) => return Outcome::Close,
            },
            Err(_) => return Outcome::Close,
        }
    } else {
        match r.send_file(&rep.file, offset as i64, len, u) {
            Ok(n) => n,
            Err(_) => return Outcome::Close, // the client went away
        }
    };
    match r.finish(u) {
        Ok(()) => Outcome::Done,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::InvalidData {
                log::info(&format!(
                    "static: a file shrank while being sent ({sent} of {len} bytes); closing"
                ));
            }
            Outcome::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let p = std::env::temp_dir()
                .join(format!("ferrocorn-static-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("mkdir");
            Scratch(p)
        }
        fn write(&self, rel: &str, data: &[u8]) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, data).expect("write");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Every path in `paths` looks up to what `want` accepts.
    fn assert_lookups(sf: &StaticFiles, paths: &[&[u8]], want: fn(&Lookup) -> bool) {
        for p in paths {
            assert!(want(&sf.lookup(p)), "{}", String::from_utf8_lossy(p));
        }
    }

    fn found(l: Lookup) -> Option<String> {
        match l {
            Lookup::File(f) => {
                Some(String::from_utf8(std::fs::read(&f.path).expect("read")).expect("utf-8"))
            }
            _ => None,
        }
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert_eq!(under(b"/static/x", b"/static"), Some(&b"/x"[..]));
        assert_eq!(under(b"/static", b"/static"), Some(&b""[..]));
        assert_eq!(under(b"/staticx", b"/static"), None);
        assert_eq!(under(b"/stat", b"/static"), None);
        assert_eq!(under(b"/x", b""), Some(&b"/x"[..]));
    }

    #[test]
    fn segments_refuse_traversal() {
        assert_eq!(
            segments(b"/a//b/./c").expect("fine"),
            [&b"a"[..], b"b", b"c"]
        );
        assert!(segments(b"").expect("fine").is_empty());
        assert_eq!(segments(b"/../x"), Err("a .. segment"));
        assert_eq!(segments(b"/a/.."), Err("a .. segment"));
        assert_eq!(segments(b"/a\0b"), Err("a NUL byte"));
        assert_eq!(segments(b"/..\\x"), Err("a backslash"));
        // Dots inside a name are names.
        assert_eq!(
            segments(b"/..x/a..b").expect("fine"),
            [&b"..x"[..], b"a..b"]
        );
    }

    #[test]
    fn lookup_resolves_inside_the_root_only() {
        let d = Scratch::new("lookup");
        d.write("root/a.txt", b"a");
        d.write("root/sub/b.txt", b"b");
        d.write("secret.txt", b"secret");
        d.write("root2/a.txt", b"a2");
        d.write("root2/only2.txt", b"only2");
        d.write("deep/x/c.txt", b"c");
        let root = d.0.join("root");
        std::os::unix::fs::symlink(d.0.join("secret.txt"), root.join("out")).expect("symlink");
        std::os::unix::fs::symlink(d.0.clone(), root.join("updir")).expect("symlink");
        std::os::unix::fs::symlink(root.join("sub/b.txt"), root.join("in")).expect("symlink");
        std::os::unix::fs::symlink("/nonexistent", root.join("dangling")).expect("symlink");
        std::os::unix::fs::symlink("../secret.txt", root.join("relout")).expect("symlink");
        std::os::unix::fs::symlink("sub/b.txt", root.join("relin")).expect("symlink");
        std::os::unix::fs::symlink("../root/sub", root.join("relsub")).expect("symlink");
        let sf = StaticFiles::new(&[
            ("/static".into(), root.clone()),
            ("/static".into(), d.0.join("root2")),
            ("/static/deep".into(), d.0.join("deep")),
        ])
        .expect("maps");
        // The same answers with openat2 and without (old kernels, seccomp).
        for beneath in [true, false] {
            sf.beneath.store(beneath, Ordering::Relaxed);
            check_lookups(&sf);
        }
        assert!(StaticFiles::new(&[("/x".into(), d.0.join("nope"))]).is_err());
        assert!(StaticFiles::new(&[("/x".into(), d.0.join("secret.txt"))]).is_err());
    }

    fn check_lookups(sf: &StaticFiles) {
        assert_eq!(found(sf.lookup(b"/static/a.txt")).as_deref(), Some("a"));
        assert_eq!(found(sf.lookup(b"/static/sub/b.txt")).as_deref(), Some("b"));
        assert_eq!(
            found(sf.lookup(b"/static//sub/./b.txt")).as_deref(),
            Some("b")
        );
        // Repeated prefix: searched in order.
        assert_eq!(
            found(sf.lookup(b"/static/only2.txt")).as_deref(),
            Some("only2")
        );
        // Longest prefix first.
        assert_eq!(
            found(sf.lookup(b"/static/deep/x/c.txt")).as_deref(),
            Some("c")
        );
        // Symlinks inside the root to files inside are fine (absolute or relative, also when
        // the relative one goes up and back in).
        assert_eq!(found(sf.lookup(b"/static/in")).as_deref(), Some("b"));
        assert_eq!(found(sf.lookup(b"/static/relin")).as_deref(), Some("b"));
        assert_eq!(
            found(sf.lookup(b"/static/relsub/b.txt")).as_deref(),
            Some("b")
        );
        // Directories: 404 without the app.
        assert_lookups(
            sf,
            &[
                &b"/static"[..],
                b"/static/",
                b"/static/sub",
                b"/static/sub/",
            ],
            |l| matches!(l, Lookup::Directory),
        );
        // Nothing there: to the app.
        assert_lookups(
            sf,
            &[
                &b"/static/missing"[..],
                b"/staticx/a.txt",
                b"/other",
                b"/static/dangling",
                b"/static/a.txt/x",
                b"/static//etc/passwd",
            ],
            |l| matches!(l, Lookup::App),
        );
        // Refused: never the secret.
        assert_lookups(
            sf,
            &[
                &b"/static/../secret.txt"[..],
                b"/static/sub/../../secret.txt",
                b"/static/out",
                b"/static/relout",
                b"/static/updir/secret.txt",
                b"/static/a.txt\0",
                b"/static/..\\secret.txt",
            ],
            |l| matches!(l, Lookup::Refused(_)),
        );
    }

    #[test]
    fn mime_types() {
        assert_eq!(content_type(b"/a/b/style.css"), "text/css; charset=utf-8");
        assert_eq!(content_type(b"app.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type(b"x.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type(b"a.json"), "application/json");
        assert_eq!(content_type(b"a.svg"), "image/svg+xml");
        assert_eq!(content_type(b"a.jpeg"), "image/jpeg");
        assert_eq!(content_type(b"a.woff2"), "font/woff2");
        assert_eq!(content_type(b"a.wasm"), "application/wasm");
        assert_eq!(content_type(b"a.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type(b"a.tar.gz"), "application/gzip");
        assert_eq!(content_type(b"Makefile"), "application/octet-stream");
        assert_eq!(content_type(b"dir.d/file"), "application/octet-stream");
        assert_eq!(content_type(b"a."), "application/octet-stream");
        assert_eq!(
            content_type(b"a.verylongextension"),
            "application/octet-stream"
        );
    }

    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range(b"bytes=0-9", 100), Single(0, 9));
        assert_eq!(parse_range(b"bytes=10-", 100), Single(10, 99));
        assert_eq!(parse_range(b"bytes=-10", 100), Single(90, 99));
        assert_eq!(parse_range(b"bytes=-1000", 100), Single(0, 99));
        assert_eq!(parse_range(b"bytes=90-1000", 100), Single(90, 99));
        assert_eq!(parse_range(b"Bytes = 5 - 6 ", 100), Single(5, 6));
        assert_eq!(parse_range(b"bytes=0-0,", 100), Single(0, 0));
        assert_eq!(parse_range(b"bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-5", 0), Unsatisfiable);
        assert_eq!(
            parse_range(b"bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
        assert_eq!(
            parse_range(b"bytes=0-99999999999999999999999", 100),
            Single(0, 99)
        );
        for bad in [
            &b"bytes=9-5"[..],
            b"bytes=0-1,5-6",
            b"items=0-5",
            b"bytes=",
            b"bytes=abc",
            b"bytes=1-x",
            b"bytes=--5",
            b"bytes=+1-2",
            b"0-5",
        ] {
            assert_eq!(
                parse_range(bad, 100),
                Ignore,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn etags_and_conditions() {
        let v = validators(0x6650_0000, 0x1234, "");
        assert_eq!(v.etag, "\"66500000-1234\"");
        assert_eq!(validators(-5, 1, "-gz").etag, "\"0-1-gz\"");
        let tag = v.etag.as_str();
        assert!(etag_list_matches(b"*", tag, true));
        assert!(etag_list_matches(br#""66500000-1234""#, tag, true));
        assert!(etag_list_matches(br#"W/"66500000-1234""#, tag, true));
        assert!(!etag_list_matches(br#"W/"66500000-1234""#, tag, false));
        assert!(etag_list_matches(
            br#""a", "b,c" ,W/"66500000-1234""#,
            tag,
            true
        ));
        assert!(!etag_list_matches(br#""a", "b""#, tag, true));
        assert!(
            !etag_list_matches(br#"66500000-1234"#, tag, true),
            "unquoted"
        );
        assert!(
            !etag_list_matches(br#""66500000-1234"#, tag, true),
            "unterminated"
        );

        let lm = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(v.mtime));
        let later = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(v.mtime + 10));
        let earlier = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(v.mtime - 10));
        let c = |f: &dyn Fn(&mut Conditions<'static>)| {
            let mut c = Conditions::default();
            f(&mut c);
            c
        };
        let leak =
            |s: &str| -> &'static [u8] { Box::leak(s.as_bytes().to_vec().into_boxed_slice()) };
        let (lm, later, earlier) = (leak(&lm), leak(&later), leak(&earlier));
        let tag_b = leak(tag);
        use Plan::*;
        assert_eq!(decide(&Conditions::default(), &v, true), Full);
        assert_eq!(
            decide(&c(&|c| c.if_none_match = Some(tag_b)), &v, true),
            NotModified
        );
        assert_eq!(
            decide(&c(&|c| c.if_none_match = Some(b"\"x\"")), &v, true),
            Full
        );
        assert_eq!(
            decide(&c(&|c| c.if_modified_since = Some(lm)), &v, true),
            NotModified
        );
        assert_eq!(
            decide(&c(&|c| c.if_modified_since = Some(later)), &v, true),
            NotModified
        );
        assert_eq!(
            decide(&c(&|c| c.if_modified_since = Some(earlier)), &v, true),
            Full
        );
        assert_eq!(
            decide(&c(&|c| c.if_modified_since = Some(b"garbage")), &v, true),
            Full
        );
        // If-None-Match takes precedence over If-Modified-Since.
        assert_eq!(
            decide(
                &c(&|c| {
                    c.if_none_match = Some(b"\"other\"");
                    c.if_modified_since = Some(later);
                }),
                &v,
                true
            ),
            Full
        );
        assert_eq!(
            decide(&c(&|c| c.if_match = Some(b"\"other\"")), &v, true),
            PreconditionFailed
        );
        assert_eq!(decide(&c(&|c| c.if_match = Some(tag_b)), &v, true), Full);
        assert_eq!(
            decide(&c(&|c| c.if_unmodified_since = Some(earlier)), &v, true),
            PreconditionFailed
        );
        assert_eq!(
            decide(&c(&|c| c.if_unmodified_since = Some(lm)), &v, true),
            Full
        );

        // Range, and If-Range by ETag (strong) or date (exact).
        let r = |f: &dyn Fn(&mut Conditions<'static>)| {
            c(&|c| {
                c.range = Some(b"bytes=0-9");
                f(c)
            })
        };
        assert_eq!(decide(&r(&|_| {}), &v, true), Partial(0, 9));
        assert_eq!(decide(&r(&|_| {}), &v, false), Full, "HEAD ignores Range");
        assert_eq!(
            decide(&r(&|c| c.if_range = Some(tag_b)), &v, true),
            Partial(0, 9)
        );
        assert_eq!(
            decide(&r(&|c| c.if_range = Some(b"\"old\"")), &v, true),
            Full
        );
        assert_eq!(
            decide(&r(&|c| c.if_range = Some(b"W/\"66500000-1234\"")), &v, true),
            Full
        );
        assert_eq!(
            decide(&r(&|c| c.if_range = Some(lm)), &v, true),
            Partial(0, 9)
        );
        assert_eq!(decide(&r(&|c| c.if_range = Some(earlier)), &v, true), Full);
        assert_eq!(
            decide(&c(&|c| c.range = Some(b"bytes=99999-")), &v, true),
            Unsatisfiable
        );
        // A 304 wins over the range.
        assert_eq!(
            decide(&r(&|c| c.if_none_match = Some(tag_b)), &v, true),
            NotModified
        );
    }

    #[test]
    fn accept_encoding_q_values() {
        assert_eq!(coding_q(b"gzip, deflate, br", Coding::Br), 1000);
        assert_eq!(coding_q(b"gzip, deflate, br", Coding::Gzip), 1000);
        assert_eq!(coding_q(b"gzip;q=0.5, br;q=0", Coding::Br), 0);
        assert_eq!(coding_q(b"gzip;q=0.5, br;q=0", Coding::Gzip), 500);
        assert_eq!(coding_q(b"x-gzip", Coding::Gzip), 1000);
        assert_eq!(coding_q(b"*", Coding::Br), 1000);
        assert_eq!(coding_q(b"*;q=0, gzip", Coding::Br), 0);
        assert_eq!(coding_q(b"*;q=0.2, gzip", Coding::Gzip), 1000);
        assert_eq!(coding_q(b"identity", Coding::Gzip), 0);
        assert_eq!(coding_q(b"BR ; Q=0.25", Coding::Br), 250);
        assert_eq!(coding_q(b"br;q=2", Coding::Br), 0, "malformed q");
        assert_eq!(coding_q(b"", Coding::Br), 0);
        assert_eq!(parse_q(b"0.05"), 50);
        assert_eq!(parse_q(b"1.000"), 1000);
        assert_eq!(parse_q(b"0"), 0);
        assert_eq!(parse_q(b"1.5"), 0);
        assert_eq!(parse_q(b"0.1234"), 0);
    }
}
