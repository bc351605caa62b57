//! A writer for the `newc` cpio format, the only archive format the Linux
//! kernel unpacks as an initramfs.
//!
//! It knows the format and nothing else: which files go into the lab's
//! image is decided by `image.rs`, and the order of entries (parents before
//! children) by `tree.rs`. Every entry is owned by root, carries one fixed
//! mtime (so identical inputs give identical bytes) and a fresh inode
//! number; regular files always have one link, because the kernel treats
//! files with more links and equal inode numbers as hard links of each
//! other, across the whole unpacking run.

use std::io::{self, Write};

const MAGIC: &[u8] = b"070701";
const TRAILER: &str = "TRAILER!!!";

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

/// Streams a newc archive into `out`; [`NewcWriter::finish`] writes the
/// trailer. Several finished archives may be concatenated: the kernel
/// unpacks them in order, later entries replacing earlier ones.
pub struct NewcWriter<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
}

/// The fields of one header that differ between entry kinds.
struct Header<'a> {
    name: &'a str,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
}

impl<W: Write> NewcWriter<W> {
    pub fn new(out: W) -> Self {
        NewcWriter { out, next_ino: 1, written: 0 }
    }

    /// A directory; `mode` holds the permission bits only.
    pub fn dir(&mut self, path: &str, mode: u32) -> io::Result<()> {
        self.entry(Header { name: path, mode: S_IFDIR | (mode & 0o7777), nlink: 2, size: 0, rdev: (0, 0) }, &[])
    }

    /// A regular file with the given content.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("`{path}` is too large for newc")))?;
        self.entry(Header { name: path, mode: S_IFREG | (mode & 0o7777), nlink: 1, size, rdev: (0, 0) }, data)
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let size = target.len() as u32;
        self.entry(Header { name: path, mode: S_IFLNK | 0o777, nlink: 1, size, rdev: (0, 0) }, target.as_bytes())
    }

    /// A character device node, such as `/dev/console` (5, 1), which the
    /// kernel opens for init's stdio before any devtmpfs is mounted.
    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(Header { name: path, mode: S_IFCHR | (mode & 0o7777), nlink: 1, size: 0, rdev: (major, minor) }, &[])
    }

    /// Writes the trailer, pads the archive to 512 bytes (what `cpio -o`
    /// does, and a 4-byte boundary for whatever is concatenated after it)
    /// and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry(Header { name: TRAILER, mode: 0, nlink: 1, size: 0, rdev: (0, 0) }, &[])?;
        let pad = (512 - self.written % 512) % 512;
        self.out.write_all(&vec![0; pad as usize])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, header: Header<'_>, data: &[u8]) -> io::Result<()> {
        // Archive names are relative ("bin/sh"), as `cpio -o` writes them.
        let name = header.name.trim_start_matches('/');
        let name = if name.is_empty() { "." } else { name };
        if name.contains('\0') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` contains a NUL byte")));
        }
        let ino = if header.name == TRAILER { 0 } else { self.next_ino };
        self.next_ino += 1;
        let fields = [
            ino,
            header.mode,
            0, // uid
            0, // gid
            header.nlink,
            0, // mtime: fixed, so equal inputs give equal archives
            header.size,
            0, // devmajor
            0, // devminor
            header.rdev.0,
            header.rdev.1,
            name.len() as u32 + 1,
            0, // check
        ];
        let mut head = Vec::with_capacity(110 + name.len() + 4);
        head.extend_from_slice(MAGIC);
        for field in fields {
            head.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        head.extend_from_slice(name.as_bytes());
        head.push(0);
        head.resize(align4(head.len()), 0);
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        let pad = align4(data.len()) - data.len();
        self.out.write_all(&[0; 3][..pad])?;
        self.written += (head.len() + data.len() + pad) as u64;
        Ok(())
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = NewcWriter::new(Vec::new());
        w.dir("/etc", 0o755).unwrap();
        w.file("/etc/hostname", 0o644, b"lab-1\n").unwrap();
        w.file("etc/empty", 0o600, b"").unwrap();
        w.dir("bin", 0o755).unwrap();
        w.file("bin/tool", 0o755, &[7u8; 1001]).unwrap();
        w.symlink("bin/sh", "/bin/tool").unwrap();
        w.finish().unwrap()
    }

    /// Runs `cpio` with `args`, feeding it `archive`, in `dir`.
    fn cpio(args: &[&str], archive: &[u8], dir: &std::path::Path) -> String {
        let input = tempfile::NamedTempFile::new().unwrap();
        fs::write(input.path(), archive).unwrap();
        let out = Command::new("cpio")
            .args(args)
            .current_dir(dir)
            .stdin(fs::File::open(input.path()).unwrap())
            .stderr(Stdio::piped())
            .output()
            .expect("`cpio` runs (install it with `lab/setup.sh packages`)");
        assert!(out.status.success(), "cpio {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn entries_are_aligned_and_the_archive_is_padded() {
        let archive = sample();
        assert_eq!(archive.len() % 512, 0);
        assert_eq!(&archive[..6], MAGIC);
        // The first name follows its 110-byte header; the next header starts
        // on a 4-byte boundary after the name and its NUL.
        assert_eq!(&archive[110..114], b"etc\0");
        assert_eq!(&archive[116..122], MAGIC);
    }

    #[test]
    fn cpio_lists_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let listing = cpio(&["-t", "--quiet"], &sample(), dir.path());
        let names: Vec<&str> = listing.lines().collect();
        assert_eq!(names, ["etc", "etc/hostname", "etc/empty", "bin", "bin/tool", "bin/sh"]);
    }

    #[test]
    fn cpio_extracts_contents_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        cpio(&["-i", "--quiet", "--make-directories", "--no-absolute-filenames"], &sample(), dir.path());
        let root = dir.path();
        assert_eq!(fs::read(root.join("etc/hostname")).unwrap(), b"lab-1\n");
        assert_eq!(fs::read(root.join("etc/empty")).unwrap(), b"");
        assert_eq!(fs::read(root.join("bin/tool")).unwrap(), vec![7u8; 1001]);
        assert_eq!(fs::read_link(root.join("bin/sh")).unwrap().to_str(), Some("/bin/tool"));
        let mode = |p: &str| fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("bin/tool"), 0o755);
        assert_eq!(mode("etc/empty"), 0o600);
    }

    #[test]
    fn concatenated_archives_are_read_in_order() {
        // `cpio -i` stops at the first trailer, like any reader that is not
        // the kernel; reading the second archive from its offset shows that
        // the first one ends exactly where the second begins.
        let first = sample();
        let mut w = NewcWriter::new(Vec::new());
        w.dir("root", 0o700).unwrap();
        w.file("root/secret", 0o600, b"key").unwrap();
        let second = w.finish().unwrap();
        let both = [first.clone(), second].concat();
        let dir = tempfile::tempdir().unwrap();
        let listing = cpio(&["-t", "--quiet"], &both[first.len()..], dir.path());
        assert_eq!(listing.lines().collect::<Vec<_>>(), ["root", "root/secret"]);
    }

    #[test]
    fn device_nodes_carry_their_numbers() {
        let mut w = NewcWriter::new(Vec::new());
        w.char_device("dev/console", 0o600, 5, 1).unwrap();
        let archive = w.finish().unwrap();
        let header = std::str::from_utf8(&archive[6..110]).unwrap();
        let field = |i: usize| u32::from_str_radix(&header[i * 8..i * 8 + 8], 16).unwrap();
        assert_eq!(field(1), S_IFCHR | 0o600);
        assert_eq!((field(9), field(10)), (5, 1));
    }

    #[test]
    fn names_with_nul_are_refused() {
        let mut w = NewcWriter::new(Vec::new());
        assert!(w.file("a\0b", 0o644, b"").is_err());
    }
}
