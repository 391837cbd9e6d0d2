//! The mountpoint: made ready before mounting (created, or cleared of a
//! dead mount a killed process left), detached lazily when a busy mount
//! cannot be unmounted, and removed afterwards if it was made here.
//!
//! Mounting is done as root, so the mountpoint is handled as a root
//! program handles a path others may write to: the default one, in the
//! shared `/tmp`, is always a directory made here (never one found there,
//! which a local user could have planted as a symbolic link to `/etc`),
//! and a symbolic link given as the mountpoint is refused.

use std::{
    fs, io,
    os::unix::fs::{DirBuilderExt, MetadataExt},
    path::{Path, PathBuf},
};

use rustix::mount::{UnmountFlags, unmount};

use crate::error::{Error, Result};

/// Where the default mountpoints are made.
const DEFAULT_PARENT: &str = "/tmp";

/// How many names [`Mountpoint::fresh`] tries after `roe_<pid>` before
/// it gives up.
const FRESH_TRIES: usize = 16;

/// The mode of a default mountpoint: its owner's alone.
const OWN_MODE: u32 = 0o700;

/// The names a default mountpoint takes, in turn: `roe_<pid>`, as
/// ProcAlike's `/tmp/poefuse_<pid>`, then `roe_<pid>_<random>`.
fn default_names() -> impl Iterator<Item = String> {
    let pid = std::process::id();
    std::iter::once(format!("roe_{pid}"))
        .chain((0..FRESH_TRIES).map(move |_| format!("roe_{pid}_{:08x}", random())))
}

/// A number no other process can guess: std's hasher keys are drawn
/// from the system's random source.
fn random() -> u32 {
    use std::hash::BuildHasher;
    let hash = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (hash >> 32) as u32
}

/// A directory ready to mount on.
#[derive(Debug)]
pub(crate) struct Mountpoint {
    /// Absolute, with symbolic links resolved (what `/proc/mounts` shows).
    pub path: PathBuf,
    /// The directories made here, outermost first (the mountpoint last):
    /// removed after unmounting, innermost first, and nothing else.
    made: Vec<PathBuf>,
}

impl Mountpoint {
    /// Makes the default mountpoint: `/tmp/roe_<pid>`, or, when that name
    /// is taken (by anything: a directory, a file, a dead mount, a
    /// symbolic link someone planted), `/tmp/roe_<pid>_<random>`. It is
    /// always made here, by `mkdir` (which never follows a symbolic link
    /// and fails on any name that exists), mode 0700, and checked to be a
    /// directory owned by the effective user before it is used; in a
    /// sticky `/tmp` no other user can then move or replace it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]: every name was taken, `mkdir` failed, or what was
    /// made is not a directory of mode 0700 owned by the effective user.
    pub fn fresh() -> Result<Mountpoint> {
        Mountpoint::fresh_in(Path::new(DEFAULT_PARENT), default_names())
    }

    /// [`Mountpoint::fresh`] in `parent`, trying `names` in turn.
    fn fresh_in(parent: &Path, names: impl Iterator<Item = String>) -> Result<Mountpoint> {
        let parent = parent.canonicalize()?;
        let mut taken = Vec::new();
        for name in names {
            let path = parent.join(&name);
            match fs::DirBuilder::new().mode(OWN_MODE).create(&path) {
                Ok(()) => {
                    if !taken.is_empty() {
                        tracing::warn!(
                            path = %path.display(),
                            ?taken,
                            "the default mountpoint's name was taken: mounting here instead"
                        );
                    }
                    if let Err(error) = check_own(&path) {
                        // rmdir removes a directory, never a link's target.
                        let _ = fs::remove_dir(&path);
                        return Err(error);
                    }
                    return Ok(Mountpoint {
                        made: vec![path.clone()],
                        path,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => taken.push(name),
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::Io(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "no free name for a mountpoint in {} (taken: {})",
                parent.display(),
                taken.join(", ")
            ),
        )))
    }

    /// Makes `path` ready: creates it (and any missing parent) if missing,
    /// detaches a dead FUSE mount found on it (its server was killed; any
    /// access to it fails with ENOTCONN), and refuses a live mount and a
    /// symbolic link: a link's target is not what was named, and could
    /// change between this check and the mount.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when something live is mounted there,
    /// [`Error::Stale`] for a dead mount that cannot be detached (or that
    /// is not FUSE), [`Error::Symlink`], [`Error::NotADirectory`], or
    /// [`Error::Io`].
    pub fn prepare(path: &Path) -> Result<Mountpoint> {
        // Without a trailing slash, which would have lstat follow a link.
        let absolute: PathBuf = std::path::absolute(path)?.components().collect();
        let made = match fs::symlink_metadata(&absolute) {
            Ok(meta) if meta.file_type().is_symlink() => return Err(Error::Symlink(absolute)),
            Ok(meta) if !meta.is_dir() => return Err(Error::NotADirectory(absolute)),
            Ok(_) => {
                let canonical = absolute.canonicalize()?;
                if mounted_at(&canonical)?.is_some() {
                    return Err(Error::Busy(canonical));
                }
                Vec::new()
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => make_all(&absolute)?,
            Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                let is_fuse = mounted_at(&absolute)?.is_some_and(|fs| fs.starts_with("fuse"));
                if !is_fuse {
                    return Err(Error::Stale(absolute, error));
                }
                detach(&absolute).map_err(|e| Error::Stale(absolute.clone(), e))?;
                tracing::warn!(
                    path = %absolute.display(),
                    "detached a dead FUSE mount, left by a process that was killed"
                );
                Vec::new()
            }
            Err(error) => return Err(error.into()),
        };
        let point = Mountpoint {
            path: PathBuf::new(),
            made,
        };
        // Once more, now that it exists: made here, or found, it must
        // still be a directory and not a link (else what was made is
        // removed again as `point` drops its claim below).
        let checked = match fs::symlink_metadata(&absolute) {
            Ok(meta) if meta.file_type().is_symlink() => Err(Error::Symlink(absolute.clone())),
            Ok(meta) if !meta.is_dir() => Err(Error::NotADirectory(absolute.clone())),
            Ok(_) => absolute.canonicalize().map_err(Error::from),
            Err(error) => Err(error.into()),
        };
        match checked {
            Ok(path) => Ok(Mountpoint { path, ..point }),
            Err(error) => {
                point.remove();
                Err(error)
            }
        }
    }

    /// Whether the mountpoint itself was made here.
    #[cfg(test)]
    fn is_made(&self) -> bool {
        self.made.last().is_some_and(|made| *made == self.path)
    }

    /// Removes the directories made here, innermost first; one that cannot
    /// be removed (something was put in it) is left, with those above it,
    /// and logged.
    pub fn remove(&self) {
        for dir in self.made.iter().rev() {
            if let Err(error) = fs::remove_dir(dir) {
                tracing::warn!(path = %dir.display(), %error, "a directory made for the mountpoint could not be removed");
                return;
            }
        }
    }
}

/// Makes `path` and each missing parent, one `mkdir` each; the ones made,
/// outermost first (a directory someone else makes meanwhile is not
/// counted). What was made is removed again on failure.
fn make_all(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(dir) = at {
        match fs::symlink_metadata(dir) {
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                missing.push(dir);
                at = dir.parent();
            }
            Err(error) => return Err(error),
        }
    }
    let mut made = Vec::new();
    for dir in missing.into_iter().rev() {
        let result = match fs::create_dir(dir) {
            Ok(()) => dir.canonicalize().map(|dir| made.push(dir)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            Mountpoint {
                path: PathBuf::new(),
                made,
            }
            .remove();
            return Err(error);
        }
    }
    Ok(made)
}

/// Checks that `path`, just made by `mkdir`, is what was made: a
/// directory, not a symbolic link, owned by the effective user, mode
/// 0700.
fn check_own(path: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let euid = rustix::process::geteuid().as_raw();
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink(path.to_owned()));
    }
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o7777 != OWN_MODE {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of mode 0700 owned by uid {euid} (mode {:o}, uid {})",
                path.display(),
                meta.mode() & 0o7777,
                meta.uid()
            ),
        )));
    }
    Ok(())
}

/// The environment variable that turns a skipped mount test into a
/// failure: `ROE_REQUIRE_FUSE=1`.
const REQUIRE_FUSE: &str = "ROE_REQUIRE_FUSE";

/// For tests and benches that mount: whether this process can mount the
/// view here, that is, `/dev/fuse` opens for reading and writing and the
/// effective user is root (roe mounts without the setuid helper); `Err`
/// says why not, for the caller to print as it skips.
///
/// # Panics
///
/// When it cannot and `ROE_REQUIRE_FUSE=1` is set: where mounting is
/// known to work (CI), a mount test that would skip fails instead.
#[doc(hidden)]
pub fn can_mount() -> std::result::Result<(), String> {
    let why = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        Err(error) => format!("/dev/fuse cannot be opened ({error})"),
        Ok(_) if !rustix::process::geteuid().is_root() => {
            "not root (roe mounts without the setuid helper)".to_owned()
        }
        Ok(_) => return Ok(()),
    };
    if std::env::var_os(REQUIRE_FUSE).is_some_and(|v| v == "1") {
        panic!("{REQUIRE_FUSE}=1, yet the fs view cannot mount here: {why}");
    }
    Err(why)
}

/// Detaches the mount at `path` now, lazily (`umount2(MNT_DETACH)`): it is
/// gone from the tree at once, and released when the last process using it
/// lets go.
pub(crate) fn detach(path: &Path) -> io::Result<()> {
    unmount(path, UnmountFlags::DETACH).map_err(io::Error::from)
}

/// The type of the file system mounted at `path` (absolute), if one is,
/// from `/proc/self/mountinfo`.
pub(crate) fn mounted_at(path: &Path) -> io::Result<Option<String>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(find_mount(&mountinfo, path))
}

/// The last mount at `path` in a mountinfo text (the one on top).
fn find_mount(mountinfo: &str, path: &Path) -> Option<String> {
    let wanted = path.to_str()?;
    let mut found = None;
    for line in mountinfo.lines() {
        // id parent major:minor root mountpoint options [optional...] - type source super
        let mut fields = line.split(' ');
        let Some(point) = fields.nth(4) else {
            continue;
        };
        if unescape(point) != wanted {
            continue;
        }
        let mut rest = fields.skip_while(|f| *f != "-");
        if let (Some(_), Some(fs_type)) = (rest.next(), rest.next()) {
            found = Some(fs_type.to_owned());
        }
    }
    found
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(digits) = octal
        {
            let value = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
40 22 0:35 / /tmp/roe_12 rw,nosuid,nodev,relatime - fuse.roe procalike rw,user_id=0
41 22 0:36 / /tmp/with\\040space rw - tmpfs tmpfs rw
42 40 0:37 / /tmp/roe_12 rw shared:5 - fuse.other x rw
";

    #[test]
    fn mounts_are_found_by_their_point() {
        assert_eq!(
            find_mount(MOUNTINFO, Path::new("/proc")).as_deref(),
            Some("proc")
        );
        assert_eq!(
            find_mount(MOUNTINFO, Path::new("/tmp/with space")).as_deref(),
            Some("tmpfs")
        );
        // The mount on top wins, and optional fields are skipped.
        assert_eq!(
            find_mount(MOUNTINFO, Path::new("/tmp/roe_12")).as_deref(),
            Some("fuse.other")
        );
        assert_eq!(find_mount(MOUNTINFO, Path::new("/tmp")), None);
        assert_eq!(find_mount("garbage\n\n", Path::new("/tmp")), None);
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape("a\\040b\\011c\\134"), "a b\tc\\");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("plain"), "plain");
    }

    #[test]
    fn a_missing_mountpoint_is_created_and_removed() {
        let dir = std::env::temp_dir().join(format!("roe-fs-prepare-{}", std::process::id()));
        let point = Mountpoint::prepare(&dir).unwrap();
        assert!(point.is_made() && dir.is_dir());
        point.remove();
        assert!(!dir.exists());
    }

    /// A directory of the test's own under the temporary directory, empty.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("roe-fs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn missing_parents_are_made_and_only_what_was_made_is_removed() {
        let base = scratch("parents");
        let point = Mountpoint::prepare(&base.join("a/b/c")).unwrap();
        assert!(point.is_made());
        assert_eq!(point.path, base.canonicalize().unwrap().join("a/b/c"));
        assert_eq!(point.made.len(), 3);
        point.remove();
        // create_dir_all's parents went too, and the base, found, stays.
        assert!(!base.join("a").exists());
        assert!(base.is_dir());
        // A parent something was put in meanwhile stays, with those above.
        let point = Mountpoint::prepare(&base.join("a/b/c")).unwrap();
        fs::write(base.join("a/kept"), b"x").unwrap();
        point.remove();
        assert!(!base.join("a/b").exists());
        assert!(base.join("a/kept").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_symbolic_link_given_as_the_mountpoint_is_refused() {
        let base = scratch("link");
        let target = base.join("target");
        fs::create_dir(&target).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(Mountpoint::prepare(&link), Err(Error::Symlink(_))));
        let slashed = PathBuf::from(format!("{}/", link.display()));
        assert!(matches!(
            Mountpoint::prepare(&slashed),
            Err(Error::Symlink(_))
        ));
        // A dangling one too: it would be made wherever it leads.
        let dangling = base.join("dangling");
        std::os::unix::fs::symlink(base.join("nowhere"), &dangling).unwrap();
        assert!(matches!(
            Mountpoint::prepare(&dangling),
            Err(Error::Symlink(_))
        ));
        assert!(!base.join("nowhere").exists());
        // Left as they were.
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(target.is_dir());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_default_is_always_made_here_never_found() {
        let base = scratch("fresh");
        let target = base.join("etc");
        fs::create_dir(&target).unwrap();
        // A link planted at the first name, and a directory at the second.
        std::os::unix::fs::symlink(&target, base.join("roe_1")).unwrap();
        fs::create_dir(base.join("roe_2")).unwrap();
        let names = ["roe_1", "roe_2", "roe_3"].map(String::from).into_iter();
        let point = Mountpoint::fresh_in(&base, names).unwrap();
        assert_eq!(point.path, base.canonicalize().unwrap().join("roe_3"));
        assert!(point.is_made());
        let meta = fs::symlink_metadata(&point.path).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
        point.remove();
        assert!(!base.join("roe_3").exists());
        // What was planted is untouched.
        let planted = fs::symlink_metadata(base.join("roe_1")).unwrap();
        assert!(planted.file_type().is_symlink());
        assert!(target.is_dir() && base.join("roe_2").is_dir());
        // Every name taken: an error, nothing made.
        let names = ["roe_1", "roe_2"].map(String::from).into_iter();
        assert!(matches!(
            Mountpoint::fresh_in(&base, names),
            Err(Error::Io(_))
        ));
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn the_default_skips_a_link_planted_at_roe_pid() {
        let base = scratch("planted");
        let planted = Path::new(DEFAULT_PARENT).join(format!("roe_{}", std::process::id()));
        let _ = fs::remove_file(&planted);
        std::os::unix::fs::symlink(&base, &planted).unwrap();
        let point = Mountpoint::fresh();
        let _ = fs::remove_file(&planted);
        let point = point.unwrap();
        assert_ne!(point.path, planted);
        assert_ne!(point.path, base.canonicalize().unwrap());
        let name = point.path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with(&format!("roe_{}_", std::process::id())),
            "{name}"
        );
        point.remove();
        assert!(!point.path.exists());
        assert!(base.is_dir());
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn an_existing_directory_is_kept_and_a_file_refused() {
        let dir = std::env::temp_dir();
        let point = Mountpoint::prepare(&dir).unwrap();
        assert!(!point.is_made());
        point.remove();
        assert!(dir.is_dir());
        let file = dir.join(format!("roe-fs-not-a-dir-{}", std::process::id()));
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            Mountpoint::prepare(&file),
            Err(Error::NotADirectory(_))
        ));
        fs::remove_file(file).unwrap();
    }

    #[test]
    fn a_live_mount_is_refused() {
        // /proc is a mountpoint on every Linux machine.
        assert!(matches!(
            Mountpoint::prepare(Path::new("/proc")),
            Err(Error::Busy(_))
        ));
    }
}
