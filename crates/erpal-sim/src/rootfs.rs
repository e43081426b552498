//! Paths inside a container root: symlinks are followed as the container would see them and
//! never escape the root.
//!
//! [`resolve`] walks an in-root path one component at a time on the host: a symlink's target
//! is spliced into the walk, an absolute target restarts at the container root, and `..` at
//! the root stays at the root (as `chroot` semantics give). The result is the in-root absolute
//! path with every symlink resolved, which is what the manifest records and what
//! `pal_create_process` compares. Inside the container the root is `/`, and the same walk
//! gives what the kernel would.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// Most symlinks followed in one resolution (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// Why a path cannot be resolved in the root.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RootfsError {
    /// A component does not exist or cannot be read.
    #[error("cannot resolve {path} in root {root}: {at} is not accessible")]
    Access {
        /// The path asked for.
        path: String,
        /// The root.
        root: PathBuf,
        /// The in-root path that failed.
        at: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Too many symlinks (a loop, probably).
    #[error("cannot resolve {path} in root {root}: more than 40 symlinks")]
    SymlinkLoop {
        /// The path asked for.
        path: String,
        /// The root.
        root: PathBuf,
    },
    /// The path is not valid UTF-8 (manifests are JSON).
    #[error("path {path:?} in root {root} is not valid UTF-8")]
    NotUtf8 {
        /// The path, lossily.
        path: String,
        /// The root.
        root: PathBuf,
    },
}

/// Resolves `path` (absolute, or relative to the root) inside `root`, following symlinks
/// within it. Returns the in-root absolute path, e.g. `/bin/busybox` for `/bin/sh`.
pub fn resolve(root: &Path, path: &Path) -> Result<String, RootfsError> {
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, path);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0usize;
    while let Some(name) = pending.pop_front() {
        match name.to_str() {
            Some("/") => resolved.clear(),
            Some(".") | Some("") => {}
            Some("..") => {
                resolved.pop();
            }
            _ => {
                resolved.push(name);
                let host = host_path(root, &join(&resolved));
                let meta =
                    std::fs::symlink_metadata(&host).map_err(|source| RootfsError::Access {
                        path: path.display().to_string(),
                        root: root.to_owned(),
                        at: join(&resolved).display().to_string(),
                        source,
                    })?;
                if meta.file_type().is_symlink() {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(RootfsError::SymlinkLoop {
                            path: path.display().to_string(),
                            root: root.to_owned(),
                        });
                    }
                    let target =
                        std::fs::read_link(&host).map_err(|source| RootfsError::Access {
                            path: path.display().to_string(),
                            root: root.to_owned(),
                            at: join(&resolved).display().to_string(),
                            source,
                        })?;
                    resolved.pop();
                    push_front(&mut pending, &target);
                }
            }
        }
    }
    let joined = join(&resolved);
    joined
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| RootfsError::NotUtf8 {
            path: joined.display().to_string(),
            root: root.to_owned(),
        })
}

/// The host path of in-root path `in_root` (absolute or relative) under `root`.
pub fn host_path(root: &Path, in_root: &Path) -> PathBuf {
    let mut host = root.to_owned();
    for component in in_root.components() {
        if let Component::Normal(name) = component {
            host.push(name);
        }
    }
    host
}

/// Queues `path`'s components in front of the pending ones (an absolute path restarts at /).
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    for component in path.components().rev() {
        let name = match component {
            Component::RootDir => OsString::from("/"),
            Component::CurDir => continue,
            Component::ParentDir => OsString::from(".."),
            Component::Normal(name) => name.to_owned(),
            Component::Prefix(_) => continue,
        };
        pending.push_front(name);
    }
}

fn join(components: &[OsString]) -> PathBuf {
    let mut path = PathBuf::from("/");
    for name in components {
        path.push(name);
    }
    path
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn follows_symlinks_without_escaping_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("bin/busybox"), b"x").unwrap();
        symlink("busybox", root.join("bin/sh")).unwrap();
        symlink("/bin/sh", root.join("usr/bin/abs")).unwrap();
        symlink("../../../../../bin/sh", root.join("usr/bin/dots")).unwrap();
        symlink("/etc/passwd", root.join("usr/bin/host")).unwrap();
        symlink("loop", root.join("usr/bin/loop")).unwrap();
        let r = |p: &str| resolve(root, Path::new(p));
        assert_eq!(r("/bin/busybox").unwrap(), "/bin/busybox");
        assert_eq!(r("/bin/sh").unwrap(), "/bin/busybox");
        assert_eq!(r("usr/bin/abs").unwrap(), "/bin/busybox");
        assert_eq!(r("/usr/bin/dots").unwrap(), "/bin/busybox");
        assert_eq!(r("/../../bin/./sh").unwrap(), "/bin/busybox");
        // An absolute symlink to a host file is resolved in the root, where it does not exist.
        let err = r("/usr/bin/host").unwrap_err().to_string();
        assert!(err.contains("/etc is not accessible"), "{err}");
        assert!(matches!(
            r("/usr/bin/loop"),
            Err(RootfsError::SymlinkLoop { .. })
        ));
    }
}
