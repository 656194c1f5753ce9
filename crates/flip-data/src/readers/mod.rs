//! Readers: each turns a source's files into a [`RawTable`] with the dataset's canonical columns.

pub mod atomic;
pub mod bookcrossing;
pub mod custom;
pub mod goodreads;
pub mod movielens;
pub mod numbers;
pub mod quotes;

use std::path::Path;

use crate::error::{DataError, Result};
use crate::recipe::{Source, SourceFormat};
use crate::table::RawTable;

/// Reads the rows of `source` found at `location` (a directory, or the file of csv/parquet).
/// `columns` are the columns the recipe's fields use (custom sources read only those).
pub fn read(source: &Source, location: &Path, columns: &[&str]) -> Result<RawTable> {
    match source.format {
        SourceFormat::Movielens1m => movielens::read(location, movielens::Release::OneM),
        SourceFormat::Movielens100k => movielens::read(location, movielens::Release::HundredK),
        SourceFormat::Bookcrossing => {
            bookcrossing::read(location, source.keep_ratings_without_book.unwrap_or(false))
        }
        SourceFormat::Goodreads => goodreads::read(location),
        SourceFormat::Csv | SourceFormat::Parquet => {
            let cols = custom::CustomColumns {
                target: source.target.as_deref(),
                time: source.time.as_deref(),
                categorical: columns.to_vec(),
            };
            if source.format == SourceFormat::Csv {
                let delimiter = source
                    .delimiter
                    .as_deref()
                    .map_or(b',', |d| d.as_bytes()[0]);
                custom::read_csv(
                    location,
                    delimiter,
                    source.encoding.unwrap_or_default(),
                    &cols,
                )
            } else {
                custom::read_parquet(location, &cols)
            }
        }
    }
}

/// The files the reader of `source` reads at `location` that are present (for fingerprints):
/// the file of a CSV or Parquet source; MovieLens' three GroupLens files, or its three RecBole
/// files when the GroupLens ones are not all there; BookCrossing's three CSVs; GoodReads'
/// `goodreads_*.json[.gz]` files.
pub fn files_read(source: &Source, location: &Path) -> Result<Vec<std::path::PathBuf>> {
    let in_dir = |names: &[&str]| -> Vec<std::path::PathBuf> {
        names
            .iter()
            .map(|n| location.join(n))
            .filter(|p| p.is_file())
            .collect()
    };
    Ok(match source.format {
        SourceFormat::Csv | SourceFormat::Parquet if location.is_file() => {
            vec![location.to_owned()]
        }
        SourceFormat::Csv | SourceFormat::Parquet => Vec::new(),
        SourceFormat::Movielens1m => movielens::files(location, movielens::Release::OneM),
        SourceFormat::Movielens100k => movielens::files(location, movielens::Release::HundredK),
        SourceFormat::Bookcrossing => in_dir(&bookcrossing::FILES),
        SourceFormat::Goodreads => {
            let mut found = Vec::new();
            if location.is_dir() {
                for entry in std::fs::read_dir(location).map_err(|e| DataError::io(location, e))? {
                    let path = entry.map_err(|e| DataError::io(location, e))?.path();
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    if name.starts_with("goodreads_")
                        && (name.ends_with(".json") || name.ends_with(".json.gz"))
                    {
                        found.push(path);
                    }
                }
            }
            found
        }
    })
}

/// The error for a file that holds no data rows (a header, blank lines or nothing).
pub(crate) fn no_rows(path: &Path) -> DataError {
    DataError::format(
        path,
        "no data rows (the file is empty or holds only a header)",
    )
}
