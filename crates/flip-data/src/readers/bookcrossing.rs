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
use crate::readers::no_rows;
use crate::readers::numbers::{BOOKCROSSING_SCORES, parse_rating};
use crate::readers::quotes::{Quoting, unclosed_quote};
use crate::table::{ColumnBuilder, KeyedTable, RawTable};
use crate::text::{LineCounter, is_control};

const RATINGS: &str = "BX-Book-Ratings.csv";
const BOOKS: &str = "BX-Books.csv";
const USERS: &str = "BX-Users.csv";
/// The three files of the dump.
pub const FILES: [&str; 3] = [RATINGS, BOOKS, USERS];

/// The header line of each file, as in the dump.
const RATINGS_HEADER: [&str; 3] = ["User-ID", "ISBN", "Book-Rating"];
const BOOKS_HEADER: [&str; 8] = [
    "ISBN",
    "Book-Title",
    "Book-Author",
    "Year-Of-Publication",
    "Publisher",
    "Image-URL-S",
    "Image-URL-M",
    "Image-URL-L",
];
const USERS_HEADER: [&str; 3] = ["User-ID", "Location", "Age"];

/// Reads the three files from `dir`. Ratings whose ISBN is not in `BX-Books.csv` are dropped
/// unless `keep_ratings_without_book` (then their book columns are empty, i.e. missing).
pub fn read(dir: &Path, keep_ratings_without_book: bool) -> Result<RawTable> {
    for name in FILES {
        if !dir.join(name).is_file() {
            return Err(DataError::Data(format!(
                "{}: missing {name}; run `cargo xtask fetch bookcrossing` or pass `--from` with \
                 the folder holding BX-Book-Ratings.csv, BX-Books.csv and BX-Users.csv",
                dir.display()
            )));
        }
    }

    let mut notes = Vec::new();
    let mut books = KeyedTable::new(&["title", "author", "year", "publisher"]);
    let mut repeated_isbns = 0usize;
    let decoded = for_each_record(&dir.join(BOOKS), &BOOKS_HEADER, |_, f| {
        let isbn = normalize_isbn(&f[0]);
        // Repeated ISBNs exist in the dump (most only after upper-casing); the first one wins.
        let inserted = books.insert(
            &isbn,
            &[
                &unescape(&f[1]),
                &unescape(&f[2]),
                f[3].trim(),
                &unescape(&f[4]),
            ],
        );
        repeated_isbns += usize::from(!inserted);
        Ok(())
    })?;
    notes.extend(decoded.note(BOOKS));
    if repeated_isbns > 0 {
        notes.push(format!(
            "{repeated_isbns} rows of {BOOKS} repeat an ISBN already listed (compared upper-cased): \
             the first row of each ISBN kept"
        ));
    }

    let users_path = dir.join(USERS);
    let mut users = KeyedTable::new(&["location", "age"]);
    let decoded = for_each_record(&users_path, &USERS_HEADER, |line, f| {
        let age = if f[2] == "NULL" { "" } else { f[2].trim() };
        if users.insert(f[0].trim(), &[&unescape(&f[1]), age]) {
            Ok(())
        } else {
            Err(DataError::parse(
                &users_path,
                line,
                format!("duplicate User-ID {:?}", f[0].trim()),
            ))
        }
    })?;
    notes.extend(decoded.note(USERS));

    let ratings_path = dir.join(RATINGS);
    let mut user_id = ColumnBuilder::default();
    let mut isbn_column = ColumnBuilder::default();
    let mut user_rows = Vec::new();
    let mut book_rows = Vec::new();
    let mut rating = Vec::new();
    let (mut without_book, mut without_user, mut read) = (0usize, 0usize, 0usize);
    let decoded = for_each_record(&ratings_path, &RATINGS_HEADER, |line, f| {
        read += 1;
        let score = parse_rating(
            &ratings_path,
            line,
            "Book-Rating",
            &f[2],
            BOOKCROSSING_SCORES,
        )?;
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
        rating.push(score);
        user_id.push(f[0].trim());
        isbn_column.push(&isbn);
        user_rows.push(user);
        book_rows.push(book);
        Ok(())
    })?;
    notes.extend(decoded.note(RATINGS));
    if read == 0 {
        return Err(no_rows(&ratings_path));
    }

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

/// What decoding a Latin-1 file met: fields that were valid UTF-8 with non-ASCII characters.
#[derive(Debug, Default)]
struct Decoded {
    utf8_fields: usize,
}

impl Decoded {
    /// A note for the preparation's report when some fields were read as UTF-8.
    fn note(&self, file: &str) -> Option<String> {
        (self.utf8_fields > 0).then(|| {
            format!(
                "{} fields of {file} were UTF-8 inside a Latin-1 file: read as UTF-8",
                self.utf8_fields
            )
        })
    }
}

/// The dump's quoting: `;` separators, `"` quotes, `\` escapes.
const QUOTING: Quoting = Quoting {
    delimiter: b';',
    quote: b'"',
    escape: Some(b'\\'),
    double_quote: false,
};

/// Parses a BookCrossing CSV whose header must be `header`, and calls `row(line, fields)` for
/// each record after it, with every field decoded to text. Each record must have as many fields
/// as the header.
fn for_each_record(
    path: &Path,
    header: &[&str],
    mut row: impl FnMut(u64, &[Cow<'_, str>]) -> Result<()>,
) -> Result<Decoded> {
    let bytes = std::fs::read(path).at(path)?;
    if let Some(line) = unclosed_quote(&bytes, QUOTING) {
        return Err(DataError::parse(
            path,
            line,
            "a quoted field opened on this line is never closed (it would swallow the rest of \
             the file)",
        ));
    }
    // The dump is Latin-1; a copy re-saved as UTF-8 is accepted as such.
    let utf8 = std::str::from_utf8(&bytes).is_ok();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(QUOTING.delimiter)
        .escape(QUOTING.escape)
        .double_quote(QUOTING.double_quote)
        .flexible(true)
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let found = reader
        .byte_headers()
        .map_err(|e| DataError::parse(path, 1, format!("unreadable header: {e}")))?;
    if found.is_empty() {
        return Err(DataError::format(path, "empty file (no header line)"));
    }
    if found.iter().ne(header.iter().map(|h| h.as_bytes())) {
        return Err(DataError::parse(
            path,
            1,
            format!(
                "unexpected header {:?}; a BookCrossing file starts with {:?}",
                found
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .collect::<Vec<_>>()
                    .join(";"),
                header.join(";")
            ),
        ));
    }
    let mut decoded = Decoded::default();
    let mut record = ByteRecord::new();
    let mut lines = LineCounter::new(&bytes);
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
            DataError::parse(path, line, format!("unreadable CSV record: {e}"))
        })?;
        if !more {
            return Ok(decoded);
        }
        let line = record
            .position()
            .map_or(0, |p| lines.line_at(p.byte() as usize));
        if record.len() != header.len() {
            return Err(DataError::parse(
                path,
                line,
                format!(
                    "expected {} fields separated by ';', found {}",
                    header.len(),
                    record.len()
                ),
            ));
        }
        let fields = record
            .iter()
            .map(|field| decode_field(path, line, field, utf8, &mut decoded))
            .collect::<Result<Vec<_>>>()?;
        row(line, &fields)?;
    }
}

/// A field's text: the whole file's UTF-8, else the field's own UTF-8 when it is valid and not
/// ASCII (the dump mixes both), else Latin-1.
fn decode_field<'a>(
    path: &Path,
    line: u64,
    bytes: &'a [u8],
    utf8: bool,
    decoded: &mut Decoded,
) -> Result<Cow<'a, str>> {
    if utf8 {
        // Checked for the whole file above.
        return Ok(Cow::Borrowed(
            std::str::from_utf8(bytes).expect("file is UTF-8"),
        ));
    }
    if let Some(&b) = bytes.iter().find(|&&b| is_control(b)) {
        return Err(DataError::parse(
            path,
            line,
            format!("byte 0x{b:02x} is a control character: this is not Latin-1 (ISO-8859-1) text"),
        ));
    }
    if bytes.is_ascii() {
        return Ok(Cow::Borrowed(std::str::from_utf8(bytes).expect("ASCII")));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        decoded.utf8_fields += 1;
        return Ok(Cow::Borrowed(text));
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
