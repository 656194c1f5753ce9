//! Encoding new rows (a CSV or Parquet file to score) with a prepared dataset's recipe,
//! vocabularies and tokenizer, exactly as its training rows were: unseen values take their
//! field's OOV id, prompts are rendered with the same template and tokenized the same way.

use std::path::Path;

use crate::dataset::PreparedDataset;
use crate::error::{DataError, Result};
use crate::prompt::PromptEncoder;
use crate::readers::custom::{CustomColumns, read_csv, read_parquet};
use crate::recipe::LoadedRecipe;
use crate::store::SplitData;
use crate::text::Encoding;
use crate::tokenize::PromptTokenizer;

/// Reads `input` (`.csv` with a header, or `.parquet`) whose columns include every column the
/// recipe's fields use, and encodes its rows. Labels are 0 (unknown).
pub fn encode_rows(
    dataset: &PreparedDataset,
    tokenizer: &PromptTokenizer,
    input: &Path,
) -> Result<SplitData> {
    let meta = dataset.meta();
    let recipe = LoadedRecipe::new(meta.recipe.clone(), &dataset.dir().join("meta.json"))?;
    let r = &recipe.recipe;
    let cols = CustomColumns {
        target: None,
        time: None,
        categorical: r.fields.iter().map(|f| f.column.as_str()).collect(),
    };
    let table = match input.extension().and_then(|e| e.to_str()) {
        Some("parquet") => read_parquet(input, &cols)?,
        Some("csv") => read_csv(input, b',', Encoding::Utf8, &cols)?,
        _ => return Err(DataError::format(input, "expected a .csv or .parquet file")),
    };
    let vocab = dataset.vocab()?;
    let mut texts: Vec<Vec<String>> = Vec::with_capacity(r.fields.len());
    let mut text_ids: Vec<Vec<u32>> = Vec::with_capacity(r.fields.len());
    let mut ids_by_field: Vec<Vec<u32>> = Vec::with_capacity(r.fields.len());
    for ((field, (_, column)), fv) in r.fields.iter().zip(&table.columns).zip(&vocab.fields) {
        // One text per dictionary entry of the input column.
        let mut field_texts = Vec::with_capacity(column.dict.len());
        let mut field_ids = Vec::with_capacity(column.dict.len());
        for raw in &column.dict {
            let key = field.key(raw);
            field_ids.push(fv.id(key));
            field_texts.push(field.text(key).map_err(|m| DataError::format(input, m))?);
        }
        text_ids.push(column.codes.clone());
        ids_by_field.push(
            column
                .codes
                .iter()
                .map(|&c| field_ids[c as usize])
                .collect(),
        );
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
    Ok(data)
}
