//! Writing files whole or not at all: every output goes to a uniquely named temporary file in
//! the destination's folder, is flushed to disk (`fsync`), then renamed over the destination,
//! and the folder is flushed so the rename survives a crash. A reader never sees half a file,
//! and two writers never share a temporary name.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    persist_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        Ok(())
    })
}

/// Writes `value` as pretty JSON to `path` (creating its folder) atomically.
pub fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    write_atomically(path, json.as_bytes())
}

/// Lets `write` create the file at a temporary path (for writers that want a path: burnpack,
/// PNG, Parquet), then flushes it and renames it over `path`. On any error the temporary file
/// is removed and `path` is left as it was.
pub fn persist_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let folder = folder_of(path);
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    // Keep the extension last: some writers (the PNG encoder) pick the format from it.
    let extension = path
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    let (prefix, suffix) = (format!(".{name}."), format!(".tmp{extension}"));
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    // Readable by others like a file from `std::fs::write` (a temporary file is owner-only).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let staging = builder.tempfile_in(&folder)?;
    write(staging.path())?;
    std::fs::File::open(staging.path())?.sync_all()?;
    staging.persist(path).map_err(|e| e.error)?;
    sync_dir(&folder)
}

pub use flip_data::durable::sync_dir;

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        write_atomically(&path, b"old").unwrap();
        let err = persist_with(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["results.json"]);
    }

    #[test]
    fn temporary_names_are_unique_and_keep_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = Vec::new();
        for path in [
            dir.path().join("results.json"),
            dir.path().join("results.md"),
        ] {
            persist_with(&path, |tmp| {
                seen.push(tmp.to_owned());
                std::fs::write(tmp, b"x")
            })
            .unwrap();
        }
        assert_ne!(seen[0], seen[1]);
        assert!(seen[0].to_string_lossy().ends_with(".json"));
        assert!(seen[1].to_string_lossy().ends_with(".md"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("results.md"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o644, "readable like any written file");
        }
    }
}
