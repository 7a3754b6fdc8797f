//! gunicorn's access-log format language (`%(h)s`, `%({x-forwarded-for}i)s`, `%%`), parsed once:
//! here so `--check-config` refuses a bad format before anything binds, and the server renders
//! the parsed pieces on every request.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Atom {
    RemoteAddr,
    Dash,
    User,
    Time,
    RequestLine,
    Method,
    UrlPath,
    Query,
    Protocol,
    Status,
    BodyBytes,
    BodyBytesOrDash,
    Referer,
    UserAgent,
    Seconds,
    Micros,
    Millis,
    DecimalSeconds,
    Pid,
    ReqHeader(String),
    RespHeader(String),
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Atom(Atom),
}

/// Why a format string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError(pub String);

fn atom(name: &str) -> Result<Atom, FormatError> {
    let a = match name {
        "h" => Atom::RemoteAddr,
        "l" => Atom::Dash,
        "u" => Atom::User,
        "t" => Atom::Time,
        "r" => Atom::RequestLine,
        "m" => Atom::Method,
        "U" => Atom::UrlPath,
        "q" => Atom::Query,
        "H" => Atom::Protocol,
        "s" => Atom::Status,
        "B" => Atom::BodyBytes,
        "b" => Atom::BodyBytesOrDash,
        "f" => Atom::Referer,
        "a" => Atom::UserAgent,
        "T" => Atom::Seconds,
        "D" => Atom::Micros,
        "M" => Atom::Millis,
        "L" => Atom::DecimalSeconds,
        "p" => Atom::Pid,
        _ => {
            if let Some(inner) = name.strip_prefix('{') {
                if let Some((key, kind)) = inner.rsplit_once('}') {
                    return match kind {
                        "i" => Ok(Atom::ReqHeader(key.to_ascii_lowercase())),
                        "o" => Ok(Atom::RespHeader(key.to_ascii_lowercase())),
                        "e" => Ok(Atom::Env(key.to_string())),
                        _ => Err(FormatError(format!(
                            "unknown atom %({name})s: expected {{name}}i, {{name}}o or {{name}}e"
                        ))),
                    };
                }
            }
            return Err(FormatError(format!("unknown atom %({name})s")));
        }
    };
    Ok(a)
}

/// Parse a gunicorn access-log format (`%(h)s`, `%({x-forwarded-for}i)s`, `%%`).
pub fn parse(fmt: &str) -> Result<Vec<Piece>, FormatError> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = fmt;
    while let Some(i) = rest.find('%') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('%') {
            lit.push('%');
            rest = tail;
            continue;
        }
        let Some(body) = after.strip_prefix('(') else {
            return Err(FormatError(format!(
                "'%' at byte {i} must start %(name)s or be %%"
            )));
        };
        let close = body
            .find(")s")
            .ok_or_else(|| FormatError(format!("unterminated atom at byte {i}: expected ')s'")))?;
        if !lit.is_empty() {
            out.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        out.push(Piece::Atom(atom(&body[..close])?));
        rest = &body[close + 2..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}
