//! MovieLens-1M and MovieLens-100K, in the original GroupLens files and in RecBole's atomic files.
//!
//! Both formats give the same canonical columns, so one recipe serves both:
//! `user_id, gender, age, occupation, zip, movie_id, title, genres`, plus rating and timestamp.
//! `title` carries the year (`Toy Story (1995)`), `genres` is `|`-separated, `age` and
//! `occupation` keep the dataset's own codes (ML-1M: age bucket and occupation number; ML-100K:
//! years and occupation name); the recipe's verbalizers turn codes into words.
//!
//! One difference cannot be undone: RecBole's ML-1M replaces the numeric MovieID by the title,
//! so `movie_id` holds the title there.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::readers::atomic::AtomicFile;
use crate::readers::no_rows;
use crate::readers::numbers::{MOVIELENS_STARS, canonical_code, parse_rating, parse_seconds};
use crate::table::{ColumnBuilder, KeyedTable, RawTable};
use crate::text::{Encoding, numbered_lines, read_text, split_exact};

/// The canonical user attribute columns.
const USER_COLUMNS: [&str; 4] = ["gender", "age", "occupation", "zip"];
/// The canonical item attribute columns.
const ITEM_COLUMNS: [&str; 2] = ["title", "genres"];

/// The 19 genre flags of ML-100K's `u.item`, in file order (as listed in `u.genre`).
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// Which MovieLens release a directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// MovieLens-1M (6,040 users, 3,883 movies, 1,000,209 ratings).
    OneM,
    /// MovieLens-100K (943 users, 1,682 movies, 100,000 ratings).
    HundredK,
}

impl Release {
    fn original_files(self) -> [&'static str; 3] {
        match self {
            Release::OneM => ["ratings.dat", "users.dat", "movies.dat"],
            Release::HundredK => ["u.data", "u.user", "u.item"],
        }
    }

    fn atomic_files(self) -> [&'static str; 3] {
        match self {
            Release::OneM => ["ml-1m.inter", "ml-1m.user", "ml-1m.item"],
            Release::HundredK => ["ml-100k.inter", "ml-100k.user", "ml-100k.item"],
        }
    }
}

/// The files [`read`] reads in `dir` (those present): the GroupLens files when all three are
/// there, else the RecBole ones.
pub fn files(dir: &Path, release: Release) -> Vec<PathBuf> {
    let original: Vec<PathBuf> = release.original_files().map(|f| dir.join(f)).into();
    if original.iter().all(|p| p.is_file()) {
        return original;
    }
    release
        .atomic_files()
        .map(|f| dir.join(f))
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// Reads a MovieLens directory, detecting the original or the atomic format.
pub fn read(dir: &Path, release: Release) -> Result<RawTable> {
    let original = release.original_files().map(|f| dir.join(f));
    let atomic = release.atomic_files().map(|f| dir.join(f));
    if original.iter().all(|p| p.is_file()) {
        match release {
            Release::OneM => read_ml1m_original(&original),
            Release::HundredK => read_ml100k_original(&original),
        }
    } else if atomic.iter().all(|p| p.is_file()) {
        read_atomic(&atomic, release)
    } else {
        let missing: Vec<String> = original
            .iter()
            .chain(&atomic)
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        Err(DataError::Data(format!(
            "{}: no MovieLens files; expected either {} (GroupLens) or {} (RecBole). Missing: {}. \
             Run `cargo xtask fetch {}` or pass `--from` with your download.",
            dir.display(),
            release.original_files().join(", "),
            release.atomic_files().join(", "),
            missing.join(", "),
            match release {
                Release::OneM => "ml-1m",
                Release::HundredK => "ml-100k",
            }
        )))
    }
}

/// Ratings being collected, with the user and item rows they join to.
struct Interactions {
    user_id: ColumnBuilder,
    movie_id: ColumnBuilder,
    user_rows: Vec<Option<u32>>,
    item_rows: Vec<Option<u32>>,
    rating: Vec<f64>,
    timestamp: Vec<i64>,
}

impl Interactions {
    fn new() -> Self {
        Interactions {
            user_id: ColumnBuilder::default(),
            movie_id: ColumnBuilder::default(),
            user_rows: Vec::new(),
            item_rows: Vec::new(),
            rating: Vec::new(),
            timestamp: Vec::new(),
        }
    }

    /// Adds one rating given as `[user, item, rating, timestamp]`.
    fn push(
        &mut self,
        path: &Path,
        line: u64,
        users: &KeyedTable,
        items: &KeyedTable,
        [user, item, rating, timestamp]: [&str; 4],
    ) -> Result<()> {
        let user_row = users.row(user).ok_or_else(|| {
            DataError::parse(
                path,
                line,
                format!("user {user:?} is not in the users file"),
            )
        })?;
        let item_row = items.row(item).ok_or_else(|| {
            DataError::parse(
                path,
                line,
                format!("movie {item:?} is not in the movies file"),
            )
        })?;
        self.rating
            .push(parse_rating(path, line, "rating", rating, MOVIELENS_STARS)?);
        self.timestamp
            .push(parse_seconds(path, line, "timestamp", timestamp)?);
        self.user_id.push(user);
        self.movie_id.push(item);
        self.user_rows.push(Some(user_row));
        self.item_rows.push(Some(item_row));
        Ok(())
    }

    /// The table, or an error naming `path` when it held no rating.
    fn finish(self, path: &Path, users: KeyedTable, items: KeyedTable) -> Result<RawTable> {
        if self.rating.is_empty() {
            return Err(no_rows(path));
        }
        let mut columns = vec![("user_id".to_owned(), self.user_id.finish())];
        for (name, column) in users.into_columns() {
            columns.push((name, column.gather(&self.user_rows)));
        }
        columns.push(("movie_id".to_owned(), self.movie_id.finish()));
        for (name, column) in items.into_columns() {
            columns.push((name, column.gather(&self.item_rows)));
        }
        Ok(RawTable {
            columns,
            rating: self.rating,
            timestamp: Some(self.timestamp),
            notes: Vec::new(),
        })
    }
}

fn insert_unique(
    table: &mut KeyedTable,
    path: &Path,
    line: u64,
    key: &str,
    values: &[&str],
) -> Result<()> {
    if table.insert(key, values) {
        Ok(())
    } else {
        Err(DataError::parse(
            path,
            line,
            format!("duplicate id {key:?}"),
        ))
    }
}

fn read_ml1m_original(paths: &[PathBuf; 3]) -> Result<RawTable> {
    let [ratings_path, users_path, movies_path] = paths;
    let mut users = KeyedTable::new(&USER_COLUMNS);
    let text = read_text(users_path, Encoding::Latin1)?;
    for (line_no, line) in numbered_lines(&text) {
        let f = split_exact(users_path, line_no, line, "::", 5)?;
        insert_unique(
            &mut users,
            users_path,
            line_no,
            f[0],
            &[f[1], f[2], f[3], f[4]],
        )?;
    }
    let mut movies = KeyedTable::new(&ITEM_COLUMNS);
    let text = read_text(movies_path, Encoding::Latin1)?;
    for (line_no, line) in numbered_lines(&text) {
        let parsed = line.split_once("::").and_then(|(id, rest)| {
            rest.rsplit_once("::")
                .map(|(title, genres)| (id, title, genres))
        });
        let Some((id, title, genres)) = parsed else {
            return Err(DataError::parse(
                movies_path,
                line_no,
                "expected 3 fields MovieID::Title::Genres",
            ));
        };
        insert_unique(&mut movies, movies_path, line_no, id, &[title, genres])?;
    }
    read_ratings(ratings_path, "::", users, movies)
}

fn read_ml100k_original(paths: &[PathBuf; 3]) -> Result<RawTable> {
    let [ratings_path, users_path, movies_path] = paths;
    let mut users = KeyedTable::new(&USER_COLUMNS);
    let text = read_text(users_path, Encoding::Latin1)?;
    for (line_no, line) in numbered_lines(&text) {
        let f = split_exact(users_path, line_no, line, "|", 5)?;
        // u.user: user id | age | gender | occupation | zip code
        insert_unique(
            &mut users,
            users_path,
            line_no,
            f[0],
            &[f[2], f[1], f[3], f[4]],
        )?;
    }
    let mut movies = KeyedTable::new(&ITEM_COLUMNS);
    let text = read_text(movies_path, Encoding::Latin1)?;
    for (line_no, line) in numbered_lines(&text) {
        let f = split_exact(movies_path, line_no, line, "|", 5 + ML100K_GENRES.len())?;
        let mut genres = Vec::new();
        for (flag, name) in f[5..].iter().zip(ML100K_GENRES) {
            match *flag {
                "1" => genres.push(name),
                "0" => {}
                other => {
                    return Err(DataError::parse(
                        movies_path,
                        line_no,
                        format!("genre flag {name} is {other:?}, expected 0 or 1"),
                    ));
                }
            }
        }
        insert_unique(
            &mut movies,
            movies_path,
            line_no,
            f[0],
            &[f[1], &genres.join("|")],
        )?;
    }
    read_ratings(ratings_path, "\t", users, movies)
}

/// Reads a GroupLens ratings file (`user, item, rating, timestamp` separated by `sep`).
fn read_ratings(path: &Path, sep: &str, users: KeyedTable, movies: KeyedTable) -> Result<RawTable> {
    let mut inter = Interactions::new();
    let text = read_text(path, Encoding::Latin1)?;
    for (line_no, line) in numbered_lines(&text) {
        let f = split_exact(path, line_no, line, sep, 4)?;
        inter.push(path, line_no, &users, &movies, [f[0], f[1], f[2], f[3]])?;
    }
    inter.finish(path, users, movies)
}

fn read_atomic(paths: &[PathBuf; 3], release: Release) -> Result<RawTable> {
    let [inter_path, user_path, item_path] = paths;
    // ML-1M's user ids are written `1m_<UserID>`; strip the prefix to match GroupLens ids.
    fn user_key(raw: &str) -> &str {
        raw.strip_prefix("1m_").unwrap_or(raw)
    }

    let file = AtomicFile::open(user_path)?;
    let cols = file.columns(&["user_id", "gender", "age", "occupation", "zip_code"])?;
    let mut users = KeyedTable::new(&USER_COLUMNS);
    file.for_each_row(|line, f| {
        let values = [
            f[cols[1]],
            canonical_code(f[cols[2]]),
            canonical_code(f[cols[3]]),
            f[cols[4]],
        ];
        insert_unique(&mut users, user_path, line, user_key(f[cols[0]]), &values)
    })?;

    let file = AtomicFile::open(item_path)?;
    let genre_column = match release {
        Release::OneM => "genre",
        Release::HundredK => "class",
    };
    let cols = file.columns(&["item_id", "movie_title", "release_year", genre_column])?;
    let mut movies = KeyedTable::new(&ITEM_COLUMNS);
    file.for_each_row(|line, f| {
        let title = match release {
            // ML-1M's item id is already the GroupLens title with its year.
            Release::OneM => f[cols[0]].to_owned(),
            Release::HundredK => {
                let year = canonical_code(f[cols[2]]);
                if year.parse::<u32>().is_ok() {
                    format!("{} ({year})", f[cols[1]])
                } else {
                    f[cols[1]].to_owned()
                }
            }
        };
        let genres = f[cols[3]].split_whitespace().collect::<Vec<_>>().join("|");
        insert_unique(&mut movies, item_path, line, f[cols[0]], &[&title, &genres])
    })?;

    let file = AtomicFile::open(inter_path)?;
    let cols = file.columns(&["user_id", "item_id", "rating", "timestamp"])?;
    let mut inter = Interactions::new();
    file.for_each_row(|line, f| {
        inter.push(
            inter_path,
            line,
            &users,
            &movies,
            [user_key(f[cols[0]]), f[cols[1]], f[cols[2]], f[cols[3]]],
        )
    })?;
    inter.finish(inter_path, users, movies)
}
