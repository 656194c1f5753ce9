//! The UCSD GoodReads dataset (Wan & McAuley): gzipped (or plain) JSON lines.
//!
//! Required in the directory: one `goodreads_interactions*.json[.gz]` file (user_id, book_id,
//! rating 0..=5 where 0 means shelved without a rating, date_added like
//! `Fri Aug 25 13:55:02 -0700 2017`) and one `goodreads_books*.json[.gz]` file. Optional:
//! `goodreads_book_genres_initial.json[.gz]` (genre votes per book), `goodreads_book_authors.json[.gz]`
//! (author names) and `goodreads_book_works.json[.gz]` (media type per work). Missing optional
//! files leave their columns empty (missing).
//!
//! Canonical columns, in the paper's field order: `user_id, book_id, title, genre,
//! average_rating, text_reviews_count, author_id, author_name, num_pages, is_ebook, format,
//! publisher, publication_year, work_id, media_type`. `genre` is the genre with the most votes
//! (ties broken by name); `author_id` is the first listed author. Books that no interaction
//! references are skipped while streaming, so the 2.3 M-book file needs little memory.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde_json::{Map, Value};

use crate::error::{DataError, IoContext, Result};
use crate::readers::no_rows;
use crate::readers::numbers::{GOODREADS_STARS, check_rating, parse_number};
use crate::table::{ColumnBuilder, KeyedTable, RawTable};

const BOOK_COLUMNS: [&str; 13] = [
    "title",
    "genre",
    "average_rating",
    "text_reviews_count",
    "author_id",
    "author_name",
    "num_pages",
    "is_ebook",
    "format",
    "publisher",
    "publication_year",
    "work_id",
    "media_type",
];

/// Reads a GoodReads directory.
pub fn read(dir: &Path) -> Result<RawTable> {
    let interactions_path = find(dir, "goodreads_interactions")?
        .ok_or_else(|| missing(dir, "goodreads_interactions*.json.gz"))?;
    let books_path =
        find(dir, "goodreads_books")?.ok_or_else(|| missing(dir, "goodreads_books*.json.gz"))?;

    struct Interaction {
        user: String,
        book: String,
        rating: f64,
        time: i64,
    }
    let mut interactions = Vec::new();
    for_each_object(&interactions_path, |line, obj| {
        let user = required(&interactions_path, line, obj, "user_id")?;
        let book = required(&interactions_path, line, obj, "book_id")?;
        let rating = match obj.get("rating") {
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| {
                DataError::parse(
                    &interactions_path,
                    line,
                    format!("rating {n} is not a number"),
                )
            }),
            Some(Value::String(s)) => parse_number(&interactions_path, line, "rating", s),
            other => Err(DataError::parse(
                &interactions_path,
                line,
                format!("rating {other:?} is not a number"),
            )),
        }
        .and_then(|r| check_rating(&interactions_path, line, "rating", r, GOODREADS_STARS))?;
        let date = required(&interactions_path, line, obj, "date_added")?;
        let time = chrono::DateTime::parse_from_str(&date, "%a %b %d %H:%M:%S %z %Y")
            .map_err(|e| {
                DataError::parse(
                    &interactions_path,
                    line,
                    format!("date_added {date:?} is not a GoodReads date: {e}"),
                )
            })?
            .timestamp();
        interactions.push(Interaction {
            user,
            book,
            rating,
            time,
        });
        Ok(())
    })?;
    if interactions.is_empty() {
        return Err(no_rows(&interactions_path));
    }
    let wanted_books: HashSet<&str> = interactions.iter().map(|i| i.book.as_str()).collect();

    // Optional side files, keyed by book, author and work id.
    let genres = match find(dir, "goodreads_book_genres")? {
        Some(path) => top_genres(&path, &wanted_books)?,
        None => HashMap::new(),
    };
    struct Book {
        fields: Vec<String>,
        author: String,
        work: String,
        /// The line of the books file it came from.
        line: u64,
    }
    let mut books: BTreeMap<String, Book> = BTreeMap::new();
    for_each_object(&books_path, |line, obj| {
        let id = required(&books_path, line, obj, "book_id")?;
        if !wanted_books.contains(id.as_str()) {
            return Ok(());
        }
        let author = obj
            .get("authors")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| a.get("author_id"))
            .map(text)
            .unwrap_or_default();
        let work = obj.get("work_id").map(text).unwrap_or_default();
        let get = |key: &str| obj.get(key).map(text).unwrap_or_default();
        let fields = vec![
            get("title"),
            genres.get(&id).cloned().unwrap_or_default(),
            get("average_rating"),
            get("text_reviews_count"),
            author.clone(),
            String::new(), // author_name, filled below
            get("num_pages"),
            get("is_ebook"),
            get("format"),
            get("publisher"),
            get("publication_year"),
            work.clone(),
            String::new(), // media_type, filled below
        ];
        let book = Book {
            fields,
            author,
            work,
            line,
        };
        match books.entry(id) {
            Entry::Vacant(slot) => {
                slot.insert(book);
                Ok(())
            }
            Entry::Occupied(first) => Err(DataError::parse(
                &books_path,
                line,
                format!(
                    "duplicate book_id {:?} (first on line {})",
                    first.key(),
                    first.get().line
                ),
            )),
        }
    })?;
    let authors: HashSet<&str> = books.values().map(|b| b.author.as_str()).collect();
    let author_names = match find(dir, "goodreads_book_authors")? {
        Some(path) => lookup(&path, "author_id", "name", &authors)?,
        None => HashMap::new(),
    };
    let works: HashSet<&str> = books.values().map(|b| b.work.as_str()).collect();
    let media_types = match find(dir, "goodreads_book_works")? {
        Some(path) => lookup(&path, "work_id", "media_type", &works)?,
        None => HashMap::new(),
    };

    let mut book_table = KeyedTable::new(&BOOK_COLUMNS);
    for (id, book) in &books {
        let mut fields: Vec<&str> = book.fields.iter().map(String::as_str).collect();
        fields[5] = author_names.get(&book.author).map_or("", String::as_str);
        fields[12] = media_types.get(&book.work).map_or("", String::as_str);
        book_table.insert(id, &fields);
    }

    let mut user_id = ColumnBuilder::default();
    let mut book_id = ColumnBuilder::default();
    let mut book_rows = Vec::with_capacity(interactions.len());
    let mut rating = Vec::with_capacity(interactions.len());
    let mut timestamp = Vec::with_capacity(interactions.len());
    let mut without_book = 0usize;
    for i in &interactions {
        let Some(row) = book_table.row(&i.book) else {
            without_book += 1;
            continue;
        };
        user_id.push(&i.user);
        book_id.push(&i.book);
        book_rows.push(Some(row));
        rating.push(i.rating);
        timestamp.push(i.time);
    }
    let mut notes = Vec::new();
    if without_book > 0 {
        notes.push(format!(
            "{without_book} interactions point to a book missing from {}: dropped",
            books_path.display()
        ));
    }
    let mut columns = vec![
        ("user_id".to_owned(), user_id.finish()),
        ("book_id".to_owned(), book_id.finish()),
    ];
    for (name, column) in book_table.into_columns() {
        columns.push((name, column.gather(&book_rows)));
    }
    Ok(RawTable {
        columns,
        rating,
        timestamp: Some(timestamp),
        notes,
    })
}

fn missing(dir: &Path, pattern: &str) -> DataError {
    DataError::Data(format!(
        "{}: no {pattern} file; GoodReads is not on any package registry, download it from the \
         UCSD Book Graph page and pass the folder with `--from`",
        dir.display()
    ))
}

/// The one file in `dir` whose name starts with `prefix` and ends in `.json` or `.json.gz`.
fn find(dir: &Path, prefix: &str) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(prefix) && (name.ends_with(".json") || name.ends_with(".json.gz")) {
            found.push(path);
        }
    }
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(DataError::Data(format!(
            "{}: several files match {prefix}*.json[.gz]: {}; keep only one",
            dir.display(),
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Calls `row(line, object)` for every JSON object of a JSON-lines file, gzipped or not.
fn for_each_object(
    path: &Path,
    mut row: impl FnMut(u64, &Map<String, Value>) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).at(path)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let reader = BufReader::with_capacity(1 << 20, reader);
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line =
            line.map_err(|e| DataError::parse(path, line_no, format!("unreadable line: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .map_err(|e| DataError::parse(path, line_no, format!("not a JSON object: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(DataError::parse(path, line_no, "not a JSON object"));
        };
        row(line_no, &obj)?;
    }
    Ok(())
}

/// A JSON value as prompt text: strings as they are, numbers and booleans printed, null empty.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn required(path: &Path, line: u64, obj: &Map<String, Value>, key: &str) -> Result<String> {
    match obj.get(key).map(text) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(DataError::parse(path, line, format!("missing key `{key}`"))),
    }
}

fn duplicate(path: &Path, line: u64, key: &str, id: &str) -> DataError {
    DataError::parse(path, line, format!("duplicate {key} {id:?}"))
}

fn top_genres(path: &Path, books: &HashSet<&str>) -> Result<HashMap<String, String>> {
    let mut genres = HashMap::new();
    let mut seen = HashSet::new();
    for_each_object(path, |line, obj| {
        let id = required(path, line, obj, "book_id")?;
        if !books.contains(id.as_str()) {
            return Ok(());
        }
        if !seen.insert(id.clone()) {
            return Err(duplicate(path, line, "book_id", &id));
        }
        let best = obj
            .get("genres")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, votes)| votes.as_f64().map(|v| (name, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(a.0)));
        if let Some((name, _)) = best {
            genres.insert(id, name.clone());
        }
        Ok(())
    })?;
    Ok(genres)
}

fn lookup(
    path: &Path,
    key: &str,
    value: &str,
    wanted: &HashSet<&str>,
) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for_each_object(path, |line, obj| {
        let id = required(path, line, obj, key)?;
        if wanted.contains(id.as_str())
            && map
                .insert(id.clone(), obj.get(value).map(text).unwrap_or_default())
                .is_some()
        {
            return Err(duplicate(path, line, key, &id));
        }
        Ok(())
    })?;
    Ok(map)
}
