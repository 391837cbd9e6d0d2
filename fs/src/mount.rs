//! The mountpoint: made ready before mounting (created, or cleared of a
//! dead mount a killed process left), detached lazily when a busy mount
//! cannot be unmounted, and removed afterwards if it was made here.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use rustix::mount::{UnmountFlags, unmount};

use crate::error::{Error, Result};

/// Where the view mounts unless told otherwise: `/tmp/roe_<pid>`, as
/// ProcAlike's `/tmp/poefuse_<pid>`.
pub(crate) fn default_path() -> PathBuf {
    PathBuf::from(format!("/tmp/roe_{}", std::process::id()))
}

/// A directory ready to mount on.
#[derive(Debug)]
pub(crate) struct Mountpoint {
    /// Absolute, with symbolic links resolved (what `/proc/mounts` shows).
    pub path: PathBuf,
    /// Made here, so removed here after unmounting.
    pub created: bool,
}

impl Mountpoint {
    /// Makes `path` ready: creates it if missing, detaches a dead FUSE
    /// mount found on it (its server was killed; any access to it fails
    /// with ENOTCONN), and refuses a live mount.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] when something live is mounted there,
    /// [`Error::Stale`] for a dead mount that cannot be detached (or that
    /// is not FUSE), [`Error::NotADirectory`], or [`Error::Io`].
    pub fn prepare(path: &Path) -> Result<Mountpoint> {
        let absolute = std::path::absolute(path)?;
        let created = match fs::metadata(&absolute) {
            Ok(meta) if !meta.is_dir() => return Err(Error::NotADirectory(absolute)),
            Ok(_) => {
                let canonical = absolute.canonicalize()?;
                if mounted_at(&canonical)?.is_some() {
                    return Err(Error::Busy(canonical));
                }
                false
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&absolute)?;
                true
            }
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
                false
            }
            Err(error) => return Err(error.into()),
        };
        Ok(Mountpoint {
            path: absolute.canonicalize()?,
            created,
        })
    }

    /// Removes the directory if it was made here; a directory that cannot
    /// be removed (something was put in it) is left, and logged.
    pub fn remove(&self) {
        if self.created
            && let Err(error) = fs::remove_dir(&self.path)
        {
            tracing::warn!(path = %self.path.display(), %error, "the mountpoint could not be removed");
        }
    }
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
        assert!(point.created && dir.is_dir());
        point.remove();
        assert!(!dir.exists());
    }

    #[test]
    fn an_existing_directory_is_kept_and_a_file_refused() {
        let dir = std::env::temp_dir();
        let point = Mountpoint::prepare(&dir).unwrap();
        assert!(!point.created);
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
