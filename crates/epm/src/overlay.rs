//! Where a file of an overlay rootfs comes from, so that its measurement can be cached by the
//! layer's file instead of the overlay's.
//!
//! containerd's overlay snapshotter gives every container a new overlay mount of the image's
//! layers, with a new `st_dev`: keyed by the overlay's identity, every container's trusted
//! files would be hashed again. The layer's own file keeps its identity from container to
//! container. The lookup here only proposes a candidate; [`same_file`] decides, so a wrong
//! guess (a whiteout, an opaque or renamed directory this lookup does not model, a relative
//! layer path anchored in the wrong directory) costs a hash, never a wrong digest.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use erpal_sim::handover::FileIdentity;
use erpal_sim::rootfs;

/// The layers of an overlay mounted at a rootfs, when they can be used: lower directories all
/// on the filesystem of the upper one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    /// Lower directories, top first (the order overlayfs searches them).
    lower: Vec<PathBuf>,
    upper: PathBuf,
    /// The layers' one filesystem, once checked ([`Layers::of`]).
    device: Option<u64>,
}

impl Layers {
    /// The layers of the overlay mounted at `rootfs` (an absolute, canonical path) as this
    /// process's `/proc/self/mountinfo` shows them; `None` when `rootfs` is not an overlay
    /// mount or its layers cannot be used (see [`Layers::from_mountinfo`]).
    pub fn of(rootfs: &Path) -> Option<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mut layers = Self::from_mountinfo(&mountinfo, rootfs)?.anchored(rootfs)?;
        layers.device = Some(layers.one_filesystem()?);
        Some(layers)
    }

    /// Parses the overlay mount at `rootfs` out of a mountinfo text (the last mount there,
    /// the one on top). `None` unless it is an overlay with lower directories and an
    /// `upperdir`; data-only layers (`::`, `datadir+`) are left to hashing. The lower
    /// directories come either as one `lowerdir=` list or, when the mounter added them one by
    /// one through `fsconfig` (kernel 6.8 on), as one `lowerdir+=` option each, in the same
    /// order. The directories are as the mounter gave them, possibly relative (see
    /// [`Layers::anchored`]).
    pub fn from_mountinfo(mountinfo: &str, rootfs: &Path) -> Option<Self> {
        let options = mountinfo.lines().rev().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = unescape(left.split(' ').nth(4)?)?;
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let options = right.next()?;
            (fstype == "overlay" && Path::new(&mount_point) == rootfs).then_some(options)
        })?;
        let (mut list, mut appended, mut upper) = (None, Vec::new(), None);
        for option in options.split(',') {
            // The kernel escapes `,`, `=`, blanks and `\` in each value (`seq_show_option`).
            if let Some(dirs) = option.strip_prefix("lowerdir=") {
                list = Some(unescape(dirs)?);
            } else if let Some(dir) = option.strip_prefix("lowerdir+=") {
                appended.push(PathBuf::from(unescape(dir)?));
            } else if option.starts_with("datadir+=") {
                return None;
            } else if let Some(dir) = option.strip_prefix("upperdir=") {
                upper = Some(PathBuf::from(unescape(dir)?));
            }
        }
        let lower = match (list, appended.is_empty()) {
            (Some(list), true) => {
                // In the list form a `\` escapes a `:` the mounter meant literally.
                if list.contains('\\') || list.contains("::") {
                    return None;
                }
                list.split(':').map(PathBuf::from).collect()
            }
            (None, false) => appended,
            _ => return None,
        };
        let upper = upper?;
        let empty = |dir: &PathBuf| dir.as_os_str().is_empty();
        (!empty(&upper) && !lower.is_empty() && !lower.iter().any(empty)).then_some(Self {
            lower,
            upper,
            device: None,
        })
    }

    /// The layers with absolute directories. A mounter whose option string would exceed a
    /// page gives the layers relative to a directory it changed into, which mountinfo does not
    /// show: containerd (relative lower directories under the snapshots directory, the upper
    /// one absolute) and Docker (everything relative to its `overlay2` directory, beside the
    /// mount point). That directory is taken to be the nearest ancestor of the upper directory,
    /// or else of the mount point, under which every relative layer is a directory.
    fn anchored(self, rootfs: &Path) -> Option<Self> {
        let relative: Vec<&PathBuf> = self
            .lower
            .iter()
            .chain([&self.upper])
            .filter(|dir| dir.is_relative())
            .collect();
        if relative.is_empty() {
            return Some(self);
        }
        let upper_ancestors = self
            .upper
            .is_absolute()
            .then(|| self.upper.ancestors().skip(1))
            .into_iter()
            .flatten();
        let base = upper_ancestors
            .chain(rootfs.ancestors().skip(1))
            .find(|base| relative.iter().all(|dir| base.join(dir).is_dir()))?
            .to_owned();
        Some(Self {
            lower: self.lower.iter().map(|dir| base.join(dir)).collect(),
            upper: base.join(&self.upper),
            device: None,
        })
    }

    /// The filesystem every layer (lower and upper) is on, if there is one: then overlayfs
    /// reports a lower file's own inode number and a copied-up file its origin's, and
    /// [`same_file`] can rely on inode numbers.
    fn one_filesystem(&self) -> Option<u64> {
        let device = |dir: &PathBuf| std::fs::metadata(dir).ok().map(|meta| meta.dev());
        let first = device(&self.upper)?;
        self.lower
            .iter()
            .all(|dir| device(dir) == Some(first))
            .then_some(first)
    }

    /// The layer file the overlay serves, unchanged, as the file at `in_root` whose identity
    /// through the rootfs is `seen`: opened, with its own identity. `None` when no layer has
    /// that very file ([`same_file`]).
    pub fn unchanged_lower(
        &self,
        in_root: &Path,
        seen: &FileIdentity,
    ) -> Option<(File, FileIdentity)> {
        let lower = self.open_lower(in_root)?;
        let identity = FileIdentity::of(&lower).ok()?;
        same_file(seen, &identity).then_some((lower, identity))
    }

    /// Opens the regular file at `in_root` in the topmost lower directory that has one, with
    /// the flags the rootfs files are opened with (and `O_NONBLOCK`: a FIFO must not stall
    /// epm); only a file on the layers' filesystem (a symlinked directory may lead off it).
    fn open_lower(&self, in_root: &Path) -> Option<File> {
        let device = self.device?;
        self.lower.iter().find_map(|dir| {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
                .open(rootfs::host_path(dir, in_root))
                .ok()
                .filter(|file| {
                    file.metadata()
                        .is_ok_and(|meta| meta.is_file() && meta.dev() == device)
                })
        })
    }
}

/// Whether the overlay's file (`seen`, its identity through the rootfs) is the layer file
/// `lower`, unchanged: same inode number (unique on the layers' one filesystem, which
/// overlayfs reports for files it serves from a lower layer), size, mode, mtime and ctime.
/// A copied-up file keeps its origin's inode number but has the ctime of its copy-up, which
/// user space cannot set back, so it is never taken for its origin.
pub fn same_file(seen: &FileIdentity, lower: &FileIdentity) -> bool {
    seen.ino == lower.ino
        && seen.size == lower.size
        && seen.mode == lower.mode
        && (seen.mtime, seen.mtime_nsec) == (lower.mtime, lower.mtime_nsec)
        && (seen.ctime, seen.ctime_nsec) == (lower.ctime, lower.ctime_nsec)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and tab, newline and backslash);
/// `None` for a malformed escape.
fn unescape(field: &str) -> Option<String> {
    if !field.contains('\\') {
        return Some(field.to_owned());
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = bytes.get(i + 1..i + 4)?;
            let text = std::str::from_utf8(digits).ok()?;
            out.push(u8::from_str_radix(text, 8).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw
67 22 0:39 / /run/c/a/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/3/fs:/s/2/fs,upperdir=/s/4/fs,workdir=/s/4/work
68 22 0:40 / /run/c/b\\040x/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/3/fs,upperdir=/s/5/fs,workdir=/s/5/work
69 22 0:41 / /run/c/rel/rootfs rw,relatime - overlay overlay rw,lowerdir=3/fs:2/fs,upperdir=/s/6/fs,workdir=/s/6/work
70 22 0:42 / /run/c/ro/rootfs rw,relatime - overlay overlay ro,lowerdir=/s/3/fs:/s/2/fs
71 22 0:43 / /run/c/data/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/3/fs::/s/d/fs,upperdir=/s/7/fs,workdir=/s/7/work
72 22 0:44 / /run/c/bind/rootfs rw,relatime - ext4 /dev/vda1 rw
74 22 0:46 / /run/c/plus/rootfs rw,relatime - overlay none rw,lowerdir+=/s/3/fs,lowerdir+=/s/a\\054b=c,upperdir=/s/8\\040u/fs,workdir=/s/8/work,uuid=on
75 22 0:47 / /run/c/plusrel/rootfs rw,relatime - overlay none rw,lowerdir+=3/fs,lowerdir+=2/fs,upperdir=/s/9/fs,workdir=/s/9/work
76 22 0:48 / /run/c/plusdata/rootfs rw,relatime - overlay none rw,lowerdir+=/s/3/fs,datadir+=/s/d/fs,upperdir=/s/10/fs,workdir=/s/10/work
77 22 0:49 / /run/c/colon/rootfs rw,relatime - overlay overlay rw,lowerdir=/s/a\\134:b:/s/2/fs,upperdir=/s/11/fs,workdir=/s/11/work
78 22 0:50 / /run/c/badesc/rootfs rw,relatime - overlay none rw,lowerdir+=/s/\\09,upperdir=/s/12/fs,workdir=/s/12/work
";

    fn layers(rootfs: &str) -> Option<Vec<PathBuf>> {
        Layers::from_mountinfo(MOUNTINFO, Path::new(rootfs)).map(|l| l.lower)
    }

    #[test]
    fn the_lower_directories_of_an_overlay_rootfs_top_first() {
        assert_eq!(
            layers("/run/c/a/rootfs").unwrap(),
            [PathBuf::from("/s/3/fs"), PathBuf::from("/s/2/fs")]
        );
        assert_eq!(
            layers("/run/c/b x/rootfs").unwrap(),
            [PathBuf::from("/s/3/fs")]
        );
    }

    #[test]
    fn layers_added_one_by_one_are_read_in_order_and_unescaped() {
        assert_eq!(
            layers("/run/c/plus/rootfs").unwrap(),
            [PathBuf::from("/s/3/fs"), PathBuf::from("/s/a,b=c")]
        );
        let plus = Layers::from_mountinfo(MOUNTINFO, Path::new("/run/c/plus/rootfs")).unwrap();
        assert_eq!(plus.upper, PathBuf::from("/s/8 u/fs"));
        assert_eq!(
            layers("/run/c/plusrel/rootfs").unwrap(),
            [PathBuf::from("3/fs"), PathBuf::from("2/fs")]
        );
    }

    #[test]
    fn unusable_layers_are_left_to_hashing() {
        assert_eq!(layers("/run/c/plusdata/rootfs"), None, "datadir+ layers");
        assert_eq!(
            layers("/run/c/colon/rootfs"),
            None,
            "an escaped colon in the list"
        );
        assert_eq!(layers("/run/c/badesc/rootfs"), None, "a malformed escape");
        assert_eq!(layers("/run/c/ro/rootfs"), None, "no upper directory");
        assert_eq!(layers("/run/c/data/rootfs"), None, "data-only layers");
        assert_eq!(layers("/run/c/bind/rootfs"), None, "not an overlay");
        assert_eq!(layers("/run/c/none"), None, "not a mount point");
    }

    #[test]
    fn relative_layers_are_anchored_where_they_all_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for layer in [
            "snapshots/2/fs",
            "snapshots/3/fs",
            "snapshots/6/fs",
            "snapshots/6/3/x",
        ] {
            std::fs::create_dir_all(root.join(layer)).unwrap();
        }
        let rootfs = root.join("run/c/rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();

        // containerd: relative lower directories, the upper one absolute; "3" exists beside
        // the upper directory too, but not "3/fs" and "2/fs" together.
        let containerd = Layers {
            lower: vec!["3/fs".into(), "2/fs".into()],
            upper: root.join("snapshots/6/fs"),
            device: None,
        };
        let anchored = containerd.anchored(&rootfs).unwrap();
        assert_eq!(
            anchored.lower,
            [root.join("snapshots/3/fs"), root.join("snapshots/2/fs")]
        );
        assert_eq!(anchored.upper, root.join("snapshots/6/fs"));

        // Docker: everything relative to a directory beside the mount point's.
        let docker_root = root.join("run/c");
        for layer in ["l/AB", "id/diff"] {
            std::fs::create_dir_all(docker_root.join(layer)).unwrap();
        }
        let docker = Layers {
            lower: vec!["l/AB".into()],
            upper: "id/diff".into(),
            device: None,
        };
        let anchored = docker.anchored(&rootfs).unwrap();
        assert_eq!(anchored.lower, [docker_root.join("l/AB")]);
        assert_eq!(anchored.upper, docker_root.join("id/diff"));

        // Nowhere: left to hashing.
        let lost = Layers {
            lower: vec!["9/fs".into()],
            upper: root.join("snapshots/6/fs"),
            device: None,
        };
        assert_eq!(lost.anchored(&rootfs), None);

        // Absolute layers stay as they are, whether they exist or not.
        let absolute = Layers {
            lower: vec!["/s/3/fs".into()],
            upper: "/s/4/fs".into(),
            device: None,
        };
        assert_eq!(absolute.clone().anchored(&rootfs), Some(absolute));
    }

    #[test]
    fn relative_layers_are_parsed_as_given() {
        assert_eq!(
            layers("/run/c/rel/rootfs").unwrap(),
            [PathBuf::from("3/fs"), PathBuf::from("2/fs")]
        );
    }

    #[test]
    fn the_mount_on_top_wins() {
        let stacked = format!(
            "{MOUNTINFO}73 67 0:45 / /run/c/a/rootfs rw - overlay overlay rw,lowerdir=/t/1,upperdir=/t/2,workdir=/t/3\n"
        );
        let layers = Layers::from_mountinfo(&stacked, Path::new("/run/c/a/rootfs")).unwrap();
        assert_eq!(layers.lower, [PathBuf::from("/t/1")]);
    }

    #[test]
    fn escapes_are_decoded_or_refused() {
        assert_eq!(unescape("/a\\040b\\134c").as_deref(), Some("/a b\\c"));
        assert_eq!(unescape("/a\\04"), None);
        assert_eq!(unescape("/a\\0x9"), None);
    }

    fn identity(ino: u64, ctime_nsec: i64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            size: 10,
            mode: 0o100644,
            mtime: 5,
            mtime_nsec: 6,
            ctime: 7,
            ctime_nsec,
        }
    }

    #[test]
    fn only_the_same_unchanged_inode_is_the_same_file() {
        let lower = identity(42, 8);
        let seen = FileIdentity { dev: 99, ..lower };
        assert!(
            same_file(&seen, &lower),
            "another overlay device, same inode"
        );
        assert!(!same_file(&identity(43, 8), &lower), "another inode");
        assert!(
            !same_file(&identity(42, 9), &lower),
            "copied up: a new ctime"
        );
        let resized = FileIdentity { size: 11, ..seen };
        assert!(!same_file(&resized, &lower));
    }

    proptest::proptest! {
        #[test]
        fn any_mountinfo_text_parses_without_panicking(text in "\\PC*", rootfs in "/[a-z ]{0,8}") {
            let _ = Layers::from_mountinfo(&text, Path::new(&rootfs));
            let _ = unescape(&text);
        }
    }
}
