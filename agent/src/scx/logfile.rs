//! The supervised scheduler's output on the host: one bounded, rotated log
//! per scheduler (`<root>/scx/<ops_name>.log`, then `.log.1`), so a
//! scheduler that prints without end never fills a disk. Its stdout and
//! stderr come through one pipe that the supervisor copies here; at most
//! `2 x max` bytes are ever kept.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Each file is kept up to this size.
pub const MAX_BYTES: u64 = 1 << 20;

/// A log file that moves itself to `<path>.1` (replacing the older one)
/// before a write would take it past `max` bytes.
pub struct RotatingLog {
    path: PathBuf,
    max: u64,
    file: Option<std::fs::File>,
    size: u64,
}

fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl RotatingLog {
    pub fn open(path: &Path, max: u64) -> std::io::Result<RotatingLog> {
        let mut log = RotatingLog { path: path.to_owned(), max, file: None, size: 0 };
        log.reopen()?;
        Ok(log)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        std::fs::rename(&self.path, rotated(&self.path))?;
        self.reopen()
    }

    /// Appends `bytes`, rotating first when they would not fit. A single
    /// write larger than the whole file keeps only its last `max` bytes.
    pub fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        if bytes.len() as u64 > self.max {
            bytes = &bytes[bytes.len() - self.max as usize..];
        }
        if self.size > 0 && self.size + bytes.len() as u64 > self.max {
            self.rotate()?;
        }
        let file = self.file.as_mut().expect("open after open() and rotate()");
        file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

/// Copies `input` into the log until its end (every writer closed);
/// errors writing the log are given up on silently (the scheduler must
/// never block on its log), and reading goes on so the pipe never fills.
pub fn pump(mut input: impl Read, log: &mut RotatingLog) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _ = log.write(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The last `lines` lines of the log (and of `.1` before it, when the
/// current file is short), for a process's exit record; at most 4 KiB.
pub fn tail(path: &Path, lines: usize) -> Option<String> {
    const MAX: usize = 4096;
    let read_end = |p: &Path| -> Vec<u8> {
        let Ok(bytes) = std::fs::read(p) else { return Vec::new() };
        bytes[bytes.len().saturating_sub(MAX)..].to_vec()
    };
    let mut bytes = read_end(path);
    if bytes.len() < MAX {
        let mut older = read_end(&rotated(path));
        older.extend_from_slice(&bytes);
        bytes = older[older.len().saturating_sub(MAX)..].to_vec();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.trim_end().lines().collect();
    let kept = all[all.len().saturating_sub(lines)..].join("\n");
    (!kept.is_empty()).then_some(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_once_full_and_never_keeps_more_than_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bpfland.log");
        let mut log = RotatingLog::open(&path, 100).unwrap();
        for i in 0..50 {
            log.write(format!("line {i:03} .....\n").as_bytes()).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap();
        let older = std::fs::read_to_string(rotated(&path)).unwrap();
        assert!(current.len() <= 100 && older.len() <= 100, "{} {}", current.len(), older.len());
        assert!(current.ends_with("line 049 .....\n"), "{current}");
        assert!(older.ends_with(&format!("line {:03} .....\n", 49 - current.lines().count())), "{older}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(tail(&path, 2).unwrap(), "line 048 .....\nline 049 .....");
    }

    #[test]
    fn a_reopened_log_counts_what_is_already_there_and_huge_writes_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, vec![b'a'; 90]).unwrap();
        let mut log = RotatingLog::open(&path, 100).unwrap();
        log.write(&[b'b'; 20]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![b'b'; 20], "rotated before the write");
        assert_eq!(std::fs::read(rotated(&path)).unwrap().len(), 90);
        let mut big = vec![b'c'; 250];
        big[249] = b'\n';
        log.write(&big).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 100);
    }

    #[test]
    fn pump_copies_a_pipe_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.log");
        let mut log = RotatingLog::open(&path, MAX_BYTES).unwrap();
        pump(&b"hello\nworld\n"[..], &mut log);
        assert_eq!(tail(&path, 10).unwrap(), "hello\nworld");
        assert_eq!(tail(&dir.path().join("absent.log"), 10), None);
    }
}
