//! The Fernet key repository, laid out as Keystone lays out its own.
//!
//! A directory of files named by non-negative integers, each holding one URL-safe base64 Fernet
//! key. The highest number is the *primary* key: new tokens are sealed with it. Key `0` is the
//! *staged* key: not used for sealing yet, but already accepted, so that after a rotation every
//! server sharing the repository can read tokens sealed with it before it becomes primary
//! everywhere. Every other key is a *secondary* key, kept so that tokens sealed before a rotation
//! stay valid until they expire. All keys are tried when opening a token.
//!
//! Rotation (as `keystone-manage fernet_rotate`): the staged key becomes the new primary under
//! number `highest + 1`, a fresh staged key `0` is written, and the oldest secondaries beyond the
//! configured number of active keys are removed.
//!
//! Files are written to a temporary name and hard-linked into place, so that two servers
//! initialising one empty repository at once never see a half-written key, and neither
//! overwrites the other's.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fernet::{Fernet, MultiFernet};

use crate::IdentityError;

/// The keys of a repository, ready to seal (primary) and open (all) tokens.
pub(crate) struct KeyRing {
    multi: MultiFernet,
    /// Key numbers, primary first (for logs and tests).
    numbers: Vec<u32>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing").field("numbers", &self.numbers).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Seals `data` with the primary key; returns the token without base64 padding.
    pub(crate) fn seal(&self, data: &[u8]) -> String {
        let mut token = self.multi.encrypt(data);
        // Padding is only `=` at the end; without it the token is plain URL-safe base64.
        while token.ends_with('=') {
            token.pop();
        }
        token
    }

    /// Opens a token sealed with any key of the ring (padding optional).
    pub(crate) fn open(&self, token: &str) -> Option<Vec<u8>> {
        self.multi.decrypt(token).ok()
    }

    /// Key numbers, primary first.
    #[cfg(test)]
    pub(crate) fn numbers(&self) -> &[u32] {
        &self.numbers
    }
}

fn repo_error(path: &Path, message: impl std::fmt::Display) -> IdentityError {
    IdentityError::KeyRepository { path: path.display().to_string(), message: message.to_string() }
}

/// Reads the numbered keys of `dir`, highest number first.
fn read_keys(dir: &Path) -> Result<Vec<(u32, String)>, IdentityError> {
    let entries = fs::read_dir(dir).map_err(|e| repo_error(dir, e))?;
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| repo_error(dir, e))?;
        let name = entry.file_name();
        let Some(number) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue; // temporary files and anything else that is not a key
        };
        let path = entry.path();
        let text = fs::read_to_string(&path).map_err(|e| repo_error(&path, e))?;
        let key = text.trim().to_string();
        if Fernet::new(&key).is_none() {
            return Err(repo_error(&path, "not a Fernet key (32 bytes, URL-safe base64)"));
        }
        keys.push((number, key));
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.0));
    Ok(keys)
}

/// Writes a fresh key as `dir/number` unless that file exists. Returns false if it did.
fn write_new_key(dir: &Path, number: u32) -> Result<bool, IdentityError> {
    let tmp: PathBuf = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let target = dir.join(number.to_string());
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| repo_error(&tmp, e))?;
        file.write_all(Fernet::generate_key().as_bytes()).map_err(|e| repo_error(&tmp, e))?;
        file.sync_all().map_err(|e| repo_error(&tmp, e))?;
    }
    let linked = fs::hard_link(&tmp, &target);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(repo_error(&target, e)),
    }
}

/// Creates the repository directory (mode 0700) if needed.
fn ensure_dir(dir: &Path) -> Result<(), IdentityError> {
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(repo_error(dir, e)),
    }
}

/// Opens the repository at `dir`, creating it with a staged key `0` and a primary key `1` when
/// it holds no key yet.
pub(crate) fn load_or_create(dir: &Path) -> Result<KeyRing, IdentityError> {
    ensure_dir(dir)?;
    if read_keys(dir)?.is_empty() {
        write_new_key(dir, 0)?;
        write_new_key(dir, 1)?;
        tracing::info!(path = %dir.display(), "created fernet key repository");
    }
    load(dir)
}

/// Loads the keys of an existing repository.
pub(crate) fn load(dir: &Path) -> Result<KeyRing, IdentityError> {
    let keys = read_keys(dir)?;
    if keys.is_empty() {
        return Err(repo_error(dir, "no keys"));
    }
    let numbers = keys.iter().map(|(n, _)| *n).collect();
    // Validated by read_keys.
    let fernets = keys.iter().filter_map(|(_, k)| Fernet::new(k)).collect();
    Ok(KeyRing { multi: MultiFernet::new(fernets), numbers })
}

/// Rotates the repository at `dir` the way `keystone-manage fernet_rotate` does and returns the
/// number of the new primary key.
///
/// The staged key `0` becomes the primary under the next number, a new staged key `0` is
/// written, and secondary keys are removed, oldest first, until at most `max_active_keys`
/// keys remain (at least 3: staged, primary and one secondary). Run it on one server and copy
/// the repository to the others; each server picks the change up on its next refresh.
pub fn rotate_keys(dir: &Path, max_active_keys: usize) -> Result<u32, IdentityError> {
    ensure_dir(dir)?;
    let keys = read_keys(dir)?;
    if keys.is_empty() {
        write_new_key(dir, 0)?;
        write_new_key(dir, 1)?;
        return Ok(1);
    }
    let highest = keys[0].0;
    let new_primary = highest + 1;
    let staged = dir.join("0");
    if staged.exists() {
        // The staged key is promoted: readers already accept it.
        fs::rename(&staged, dir.join(new_primary.to_string()))
            .map_err(|e| repo_error(&staged, e))?;
    } else {
        write_new_key(dir, new_primary)?;
    }
    write_new_key(dir, 0)?;

    let max = max_active_keys.max(3);
    let mut numbers: Vec<u32> = read_keys(dir)?.into_iter().map(|(n, _)| n).collect();
    // Oldest secondaries are the lowest numbers above 0.
    numbers.sort_unstable();
    let mut excess = numbers.len().saturating_sub(max);
    for n in numbers.into_iter().filter(|n| *n != 0 && *n != new_primary) {
        if excess == 0 {
            break;
        }
        let path = dir.join(n.to_string());
        fs::remove_file(&path).map_err(|e| repo_error(&path, e))?;
        excess -= 1;
    }
    // Keep permissions tight even if the directory was created by someone else.
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    Ok(new_primary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn empty_repository_gets_staged_and_primary_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fernet-keys");
        let ring = load_or_create(&dir).unwrap();
        assert_eq!(ring.numbers(), &[1, 0]);
        assert_eq!(mode(&dir.join("0")), 0o600);
        assert_eq!(mode(&dir.join("1")), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // Opening again keeps the same keys.
        let again = load_or_create(&dir).unwrap();
        let token = ring.seal(b"hello");
        assert_eq!(again.open(&token).unwrap(), b"hello");
    }

    #[test]
    fn sealed_tokens_are_url_safe_without_padding() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = load_or_create(tmp.path()).unwrap();
        for len in 0..40 {
            let token = ring.seal(&vec![7u8; len]);
            assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert_eq!(ring.open(&token).unwrap(), vec![7u8; len]);
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_promotes_staged_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let before = load_or_create(dir).unwrap();
        let old_token = before.seal(b"old");
        let staged = fs::read_to_string(dir.join("0")).unwrap();

        assert_eq!(rotate_keys(dir, 3).unwrap(), 2);
        assert_eq!(fs::read_to_string(dir.join("2")).unwrap(), staged);
        let after = load(dir).unwrap();
        assert_eq!(after.numbers(), &[2, 1, 0]);
        assert_eq!(after.open(&old_token).unwrap(), b"old");
        // A server that has not reloaded yet already accepts tokens of the new primary.
        assert_eq!(before.open(&after.seal(b"new")).unwrap(), b"new");

        // Two more rotations with at most 3 keys drop the oldest secondaries.
        rotate_keys(dir, 3).unwrap();
        assert_eq!(rotate_keys(dir, 3).unwrap(), 4);
        let ring = load(dir).unwrap();
        assert_eq!(ring.numbers(), &[4, 3, 0]);
        assert!(ring.open(&old_token).is_none());
    }

    #[test]
    fn garbage_key_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("1"), "not a key").unwrap();
        let err = load_or_create(tmp.path()).unwrap_err();
        assert_eq!(err.status(), 500);
    }
}
