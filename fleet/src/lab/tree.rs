//! An in-memory file tree for one initramfs archive: what goes where, with
//! which mode, before any byte is written.
//!
//! The tree adds missing parent directories and writes entries in path
//! order, so parents always precede their children (the kernel creates
//! entries one by one and never makes a missing parent). It also computes a
//! fingerprint of its inputs, which is what lets `image.rs` skip rebuilding
//! an unchanged base image. It does not know what a lab VM needs; that is
//! `image.rs`'s business.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::cpio::NewcWriter;
use super::error::{io_err, LabError};

/// One entry of the tree; paths are absolute inside the VM.
#[derive(Debug, Clone)]
enum Node {
    Dir {
        mode: u32,
    },
    Bytes {
        mode: u32,
        data: Vec<u8>,
    },
    /// A file copied from the host when the archive is written; a symlink
    /// on the host is followed, so libraries land as plain files.
    HostFile {
        mode: u32,
        source: PathBuf,
    },
    Symlink {
        target: String,
    },
    CharDevice {
        mode: u32,
        major: u32,
        minor: u32,
    },
}

#[derive(Debug, Default, Clone)]
pub struct ImageTree {
    nodes: BTreeMap<String, Node>,
}

impl ImageTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dir(&mut self, path: &str, mode: u32) {
        self.insert(path, Node::Dir { mode });
    }

    pub fn bytes(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) {
        self.insert(path, Node::Bytes { mode, data: data.into() });
    }

    /// A host file at `path` in the image, keeping the host's permission bits.
    pub fn host_file(&mut self, path: &str, source: &Path) -> Result<(), LabError> {
        let meta = fs::metadata(source).map_err(io_err("read", source))?;
        self.insert(path, Node::HostFile { mode: meta.mode() & 0o7777, source: source.to_owned() });
        Ok(())
    }

    /// Like [`ImageTree::host_file`] with an explicit mode.
    pub fn host_file_mode(&mut self, path: &str, source: &Path, mode: u32) {
        self.insert(path, Node::HostFile { mode, source: source.to_owned() });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Node::Symlink { target: target.to_owned() });
    }

    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.insert(path, Node::CharDevice { mode, major, minor });
    }

    /// Whether `path` is taken (by any kind of entry).
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(&normalize(path))
    }

    fn insert(&mut self, path: &str, node: Node) {
        let path = normalize(path);
        let mut parent = Path::new(&path).parent();
        while let Some(dir) = parent {
            let dir_str = dir.to_str().expect("paths are built from str");
            if dir_str == "/" {
                break;
            }
            self.nodes.entry(dir_str.to_owned()).or_insert(Node::Dir { mode: 0o755 });
            parent = dir.parent();
        }
        self.nodes.insert(path, node);
    }

    /// A digest of everything that decides the archive's bytes. Host files
    /// count by path, size, mtime and inode rather than by content: hashing
    /// some 15 MB of binaries on every `lab up` would cost more than it
    /// saves, and a package upgrade changes all three.
    pub fn fingerprint(&self) -> Result<String, LabError> {
        let mut hash = Sha256::new();
        for (path, node) in &self.nodes {
            hash.update(path.as_bytes());
            hash.update([0]);
            match node {
                Node::Dir { mode } => hash.update(format!("dir {mode:o}")),
                Node::Bytes { mode, data } => {
                    hash.update(format!("bytes {mode:o} {}", data.len()));
                    hash.update(data);
                }
                Node::HostFile { mode, source } => {
                    let meta = fs::metadata(source).map_err(io_err("read", source))?;
                    hash.update(format!(
                        "host {mode:o} {} {} {} {}.{}",
                        source.display(),
                        meta.len(),
                        meta.ino(),
                        meta.mtime(),
                        meta.mtime_nsec()
                    ));
                }
                Node::Symlink { target } => hash.update(format!("symlink {target}")),
                Node::CharDevice { mode, major, minor } => hash.update(format!("chr {mode:o} {major} {minor}")),
            }
            hash.update([0]);
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// Writes the tree as one finished newc archive.
    pub fn write<W: Write>(&self, out: W, dest: &Path) -> Result<W, LabError> {
        let mut w = NewcWriter::new(out);
        let write_err = io_err("write", dest);
        for (path, node) in &self.nodes {
            match node {
                Node::Dir { mode } => w.dir(path, *mode),
                Node::Bytes { mode, data } => w.file(path, *mode, data),
                Node::HostFile { mode, source } => {
                    let data = fs::read(source).map_err(io_err("read", source))?;
                    w.file(path, *mode, &data)
                }
                Node::Symlink { target } => w.symlink(path, target),
                Node::CharDevice { mode, major, minor } => w.char_device(path, *mode, *major, *minor),
            }
            .map_err(&write_err)?;
        }
        w.finish().map_err(write_err)
    }
}

/// `/a/b`, from `a/b`, `/a/b/` or `//a/b`.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tree: &ImageTree) -> Vec<&str> {
        tree.nodes.keys().map(String::as_str).collect()
    }

    #[test]
    fn parents_are_added_and_sorted_first() {
        let mut tree = ImageTree::new();
        tree.bytes("usr/lib/openssh/x", 0o755, "x");
        tree.bytes("/usr-b", 0o644, "");
        tree.dir("/root", 0o700);
        assert_eq!(names(&tree), ["/root", "/usr", "/usr-b", "/usr/lib", "/usr/lib/openssh", "/usr/lib/openssh/x"]);
    }

    #[test]
    fn explicit_modes_win_over_implied_parents() {
        let mut tree = ImageTree::new();
        tree.bytes("/root/.ssh/authorized_keys", 0o600, "k");
        tree.dir("/root", 0o700);
        assert!(matches!(tree.nodes["/root"], Node::Dir { mode: 0o700 }));
        assert!(matches!(tree.nodes["/root/.ssh"], Node::Dir { mode: 0o755 }));
    }

    #[test]
    fn fingerprint_follows_content_and_modes() {
        let mut a = ImageTree::new();
        a.bytes("/etc/x", 0o644, "1");
        let mut b = a.clone();
        assert_eq!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
        b.bytes("/etc/x", 0o600, "1");
        assert_ne!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
        a.bytes("/etc/x", 0o600, "2");
        assert_ne!(a.fingerprint().unwrap(), b.fingerprint().unwrap());
    }

    #[test]
    fn host_files_are_copied_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("libx.so.1.2");
        fs::write(&real, b"elf").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("libx.so.1")).unwrap();
        let mut tree = ImageTree::new();
        tree.host_file("/lib/libx.so.1", &dir.path().join("libx.so.1")).unwrap();
        let archive = tree.write(Vec::new(), Path::new("test")).unwrap();
        // The entry is a regular file (mode 0100xxx), not a symlink, and
        // carries the target's bytes.
        let text = String::from_utf8_lossy(&archive);
        assert!(text.contains("lib/libx.so.1\0"));
        assert!(archive.windows(3).any(|w| w == b"elf"));
        assert!(!text.contains("libx.so.1.2"), "the link target must not be stored");
    }
}
