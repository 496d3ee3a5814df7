//! Where an http(s) cache is and who the worker is to it. The URL (`--cache` or
//! `DISCO_CACHE`) may carry `user:password@`; otherwise the credentials come from the
//! environment (`DISCO_CACHE_USER` and `DISCO_CACHE_PASSWORD`, or `DISCO_CACHE_TOKEN` for a
//! bearer token) or from `~/.netrc` (`$NETRC`) — never from the project or `disco.lock`.
//! Nothing here prints a credential: URLs are shown through [`redact`].

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// The environment variables that hold a cache's credentials.
pub const USER_ENV: &str = "DISCO_CACHE_USER";
/// See [`USER_ENV`].
pub const PASSWORD_ENV: &str = "DISCO_CACHE_PASSWORD";
/// A bearer token, for servers that take one.
pub const TOKEN_ENV: &str = "DISCO_CACHE_TOKEN";

/// The most a netrc file may hold.
const NETRC_LIMIT: u64 = 1 << 20;

/// An http(s) cache URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheUrl {
    /// `scheme://host[:port][/prefix]`, without credentials or a trailing slash.
    pub base: String,
    /// The host, for netrc.
    pub host: String,
    /// `user:password` from the URL, percent-decoded.
    pub userinfo: Option<(String, String)>,
}

/// `url` taken apart, `None` unless it is `http(s)://host…` with no query or fragment.
pub fn parse(url: &str) -> Option<CacheUrl> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") || rest.contains(['?', '#']) {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?.to_owned(),
        None => hostport.split(':').next()?.to_owned(),
    };
    if host.is_empty() || hostport.chars().any(|c| c.is_whitespace() || c == '\\') {
        return None;
    }
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let userinfo = match userinfo {
        None => None,
        Some(u) => {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            Some((decode(user)?, decode(password)?))
        }
    };
    Some(CacheUrl {
        base: format!("{scheme}://{hostport}{}", path.trim_end_matches('/')),
        host,
        userinfo,
    })
}

/// `url` with any `user:password@` replaced by `***@`, fit to print.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The `Authorization` header for the cache at `url`, if any credentials are found; `Err`
/// names a netrc that exists but cannot be read.
pub fn authorization(
    url: &CacheUrl,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    if let Some((user, password)) = &url.userinfo {
        return Ok(Some(basic(user, password)));
    }
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(user) = env(USER_ENV) {
        return Ok(Some(basic(&user, &env(PASSWORD_ENV).unwrap_or_default())));
    }
    if let Some(token) = env(TOKEN_ENV) {
        return Ok(Some(format!("Bearer {token}")));
    }
    let path = env("NETRC")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".netrc")));
    let Some(path) = path.filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let text = disco_fsutil::read_bounded(&path, NETRC_LIMIT)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&text);
    Ok(netrc_login(&text, &url.host).map(|(u, p)| basic(&u, &p)))
}

/// The login and password a netrc gives `host` (its `machine` entry, else `default`).
pub fn netrc_login(text: &str, host: &str) -> Option<(String, String)> {
    let mut found: Option<(String, String)> = None;
    let mut fallback: Option<(String, String)> = None;
    // each entry: which one it is (Some(true) for ours, Some(false) for `default`)
    let mut current: Option<bool> = None;
    let mut entry = (String::new(), String::new());
    let mut tokens = text.split_whitespace();
    let mut finish = |current: Option<bool>, entry: &mut (String, String)| {
        let e = std::mem::take(entry);
        match current {
            Some(true) if found.is_none() => found = Some(e),
            Some(false) if fallback.is_none() => fallback = Some(e),
            _ => {}
        }
    };
    while let Some(t) = tokens.next() {
        match t {
            "machine" => {
                finish(current, &mut entry);
                current = Some(tokens.next() == Some(host)).filter(|&ours| ours);
            }
            "default" => {
                finish(current, &mut entry);
                current = Some(false);
            }
            "login" => entry.0 = tokens.next().unwrap_or_default().to_owned(),
            "password" => entry.1 = tokens.next().unwrap_or_default().to_owned(),
            _ => {}
        }
    }
    finish(current, &mut entry);
    found.or(fallback)
}

/// `Basic base64(user:password)` (RFC 7617).
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn urls_come_apart_without_their_credentials() {
        let u = parse("https://w%40rk:p%3Ass@cache.example:8443/disco/").unwrap();
        assert_eq!(u.base, "https://cache.example:8443/disco");
        assert_eq!(u.host, "cache.example");
        assert_eq!(u.userinfo, Some(("w@rk".into(), "p:ss".into())));
        assert_eq!(
            parse("http://127.0.0.1:80").unwrap().base,
            "http://127.0.0.1:80"
        );
        assert_eq!(parse("http://[::1]:9/c").unwrap().host, "::1");
        for bad in [
            "ftp://h/x",
            "http://",
            "http:///x",
            "http://h/x?q",
            "file:///x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(redact("https://u:secret@h/p@x"), "https://***@h/p@x");
        assert_eq!(redact("https://h/p"), "https://h/p");
    }

    #[test]
    fn credentials_come_from_the_url_then_the_environment_then_netrc() {
        let dir = tempfile::tempdir().unwrap();
        let netrc = dir.path().join("netrc");
        std::fs::write(
            &netrc,
            "machine other login x password y\n\
             default login anon password guest\n\
             machine cache.example\n  login farm\n  password s3cret\n",
        )
        .unwrap();
        let url = parse("https://cache.example/c").unwrap();
        let netrc_s = netrc.display().to_string();
        let env_with = |pairs: Vec<(&'static str, String)>| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        let from_netrc = env_with(vec![("NETRC", netrc_s.clone())]);
        assert_eq!(
            authorization(&url, &from_netrc).unwrap(),
            Some(basic("farm", "s3cret"))
        );
        let other = parse("https://elsewhere/c").unwrap();
        assert_eq!(
            authorization(&other, &from_netrc).unwrap(),
            Some(basic("anon", "guest"))
        );
        let from_env = env_with(vec![
            ("NETRC", netrc_s.clone()),
            (USER_ENV, "u".into()),
            (PASSWORD_ENV, "p".into()),
        ]);
        assert_eq!(
            authorization(&url, &from_env).unwrap(),
            Some(basic("u", "p"))
        );
        let token = env_with(vec![(TOKEN_ENV, "t0k".into())]);
        assert_eq!(
            authorization(&url, &token).unwrap(),
            Some("Bearer t0k".into())
        );
        let inline = parse("https://a:b@cache.example/c").unwrap();
        assert_eq!(
            authorization(&inline, &from_env).unwrap(),
            Some(basic("a", "b"))
        );
        assert_eq!(authorization(&url, &env_with(vec![])).unwrap(), None);
    }
}
