//! Building the WSGI environ cheaply: copy a prepared dict of the constant keys (one per listener),
//! use interned key strings for the CGI variables and common headers, and fill values straight
//! from the request buffer.

use ferrocorn_proto::http1::environ_key_into;
use ferrocorn_server::app::{app_paths, HeaderStyle};
use ferrocorn_server::Exchange;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// Key strings created once.
pub struct Keys {
    pub request_method: Py<PyString>,
    pub path_info: Py<PyString>,
    pub script_name: Py<PyString>,
    pub query_string: Py<PyString>,
    pub raw_uri: Py<PyString>,
    pub server_protocol: Py<PyString>,
    pub remote_addr: Py<PyString>,
    pub remote_port: Py<PyString>,
    pub content_type: Py<PyString>,
    pub content_length: Py<PyString>,
    pub wsgi_input: Py<PyString>,
    pub url_scheme: Py<PyString>,
    pub https: Py<PyString>,
    pub proxy_protocol: Py<PyString>,
    pub proxy_addr: Py<PyString>,
    pub proxy_port: Py<PyString>,
    pub http11: Py<PyString>,
    pub http10: Py<PyString>,
    methods: Vec<(&'static [u8], Py<PyString>)>,
    /// Common header names (lower case) and their environ keys.
    headers: Vec<(&'static [u8], Py<PyString>)>,
}

const COMMON_HEADERS: &[(&[u8], &str)] = &[
    (b"host", "HTTP_HOST"),
    (b"user-agent", "HTTP_USER_AGENT"),
    (b"accept", "HTTP_ACCEPT"),
    (b"accept-encoding", "HTTP_ACCEPT_ENCODING"),
    (b"accept-language", "HTTP_ACCEPT_LANGUAGE"),
    (b"connection", "HTTP_CONNECTION"),
    (b"cookie", "HTTP_COOKIE"),
    (b"referer", "HTTP_REFERER"),
    (b"cache-control", "HTTP_CACHE_CONTROL"),
    (b"origin", "HTTP_ORIGIN"),
    (b"authorization", "HTTP_AUTHORIZATION"),
    (b"x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
    (b"x-forwarded-proto", "HTTP_X_FORWARDED_PROTO"),
    (b"x-real-ip", "HTTP_X_REAL_IP"),
    (b"x-requested-with", "HTTP_X_REQUESTED_WITH"),
    (b"if-none-match", "HTTP_IF_NONE_MATCH"),
    (b"if-modified-since", "HTTP_IF_MODIFIED_SINCE"),
    (
        b"upgrade-insecure-requests",
        "HTTP_UPGRADE_INSECURE_REQUESTS",
    ),
    (b"expect", "HTTP_EXPECT"),
    (b"transfer-encoding", "HTTP_TRANSFER_ENCODING"),
];

impl Keys {
    pub fn new(py: Python<'_>) -> Self {
        let s = |v: &str| PyString::intern(py, v).unbind();
        Keys {
            request_method: s("REQUEST_METHOD"),
            path_info: s("PATH_INFO"),
            script_name: s("SCRIPT_NAME"),
            query_string: s("QUERY_STRING"),
            raw_uri: s("RAW_URI"),
            server_protocol: s("SERVER_PROTOCOL"),
            remote_addr: s("REMOTE_ADDR"),
            remote_port: s("REMOTE_PORT"),
            content_type: s("CONTENT_TYPE"),
            content_length: s("CONTENT_LENGTH"),
            wsgi_input: s("wsgi.input"),
            url_scheme: s("wsgi.url_scheme"),
            https: s("https"),
            proxy_protocol: s("PROXY_PROTOCOL"),
            proxy_addr: s("PROXY_ADDR"),
            proxy_port: s("PROXY_PORT"),
            http11: s("HTTP/1.1"),
            http10: s("HTTP/1.0"),
            methods: ["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"]
                .iter()
                .map(|m| (m.as_bytes(), s(m)))
                .collect(),
            headers: COMMON_HEADERS.iter().map(|(n, k)| (*n, s(k))).collect(),
        }
    }
}

/// A `str` holding these bytes one-to-one (latin-1), as PEP 3333 wants for environ values.
pub fn latin1_str<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyString> {
    match std::str::from_utf8(b) {
        Ok(s) if s.is_ascii() => PyString::new(py, s),
        _ => {
            let s: String = b.iter().map(|&c| char::from(c)).collect();
            PyString::new(py, &s)
        }
    }
}

/// Per-connection strings, made once and reused for every request on the connection.
struct ConnStrings {
    remote_addr: Py<PyString>,
    remote_port: Py<PyString>,
    /// What the connection's PROXY header said, if one came.
    proxy: Option<ProxyStrings>,
}

/// gunicorn's `PROXY_PROTOCOL`, and `PROXY_ADDR`/`PROXY_PORT` when the header had addresses.
struct ProxyStrings {
    protocol: Py<PyString>,
    addr: Option<(Py<PyString>, Py<PyString>)>,
}

/// Scratch buffers reused across requests on one thread.
#[derive(Default)]
pub struct Scratch {
    path: Vec<u8>,
    key: Vec<u8>,
}

/// Fill `env` (a copy of the listener's template) for the request in `ex`.
pub fn fill<'py>(
    py: Python<'py>,
    keys: &Keys,
    env: &Bound<'py, PyDict>,
    ex: &Exchange,
    script_name: &[u8],
    scratch: &mut Scratch,
) -> PyResult<()> {
    let req = ex.request();
    let method = req.method();
    match keys.methods.iter().find(|(m, _)| *m == method) {
        Some((_, k)) => env.set_item(&keys.request_method, k)?,
        None => env.set_item(&keys.request_method, latin1_str(py, method))?,
    }
    let split = app_paths(&req, script_name, &mut scratch.path);
    let (script, path) = scratch.path.split_at(split);
    // The listener's template holds the mount as SCRIPT_NAME; only a different one is written.
    if script != script_name {
        env.set_item(&keys.script_name, latin1_str(py, script))?;
    }
    env.set_item(&keys.path_info, latin1_str(py, path))?;
    env.set_item(&keys.query_string, latin1_str(py, req.query()))?;
    env.set_item(&keys.raw_uri, latin1_str(py, req.raw_uri()))?;
    match req.protocol() {
        "HTTP/1.1" => env.set_item(&keys.server_protocol, &keys.http11)?,
        "HTTP/1.0" => env.set_item(&keys.server_protocol, &keys.http10)?,
        other => env.set_item(&keys.server_protocol, other)?,
    }
    let info = &*ex.info;
    let pystr = |s: &str| PyString::new(py, s).unbind();
    let addr = info.host_cache.get_or_init(|| {
        Box::new(ConnStrings {
            remote_addr: pystr(&info.remote_addr),
            remote_port: pystr(&info.remote_port),
            proxy: info.proxy.as_ref().map(|p| ProxyStrings {
                protocol: pystr(p.protocol),
                addr: (!p.proxy_addr.is_empty())
                    .then(|| (pystr(&p.proxy_addr), pystr(&p.proxy_port))),
            }),
        })
    });
    let cached = addr.downcast_ref::<ConnStrings>();
    match (&info.forwarded, cached) {
        // A trusted front end named this request's client.
        (Some((a, p)), _) => {
            env.set_item(&keys.remote_addr, a.as_str())?;
            env.set_item(&keys.remote_port, p.as_str())?;
        }
        (None, Some(c)) => {
            env.set_item(&keys.remote_addr, &c.remote_addr)?;
            env.set_item(&keys.remote_port, &c.remote_port)?;
        }
        (None, None) => {
            env.set_item(&keys.remote_addr, info.remote_addr.as_str())?;
            env.set_item(&keys.remote_port, info.remote_port.as_str())?;
        }
    }
    if let Some(proxy) = cached.and_then(|c| c.proxy.as_ref()) {
        env.set_item(&keys.proxy_protocol, &proxy.protocol)?;
        if let Some((a, p)) = &proxy.addr {
            env.set_item(&keys.proxy_addr, a)?;
            env.set_item(&keys.proxy_port, p)?;
        }
    }
    // The listener's template says "http"; only a different scheme needs writing.
    match info.url_scheme {
        "" | "http" => {}
        "https" => env.set_item(&keys.url_scheme, &keys.https)?,
        other => env.set_item(&keys.url_scheme, other)?,
    }
    let style = req.style();
    for (name, value) in req.fields() {
        let value_str = latin1_str(py, value);
        let key: Bound<'py, PyString> = match style {
            HeaderStyle::Cgi => latin1_str(py, name),
            HeaderStyle::Http => {
                if name.eq_ignore_ascii_case(b"content-type") {
                    env.set_item(&keys.content_type, value_str)?;
                    continue;
                }
                if name.eq_ignore_ascii_case(b"content-length") {
                    env.set_item(&keys.content_length, value_str)?;
                    continue;
                }
                match keys
                    .headers
                    .iter()
                    .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
                {
                    Some((_, k)) => k.bind(py).clone(),
                    None => {
                        scratch.key.clear();
                        environ_key_into(name, &mut scratch.key);
                        latin1_str(py, &scratch.key)
                    }
                }
            }
        };
        // Repeated headers are joined (cookies with "; "); a CGI front end's other variables
        // (SERVER_NAME, CONTENT_LENGTH, ...) replace the template's.
        let joinable = style == HeaderStyle::Http || name.starts_with(b"HTTP_");
        match env.get_item(&key)? {
            Some(prev) if joinable => {
                let sep = if key.to_str()? == "HTTP_COOKIE" {
                    "; "
                } else {
                    ", "
                };
                let joined = format!("{}{}{}", prev.extract::<&str>()?, sep, value_str.to_str()?);
                env.set_item(key, joined)?;
            }
            _ => env.set_item(key, value_str)?,
        }
    }
    Ok(())
}
