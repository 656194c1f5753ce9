//! Encoding new rows (a CSV or Parquet file to score) with a prepared dataset's recipe,
//! vocabularies and tokenizer, exactly as its training rows were: the recipe's reading options
//! (a CSV source's delimiter and encoding), canonical codes (`18.0` is `18`), unseen values
//! taking their field's OOV id (counted per field), prompts rendered with the same template and
//! tokenized the same way.

use std::path::Path;

use crate::dataset::PreparedDataset;
use crate::error::{DataError, IoContext, Result};
use crate::prompt::PromptEncoder;
use crate::readers::custom::{CustomColumns, read_csv, read_parquet};
use crate::recipe::{LoadedRecipe, Recipe, SourceFormat};
use crate::store::SplitData;
use crate::table::RawTable;
use crate::text::{Encoding, decode};
use crate::tokenize::PromptTokenizer;
use crate::vocab::OOV;

/// New rows encoded for scoring.
#[derive(Debug, Clone)]
pub struct EncodedRows {
    /// The rows; labels are 0 (unknown) and `source_rows` the 0-based row of the input.
    pub data: SplitData,
    /// Per field, in the recipe's order: its name and how many rows took its OOV id (a value
    /// not seen in training, or seen there fewer than `min_count` times).
    pub oov: Vec<(String, usize)>,
}

/// The file kinds an input can be.
enum InputKind {
    Csv { delimiter: u8, encoding: Encoding },
    Parquet,
}

/// How `input` is read: by its extension, a CSV with the recipe's delimiter and encoding when
/// the recipe's source is a CSV (`,` and UTF-8 otherwise).
fn input_kind(recipe: &Recipe, input: &Path) -> Result<InputKind> {
    match input.extension().and_then(|e| e.to_str()) {
        Some("parquet") => Ok(InputKind::Parquet),
        Some("csv") => {
            let csv_source = recipe.source.format == SourceFormat::Csv;
            let delimiter = recipe
                .source
                .delimiter
                .as_deref()
                .filter(|_| csv_source)
                .map_or(b',', |d| d.as_bytes()[0]);
            let encoding = recipe
                .source
                .encoding
                .filter(|_| csv_source)
                .unwrap_or_default();
            Ok(InputKind::Csv {
                delimiter,
                encoding,
            })
        }
        _ => Err(DataError::format(
            input,
            "expected a .csv (with a header) or .parquet file",
        )),
    }
}

/// Reads the columns `columns` of `input` (CSV or Parquet, see [`encode_rows`]) as text, in
/// file order, codes canonical.
pub fn read_input(dataset: &PreparedDataset, input: &Path, columns: &[&str]) -> Result<RawTable> {
    let cols = CustomColumns {
        target: None,
        time: None,
        categorical: columns.to_vec(),
    };
    match input_kind(&dataset.meta().recipe, input)? {
        InputKind::Parquet => read_parquet(input, &cols),
        InputKind::Csv {
            delimiter,
            encoding,
        } => read_csv(input, delimiter, encoding, &cols),
    }
}

/// The column names of `input`, in file order.
pub fn input_columns(dataset: &PreparedDataset, input: &Path) -> Result<Vec<String>> {
    match input_kind(&dataset.meta().recipe, input)? {
        InputKind::Parquet => {
            let file = std::fs::File::open(input).at(input)?;
            let builder =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| {
                        DataError::format(input, format!("not a readable Parquet file: {e}"))
                    })?;
            Ok(builder
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect())
        }
        InputKind::Csv {
            delimiter,
            encoding,
        } => {
            let text = decode(input, std::fs::read(input).at(input)?, encoding)?;
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .from_reader(text.as_bytes());
            let header = reader
                .headers()
                .map_err(|e| DataError::format(input, format!("unreadable header: {e}")))?;
            Ok(header.iter().map(|h| h.trim().to_owned()).collect())
        }
    }
}

/// Reads `input` (`.csv` with a header, or `.parquet`) whose columns include every column the
/// recipe's fields use, and encodes its rows.
pub fn encode_rows(
    dataset: &PreparedDataset,
    tokenizer: &PromptTokenizer,
    input: &Path,
) -> Result<EncodedRows> {
    let meta = dataset.meta();
    let recipe = LoadedRecipe::new(meta.recipe.clone(), &dataset.dir().join("meta.json"))?;
    let r = &recipe.recipe;
    let columns: Vec<&str> = r.fields.iter().map(|f| f.column.as_str()).collect();
    let table = read_input(dataset, input, &columns)?;
    let vocab = dataset.vocab()?;
    let mut texts: Vec<Vec<String>> = Vec::with_capacity(r.fields.len());
    let mut text_ids: Vec<Vec<u32>> = Vec::with_capacity(r.fields.len());
    let mut ids_by_field: Vec<Vec<u32>> = Vec::with_capacity(r.fields.len());
    let mut oov = Vec::with_capacity(r.fields.len());
    for ((field, (_, column)), fv) in r.fields.iter().zip(&table.columns).zip(&vocab.fields) {
        // One text per dictionary entry of the input column.
        let mut field_texts = Vec::with_capacity(column.dict.len());
        let mut field_ids = Vec::with_capacity(column.dict.len());
        for (code, raw) in column.dict.iter().enumerate() {
            let key = field.key(raw);
            field_ids.push(fv.id(key));
            field_texts.push(field.text(key).map_err(|m| {
                let row = column.codes.iter().position(|&c| c as usize == code);
                DataError::format(
                    input,
                    format!(
                        "row {} (counted from 1 after the header), column `{}`: {m}",
                        row.map_or(0, |r| r + 1),
                        field.column
                    ),
                )
            })?);
        }
        text_ids.push(column.codes.clone());
        let ids: Vec<u32> = column
            .codes
            .iter()
            .map(|&c| field_ids[c as usize])
            .collect();
        let unseen = ids.iter().filter(|&&id| id == fv.offset + OOV).count();
        oov.push((field.name.clone(), unseen));
        ids_by_field.push(ids);
        texts.push(field_texts);
    }
    let encoder = PromptEncoder::new(tokenizer, &recipe.template, r.max_len, texts)?;
    let mut data = SplitData {
        num_fields: r.fields.len(),
        token_offsets: vec![0],
        ..SplitData::default()
    };
    for row in 0..table.len() {
        let row_texts: Vec<u32> = text_ids.iter().map(|codes| codes[row]).collect();
        let prompt = encoder.encode(&row_texts)?;
        data.ids.extend(ids_by_field.iter().map(|ids| ids[row]));
        data.labels.push(0);
        data.tokens.extend(&prompt.tokens);
        data.token_fields.extend(&prompt.fields);
        data.token_offsets.push(data.tokens.len());
        data.source_rows.push(row as u32);
    }
    Ok(EncodedRows { data, oov })
}
