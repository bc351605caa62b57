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
//! URL may get wrong is found by [`HttpUrl::parse`] (in `proto`, so the
//! controller's `validate` refuses the same URLs), before `status` runs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use schedfleet_proto::probe::HttpUrl;

use super::run::Outcome;

/// A status line longer than this is not one.
const MAX_STATUS_LINE: usize = 1024;

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
