//! `prepare`: raw files to a prepared dataset folder (Parquet per split, `vocab.json`,
//! `meta.json`), written to a temporary folder and renamed into place, so a folder with a
//! `meta.json` is always complete. A folder whose hash matches the request is reused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::dataset::{META_FILE, PreparedDataset, VOCAB_FILE};
use crate::error::{DataError, IoContext, Result};
use crate::meta::{
    FORMAT_VERSION, FieldMeta, Meta, RawFile, SplitMeta, Splits, Stats, TokenizerMeta,
};
use crate::prompt::{EncodedPrompt, PromptEncoder};
use crate::recipe::{LoadedRecipe, Protocol, Role, Source, SourceFormat};
use crate::split::split_rows;
use crate::store::{RowChunk, SplitWriter};
use crate::table::RawTable;
use crate::tokenize::PromptTokenizer;
use crate::vocab::{OOV, Vocab};

/// Rows encoded and written at a time.
const CHUNK_ROWS: usize = 64 * 1024;
/// Rows whose prompts are encoded both ways at start-up (see [`PromptEncoder::self_check`]).
const SELF_CHECK_ROWS: usize = 512;

/// Where `prepare` reads and writes.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// The source's directory (or file, for csv/parquet).
    pub source: PathBuf,
    /// The output folder.
    pub out_dir: PathBuf,
    /// Overrides the recipe's split protocol.
    pub protocol: Option<Protocol>,
    /// Rebuild even when a matching preparation exists.
    pub force: bool,
}

/// What `prepare` did.
#[derive(Debug)]
pub struct Prepared {
    /// The dataset.
    pub dataset: PreparedDataset,
    /// True when an existing folder with the same hash was reused.
    pub reused: bool,
}

/// The recipe with the protocol override applied.
pub fn effective_recipe(recipe: &LoadedRecipe, protocol: Option<Protocol>) -> LoadedRecipe {
    let mut effective = recipe.clone();
    if let Some(p) = protocol {
        effective.recipe.split.protocol = p;
    }
    effective
}

/// The hash a preparation of `recipe` with `tokenizer` from `raw_files` gets.
pub fn preparation_hash(
    recipe: &LoadedRecipe,
    tokenizer_hash: &str,
    raw_files: &[RawFile],
) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT_VERSION.to_le_bytes());
    h.update(recipe.hash().as_bytes());
    h.update(tokenizer_hash.as_bytes());
    for file in raw_files {
        h.update(file.name.as_bytes());
        h.update([0]);
        h.update(file.sha256.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The raw files the reader of `source` reads at `location` (those present), with their sizes
/// and sha256s, sorted by name.
pub fn raw_files(source: &Source, location: &Path) -> Result<Vec<RawFile>> {
    let paths = crate::readers::files_read(source, location)?;
    let mut files = paths
        .iter()
        .map(|path| {
            let (sha256, bytes) = crate::fetch::sha256_file(path)?;
            Ok(RawFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes,
                sha256,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Default location of a source's files: the recipe's `path` (relative to the recipe file), else
/// the fetch cache entry.
pub fn source_location(recipe: &LoadedRecipe, home: &crate::home::FlipHome) -> PathBuf {
    match (&recipe.recipe.source.path, &recipe.recipe.source.fetch) {
        (Some(path), _) => recipe.dir().join(path),
        (None, Some(fetch)) => home.raw(fetch),
        (None, None) => unreachable!("checked when the recipe was loaded"),
    }
}

/// Prepares a dataset.
pub fn prepare(
    recipe: &LoadedRecipe,
    tokenizer: &PromptTokenizer,
    options: &PrepareOptions,
) -> Result<Prepared> {
    let started = Instant::now();
    let recipe = effective_recipe(recipe, options.protocol);
    let raw = raw_files(&recipe.recipe.source, &options.source)?;
    let hash = preparation_hash(&recipe, tokenizer.hash(), &raw);
    if !options.force
        && let Ok(existing) = PreparedDataset::open(&options.out_dir)
    {
        if existing.meta().hash == hash {
            tracing::info!(
                "{} is up to date (hash {}), reusing it",
                options.out_dir.display(),
                &hash[..12]
            );
            return Ok(Prepared {
                dataset: existing,
                reused: true,
            });
        }
        tracing::info!(
            "{} was prepared from other inputs ({}): preparing again",
            options.out_dir.display(),
            what_differs(existing.meta(), &recipe, tokenizer.hash(), &raw)
        );
    }

    let r = &recipe.recipe;
    let columns: Vec<&str> = r.fields.iter().map(|f| f.column.as_str()).collect();
    tracing::info!(
        "reading {} ({:?})",
        options.source.display(),
        r.source.format
    );
    let table = crate::readers::read(&r.source, &options.source, &columns)?;
    let rows_read = table.len();
    tracing::info!(
        "{rows_read} rows read in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut fields = FieldValues::resolve(&recipe, &table)?;
    let (kept, labels) = apply_label_rule(&recipe, &table)?;
    let timestamps: Option<Vec<i64>> = table
        .timestamp
        .as_ref()
        .map(|t| kept.iter().map(|&r| t[r as usize]).collect());
    let split = split_rows(kept.len(), timestamps.as_deref(), &r.split)?;
    // Row positions in the reader's output, per split.
    let to_source = |rows: &[u32]| -> Vec<u32> { rows.iter().map(|&i| kept[i as usize]).collect() };
    let (train_rows, valid_rows, test_rows) = (
        to_source(&split.train),
        to_source(&split.valid),
        to_source(&split.test),
    );
    let labels_of =
        |rows: &[u32]| -> Vec<u8> { rows.iter().map(|&i| labels[i as usize]).collect() };
    let (train_labels, valid_labels, test_labels) = (
        labels_of(&split.train),
        labels_of(&split.valid),
        labels_of(&split.test),
    );

    let vocab = fields.vocab(&recipe, &train_rows);
    let key_ids = fields.global_ids(&vocab);
    let mut feature_counts = vec![0u64; vocab.size() as usize];
    for &row in &train_rows {
        for (f, ids) in key_ids.iter().enumerate() {
            feature_counts[ids[fields.row_keys[f][row as usize] as usize] as usize] += 1;
        }
    }

    let mut encoder = PromptEncoder::new(
        tokenizer,
        &recipe.template,
        r.max_len,
        std::mem::take(&mut fields.texts),
    )?;
    let sample: Vec<Vec<u32>> = train_rows
        .iter()
        .take(SELF_CHECK_ROWS)
        .map(|&row| fields.text_ids(row))
        .collect();
    encoder.self_check(&sample)?;

    let parent = options.out_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).at(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}-",
            options
                .out_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("prepared")
        ))
        .tempdir_in(parent)
        .at(parent)?;

    let total = train_rows.len() + valid_rows.len() + test_rows.len();
    let progress = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} rows, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut token_stats = TokenStats::default();
    let writer = SplitFileWriter {
        dir: tmp.path(),
        table: &table,
        fields: &fields,
        key_ids: &key_ids,
        vocab: &vocab,
        encoder: &encoder,
        progress: &progress,
    };
    let paper = split.valid_is_test();
    let train = writer.write("train", &train_rows, &train_labels, &mut token_stats)?;
    let test = writer.write("test", &test_rows, &test_labels, &mut token_stats)?;
    let valid = if paper {
        test.clone()
    } else {
        writer.write("valid", &valid_rows, &valid_labels, &mut token_stats)?
    };
    progress.finish_and_clear();

    let positives: usize = train.positives + valid.positives * usize::from(!paper) + test.positives;
    let stats = Stats {
        rows_read,
        rows_dropped: rows_read - kept.len(),
        rows: kept.len(),
        users: fields.distinct_by_role(Role::User, &kept),
        items: fields.distinct_by_role(Role::Item, &kept),
        positive_rate: positives as f64 / kept.len() as f64,
        tokens_mean: token_stats.total as f64 / kept.len() as f64,
        tokens_max_untruncated: token_stats.max_untruncated,
        truncated_rows: token_stats.truncated,
    };
    let mut notes = table.notes.clone();
    let unused = recipe.template.unused_fields(r.fields.len());
    if !unused.is_empty() {
        notes.push(format!(
            "fields not in the prompt (ID only): {}",
            unused
                .iter()
                .map(|&f| r.fields[f].name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if stats.truncated_rows > 0 {
        notes.push(format!(
            "{} prompts were longer than {} tokens and were cut",
            stats.truncated_rows, r.max_len
        ));
    }
    let meta = Meta {
        format_version: FORMAT_VERSION,
        name: r.name.clone(),
        hash,
        raw_files: raw,
        recipe_hash: recipe.hash(),
        recipe: r.clone(),
        tokenizer: TokenizerMeta {
            source: tokenizer.source().display().to_string(),
            hash: tokenizer.hash().to_owned(),
            pad_id: tokenizer.pad_id(),
            mask_id: tokenizer.mask_id(),
            prefix: tokenizer.prefix().to_vec(),
            suffix: tokenizer.suffix().to_vec(),
            vocab_size: tokenizer.vocab_size(),
            max_len: r.max_len,
            composed: encoder.composes(),
        },
        fields: vocab
            .fields
            .iter()
            .enumerate()
            .map(|(f, v)| FieldMeta {
                name: v.name.clone(),
                offset: v.offset,
                size: v.size(),
                distinct_values: fields.distinct(f, &kept),
            })
            .collect(),
        vocab_size: vocab.size(),
        feature_counts,
        splits: Splits { train, valid, test },
        stats,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&tmp.path().join(VOCAB_FILE), &vocab)?;
    write_json(&tmp.path().join(META_FILE), &meta)?;
    install(tmp, &options.out_dir)?;
    tracing::info!(
        "prepared {} in {:.1} s",
        options.out_dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Prepared {
        dataset: PreparedDataset::open(&options.out_dir)?,
        reused: false,
    })
}

/// Names what differs between an existing preparation and a request, for the log.
fn what_differs(
    meta: &Meta,
    recipe: &LoadedRecipe,
    tokenizer_hash: &str,
    raw: &[RawFile],
) -> String {
    let mut differs = Vec::new();
    if meta.format_version != FORMAT_VERSION {
        differs.push("format version".to_owned());
    }
    if meta.recipe_hash != recipe.hash() {
        differs.push("recipe".to_owned());
    }
    if meta.tokenizer.hash != tokenizer_hash {
        differs.push("tokenizer".to_owned());
    }
    if meta.raw_files.is_empty() {
        differs.push("its raw files were not recorded (an older version prepared it)".to_owned());
    }
    for file in raw.iter().filter(|_| !meta.raw_files.is_empty()) {
        match meta.raw_files.iter().find(|f| f.name == file.name) {
            Some(old) if old.sha256 == file.sha256 => {}
            Some(_) => differs.push(format!("{} changed", file.name)),
            None => differs.push(format!("{} is new", file.name)),
        }
    }
    for old in &meta.raw_files {
        if !raw.iter().any(|f| f.name == old.name) {
            differs.push(format!("{} is gone", old.name));
        }
    }
    if differs.is_empty() {
        "the preparation hash".to_owned()
    } else {
        differs.join(", ")
    }
}

/// Replaces `out_dir` by the finished temporary folder.
fn install(tmp: tempfile::TempDir, out_dir: &Path) -> Result<()> {
    crate::durable::sync_tree(tmp.path()).at(tmp.path())?;
    let staged = tmp.keep();
    crate::durable::replace_dir(&staged, out_dir).at(out_dir)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let file = std::fs::File::create(path).at(path)?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, value).map_err(|e| DataError::io(path, e.into()))?;
    std::io::Write::flush(&mut w).at(path)
}

/// Removes rows matching the drop rule and computes labels; `kept` lists source rows.
fn apply_label_rule(recipe: &LoadedRecipe, table: &RawTable) -> Result<(Vec<u32>, Vec<u8>)> {
    let rule = &recipe.recipe.label;
    let mut kept = Vec::with_capacity(table.len());
    let mut labels = Vec::with_capacity(table.len());
    for (row, &rating) in table.rating.iter().enumerate() {
        if rule.drop.is_some_and(|d| d.matches(rating)) {
            continue;
        }
        kept.push(row as u32);
        labels.push(u8::from(rule.positive.matches(rating)));
    }
    if kept.is_empty() {
        return Err(DataError::Data(format!(
            "{}: empty dataset after filtering: all {} rows match the drop rule `{}`",
            recipe.path.display(),
            table.len(),
            rule.drop.map(|d| d.to_string()).unwrap_or_default()
        )));
    }
    let positives = labels.iter().filter(|&&l| l == 1).count();
    if positives == 0 || positives == labels.len() {
        tracing::warn!(
            "every kept row is {} under `positive = \"{}\"`: AUC is undefined",
            if positives == 0 {
                "negative"
            } else {
                "positive"
            },
            rule.positive
        );
    }
    Ok((kept, labels))
}

/// The fields' values per source row, as keys (the ID side) and texts (the prompt side).
struct FieldValues {
    /// `keys[f][k]`: the key string with id `k`.
    keys: Vec<Vec<String>>,
    /// `texts[f][k]`: the prompt text of key `k` (text ids equal key ids); handed over to the
    /// prompt encoder.
    texts: Vec<Vec<String>>,
    /// `row_keys[f][row]`: key id of field `f` in each source row.
    row_keys: Vec<Vec<u32>>,
    roles: Vec<Option<Role>>,
}

impl FieldValues {
    fn resolve(recipe: &LoadedRecipe, table: &RawTable) -> Result<Self> {
        let r = &recipe.recipe;
        let mut out = FieldValues {
            keys: Vec::new(),
            texts: Vec::new(),
            row_keys: Vec::new(),
            roles: Vec::new(),
        };
        for (f, field) in r.fields.iter().enumerate() {
            let index = table
                .columns
                .iter()
                .position(|(n, _)| *n == field.column)
                .ok_or_else(|| {
                    DataError::recipe(
                        &recipe.path,
                        format!("fields[{f}].column"),
                        format!(
                            "no column `{}` in a {} source; its columns are: {}",
                            field.column,
                            format_name(r.source.format),
                            table.column_names().join(", ")
                        ),
                    )
                })?;
            let column = &table.columns[index].1;
            let mut key_index: ahash::AHashMap<&str, u32> = ahash::AHashMap::new();
            let mut keys: Vec<String> = Vec::new();
            let code_to_key: Vec<u32> = column
                .dict
                .iter()
                .map(|raw| {
                    let key = field.key(raw);
                    *key_index.entry(key).or_insert_with(|| {
                        keys.push(key.to_owned());
                        (keys.len() - 1) as u32
                    })
                })
                .collect();
            let texts = keys
                .iter()
                .map(|k| {
                    field.text(k).map_err(|m| {
                        DataError::recipe(&recipe.path, format!("fields[{f}].words"), m)
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.row_keys.push(
                column
                    .codes
                    .iter()
                    .map(|&c| code_to_key[c as usize])
                    .collect(),
            );
            out.keys.push(keys);
            out.texts.push(texts);
            out.roles.push(field.role);
        }
        Ok(out)
    }

    /// Key ids of one source row, one per field (also its text ids).
    fn text_ids(&self, row: u32) -> Vec<u32> {
        self.row_keys.iter().map(|k| k[row as usize]).collect()
    }

    /// Vocabularies from the train rows' keys.
    fn vocab(&self, recipe: &LoadedRecipe, train_rows: &[u32]) -> Vocab {
        Vocab::build(recipe.recipe.fields.iter().enumerate().map(|(f, field)| {
            let mut counts = vec![0u64; self.keys[f].len()];
            for &row in train_rows {
                counts[self.row_keys[f][row as usize] as usize] += 1;
            }
            let pairs = self.keys[f]
                .iter()
                .zip(counts)
                .filter(|(_, c)| *c > 0)
                .map(|(k, c)| (k.clone(), c))
                .collect();
            (field.name.clone(), pairs, field.min_count)
        }))
    }

    /// `ids[f][k]`: global id of key `k` of field `f` (OOV for keys not in the vocabulary).
    fn global_ids(&self, vocab: &Vocab) -> Vec<Vec<u32>> {
        self.keys
            .iter()
            .zip(&vocab.fields)
            .map(|(keys, v)| keys.iter().map(|k| v.id(k)).collect())
            .collect()
    }

    fn distinct(&self, f: usize, rows: &[u32]) -> usize {
        let mut seen = vec![false; self.keys[f].len()];
        for &row in rows {
            seen[self.row_keys[f][row as usize] as usize] = true;
        }
        seen.iter().filter(|s| **s).count()
    }

    fn distinct_by_role(&self, role: Role, rows: &[u32]) -> Option<usize> {
        self.roles
            .iter()
            .position(|r| *r == Some(role))
            .map(|f| self.distinct(f, rows))
    }
}

fn format_name(format: SourceFormat) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Default)]
struct TokenStats {
    total: usize,
    max_untruncated: usize,
    truncated: usize,
}

/// Encodes and writes the rows of one split.
struct SplitFileWriter<'a> {
    dir: &'a Path,
    table: &'a RawTable,
    fields: &'a FieldValues,
    key_ids: &'a [Vec<u32>],
    vocab: &'a Vocab,
    encoder: &'a PromptEncoder<'a>,
    progress: &'a ProgressBar,
}

impl SplitFileWriter<'_> {
    fn write(
        &self,
        name: &str,
        rows: &[u32],
        labels: &[u8],
        stats: &mut TokenStats,
    ) -> Result<SplitMeta> {
        self.progress.set_message(name.to_owned());
        let file = format!("{name}.parquet");
        let path = self.dir.join(&file);
        let num_fields = self.key_ids.len();
        let mut writer = SplitWriter::create(&path, num_fields)?;
        let mut oov = vec![0usize; num_fields];
        for (chunk_rows, chunk_labels) in rows.chunks(CHUNK_ROWS).zip(labels.chunks(CHUNK_ROWS)) {
            let encoded: Vec<(Vec<u32>, EncodedPrompt)> = chunk_rows
                .par_iter()
                .map(|&row| {
                    let text_ids = self.fields.text_ids(row);
                    let ids: Vec<u32> = text_ids
                        .iter()
                        .zip(self.key_ids)
                        .map(|(&k, ids)| ids[k as usize])
                        .collect();
                    Ok((ids, self.encoder.encode(&text_ids)?))
                })
                .collect::<Result<_>>()?;
            let mut chunk = RowChunk {
                source_rows: chunk_rows.to_vec(),
                labels: chunk_labels.to_vec(),
                ratings: chunk_rows
                    .iter()
                    .map(|&r| self.table.rating[r as usize] as f32)
                    .collect(),
                timestamps: self
                    .table
                    .timestamp
                    .as_ref()
                    .map(|t| chunk_rows.iter().map(|&r| t[r as usize]).collect()),
                ids: Vec::with_capacity(chunk_rows.len() * num_fields),
                prompts: Vec::with_capacity(chunk_rows.len()),
            };
            for (ids, prompt) in encoded {
                for (f, &id) in ids.iter().enumerate() {
                    oov[f] += usize::from(id == self.vocab.fields[f].offset + OOV);
                }
                chunk.ids.extend(ids.iter().map(|&id| id as i32));
                stats.total += prompt.tokens.len();
                stats.max_untruncated = stats.max_untruncated.max(prompt.full_len);
                stats.truncated += usize::from(prompt.truncated);
                chunk.prompts.push(prompt);
            }
            writer.write(chunk)?;
            self.progress.inc(chunk_rows.len() as u64);
        }
        writer.finish()?;
        let positives = labels.iter().filter(|&&l| l == 1).count();
        let time_range = self.table.timestamp.as_ref().and_then(|t| {
            let times = rows.iter().map(|&r| t[r as usize]);
            Some((times.clone().min()?, times.max()?))
        });
        Ok(SplitMeta {
            file,
            rows: rows.len(),
            positives,
            positive_rate: positives as f64 / rows.len().max(1) as f64,
            time_range,
            oov_share: self
                .vocab
                .fields
                .iter()
                .zip(&oov)
                .map(|(v, &n)| (v.name.clone(), n as f64 / rows.len().max(1) as f64))
                .collect::<BTreeMap<_, _>>(),
        })
    }
}
