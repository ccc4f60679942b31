//! Reading a file that comes from a repository, a session folder or a configuration with its
//! size checked first: a FIFO would block the read for ever, a device (`/dev/zero`) or a stray
//! file of gigabytes would fill memory. What is refused is never opened for reading (a FIFO is
//! opened without blocking, then looked at) and the error says why.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a file was not read. The path is for the caller to name.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not a regular file ({0}); not read")]
    NotRegular(&'static str),
    #[error("{len} bytes, more than covtop reads from such a file ({limit} at most); not read")]
    TooLarge { len: u64, limit: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// The file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The bytes of the regular file `path` (links followed), when it holds at most `limit` bytes.
/// A FIFO, socket, device or folder is refused unread, and so is a larger file (also one that
/// grows past `limit` while it is read).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, len) = open_regular(path)?;
    take(file, len, limit)
}

/// The regular file `path` (links followed) opened for reading, and its size; a FIFO, socket,
/// device or folder is refused without waiting (for a part of a file: a header line).
pub fn open_regular(path: &Path) -> Result<(fs::File, u64), ReadError> {
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting for one;
    // it changes nothing for a regular file.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let t = meta.file_type();
        let kind = if t.is_dir() {
            "a folder"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(ReadError::NotRegular(kind));
    }
    Ok((file, meta.len()))
}

/// True when `path` is a regular file holding exactly `bytes`. Read in small pieces compared
/// as they come (no copy of the file in memory), and only when its size is already right; a
/// FIFO, device or folder, a missing or unreadable file are `false`.
pub fn holds_exactly(path: &Path, bytes: &[u8]) -> bool {
    let Ok((mut file, len)) = open_regular(path) else {
        return false;
    };
    if len != bytes.len() as u64 {
        return false;
    }
    let mut buf = [0u8; 64 << 10];
    let mut rest = bytes;
    loop {
        match file.read(&mut buf) {
            Ok(0) => return rest.is_empty(),
            Ok(n) => match rest.strip_prefix(&buf[..n]) {
                Some(r) => rest = r,
                // Different bytes, or more of them than expected (it grew meanwhile).
                None => return false,
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// [`read_regular`] as UTF-8 text (invalid bytes are an `InvalidData` error).
pub fn read_regular_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    text(read_regular(path, limit)?)
}

/// The bytes of `path`, at most `limit` of them, whatever the file is: for a path the user names
/// (a configuration, a diff file), which may be a pipe (`--diff-file <(git diff)`). A regular file
/// larger than `limit` is refused unread; a stream is read until it passes `limit`.
pub fn read_stream(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(ReadError::NotRegular("a folder"));
    }
    let len = if meta.is_file() { meta.len() } else { 0 };
    take(file, len, limit)
}

/// [`read_stream`] as UTF-8 text.
pub fn read_stream_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    text(read_stream(path, limit)?)
}

fn take(file: fs::File, len: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    if len > limit {
        return Err(ReadError::TooLarge { len, limit });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    let read = file.take(limit + 1).read_to_end(&mut bytes)? as u64;
    if read > limit {
        return Err(ReadError::TooLarge { len: read, limit });
    }
    Ok(bytes)
}

fn text(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text: {e}"),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(path: &Path) {
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates that node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        fs::write(&small, "12\n").unwrap();
        assert_eq!(read_regular(&small, 3).unwrap(), b"12\n");
        assert_eq!(read_regular_text(&small, 3).unwrap(), "12\n");
        // Sparse: refused by its size, never read.
        let huge = dir.path().join("huge");
        fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
        let e = read_regular(&huge, 1 << 20).unwrap_err();
        assert!(
            matches!(e, ReadError::TooLarge { len, .. } if len == 1 << 40),
            "{e}"
        );
        assert!(e.to_string().contains("1099511627776 bytes"), "{e}");
        let e = read_regular(&small, 2).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e}");
        // A FIFO without a writer would block a read for ever.
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        let e = read_regular(&pipe, 10).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a FIFO); not read");
        let e = read_regular(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a device); not read");
        let e = read_regular(dir.path(), 10).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular("a folder")), "{e}");
        assert!(
            read_regular(&dir.path().join("none"), 10)
                .unwrap_err()
                .is_not_found()
        );
        fs::write(&small, [0xff, 0xfe]).unwrap();
        assert!(
            read_regular_text(&small, 3)
                .unwrap_err()
                .to_string()
                .contains("not UTF-8")
        );
    }

    #[test]
    fn a_file_holds_exactly_the_bytes_only_when_every_byte_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        // Several read pieces long, with the difference in the last one.
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &bytes).unwrap();
        assert!(holds_exactly(&path, &bytes));
        let mut other = bytes.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(!holds_exactly(&path, &other));
        assert!(!holds_exactly(&path, &bytes[..bytes.len() - 1]), "shorter");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!holds_exactly(&path, &longer), "longer");
        fs::write(&path, b"").unwrap();
        assert!(holds_exactly(&path, b""));
        assert!(!holds_exactly(&dir.path().join("none"), b""));
        assert!(!holds_exactly(dir.path(), b""), "a folder");
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        assert!(!holds_exactly(&pipe, b""), "a FIFO is never waited on");
        assert!(!holds_exactly(Path::new("/dev/zero"), b"\0"));
    }

    #[test]
    fn streams_are_read_up_to_the_limit() {
        let e = read_stream(Path::new("/dev/zero"), 1 << 16).unwrap_err();
        assert!(
            matches!(e, ReadError::TooLarge { len, limit } if len == limit + 1),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("pipe");
        fifo(&pipe);
        let writer = {
            let pipe = pipe.clone();
            std::thread::spawn(move || fs::write(pipe, "--- a\n+++ b\n").unwrap())
        };
        assert_eq!(read_stream_text(&pipe, 100).unwrap(), "--- a\n+++ b\n");
        writer.join().unwrap();
        let huge = dir.path().join("huge");
        fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
        assert!(matches!(
            read_stream(&huge, 1 << 20).unwrap_err(),
            ReadError::TooLarge { .. }
        ));
    }
}
