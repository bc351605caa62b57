//! The HTTP probe: one `GET` over a plain `TcpStream`, HTTP/1.1 with
//! `Connection: close`, passing on a 2xx status. Only the status line is
//! read; the body is left unread.
//!
//! Deliberately minimal. No TLS (the agent links no TLS library, and a
//! health endpoint worth probing from the host itself is reachable in the
//! clear on a local address), no redirects (a 3xx fails and says so), and
//! no name resolution: the agent is a static binary, where glibc's NSS does
//! not work, so the host must be an IPv4 or IPv6 address, or `localhost`,
//! which is taken to be 127.0.0.1 without asking a resolver. Everything the
//! URL may get wrong is found by [`HttpUrl::parse`], before `status` runs.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::run::Outcome;

/// A status line longer than this is not one.
const MAX_STATUS_LINE: usize = 1024;

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

/// Fetches `url`, all of it (connecting, sending, reading the status line)
/// within `timeout`. `ok` on a 2xx status; `detail` is the status line or
/// what went wrong.
pub fn get(url: &HttpUrl, timeout: Duration) -> Outcome {
    match status_line(url, timeout) {
        Ok(line) => match status_code(&line) {
            Some(code) => Outcome { ok: (200..300).contains(&code), detail: line },
            None => Outcome::failed(format!("not an HTTP response: `{line}`")),
        },
        Err(e) => Outcome::failed(e),
    }
}

fn status_line(url: &HttpUrl, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let timed_out = |while_: &str| format!("timed out after {} ms {while_}", timeout.as_millis());
    // The time left, or the error to report when there is none: a zero
    // timeout means "none" to the socket calls, never "now".
    let left = |while_: &str| {
        Some(deadline.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
            .ok_or_else(|| timed_out(while_))
    };
    let is_timeout =
        |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut);

    let connecting = format!("connecting to {}", url.addr);
    let mut stream = TcpStream::connect_timeout(&url.addr, left(&connecting)?).map_err(|e| match is_timeout(&e) {
        true => timed_out(&connecting),
        false => format!("{connecting}: {e}"),
    })?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: schedfleet-agent/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target,
        url.authority,
        env!("CARGO_PKG_VERSION")
    );
    let sending = "sending the request";
    stream.set_write_timeout(Some(left(sending)?)).map_err(|e| format!("{sending}: {e}"))?;
    stream.write_all(request.as_bytes()).map_err(|e| match is_timeout(&e) {
        true => timed_out(sending),
        false => format!("{sending}: {e}"),
    })?;

    let waiting = "waiting for the response";
    let mut received = Vec::new();
    let mut chunk = [0u8; 512];
    while !received.contains(&b'\n') && received.len() < MAX_STATUS_LINE {
        stream.set_read_timeout(Some(left(waiting)?)).map_err(|e| format!("{waiting}: {e}"))?;
        match stream.read(&mut chunk) {
            Ok(0) if received.is_empty() => return Err("the server closed the connection without a response".into()),
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => return Err(timed_out(waiting)),
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    let line = received.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    Ok(line.trim_end_matches('\r').chars().take(200).collect())
}

/// The code of `HTTP/1.x NNN reason`.
fn status_code(line: &str) -> Option<u16> {
    let mut words = line.splitn(3, ' ');
    let version = words.next()?;
    let code = words.next()?;
    (version.starts_with("HTTP/") && code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread::JoinHandle;

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
    fn status_codes_are_read_from_the_status_line() {
        assert_eq!(status_code("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(status_code("HTTP/1.1 204"), Some(204));
        assert_eq!(status_code("SSH-2.0-OpenSSH_9.6"), None);
        assert_eq!(status_code("HTTP/1.1 20 OK"), None);
        assert_eq!(status_code(""), None);
    }

    /// A server for one connection: it reads the request (up to the empty
    /// line), answers `response` and returns the request it read.
    fn serve_once(response: &'static str) -> (HttpUrl, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url(&format!("http://{}/health?deep=1", listener.local_addr().unwrap()));
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut byte = [0u8];
            while !request.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                request.push(byte[0]);
            }
            conn.write_all(response.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, server)
    }

    #[test]
    fn a_200_passes_and_the_request_is_minimal() {
        let (url, server) = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let outcome = get(&url, Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: true, detail: "HTTP/1.1 200 OK".into() });
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /health?deep=1 HTTP/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("\r\nHost: {}\r\n", url.addr)), "{request}");
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    }

    #[test]
    fn a_503_fails_with_its_status_line() {
        let (url, server) = serve_once("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
        let outcome = get(&url, Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: false, detail: "HTTP/1.1 503 Service Unavailable".into() });
        server.join().unwrap();
    }

    #[test]
    fn a_redirect_or_a_stranger_fails() {
        let (url, server) = serve_once("HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n\r\n");
        assert_eq!(get(&url, Duration::from_secs(5)), Outcome { ok: false, detail: "HTTP/1.1 302 Found".into() });
        server.join().unwrap();
        let (url, server) = serve_once("SSH-2.0-OpenSSH_9.6\r\n");
        let outcome = get(&url, Duration::from_secs(5));
        assert_eq!(outcome, Outcome { ok: false, detail: "not an HTTP response: `SSH-2.0-OpenSSH_9.6`".into() });
        server.join().unwrap();
        let (url, server) = serve_once("");
        let outcome = get(&url, Duration::from_secs(5));
        assert_eq!(outcome.detail, "the server closed the connection without a response");
        server.join().unwrap();
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        // Accepted by the kernel (the listener's backlog), never answered.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url(&format!("http://{}/", listener.local_addr().unwrap()));
        let started = Instant::now();
        let outcome = get(&url, Duration::from_millis(300));
        let took = started.elapsed();
        assert!(!outcome.ok);
        assert_eq!(outcome.detail, "timed out after 300 ms waiting for the response");
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
        drop(listener);
    }

    #[test]
    fn a_closed_port_is_refused() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let outcome = get(&url(&format!("http://127.0.0.1:{port}/")), Duration::from_secs(5));
        assert!(!outcome.ok);
        assert!(outcome.detail.starts_with(&format!("connecting to 127.0.0.1:{port}: ")), "{}", outcome.detail);
        assert!(outcome.detail.contains("refused"), "{}", outcome.detail);
    }
}
