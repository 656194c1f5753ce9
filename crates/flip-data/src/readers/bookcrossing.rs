//! The BookCrossing dump (`BX-Book-Ratings.csv`, `BX-Books.csv`, `BX-Users.csv`).
//!
//! Its quirks, all handled: `;` separators, every field quoted except an unquoted `NULL` age,
//! ISO-8859-1 text, CRLF, backslash-escaped quotes (`\"`), `;` inside quoted fields, and HTML
//! entities (`&amp;`) in titles, authors, publishers and locations.
//!
//! Canonical columns: `user_id, location, age, isbn, title, author, year, publisher`, plus the
//! rating (0 = implicit, 1..=10 explicit). There is no timestamp.

use std::borrow::Cow;
use std::path::Path;

use csv::ByteRecord;

use crate::error::{DataError, IoContext, Result};
use crate::readers::numbers::parse_number;
use crate::table::{ColumnBuilder, KeyedTable, RawTable};

const RATINGS: &str = "BX-Book-Ratings.csv";
const BOOKS: &str = "BX-Books.csv";
const USERS: &str = "BX-Users.csv";

/// Reads the three files from `dir`. Ratings whose ISBN is not in `BX-Books.csv` are dropped
/// unless `keep_ratings_without_book` (then their book columns are empty, i.e. missing).
pub fn read(dir: &Path, keep_ratings_without_book: bool) -> Result<RawTable> {
    for name in [RATINGS, BOOKS, USERS] {
        if !dir.join(name).is_file() {
            return Err(DataError::Data(format!(
                "{}: missing {name}; run `cargo xtask fetch bookcrossing` or pass `--from` with \
                 the folder holding BX-Book-Ratings.csv, BX-Books.csv and BX-Users.csv",
                dir.display()
            )));
        }
    }

    let mut books = KeyedTable::new(&["title", "author", "year", "publisher"]);
    for_each_record(&dir.join(BOOKS), 8, |_, f| {
        let isbn = normalize_isbn(&f[0]);
        // Duplicated ISBNs exist in the dump only after normalisation; the first one wins.
        books.insert(
            &isbn,
            &[
                &unescape(&f[1]),
                &unescape(&f[2]),
                f[3].trim(),
                &unescape(&f[4]),
            ],
        );
        Ok(())
    })?;

    let mut users = KeyedTable::new(&["location", "age"]);
    for_each_record(&dir.join(USERS), 3, |_, f| {
        let age = if f[2] == "NULL" { "" } else { f[2].trim() };
        users.insert(f[0].trim(), &[&unescape(&f[1]), age]);
        Ok(())
    })?;

    let ratings_path = dir.join(RATINGS);
    let mut user_id = ColumnBuilder::default();
    let mut isbn_column = ColumnBuilder::default();
    let mut user_rows = Vec::new();
    let mut book_rows = Vec::new();
    let mut rating = Vec::new();
    let (mut without_book, mut without_user) = (0usize, 0usize);
    for_each_record(&ratings_path, 3, |line, f| {
        let isbn = normalize_isbn(&f[1]);
        let book = books.row(&isbn);
        if book.is_none() {
            without_book += 1;
            if !keep_ratings_without_book {
                return Ok(());
            }
        }
        let user = users.row(f[0].trim());
        without_user += usize::from(user.is_none());
        rating.push(parse_number(&ratings_path, line, "Book-Rating", &f[2])?);
        user_id.push(f[0].trim());
        isbn_column.push(&isbn);
        user_rows.push(user);
        book_rows.push(book);
        Ok(())
    })?;

    let mut notes = Vec::new();
    if without_book > 0 {
        notes.push(format!(
            "{without_book} ratings point to an ISBN missing from {BOOKS}: {}",
            if keep_ratings_without_book {
                "kept with empty book fields"
            } else {
                "dropped"
            }
        ));
    }
    if without_user > 0 {
        notes.push(format!(
            "{without_user} ratings have a user missing from {USERS}: kept with empty user fields"
        ));
    }
    for note in &notes {
        tracing::info!("BookCrossing: {note}");
    }

    let mut columns = vec![("user_id".to_owned(), user_id.finish())];
    for (name, column) in users.into_columns() {
        columns.push((name, column.gather(&user_rows)));
    }
    columns.push(("isbn".to_owned(), isbn_column.finish()));
    for (name, column) in books.into_columns() {
        columns.push((name, column.gather(&book_rows)));
    }
    Ok(RawTable {
        columns,
        rating,
        timestamp: None,
        notes,
    })
}

/// ISBNs appear with stray spaces and lower-case `x` check digits; compare them upper-cased.
fn normalize_isbn(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

/// Decodes HTML entities and turns the line breaks found inside some quoted fields into spaces.
fn unescape(raw: &str) -> String {
    let decoded = html_escape::decode_html_entities(raw.trim());
    if decoded.contains(['\r', '\n']) {
        decoded
            .split(['\r', '\n'])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        decoded.into_owned()
    }
}

/// Parses a BookCrossing CSV and calls `row(line, fields)` for each record after the header,
/// with every field decoded to text. Each record must have exactly `n_fields` fields.
fn for_each_record(
    path: &Path,
    n_fields: usize,
    mut row: impl FnMut(u64, &[Cow<'_, str>]) -> Result<()>,
) -> Result<()> {
    let bytes = std::fs::read(path).at(path)?;
    // The dump is Latin-1; a copy re-saved as UTF-8 is accepted as such.
    let utf8 = std::str::from_utf8(&bytes).is_ok();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .escape(Some(b'\\'))
        .double_quote(false)
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let mut record = ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            DataError::parse(path, line, format!("unreadable CSV record: {e}"))
        })?;
        if !more {
            return Ok(());
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != n_fields {
            return Err(DataError::parse(
                path,
                line,
                format!(
                    "expected {n_fields} fields separated by ';', found {}",
                    record.len()
                ),
            ));
        }
        let fields = record
            .iter()
            .map(|field| decode_field(path, line, field, utf8))
            .collect::<Result<Vec<_>>>()?;
        row(line, &fields)?;
    }
}

fn decode_field<'a>(path: &Path, line: u64, bytes: &'a [u8], utf8: bool) -> Result<Cow<'a, str>> {
    if utf8 {
        // Checked for the whole file above.
        return Ok(Cow::Borrowed(
            std::str::from_utf8(bytes).expect("file is UTF-8"),
        ));
    }
    if let Some(&b) = bytes
        .iter()
        .find(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || (0x7f..0xa0).contains(&b))
    {
        return Err(DataError::parse(
            path,
            line,
            format!("byte 0x{b:02x} is a control character: this is not Latin-1 (ISO-8859-1) text"),
        ));
    }
    if bytes.is_ascii() {
        return Ok(Cow::Borrowed(std::str::from_utf8(bytes).expect("ASCII")));
    }
    Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isbns_compare_upper_case() {
        assert_eq!(normalize_isbn(" 034545104x "), "034545104X");
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(unescape("Henry Holt &amp; Company"), "Henry Holt & Company");
        assert_eq!(unescape("cernusco s\r\n, milan"), "cernusco s , milan");
    }
}
