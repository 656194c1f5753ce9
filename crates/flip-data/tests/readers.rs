//! Every reader on the synthetic fixtures, format by format.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::{datasets, fixture};
use flip_data::readers::{bookcrossing, custom, goodreads, movielens};
use flip_data::table::RawTable;
use flip_data::text::Encoding;

fn values(t: &RawTable, column: &str) -> Vec<String> {
    let c = t
        .column(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    (0..t.len()).map(|r| c.value(r).to_owned()).collect()
}

#[test]
fn movielens_1m_original_and_atomic_agree() {
    let original = movielens::read(
        fixture("ml-1m/fixtures/original").path(),
        movielens::Release::OneM,
    )
    .unwrap();
    let atomic = movielens::read(
        fixture("ml-1m/fixtures/atomic").path(),
        movielens::Release::OneM,
    )
    .unwrap();
    assert_eq!(original.len(), 30);
    assert_eq!(original.rating, atomic.rating);
    assert_eq!(original.timestamp, atomic.timestamp);
    for column in [
        "user_id",
        "gender",
        "age",
        "occupation",
        "zip",
        "title",
        "genres",
    ] {
        assert_eq!(
            values(&original, column),
            values(&atomic, column),
            "{column}"
        );
    }
    // The RecBole copy has titles where GroupLens has numbers.
    assert_eq!(values(&original, "movie_id")[0], "1");
    assert_eq!(values(&atomic, "movie_id")[0], "Rust Story (1995)");
    // Latin-1 decoded, genres joined with |.
    let titles = values(&original, "title");
    assert!(titles.contains(&"Café Lumière (2003)".to_owned()));
    assert_eq!(
        values(&original, "genres")[0],
        "Animation|Children's|Comedy"
    );
    assert_eq!(values(&original, "age")[1], "56");
    assert_eq!(
        values(&atomic, "user_id")[0],
        "1",
        "the 1m_ prefix is removed"
    );
}

#[test]
fn movielens_100k_original_and_atomic_agree() {
    let original = movielens::read(
        fixture("ml-100k/fixtures/original").path(),
        movielens::Release::HundredK,
    )
    .unwrap();
    let atomic = movielens::read(
        fixture("ml-100k/fixtures/atomic").path(),
        movielens::Release::HundredK,
    )
    .unwrap();
    assert_eq!(original.len(), 30);
    for column in [
        "user_id",
        "gender",
        "age",
        "occupation",
        "zip",
        "movie_id",
        "title",
        "genres",
    ] {
        assert_eq!(
            values(&original, column),
            values(&atomic, column),
            "{column}"
        );
    }
    assert_eq!(
        values(&original, "genres")[0],
        "Animation|Children's|Comedy"
    );
    assert_eq!(values(&original, "occupation")[0], "technician");
}

#[test]
fn bookcrossing_quirks() {
    let dir = fixture("bookcrossing/fixtures");
    let t = bookcrossing::read(dir.path(), false).unwrap();
    // 21 ratings, one of which points to an ISBN missing from BX-Books.csv.
    assert_eq!(t.len(), 20);
    assert!(
        t.notes[0].starts_with("1 ratings point to an ISBN missing"),
        "{:?}",
        t.notes
    );
    let titles = values(&t, "title");
    assert!(
        titles.contains(&"The \"Borrow\" Checker".to_owned()),
        "escaped quotes"
    );
    assert!(
        titles.contains(&"Clara;Cargo".to_owned()),
        "; inside quotes"
    );
    assert!(titles.contains(&"Décisions".to_owned()), "Latin-1");
    assert!(
        values(&t, "publisher").contains(&"Henry Holt & Company".to_owned()),
        "&amp;"
    );
    let isbns = values(&t, "isbn");
    assert!(
        isbns.contains(&"034545104X".to_owned()),
        "lower-case x is joined to the book"
    );
    let row_user1 = values(&t, "user_id").iter().position(|u| u == "1").unwrap();
    assert_eq!(values(&t, "age")[row_user1], "", "NULL age is missing");
    let locations = values(&t, "location");
    assert!(
        locations.contains(&"cernusco s , milan, italy".to_owned()),
        "line break inside a quoted field"
    );
    assert!(locations.contains(&"auck;and, n/a, new zealand".to_owned()));
    assert!(locations.contains(&"m\"nchen, bayern, germany".to_owned()));
    assert!(t.timestamp.is_none());
    let kept = bookcrossing::read(dir.path(), true).unwrap();
    assert_eq!(kept.len(), 21);
}

#[test]
fn goodreads_plain_and_gzipped() {
    let plain = fixture("goodreads/fixtures");
    let t = goodreads::read(plain.path()).unwrap();
    assert_eq!(t.len(), 24);
    assert_eq!(t.columns.len(), 15, "the paper's 15 fields");
    let row = values(&t, "book_id")
        .iter()
        .position(|b| b == "101")
        .unwrap();
    assert_eq!(values(&t, "title")[row], "Synthetic Book 1");
    assert_eq!(
        values(&t, "genre")[row],
        "history, historical fiction, biography",
        "most votes"
    );
    assert_eq!(values(&t, "author_name")[row], "Bo Ferris");
    assert_eq!(values(&t, "media_type")[row], "book");
    assert_eq!(values(&t, "is_ebook")[row], "true");
    assert_eq!(values(&t, "publisher")[row], "Ferris & Sons");
    // "Tue Aug 01 13:55:02 -0700 2017" is 20:55:02 UTC.
    let times = t.timestamp.as_ref().unwrap();
    assert_eq!(times[0], 1_501_620_902);

    let gz = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(plain.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = format!("{}.gz", path.file_name().unwrap().to_str().unwrap());
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(gz.path().join(name)).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&std::fs::read(&path).unwrap()).unwrap();
        enc.finish().unwrap();
    }
    let zipped = goodreads::read(gz.path()).unwrap();
    assert_eq!(zipped.rating, t.rating);
    assert_eq!(values(&zipped, "author_name"), values(&t, "author_name"));
}

#[test]
fn custom_csv_and_parquet_agree() {
    let csv_path = datasets().join("example-clicks/clicks.csv");
    let cols = custom::CustomColumns {
        target: Some("clicked"),
        time: Some("time"),
        categorical: vec!["user", "device", "hour"],
    };
    let csv = custom::read_csv(&csv_path, b',', Encoding::Utf8, &cols).unwrap();
    assert_eq!(csv.len(), 120);
    assert_eq!(csv.column_names(), vec!["user", "device", "hour"]);

    // The same rows as Parquet, with typed columns (integers, a timestamp).
    use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampSecondArray};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clicks.parquet");
    let user: Vec<String> = values(&csv, "user");
    let device: Vec<String> = values(&csv, "device");
    let hour: Vec<i64> = values(&csv, "hour")
        .iter()
        .map(|h| h.parse().unwrap())
        .collect();
    let clicked: Vec<i64> = csv.rating.iter().map(|&r| r as i64).collect();
    let time = csv.timestamp.clone().unwrap();
    let batch = arrow::array::RecordBatch::try_from_iter(vec![
        ("user", Arc::new(StringArray::from(user)) as ArrayRef),
        ("device", Arc::new(StringArray::from(device)) as ArrayRef),
        ("hour", Arc::new(Int64Array::from(hour)) as ArrayRef),
        ("clicked", Arc::new(Int64Array::from(clicked)) as ArrayRef),
        (
            "time",
            Arc::new(TimestampSecondArray::from(time)) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let pq = custom::read_parquet(&path, &cols).unwrap();
    assert_eq!(pq.rating, csv.rating);
    assert_eq!(pq.timestamp, csv.timestamp);
    for c in ["user", "device", "hour"] {
        assert_eq!(values(&pq, c), values(&csv, c), "{c}");
    }
}
