//! What a user probe may be, checked the same way on both sides: the agent
//! when it parses `--probes`, the controller when it validates
//! `health.probes` in `fleet.yaml`, so a probe the agent would refuse is
//! refused by `validate` before any host is contacted.
//!
//! [`ProbeSpec::check`] refuses an empty name, a timeout outside
//! [`crate::bounds::PROBE_TIMEOUT_MS`], an empty command or one holding a
//! NUL, and a URL [`HttpUrl::parse`] refuses. The HTTP probe is deliberately
//! minimal: no TLS, no redirects and no name resolution (the agent is a
//! static binary, where glibc's NSS does not work), so the host of a URL
//! must be an IPv4 or IPv6 address, or `localhost`, taken to be 127.0.0.1
//! without asking a resolver. Nothing here does I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::bounds::PROBE_TIMEOUT_MS;
use crate::ProbeSpec;

/// What a checked probe does.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeCheck {
    /// A program and its arguments, never a shell command line; the first
    /// is never empty.
    Command(Vec<String>),
    Http(HttpUrl),
}

/// A [`ProbeSpec`] that passed [`ProbeSpec::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedProbe {
    pub name: String,
    pub timeout: Duration,
    pub check: ProbeCheck,
}

impl ProbeSpec {
    /// Checks one probe; the error names it and says what to write instead.
    /// Names being unique is the list's business (the caller's).
    pub fn check(self) -> Result<CheckedProbe, String> {
        let ProbeSpec { name, command, http, timeout_ms } = self;
        if name.trim().is_empty() {
            return Err("a probe has an empty `name`".to_owned());
        }
        if !PROBE_TIMEOUT_MS.contains(timeout_ms) {
            return Err(format!("probe `{name}`: `timeout_ms` {timeout_ms}: {}", PROBE_TIMEOUT_MS.expected()));
        }
        let check = match (command, http) {
            (Some(argv), None) => {
                if argv.first().is_none_or(|program| program.is_empty()) {
                    return Err(format!("probe `{name}`: `command` is empty: give the program and its arguments"));
                }
                if argv.iter().any(|arg| arg.contains('\0')) {
                    return Err(format!("probe `{name}`: `command` contains a NUL character"));
                }
                ProbeCheck::Command(argv)
            }
            (None, Some(url)) => ProbeCheck::Http(HttpUrl::parse(&url).map_err(|e| format!("probe `{name}`: {e}"))?),
            (None, None) => return Err(format!("probe `{name}` has neither `command` nor `http`: give exactly one")),
            (Some(_), Some(_)) => {
                return Err(format!("probe `{name}` has both `command` and `http`: give exactly one"))
            }
        };
        Ok(CheckedProbe { name, timeout: Duration::from_millis(timeout_ms), check })
    }
}

/// A URL the probe can fetch: `http://HOST[:PORT]/PATH`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpUrl {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header: the host and port as the URL writes them.
    pub authority: String,
    /// The request target: the path and query, `/` when the URL has none.
    pub target: String,
}

impl HttpUrl {
    /// Parses `http://HOST[:PORT][/PATH][?QUERY][#FRAGMENT]`; the fragment
    /// is dropped (it is never sent). The error says what to write instead.
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("`{url}` is not an `http://HOST[:PORT]/PATH` URL"));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "`{url}`: https is not supported: the agent has no TLS; probe a plain `http://` endpoint"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!("`{url}`: scheme `{scheme}` is not supported: only `http://` is"));
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _fragment)| before);
        let (authority, target) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_owned()),
        };
        if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!("`{url}`: the path has {bad:?}, which a request line cannot carry: percent-encode it"));
        }
        if authority.contains('@') {
            return Err(format!("`{url}`: user names and passwords in the URL are not supported"));
        }
        let (host, port) = split_host_port(authority).map_err(|e| format!("`{url}`: {e}"))?;
        let ip = host_ip(host).map_err(|e| format!("`{url}`: {e}"))?;
        let port = match port {
            None => 80,
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("`{url}`: port `{port}`: expected 1 to 65535"))?,
        };
        Ok(HttpUrl { addr: SocketAddr::new(ip, port), authority: authority.to_owned(), target })
    }
}

/// `HOST[:PORT]`, with an IPv6 host in brackets.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| format!("`[{bracketed}` has no closing `]`"))?;
        return match after {
            "" => Ok((authority, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((&authority[..host.len() + 2], Some(port))),
                None => Err(format!("unexpected `{after}` after the address")),
            },
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Err(format!("`{authority}`: write an IPv6 address in brackets, as in `http://[::1]:8080/`")),
        None => Ok((authority, None)),
    }
}

/// The address of a host as the URL writes it: an IP literal or
/// `localhost`, never a name to resolve.
fn host_ip(host: &str) -> Result<IpAddr, String> {
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if v6.contains('%') {
            return Err(format!("`{host}`: IPv6 zone ids are not supported"));
        }
        return v6.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| format!("`{host}` is not an IPv6 address"));
    }
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| {
        format!(
            "host `{host}` is not an IP address or `localhost`: the agent is a static binary and has no DNS \
             resolver, so give the address (`127.0.0.1`, `[::1]`)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> HttpUrl {
        HttpUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn urls_the_probe_can_fetch() {
        let u = url("http://127.0.0.1:8000/health?deep=1");
        assert_eq!(
            (u.addr.to_string(), u.authority.as_str(), u.target.as_str()),
            ("127.0.0.1:8000".into(), "127.0.0.1:8000", "/health?deep=1")
        );
        let u = url("http://10.1.2.3/");
        assert_eq!(
            (u.addr.to_string(), u.authority.as_str(), u.target.as_str()),
            ("10.1.2.3:80".into(), "10.1.2.3", "/")
        );
        let u = url("http://localhost:9090/metrics");
        assert_eq!((u.addr.to_string(), u.authority.as_str()), ("127.0.0.1:9090".into(), "localhost:9090"));
        let u = url("HTTP://LocalHost/");
        assert_eq!(u.addr.to_string(), "127.0.0.1:80");
        let u = url("http://[::1]:8080/v1/models");
        assert_eq!(
            (u.addr.to_string(), u.authority.as_str(), u.target.as_str()),
            ("[::1]:8080".into(), "[::1]:8080", "/v1/models")
        );
        let u = url("http://[fd00::2]/");
        assert_eq!(u.addr.to_string(), "[fd00::2]:80");
        assert_eq!(url("http://127.0.0.1").target, "/", "no path is the root");
        assert_eq!(url("http://127.0.0.1?x=1").target, "/?x=1");
        assert_eq!(url("http://127.0.0.1/a#frag").target, "/a", "the fragment is never sent");
        assert_eq!(url("http://127.0.0.1:65535/").addr.port(), 65535);
    }

    #[test]
    fn urls_the_probe_refuses_and_why() {
        for (bad, says) in [
            ("https://127.0.0.1/", "https is not supported: the agent has no TLS"),
            ("HTTPS://127.0.0.1/", "https is not supported"),
            ("ftp://127.0.0.1/", "scheme `ftp` is not supported"),
            ("127.0.0.1:8000/health", "is not an `http://HOST[:PORT]/PATH` URL"),
            ("http://example.com/", "host `example.com` is not an IP address or `localhost`"),
            ("http://example.com/", "has no DNS resolver"),
            ("http://localhost.localdomain/", "has no DNS resolver"),
            ("http://1.2.3/", "host `1.2.3` is not an IP address"),
            ("http://256.1.1.1/", "is not an IP address"),
            ("http:///health", "no host"),
            ("http://:80/", "no host"),
            ("http://::1/", "write an IPv6 address in brackets"),
            ("http://[::1/", "no closing `]`"),
            ("http://[::1]x/", "unexpected `x`"),
            ("http://[nope]/", "`[nope]` is not an IPv6 address"),
            ("http://[fe80::1%eth0]/", "zone ids are not supported"),
            ("http://127.0.0.1:0/", "port `0`"),
            ("http://127.0.0.1:65536/", "port `65536`"),
            ("http://127.0.0.1:+80/", "port `+80`"),
            ("http://127.0.0.1:/", "port ``"),
            ("http://127.0.0.1:http/", "port `http`"),
            ("http://user:pw@127.0.0.1/", "user names and passwords"),
            ("http://127.0.0.1/a b", "percent-encode it"),
            ("http://127.0.0.1/a\r\nX: y", "percent-encode it"),
            ("http://127.0.0.1/é", "percent-encode it"),
        ] {
            let err = HttpUrl::parse(bad).map(|u| format!("{u:?}")).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_timeout_bound_is_inclusive() {
        let spec =
            |timeout_ms| ProbeSpec { name: "a".into(), command: Some(vec!["true".into()]), http: None, timeout_ms };
        assert_eq!(spec(PROBE_TIMEOUT_MS.max).check().unwrap().timeout, Duration::from_secs(60));
        let err = spec(PROBE_TIMEOUT_MS.max + 1).check().unwrap_err();
        assert_eq!(err, "probe `a`: `timeout_ms` 60001: expected 1 to 60000 milliseconds");
        assert!(spec(0).check().is_err());
    }
}
