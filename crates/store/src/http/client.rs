//! The few HTTP requests a cache needs (GET, HEAD, PUT), blocking, with timeouts, bounded
//! response bodies and errors that name the request and the URL (which never carries
//! credentials: they travel in the `Authorization` header only).

use std::io;
use std::time::Duration;

use ureq::Agent;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one request may take in all (an image is a few MB at most).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A blocking client for one cache server.
pub struct Client {
    agent: Agent,
    authorization: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the credentials are never printed
        f.debug_struct("Client")
            .field("authorization", &self.authorization.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What a PUT did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The server stored the body.
    Stored,
    /// A conditional create found the name taken (412 Precondition Failed).
    Taken,
}

impl Client {
    /// A client that sends `authorization` (a header value) with every request.
    pub fn new(authorization: Option<String>) -> Client {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("disco/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            authorization,
        }
    }

    /// The body at `url` (at most `limit` bytes), `None` on 404.
    pub fn get(&self, url: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let mut req = self.agent.get(url);
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let mut resp = req.call().map_err(|e| failed("GET", url, e))?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map(Some)
                .map_err(|e| failed("GET", url, e)),
            404 => Ok(None),
            status => Err(refused("GET", url, status)),
        }
    }

    /// Whether the server holds `url`.
    pub fn exists(&self, url: &str) -> io::Result<bool> {
        let mut req = self.agent.head(url);
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        let resp = req.call().map_err(|e| failed("HEAD", url, e))?;
        match resp.status().as_u16() {
            200 | 204 => Ok(true),
            404 => Ok(false),
            status => Err(refused("HEAD", url, status)),
        }
    }

    /// Stores `body` at `url`; with `create`, only if nothing is there (`If-None-Match: *`,
    /// which servers that cannot keep it ignore).
    pub fn put(&self, url: &str, body: &[u8], create: bool) -> io::Result<Put> {
        let mut req = self.agent.put(url);
        if let Some(a) = &self.authorization {
            req = req.header("Authorization", a);
        }
        if create {
            req = req.header("If-None-Match", "*");
        }
        let resp = req.send(body).map_err(|e| failed("PUT", url, e))?;
        match resp.status().as_u16() {
            200..=299 => Ok(Put::Stored),
            412 if create => Ok(Put::Taken),
            status => Err(refused("PUT", url, status)),
        }
    }
}

/// A request that got no answer (or an unreadable one).
fn failed(method: &str, url: &str, e: ureq::Error) -> io::Error {
    let kind = match &e {
        ureq::Error::Timeout(_) => io::ErrorKind::TimedOut,
        ureq::Error::BodyExceedsLimit(_) => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{method} {url}: {e}"))
}

/// A request the server answered with an unexpected status.
fn refused(method: &str, url: &str, status: u16) -> io::Error {
    let hint = match status {
        401 | 403 => {
            " (set DISCO_CACHE_USER and DISCO_CACHE_PASSWORD, DISCO_CACHE_TOKEN or a ~/.netrc \
             entry, or use --cache-mode read)"
        }
        405 | 501 if method == "PUT" => " (the server does not take uploads here)",
        400 if method == "PUT" && url.contains("/ac/") => {
            " (bazel-remote takes disco's entries only with --disable_http_ac_validation)"
        }
        _ => "",
    };
    let kind = match status {
        401 | 403 => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{method} {url}: HTTP {status}{hint}"))
}
