//! Small internal helpers: atomic file writes and containment of dependency panics.

use std::fs;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ProverError, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// synced and then renamed over `path`, so readers never observe a partial file.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| ProverError::io("create directory", &dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_and_rename(&tmp, path, bytes);
    if result.is_err() {
        // Best effort: do not leave the temporary behind; the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_and_rename(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(tmp).map_err(|e| ProverError::io("create", tmp, e))?;
    file.write_all(bytes)
        .map_err(|e| ProverError::io("write", tmp, e))?;
    file.sync_all()
        .map_err(|e| ProverError::io("sync", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| ProverError::io("rename", path, e))
}

/// Reads a whole file, mapping errors to [`ProverError::Io`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| ProverError::io("read", path, e))
}

/// Runs `f`, turning a panic inside it into [`ProverError::DependencyPanic`].
///
/// halo2's deserializers `unwrap()` on truncated or malformed input in a few places (polynomial
/// vectors in proving keys, unchecked point reads). Inputs are validated before they reach those
/// code paths; this is the last line of defence so that a library caller never sees a panic.
pub(crate) fn contain_panic<T>(what: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(what, "dependency panicked on malformed input");
            Err(ProverError::DependencyPanic { what })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temporaries() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sub").join("x.bin");
        atomic_write(&path, b"first")?;
        atomic_write(&path, b"second")?;
        assert_eq!(read_file(&path)?, b"second");
        let entries: Vec<_> = fs::read_dir(dir.path().join("sub"))?.collect::<Result<_, _>>()?;
        assert_eq!(entries.len(), 1, "temporary files left behind");
        Ok(())
    }

    #[test]
    fn contained_panic_becomes_error() {
        let r: Result<()> = contain_panic("test op", || panic!("boom"));
        assert!(matches!(
            r,
            Err(ProverError::DependencyPanic { what: "test op" })
        ));
    }
}
