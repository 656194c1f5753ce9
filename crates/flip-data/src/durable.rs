//! Flushing written files and folders to disk (`fsync`) before a rename makes them visible, so
//! that a crash or power loss cannot leave a renamed-into-place folder with missing content.

use std::path::Path;

/// Flushes a folder's entries (renames, new files) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Flushes every file under `dir`, every folder under it, and `dir` itself.
pub fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            std::fs::File::open(&path)?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Puts the finished folder `staged` in place of `dest` so that one of the two is complete at
/// every moment: `dest` (if any) is renamed to a hidden `.<name>.old` beside it, `staged` renamed
/// to `dest`, then the old one removed; the parent folder is flushed after each rename.
pub fn replace_dir(staged: &Path, dest: &Path) -> std::io::Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let old = parent.join(format!(".{name}.old"));
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if dest.exists() {
        std::fs::rename(dest, &old)?;
        sync_dir(parent)?;
    }
    std::fs::rename(staged, dest)?;
    sync_dir(parent)?;
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_flushed_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.txt"), "x").unwrap();
        sync_tree(dir.path()).unwrap();
        assert!(sync_tree(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_replaced_folder_leaves_nothing_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let (staged, dest) = (root.path().join("new"), root.path().join("dest"));
        for (dir, text) in [(&dest, "old"), (&staged, "new")] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("f"), text).unwrap();
        }
        replace_dir(&staged, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("f")).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dest"]);
    }
}
