//! The Parquet files of a prepared dataset, one per split.
//!
//! Columns: `source_row` (u32, the row's position in the reader's output), `label` (u8, 0/1),
//! `rating` (f32, the number the label came from), `timestamp` (i64 seconds, null without time),
//! `ids` (fixed-size list of M i32 global feature ids), `tokens` (list of u32 token ids, special
//! tokens included, unpadded), `token_field` (list of i8, the field of each token or -1) and
//! `prompt` (the sentence).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, AsArray, FixedSizeListArray, Float32Array, Int8Array, Int32Array, Int64Array,
    ListArray, RecordBatch, StringArray, UInt8Array, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    DataType, Field, Int8Type, Int32Type, Schema, SchemaRef, UInt8Type, UInt32Type,
};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{DataError, IoContext, Result};
use crate::prompt::EncodedPrompt;

/// Rows of one split, ready to be written.
#[derive(Debug, Default)]
pub struct RowChunk {
    /// Position of each row in the reader's output.
    pub source_rows: Vec<u32>,
    /// 0 or 1.
    pub labels: Vec<u8>,
    /// The number each label came from.
    pub ratings: Vec<f32>,
    /// Seconds since the epoch, when the source has time.
    pub timestamps: Option<Vec<i64>>,
    /// Global feature ids, row-major `[rows, num_fields]`.
    pub ids: Vec<i32>,
    /// The encoded prompts.
    pub prompts: Vec<EncodedPrompt>,
}

fn schema(num_fields: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_row", DataType::UInt32, false),
        Field::new("label", DataType::UInt8, false),
        Field::new("rating", DataType::Float32, false),
        Field::new("timestamp", DataType::Int64, true),
        Field::new(
            "ids",
            DataType::FixedSizeList(
                Arc::new(Field::new_list_field(DataType::Int32, false)),
                num_fields as i32,
            ),
            false,
        ),
        Field::new(
            "tokens",
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt32, false))),
            false,
        ),
        Field::new(
            "token_field",
            DataType::List(Arc::new(Field::new_list_field(DataType::Int8, false))),
            false,
        ),
        Field::new("prompt", DataType::Utf8, false),
    ]))
}

/// Writes one split file chunk by chunk.
pub struct SplitWriter {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    num_fields: usize,
    path: std::path::PathBuf,
}

impl SplitWriter {
    /// Creates `path` for rows of `num_fields` fields.
    pub fn create(path: &Path, num_fields: usize) -> Result<Self> {
        let file = File::create(path).at(path)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(128 * 1024))
            .build();
        let schema = schema(num_fields);
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| DataError::format(path, format!("cannot start Parquet file: {e}")))?;
        Ok(SplitWriter {
            writer,
            schema,
            num_fields,
            path: path.to_owned(),
        })
    }

    /// Appends rows.
    pub fn write(&mut self, chunk: RowChunk) -> Result<()> {
        let n = chunk.labels.len();
        debug_assert_eq!(chunk.ids.len(), n * self.num_fields);
        let lengths = chunk.prompts.iter().map(|p| p.tokens.len());
        let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
        let tokens: Vec<u32> = chunk
            .prompts
            .iter()
            .flat_map(|p| p.tokens.iter().copied())
            .collect();
        let fields: Vec<i8> = chunk
            .prompts
            .iter()
            .flat_map(|p| p.fields.iter().copied())
            .collect();
        let list = |dt: DataType, values: ArrayRef| {
            ListArray::new(
                Arc::new(Field::new_list_field(dt, false)),
                offsets.clone(),
                values,
                None,
            )
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(chunk.source_rows)),
            Arc::new(UInt8Array::from(chunk.labels)),
            Arc::new(Float32Array::from(chunk.ratings)),
            Arc::new(match chunk.timestamps {
                Some(t) => Int64Array::from(t),
                None => Int64Array::new_null(n),
            }),
            Arc::new(FixedSizeListArray::new(
                Arc::new(Field::new_list_field(DataType::Int32, false)),
                self.num_fields as i32,
                Arc::new(Int32Array::from(chunk.ids)),
                None,
            )),
            Arc::new(list(DataType::UInt32, Arc::new(UInt32Array::from(tokens)))),
            Arc::new(list(DataType::Int8, Arc::new(Int8Array::from(fields)))),
            Arc::new(StringArray::from_iter_values(
                chunk.prompts.iter().map(|p| p.text.as_str()),
            )),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| DataError::format(&self.path, format!("inconsistent rows: {e}")))?;
        self.writer
            .write(&batch)
            .map_err(|e| DataError::format(&self.path, format!("cannot write Parquet: {e}")))
    }

    /// Flushes and closes the file.
    pub fn finish(self) -> Result<()> {
        self.writer
            .close()
            .map(|_| ())
            .map_err(|e| DataError::format(&self.path, format!("cannot finish Parquet file: {e}")))
    }
}

/// One split held in memory for training: flat, cache-friendly arrays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitData {
    /// Fields per row (M).
    pub num_fields: usize,
    /// Global feature ids, row-major `[rows, M]`.
    pub ids: Vec<u32>,
    /// 0 or 1 per row.
    pub labels: Vec<u8>,
    /// Row `r`'s tokens are `tokens[token_offsets[r]..token_offsets[r + 1]]`.
    pub token_offsets: Vec<usize>,
    /// Token ids of all rows, special tokens included.
    pub tokens: Vec<u32>,
    /// Field of each token, or -1.
    pub token_fields: Vec<i8>,
    /// Position of each row in the reader's output.
    pub source_rows: Vec<u32>,
}

impl SplitData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A split holding only `rows` (in that order).
    pub fn subset(&self, rows: &[usize]) -> SplitData {
        let mut out = SplitData {
            num_fields: self.num_fields,
            token_offsets: vec![0],
            ..SplitData::default()
        };
        for &r in rows {
            out.ids.extend_from_slice(self.row_ids(r));
            out.labels.push(self.labels[r]);
            out.tokens.extend_from_slice(self.row_tokens(r));
            out.token_fields.extend_from_slice(self.row_token_fields(r));
            out.token_offsets.push(out.tokens.len());
            out.source_rows.push(self.source_rows[r]);
        }
        out
    }

    /// The ids of row `r` (`[M]`).
    pub fn row_ids(&self, r: usize) -> &[u32] {
        &self.ids[r * self.num_fields..(r + 1) * self.num_fields]
    }

    /// The tokens of row `r`.
    pub fn row_tokens(&self, r: usize) -> &[u32] {
        &self.tokens[self.token_offsets[r]..self.token_offsets[r + 1]]
    }

    /// The token-to-field map of row `r`.
    pub fn row_token_fields(&self, r: usize) -> &[i8] {
        &self.token_fields[self.token_offsets[r]..self.token_offsets[r + 1]]
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::format(
        path,
        format!("not a readable Parquet split (truncated or corrupt? prepare again): {e}"),
    )
}

/// Reads a split file written by [`SplitWriter`]; `num_fields` is checked against the file.
pub fn read_split(path: &Path, num_fields: usize) -> Result<SplitData> {
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(path, e))?;
    let expected = schema(num_fields);
    for name in ["source_row", "label", "ids", "tokens", "token_field"] {
        let want = expected.field_with_name(name).expect("own schema");
        match builder.schema().field_with_name(name) {
            Ok(found) if found.data_type() == want.data_type() => {}
            Ok(found) => {
                return Err(DataError::format(
                    path,
                    format!(
                        "column `{name}` is {} but {} was expected ({num_fields} fields)",
                        found.data_type(),
                        want.data_type()
                    ),
                ));
            }
            Err(_) => {
                return Err(DataError::format(
                    path,
                    format!("no column `{name}`: not a FLIP split file"),
                ));
            }
        }
    }
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let mask = ProjectionMask::columns(
        builder.parquet_schema(),
        ["source_row", "label", "ids", "tokens", "token_field"],
    );
    let reader = builder
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| corrupt(path, e))?;
    let mut data = SplitData {
        num_fields,
        ids: Vec::with_capacity(rows * num_fields),
        labels: Vec::with_capacity(rows),
        token_offsets: vec![0],
        source_rows: Vec::with_capacity(rows),
        ..SplitData::default()
    };
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(path, e))?;
        let column = |name: &str| batch.column_by_name(name).expect("projected");
        data.source_rows
            .extend(column("source_row").as_primitive::<UInt32Type>().values());
        data.labels
            .extend(column("label").as_primitive::<UInt8Type>().values());
        let ids = column("ids").as_fixed_size_list();
        data.ids.extend(
            ids.values()
                .as_primitive::<Int32Type>()
                .values()
                .iter()
                .map(|&v| v as u32),
        );
        let tokens = column("tokens").as_list::<i32>();
        let fields = column("token_field").as_list::<i32>();
        let offsets = tokens.value_offsets();
        let base = *data.token_offsets.last().expect("starts with 0");
        let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
        data.token_offsets
            .extend(offsets[1..].iter().map(|&o| base + o as usize - first));
        data.tokens
            .extend_from_slice(&tokens.values().as_primitive::<UInt32Type>().values()[first..last]);
        data.token_fields
            .extend_from_slice(&fields.values().as_primitive::<Int8Type>().values()[first..last]);
        if offsets != fields.value_offsets() {
            return Err(DataError::format(
                path,
                "tokens and token_field have different lengths",
            ));
        }
    }
    if data.labels.len() != rows {
        return Err(DataError::format(
            path,
            format!("{} rows read, the footer says {rows}", data.labels.len()),
        ));
    }
    Ok(data)
}

/// Reads the prompts of a split file (for inspection and text-only baselines).
pub fn read_prompts(path: &Path) -> Result<Vec<String>> {
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| corrupt(path, e))?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), ["prompt"]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| corrupt(path, e))?;
    let mut prompts = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(path, e))?;
        let column = batch
            .column_by_name("prompt")
            .ok_or_else(|| DataError::format(path, "no column `prompt`"))?;
        prompts.extend(
            column
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or_default().to_owned()),
        );
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> RowChunk {
        let prompt = |text: &str, tokens: Vec<u32>, fields: Vec<i8>| EncodedPrompt {
            text: text.into(),
            tokens,
            fields,
            truncated: false,
            full_len: 0,
        };
        RowChunk {
            source_rows: vec![7, 3],
            labels: vec![1, 0],
            ratings: vec![5.0, 2.0],
            timestamps: Some(vec![100, 200]),
            ids: vec![3, 10, 4, 11],
            prompts: vec![
                prompt("a is x.", vec![2, 9, 9, 3], vec![-1, 0, 1, -1]),
                prompt("b.", vec![2, 8, 3], vec![-1, 0, -1]),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        let mut w = SplitWriter::create(&path, 2).unwrap();
        w.write(chunk()).unwrap();
        w.write(chunk()).unwrap();
        w.finish().unwrap();
        let data = read_split(&path, 2).unwrap();
        assert_eq!(data.len(), 4);
        assert_eq!(data.row_ids(2), &[3, 10]);
        assert_eq!(data.row_tokens(1), &[2, 8, 3]);
        assert_eq!(data.row_token_fields(0), &[-1, 0, 1, -1]);
        assert_eq!(data.row_tokens(3), &[2, 8, 3]);
        assert_eq!(data.labels, vec![1, 0, 1, 0]);
        assert_eq!(data.source_rows, vec![7, 3, 7, 3]);
        assert_eq!(read_prompts(&path).unwrap()[1], "b.");
        let sub = data.subset(&[3, 0]);
        assert_eq!(
            (sub.len(), sub.row_tokens(0), sub.row_ids(1)),
            (2, &[2, 8, 3][..], &[3, 10][..])
        );
    }

    #[test]
    fn wrong_field_count_and_truncated_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.parquet");
        let mut w = SplitWriter::create(&path, 2).unwrap();
        w.write(chunk()).unwrap();
        w.finish().unwrap();
        let err = read_split(&path, 3).unwrap_err().to_string();
        assert!(err.contains("column `ids` is FixedSizeList"), "{err}");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = read_split(&path, 2).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: not a readable Parquet split", path.display())),
            "{err}"
        );
    }
}
