//! A Unix socket's file: binding it (replacing a stale one, refusing a
//! live one), and removing it when the server is done. The same rules as
//! the async adapters' (`slow-driver`'s `net.rs`), so that every `slow
//! serve --addr unix:PATH` behaves alike.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::error::UnixSocketError;

/// Wraps `source` so that it names the socket's path; the kind stays, so
/// callers can still match on it.
pub(crate) fn path_error(path: &Path, source: io::Error) -> io::Error {
    let kind = source.kind();
    io::Error::new(
        kind,
        UnixSocketError {
            path: path.to_owned(),
            source,
        },
    )
}

/// Binds a non-blocking listener at `path` and remembers its file. Every
/// error names the path.
pub(crate) fn bind(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    let error = |e| path_error(path, e);
    let listener = bind_replacing_stale(path).map_err(error)?;
    let file = SocketFile::of(path).map_err(error)?;
    listener.set_nonblocking(true).map_err(error)?;
    Ok((listener, file))
}

/// Binds `path`. A socket file already there is probed: if nothing accepts
/// on it, it is a dead server's and is replaced; if something does, that is
/// `AddrInUse`. A file that is not a socket is `AlreadyExists`, and left
/// alone.
fn bind_replacing_stale(path: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
        other => return other,
    }
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the file there is not a socket (not removed)",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "a server is already listening there",
        )),
        // Nobody accepts: a dead server's file.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)?;
            UnixListener::bind(path)
        }
        Err(e) => Err(e),
    }
}

/// A socket file this process made, removed when dropped unless another
/// file has replaced it meanwhile (another server that found ours stale
/// and rebound: its file is not ours to remove).
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    fn of(path: &Path) -> io::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of this test's own, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("slow-custom-file-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn inner(e: &io::Error) -> &UnixSocketError {
        UnixSocketError::of(e).expect("the error names the path")
    }

    #[test]
    fn binds_a_free_path_and_removes_the_file_when_dropped() {
        let dir = Dir::new("free");
        let path = dir.0.join("s.sock");
        let (listener, file) = bind(&path).unwrap();
        assert!(path.exists());
        drop(listener);
        assert!(path.exists(), "the file outlives the listener's fd");
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_file_is_replaced() {
        let dir = Dir::new("stale");
        let path = dir.0.join("s.sock");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (_listener, _file) = bind(&path).expect("stale file replaced");
    }

    #[test]
    fn a_live_socket_is_refused_and_kept() {
        let dir = Dir::new("live");
        let path = dir.0.join("s.sock");
        let (_listener, _file) = bind(&path).unwrap();
        let e = bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(inner(&e).path, path);
        assert!(e.to_string().contains("already listening"), "{e}");
        assert!(path.exists());
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_refused_and_kept() {
        let dir = Dir::new("regular");
        let path = dir.0.join("s.sock");
        std::fs::write(&path, "data").unwrap();
        let e = bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(inner(&e).path, path);
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    #[test]
    fn a_file_replaced_meanwhile_is_not_removed() {
        let dir = Dir::new("replaced");
        let path = dir.0.join("s.sock");
        let moved = dir.0.join("moved.sock");
        let (_listener, file) = bind(&path).unwrap();
        // Ours moves away (its inode stays in use, so the new file cannot
        // reuse its number) and another socket takes the path.
        std::fs::rename(&path, &moved).unwrap();
        let _other = UnixListener::bind(&path).unwrap();
        drop(file);
        assert!(path.exists(), "another socket's file was removed");
    }

    #[test]
    fn bad_paths_name_the_path() {
        let dir = Dir::new("bad");
        let missing = dir.0.join("no/such/dir/s.sock");
        let long = dir.0.join("x".repeat(200));
        for (path, kind) in [
            (&missing, io::ErrorKind::NotFound),
            (&long, io::ErrorKind::InvalidInput),
        ] {
            let e = bind(path).unwrap_err();
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(&inner(&e).path, path);
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }
}
