//! RecBole "atomic" files (`.inter`, `.user`, `.item`): UTF-8, tab-separated, a header of
//! `name:type` pairs, LF or CRLF line endings, no quoting.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::text::{Encoding, numbered_lines, read_text};

/// An atomic file read whole, with its header resolved.
pub struct AtomicFile {
    path: std::path::PathBuf,
    text: String,
    names: Vec<String>,
}

impl AtomicFile {
    /// Reads `path` and parses its header.
    pub fn open(path: &Path) -> Result<Self> {
        let text = read_text(path, Encoding::Utf8)?;
        let header = numbered_lines(&text)
            .next()
            .ok_or_else(|| DataError::format(path, "empty file (no header line)"))?
            .1;
        let names = header
            .split('\t')
            .map(|col| col.split(':').next().unwrap_or(col).to_owned())
            .collect();
        Ok(AtomicFile {
            path: path.to_owned(),
            text,
            names,
        })
    }

    /// Index of each requested column, or an error naming the missing one and the header.
    pub fn columns(&self, wanted: &[&str]) -> Result<Vec<usize>> {
        wanted
            .iter()
            .map(|w| {
                let mut found = self.names.iter().enumerate().filter(|(_, n)| n == w);
                match (found.next(), found.next()) {
                    (Some((i, _)), None) => Ok(i),
                    (Some((first, _)), Some((second, _))) => Err(DataError::parse(
                        &self.path,
                        1,
                        format!(
                            "column `{w}` appears twice in the header (columns {} and {})",
                            first + 1,
                            second + 1
                        ),
                    )),
                    (None, _) => Err(DataError::format(
                        &self.path,
                        format!(
                            "missing column `{w}` in header (found: {})",
                            self.names.join(", ")
                        ),
                    )),
                }
            })
            .collect()
    }

    /// Calls `row(line_no, fields)` for each data line; every line must have as many fields as
    /// the header.
    pub fn for_each_row(&self, mut row: impl FnMut(u64, &[&str]) -> Result<()>) -> Result<()> {
        let mut fields: Vec<&str> = Vec::with_capacity(self.names.len());
        for (line_no, line) in numbered_lines(&self.text).skip(1) {
            fields.clear();
            fields.extend(line.split('\t'));
            if fields.len() != self.names.len() {
                return Err(DataError::parse(
                    &self.path,
                    line_no,
                    format!(
                        "expected {} tab-separated fields as in the header, found {}",
                        self.names.len(),
                        fields.len()
                    ),
                ));
            }
            row(line_no, &fields)?;
        }
        Ok(())
    }

    /// The file's path (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }
}
