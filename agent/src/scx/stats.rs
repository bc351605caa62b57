//! The scx_stats client: what an upstream scheduler says about itself on
//! its UNIX socket (`/var/run/scx/root/stats`), one JSON line per request
//! and per reply. `status` asks `{"req":"stats","args":{"target":"top"}}`
//! and reports the reply's `args.resp`.
//!
//! A report must never wait on a scheduler: connecting, writing and
//! reading together are bounded by one deadline, and a reply longer than
//! [`MAX_REPLY`] is refused rather than buffered without end.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where scx schedulers serve their statistics.
pub const SOCKET: &str = "/var/run/scx/root/stats";

/// How long `status` waits for the whole exchange.
pub const TIMEOUT: Duration = Duration::from_millis(500);

/// The largest reply read.
pub const MAX_REPLY: usize = 1 << 20;

const REQUEST: &[u8] = b"{\"req\":\"stats\",\"args\":{\"target\":\"top\"}}\n";

/// The `top` statistics from the server at `socket`, or why there are none.
pub fn query(socket: &Path, timeout: Duration) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let shown = socket.display();
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("cannot connect to `{shown}`: {e}"))?;
    stream.set_write_timeout(left()).map_err(|e| e.to_string())?;
    stream.write_all(REQUEST).map_err(|e| format!("cannot send the request to `{shown}`: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Some(wait) = left() else {
            return Err(format!("`{shown}` did not answer within {} ms", timeout.as_millis()));
        };
        stream.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.contains(&b'\n') {
                    break;
                }
                if reply.len() > MAX_REPLY {
                    return Err(format!("`{shown}` sent more than {MAX_REPLY} bytes without a newline"));
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(format!("`{shown}` did not answer within {} ms", timeout.as_millis()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the reply of `{shown}`: {e}")),
        }
    }
    let line = reply.split(|&b| b == b'\n').next().unwrap_or_default();
    parse_reply(line)
}

/// `args.resp` of a reply line, or its error.
pub fn parse_reply(line: &[u8]) -> Result<serde_json::Value, String> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("the stats reply is not JSON: {e}"))?;
    match value.get("errno").and_then(|e| e.as_i64()) {
        Some(0) => {}
        Some(errno) => {
            let said = value.get("args").and_then(|a| a.get("resp")).map(|r| r.to_string()).unwrap_or_default();
            return Err(format!("the stats server answered errno {errno} {said}"));
        }
        None => return Err("the stats reply has no `errno`".into()),
    }
    value
        .get("args")
        .and_then(|a| a.get("resp"))
        .cloned()
        .ok_or_else(|| "the stats reply has no `args.resp`".to_owned())
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A server on a socket of a temporary directory that answers each
    /// connection with `answer` (or never, with `None`) after reading the
    /// request line, which it hands back.
    fn server(
        answer: Option<&'static str>,
    ) -> (tempfile::TempDir, std::path::PathBuf, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream);
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            match answer {
                Some(text) => reader.get_mut().write_all(text.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_secs(3)),
            }
            request
        });
        (dir, path, handle)
    }

    #[test]
    fn the_top_target_is_asked_and_args_resp_returned() {
        let (_dir, path, server) =
            server(Some("{\"errno\":0,\"args\":{\"resp\":{\"nr_running\":3,\"cpu_util\":41.5}}}\n"));
        let stats = query(&path, TIMEOUT).unwrap();
        assert_eq!(stats, serde_json::json!({"nr_running": 3, "cpu_util": 41.5}));
        let request: serde_json::Value = serde_json::from_str(&server.join().unwrap()).unwrap();
        assert_eq!(request, serde_json::json!({"req":"stats","args":{"target":"top"}}));
    }

    #[test]
    fn a_server_that_never_answers_costs_the_timeout_and_no_more() {
        let (_dir, path, _server) = server(None);
        let started = Instant::now();
        let err = query(&path, Duration::from_millis(200)).unwrap_err();
        let took = started.elapsed();
        assert!(err.contains("did not answer within 200 ms"), "{err}");
        assert!(took < Duration::from_millis(1500), "bounded: took {took:?}");
    }

    #[test]
    fn errors_are_said() {
        let dir = tempfile::tempdir().unwrap();
        let err = query(&dir.path().join("absent"), TIMEOUT).unwrap_err();
        assert!(err.starts_with("cannot connect to"), "{err}");
        assert!(parse_reply(b"{\"errno\":22,\"args\":{\"resp\":\"bad target\"}}").unwrap_err().contains("errno 22"));
        assert!(parse_reply(b"not json").unwrap_err().contains("not JSON"));
        assert!(parse_reply(b"{\"errno\":0}").unwrap_err().contains("args.resp"));
    }
}
