//! Synthetic fixtures. The project ships small invented files in every supported format under
//! `datasets/<name>/fixtures/`, named with a `.synthetic` suffix so that nobody (and no licence
//! scanner) mistakes them for MovieLens or BookCrossing files. Tests copy them to a folder
//! under their real names.

use std::path::Path;

use crate::error::{IoContext, Result};

/// Suffix of synthetic fixture files.
pub const SUFFIX: &str = ".synthetic";

/// Copies the `*.synthetic` files of `from` into `to` (created if needed) without the suffix.
pub fn materialize(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).at(to)?;
    for entry in std::fs::read_dir(from).at(from)? {
        let path = entry.at(from)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(real) = name.strip_suffix(SUFFIX) {
            let target = to.join(real);
            std::fs::copy(&path, &target).at(&target)?;
        }
    }
    Ok(())
}
