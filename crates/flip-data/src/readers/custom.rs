//! A user's own data: one flat CSV or Parquet file, one row per impression or rating.
//!
//! The recipe names the numeric column the label rule reads (`target`), an optional time column
//! (`time`: Unix seconds, or an RFC 3339 / `YYYY-MM-DD` date in text, or a Parquet timestamp or
//! date), and the columns its fields use; nothing else is kept. Categorical values are read as
//! text with integral floats written as integers (`18.0` is `18`, see
//! [`canonical_code`]), so a typed Parquet column and a text column give the same codes.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{DataError, IoContext, Result};
use crate::readers::no_rows;
use crate::readers::numbers::{canonical_code, parse_number};
use crate::readers::quotes::{Quoting, unclosed_quote};
use crate::table::{ColumnBuilder, RawTable};
use crate::text::{Encoding, LineCounter, decode};

/// What a custom source needs besides its path.
#[derive(Debug, Clone)]
pub struct CustomColumns<'a> {
    /// The numeric column the label rule reads (none when scoring unlabelled rows: every
    /// rating is then 0).
    pub target: Option<&'a str>,
    /// The optional time column.
    pub time: Option<&'a str>,
    /// The categorical columns used by fields.
    pub categorical: Vec<&'a str>,
}

impl CustomColumns<'_> {
    /// The table of the columns read, in the order of `categorical`.
    fn table(
        &self,
        builders: Vec<ColumnBuilder>,
        rating: Vec<f64>,
        timestamp: Option<Vec<i64>>,
    ) -> RawTable {
        RawTable {
            columns: self
                .categorical
                .iter()
                .map(|c| c.to_string())
                .zip(builders.into_iter().map(ColumnBuilder::finish))
                .collect(),
            rating,
            timestamp,
            notes: Vec::new(),
        }
    }
}

/// Reads a delimited text file with a header line.
pub fn read_csv(
    path: &Path,
    delimiter: u8,
    encoding: Encoding,
    cols: &CustomColumns<'_>,
) -> Result<RawTable> {
    let bytes = std::fs::read(path).at(path)?;
    let text = decode(path, bytes, encoding)?;
    if let Some(line) = unclosed_quote(text.as_bytes(), Quoting::rfc4180(delimiter)) {
        return Err(DataError::parse(
            path,
            line,
            "a quoted field opened on this line is never closed (it would swallow the rest of \
             the file)",
        ));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| DataError::format(path, format!("unreadable header: {e}")))?
        .clone();
    if header.is_empty() {
        return Err(DataError::format(path, "empty file (no header line)"));
    }
    let index = |name: &str| -> Result<usize> {
        let mut found = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim() == name)
            .map(|(i, _)| i);
        match (found.next(), found.next()) {
            (Some(i), None) => Ok(i),
            (Some(first), Some(second)) => Err(DataError::parse(
                path,
                1,
                format!(
                    "column `{name}` appears twice in the header (columns {} and {})",
                    first + 1,
                    second + 1
                ),
            )),
            (None, _) => Err(DataError::format(
                path,
                format!(
                    "no column `{name}` in the header (found: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    };
    let target = cols.target.map(index).transpose()?;
    let time = cols.time.map(index).transpose()?;
    let categorical: Vec<usize> = cols
        .categorical
        .iter()
        .map(|c| index(c))
        .collect::<Result<_>>()?;

    let mut builders: Vec<ColumnBuilder> = cols
        .categorical
        .iter()
        .map(|_| ColumnBuilder::default())
        .collect();
    let mut rating = Vec::new();
    let mut timestamp = Vec::new();
    let mut lines = LineCounter::new(text.as_bytes());
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
            DataError::parse(path, line, format!("unreadable CSV record: {e}"))
        })?;
        let line = record
            .position()
            .map_or(0, |p| lines.line_at(p.byte() as usize));
        if record.len() != header.len() {
            return Err(DataError::parse(
                path,
                line,
                format!(
                    "expected {} fields as in the header, found {}",
                    header.len(),
                    record.len()
                ),
            ));
        }
        let used = target.iter().chain(&time).chain(&categorical);
        if let Some(&c) = used.clone().find(|&&c| record[c].contains(['\n', '\r'])) {
            let last = line + record[c].matches('\n').count() as u64;
            return Err(DataError::parse(
                path,
                line,
                format!(
                    "the value of `{}` holds a line break (the record runs over lines {line} to \
                     {last}): a field value cannot span lines; is a quote closed in the wrong \
                     place?",
                    header[c].trim()
                ),
            ));
        }
        rating.push(match (target, cols.target) {
            (Some(t), Some(name)) => parse_number(path, line, name, &record[t])?,
            _ => 0.0,
        });
        if let Some(t) = time {
            timestamp.push(parse_time(&record[t]).ok_or_else(|| {
                DataError::parse(
                    path,
                    line,
                    format!(
                        "{} {:?} is not a time",
                        cols.time.unwrap_or_default(),
                        &record[t]
                    ),
                )
            })?);
        }
        for (builder, &c) in builders.iter_mut().zip(&categorical) {
            builder.push(canonical_code(&record[c]));
        }
    }
    if rating.is_empty() {
        return Err(no_rows(path));
    }
    Ok(cols.table(builders, rating, time.map(|_| timestamp)))
}

/// Parses Unix seconds, an RFC 3339 timestamp or a `YYYY-MM-DD` date.
fn parse_time(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<i64>() {
        return Some(secs);
    }
    if let Ok(secs) = raw.parse::<f64>() {
        return secs.is_finite().then_some(secs as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.timestamp());
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

/// Reads a Parquet file; categorical columns of any type are read as text.
pub fn read_parquet(path: &Path, cols: &CustomColumns<'_>) -> Result<RawTable> {
    let file = std::fs::File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| DataError::format(path, format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    let find = |name: &str| -> Result<()> {
        match schema.fields().iter().filter(|f| f.name() == name).count() {
            1 => Ok(()),
            0 => Err(DataError::format(
                path,
                format!(
                    "no column `{name}` (found: {})",
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            n => Err(DataError::format(
                path,
                format!("column `{name}` appears {n} times in the schema"),
            )),
        }
    };
    if let Some(t) = cols.target {
        find(t)?;
    }
    if let Some(t) = cols.time {
        find(t)?;
    }
    for c in &cols.categorical {
        find(c)?;
    }
    let reader = builder
        .build()
        .map_err(|e| DataError::format(path, format!("not a readable Parquet file: {e}")))?;
    let mut builders: Vec<ColumnBuilder> = cols
        .categorical
        .iter()
        .map(|_| ColumnBuilder::default())
        .collect();
    let mut rating = Vec::new();
    let mut timestamp = Vec::new();
    let mut row0 = 0u64;
    for batch in reader {
        let batch =
            batch.map_err(|e| DataError::format(path, format!("corrupt Parquet data: {e}")))?;
        let column = |name: &str| -> ArrayRef {
            Arc::clone(batch.column_by_name(name).expect("checked above"))
        };
        match cols.target {
            Some(name) => {
                let target = cast(path, &column(name), &DataType::Float64)?;
                let target = target.as_primitive::<arrow::datatypes::Float64Type>();
                for i in 0..target.len() {
                    if target.is_null(i) || !target.value(i).is_finite() {
                        return Err(DataError::parse(
                            path,
                            row0 + i as u64 + 1,
                            format!("{name} is missing or not a number (row)"),
                        ));
                    }
                    rating.push(target.value(i));
                }
            }
            None => rating.extend(std::iter::repeat_n(0.0, batch.num_rows())),
        }
        if let Some(t) = cols.time {
            let seconds = time_seconds(path, &column(t))?;
            for (i, s) in seconds.into_iter().enumerate() {
                timestamp.push(s.ok_or_else(|| {
                    DataError::parse(
                        path,
                        row0 + i as u64 + 1,
                        format!("{t} is missing or not a time (row)"),
                    )
                })?);
            }
        }
        for (builder, name) in builders.iter_mut().zip(&cols.categorical) {
            let values = cast(path, &column(name), &DataType::Utf8)?;
            let values = values.as_string::<i32>();
            for i in 0..values.len() {
                builder.push(if values.is_null(i) {
                    ""
                } else {
                    canonical_code(values.value(i))
                });
            }
        }
        row0 += batch.num_rows() as u64;
    }
    if rating.is_empty() {
        return Err(no_rows(path));
    }
    Ok(cols.table(builders, rating, cols.time.map(|_| timestamp)))
}

fn cast(path: &Path, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    arrow::compute::cast(array, to).map_err(|e| {
        DataError::format(
            path,
            format!("cannot read a {} column as {to}: {e}", array.data_type()),
        )
    })
}

/// Seconds since the epoch for each value of a timestamp, date, integer or text column.
fn time_seconds(path: &Path, array: &ArrayRef) -> Result<Vec<Option<i64>>> {
    let per_second = match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => Some(1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => Some(1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => Some(1_000_000),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Some(1_000_000_000),
        _ => None,
    };
    if let Some(div) = per_second {
        let ints = cast(path, array, &DataType::Int64)?;
        let ints = ints.as_primitive::<Int64Type>();
        return Ok((0..ints.len())
            .map(|i| (!ints.is_null(i)).then(|| ints.value(i).div_euclid(div)))
            .collect());
    }
    if array.data_type() == &DataType::Date32 {
        let days = array.as_primitive::<Date32Type>();
        return Ok((0..days.len())
            .map(|i| (!days.is_null(i)).then(|| i64::from(days.value(i)) * 86_400))
            .collect());
    }
    let texts = cast(path, array, &DataType::Utf8)?;
    let texts = texts.as_string::<i32>();
    Ok((0..texts.len())
        .map(|i| {
            if texts.is_null(i) {
                None
            } else {
                parse_time(texts.value(i))
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_several_notations() {
        assert_eq!(parse_time("978300760"), Some(978_300_760));
        assert_eq!(parse_time("1970-01-02"), Some(86_400));
        assert_eq!(parse_time("1970-01-01T00:01:00+00:00"), Some(60));
        assert_eq!(parse_time("yesterday"), None);
    }
}
