//! Reading a file of the controller whose path a user gave (`--inventory`,
//! `--agent`), bounded: only a regular file, at most so many bytes. A FIFO
//! would block the command forever, a device such as `/dev/zero` would fill
//! memory; both are refused with a message that says what was given.

use std::io::Read;
use std::path::Path;

use crate::BadInput;

/// What a path is, for a message, when it is not a regular file.
fn kind_of(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    match () {
        _ if t.is_file() => None,
        _ if t.is_dir() => Some("a directory"),
        _ if t.is_fifo() => Some("a FIFO (named pipe)"),
        _ if t.is_char_device() => Some("a character device"),
        _ if t.is_block_device() => Some("a block device"),
        _ if t.is_socket() => Some("a socket"),
        _ => Some("not a regular file"),
    }
}

/// Reads `path`, a regular file of at most `max` bytes; `what` names it in
/// messages (``inventory``, ``agent binary``). Symbolic links are followed:
/// what counts is the file they lead to.
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, BadInput> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| BadInput::new(format!("cannot read {what} `{shown}`: {e}")))?;
    if let Some(kind) = kind_of(&meta) {
        return Err(BadInput::new(format!("{what} `{shown}` is {kind}, not a regular file; give a file")));
    }
    let too_large = |len: u64| BadInput::new(format!("{what} `{shown}` is {len} bytes; the limit is {max} bytes"));
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| BadInput::new(format!("cannot read {what} `{shown}`: {e}")))?;
    // The file may grow between the check and the read.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BadInput::new(format!("cannot read {what} `{shown}`: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_large_files_are_refused() {
        let err = read_bounded(Path::new("/dev/zero"), 10, "agent binary").unwrap_err().to_string();
        assert_eq!(err, "agent binary `/dev/zero` is a character device, not a regular file; give a file");
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_bounded(&fifo, 10, "inventory").unwrap_err().to_string();
        assert!(err.contains("is a FIFO (named pipe), not a regular file"), "{err}");
        let big = tmp.path().join("big");
        std::fs::write(&big, [0u8; 11]).unwrap();
        let err = read_bounded(&big, 10, "inventory").unwrap_err().to_string();
        assert!(err.ends_with("is 11 bytes; the limit is 10 bytes"), "{err}");
        assert_eq!(read_bounded(&big, 11, "inventory").unwrap().len(), 11);
        assert!(read_bounded(tmp.path(), 10, "inventory").unwrap_err().to_string().contains("is a directory"));
    }
}
