//! Readers: each turns a source's files into a [`RawTable`] with the dataset's canonical columns.

pub mod atomic;
pub mod bookcrossing;
pub mod custom;
pub mod goodreads;
pub mod movielens;
pub mod numbers;

use std::path::Path;

use crate::error::Result;
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
