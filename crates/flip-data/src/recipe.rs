//! Recipes: one TOML file per dataset saying where the rows come from, which fields the model
//! sees (in order) and how each becomes words, how labels are made, how rows are split, and the
//! prompt template. See `docs/datasets.md` for the format, with an example for your own data.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, IoContext, Result};
use crate::template::Template;
use crate::text::Encoding;

/// Largest number of fields: token-to-field indices are stored as `i8`.
pub const MAX_FIELDS: usize = 127;

/// A recipe as written in TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Short name, used for output folders (`ml-1m`).
    pub name: String,
    /// One line for humans.
    #[serde(default)]
    pub description: String,
    /// Longest prompt in tokens, special tokens included (default 100; GoodReads uses 180).
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// Where the rows come from.
    pub source: Source,
    /// How the label is made from the source's number.
    pub label: LabelRule,
    /// How rows are divided into train, validation and test.
    #[serde(default)]
    pub split: SplitRule,
    /// The prompt: text with `{field}` placeholders (`{{` and `}}` for literal braces).
    pub template: String,
    /// The fields, in the order of the ID vector.
    pub fields: Vec<Field>,
}

fn default_max_len() -> usize {
    100
}

/// The readers `flip-data` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// GroupLens `ratings.dat`/`users.dat`/`movies.dat`, or RecBole `ml-1m.inter`/`.user`/`.item`.
    #[serde(rename = "movielens-1m")]
    Movielens1m,
    /// GroupLens `u.data`/`u.user`/`u.item`, or RecBole `ml-100k.inter`/`.user`/`.item`.
    #[serde(rename = "movielens-100k")]
    Movielens100k,
    /// `BX-Book-Ratings.csv`, `BX-Books.csv`, `BX-Users.csv`.
    Bookcrossing,
    /// UCSD GoodReads JSON lines.
    Goodreads,
    /// One delimited text file with a header.
    Csv,
    /// One Parquet file.
    Parquet,
}

/// `[source]`: the reader and its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Which reader.
    pub format: SourceFormat,
    /// Name of the `cargo xtask fetch` entry that provides the raw files (`ml-1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<String>,
    /// A file (csv, parquet) or directory, relative to the recipe file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// csv: the field separator, one character (default `,`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// csv: `utf-8` (default) or `latin-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// csv, parquet: the numeric column the label rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// csv, parquet: the time column used by the temporal split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// bookcrossing: keep ratings whose ISBN is not in `BX-Books.csv` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_ratings_without_book: Option<bool>,
}

/// `[label]`: `positive = "> 3"` makes rows whose number is above 3 positive; `drop = "== 0"`
/// removes rows before anything else (BookCrossing's implicit ratings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRule {
    /// Rows matching this are positive (label 1), the others negative.
    pub positive: Comparison,
    /// Rows matching this are removed first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<Comparison>,
}

/// A comparison with a constant, written `"> 3"`, `">= 5"`, `"== 0"`, `"!= 0"`, `"< 2"`, `"<= 2"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Comparison {
    op: Op,
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Comparison {
    /// Whether `x` satisfies the comparison.
    pub fn matches(&self, x: f64) -> bool {
        match self.op {
            Op::Gt => x > self.value,
            Op::Ge => x >= self.value,
            Op::Lt => x < self.value,
            Op::Le => x <= self.value,
            Op::Eq => x == self.value,
            Op::Ne => x != self.value,
        }
    }
}

impl FromStr for Comparison {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .find_map(|(sym, op)| s.strip_prefix(sym).map(|rest| (*op, rest)))
        .ok_or_else(|| format!("{s:?} is not a comparison like \"> 3\" or \">= 5\""))?;
        let value = rest
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?}: {:?} is not a number", rest.trim()))?;
        Ok(Comparison { op, value })
    }
}

impl TryFrom<String> for Comparison {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Comparison> for String {
    fn from(c: Comparison) -> String {
        c.to_string()
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        };
        write!(f, "{op} {}", self.value)
    }
}

/// How rows are divided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// Sort by time (stable), then cut train/valid/test by `ratios`. Needs timestamps.
    #[default]
    Temporal,
    /// A seeded random permutation, then cut by `ratios`.
    Random,
    /// The official FLIP code's protocol: the first 90% (in time order when the source has time,
    /// file order otherwise) is train, the last 10% is test, and validation is the test split
    /// (model selection on test, as the official scripts do). For like-for-like comparison only.
    Paper,
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "temporal" => Ok(Protocol::Temporal),
            "random" => Ok(Protocol::Random),
            "paper" => Ok(Protocol::Paper),
            other => Err(format!(
                "unknown protocol {other:?}; use temporal, random or paper"
            )),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Temporal => "temporal",
            Protocol::Random => "random",
            Protocol::Paper => "paper",
        })
    }
}

/// `[split]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRule {
    /// `temporal` (default), `random` or `paper`.
    #[serde(default)]
    pub protocol: Protocol,
    /// Train, validation and test shares (default 0.8, 0.1, 0.1); ignored by `paper`.
    #[serde(default = "default_ratios")]
    pub ratios: [f64; 3],
    /// Seed of the random protocol (default 2012, the official code's seed).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_ratios() -> [f64; 3] {
    [0.8, 0.1, 0.1]
}

fn default_seed() -> u64 {
    2012
}

impl Default for SplitRule {
    fn default() -> Self {
        SplitRule {
            protocol: Protocol::default(),
            ratios: default_ratios(),
            seed: default_seed(),
        }
    }
}

/// The role a field plays, for statistics (users, items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The field identifies the user.
    User,
    /// The field identifies the item.
    Item,
}

/// What to do with a value that `words` does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Unmapped {
    /// Use the value itself as its text (default).
    #[default]
    Keep,
    /// Refuse the dataset, naming the value.
    Error,
}

/// `[[fields]]`: one categorical feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Name used by the template (`{gender}`) and in reports.
    pub name: String,
    /// The reader's column it takes its value from.
    pub column: String,
    /// `user` or `item`, for statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Keep only the first of several values separated by this string (`"|"` for genres).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_of: Option<String>,
    /// Text for given values (`{ F = "female", M = "male" }`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub words: BTreeMap<String, String>,
    /// Values missing from `words`: `keep` (default) or `error`.
    #[serde(default)]
    pub unmapped: Unmapped,
    /// Text of an empty (missing) value (default `unknown`).
    #[serde(default = "default_missing")]
    pub missing: String,
    /// Values seen fewer times than this in train become the field's OOV id (default 1).
    #[serde(default = "default_min_count")]
    pub min_count: u64,
}

fn default_missing() -> String {
    "unknown".to_owned()
}

fn default_min_count() -> u64 {
    1
}

impl Field {
    /// The ID key of a raw value: trimmed, and reduced to its first part when `first_of` is set.
    pub fn key<'a>(&self, raw: &'a str) -> &'a str {
        let raw = raw.trim();
        match &self.first_of {
            Some(sep) => raw.split(sep.as_str()).next().unwrap_or("").trim(),
            None => raw,
        }
    }

    /// The prompt text of an ID key, or an error message when `unmapped = "error"` and the key
    /// has no entry in `words`.
    pub fn text(&self, key: &str) -> std::result::Result<String, String> {
        if key.is_empty() {
            return Ok(self.missing.clone());
        }
        match (self.words.get(key), self.unmapped) {
            (Some(text), _) => Ok(text.clone()),
            (None, Unmapped::Keep) => Ok(key.to_owned()),
            (None, Unmapped::Error) => Err(format!(
                "field `{}`: value {key:?} has no entry in `words`",
                self.name
            )),
        }
    }
}

/// A recipe read from a file, with its location and parsed template.
#[derive(Debug, Clone)]
pub struct LoadedRecipe {
    /// The recipe.
    pub recipe: Recipe,
    /// The file it was read from.
    pub path: PathBuf,
    /// The parsed prompt template.
    pub template: Template,
}

impl LoadedRecipe {
    /// Reads and checks a recipe file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        Self::from_toml(&text, path)
    }

    /// Parses and checks recipe text; `path` is used for messages and relative paths.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self> {
        let recipe: Recipe = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map_or(0, |s| text[..s.start].matches('\n').count() + 1);
            DataError::parse(path, line as u64, e.message().to_owned())
        })?;
        Self::new(recipe, path)
    }

    /// Checks a recipe built in code.
    pub fn new(recipe: Recipe, path: &Path) -> Result<Self> {
        let err = |key: &str, message: String| DataError::recipe(path, key, message);
        if recipe.fields.is_empty() {
            return Err(err("fields", "a recipe needs at least one field".into()));
        }
        if recipe.fields.len() > MAX_FIELDS {
            return Err(err(
                "fields",
                format!(
                    "{} fields; at most {MAX_FIELDS} are supported",
                    recipe.fields.len()
                ),
            ));
        }
        for (i, field) in recipe.fields.iter().enumerate() {
            if recipe.fields[..i].iter().any(|f| f.name == field.name) {
                return Err(err(
                    &format!("fields[{i}].name"),
                    format!("field `{}` is defined twice", field.name),
                ));
            }
            if field.first_of.as_deref() == Some("") {
                return Err(err(
                    &format!("fields[{i}].first_of"),
                    "the separator is empty".into(),
                ));
            }
        }
        if recipe.max_len < 8 {
            return Err(err(
                "max_len",
                format!("{} tokens is too short for a prompt", recipe.max_len),
            ));
        }
        let ratios = recipe.split.ratios;
        if ratios.iter().any(|r| r.is_nan() || *r <= 0.0)
            || (ratios.iter().sum::<f64>() - 1.0).abs() > 1e-6
        {
            return Err(err(
                "split.ratios",
                format!("{ratios:?} must be three positive shares summing to 1"),
            ));
        }
        check_source(&recipe.source, path)?;
        let names: Vec<&str> = recipe.fields.iter().map(|f| f.name.as_str()).collect();
        let template = Template::parse(&recipe.template, &names).map_err(|m| err("template", m))?;
        Ok(LoadedRecipe {
            recipe,
            path: path.to_owned(),
            template,
        })
    }

    /// The directory relative paths are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// sha256 of the recipe's canonical JSON form (independent of TOML formatting and comments).
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(&self.recipe).expect("a recipe serializes");
        hex::encode(Sha256::digest(&json))
    }
}

fn check_source(source: &Source, path: &Path) -> Result<()> {
    let err = |key: &str, message: &str| {
        Err(DataError::recipe(
            path,
            format!("source.{key}"),
            message.to_owned(),
        ))
    };
    let tabular = matches!(source.format, SourceFormat::Csv | SourceFormat::Parquet);
    if tabular {
        if source.path.is_none() {
            return err("path", "csv and parquet sources need the path of the file");
        }
        if source.target.is_none() {
            return err(
                "target",
                "csv and parquet sources need the numeric column the label rule reads",
            );
        }
    } else {
        if source.path.is_none() && source.fetch.is_none() {
            return err(
                "fetch",
                "say where the raw files are: `fetch = \"<name>\"` or `path = \"<dir>\"`",
            );
        }
        if source.target.is_some() {
            return err(
                "target",
                "only csv and parquet sources take a target column",
            );
        }
        if source.time.is_some() {
            return err("time", "only csv and parquet sources take a time column");
        }
    }
    if source.format != SourceFormat::Csv {
        if source.delimiter.is_some() {
            return err("delimiter", "only csv sources take a delimiter");
        }
        if source.encoding.is_some() {
            return err("encoding", "only csv sources take an encoding");
        }
    }
    if let Some(d) = &source.delimiter
        && (d.chars().count() != 1 || !d.is_ascii())
    {
        return err("delimiter", "the delimiter must be one ASCII character");
    }
    if source.keep_ratings_without_book.is_some() && source.format != SourceFormat::Bookcrossing {
        return err(
            "keep_ratings_without_book",
            "only bookcrossing sources take this option",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "tiny"
template = "user is {user}. color is {color}."
[source]
format = "csv"
path = "rows.csv"
target = "clicked"
[label]
positive = ">= 1"
[[fields]]
name = "user"
column = "user_id"
[[fields]]
name = "color"
column = "color"
words = { r = "red" }
"#;

    fn load(text: &str) -> Result<LoadedRecipe> {
        LoadedRecipe::from_toml(text, Path::new("recipe.toml"))
    }

    #[test]
    fn minimal_recipe_gets_defaults() {
        let r = load(MINIMAL).unwrap();
        assert_eq!(r.recipe.max_len, 100);
        assert_eq!(r.recipe.split, SplitRule::default());
        assert_eq!(r.recipe.fields[1].missing, "unknown");
        assert!(r.recipe.label.positive.matches(1.0));
        assert!(!r.recipe.label.positive.matches(0.0));
    }

    #[test]
    fn hash_ignores_formatting_but_not_content() {
        let a = load(MINIMAL).unwrap().hash();
        let b = load(&format!("# a comment\n{MINIMAL}")).unwrap().hash();
        let c = load(&MINIMAL.replace(">= 1", "> 1")).unwrap().hash();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load(&MINIMAL.replace("column = \"color\"", "column = \"color\"\ncolour = 1"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("recipe.toml:16: unknown field `colour`"),
            "{err}"
        );
    }

    #[test]
    fn unknown_template_key_is_named() {
        let err = load(&MINIMAL.replace("{color}", "{colour}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("recipe.toml: `template`: unknown field `colour`"),
            "{err}"
        );
    }

    #[test]
    fn options_of_other_formats_are_refused() {
        let text = MINIMAL.replace(
            "format = \"csv\"",
            "format = \"parquet\"\ndelimiter = \";\"",
        );
        let err = load(&text).unwrap_err().to_string();
        assert_eq!(
            err,
            "recipe.toml: `source.delimiter`: only csv sources take a delimiter"
        );
    }

    #[test]
    fn comparisons_parse_and_print() {
        let c: Comparison = ">= 5".parse().unwrap();
        assert!(c.matches(5.0) && !c.matches(4.9));
        assert_eq!(c.to_string(), ">= 5");
        assert!("=> 5".parse::<Comparison>().is_err());
        assert!("> five".parse::<Comparison>().is_err());
    }

    #[test]
    fn keys_and_texts() {
        let r = load(MINIMAL).unwrap();
        let mut genre = r.recipe.fields[1].clone();
        genre.first_of = Some("|".into());
        assert_eq!(genre.key(" r|g "), "r");
        assert_eq!(genre.text("r").unwrap(), "red");
        assert_eq!(genre.text("g").unwrap(), "g");
        assert_eq!(genre.text("").unwrap(), "unknown");
        genre.unmapped = Unmapped::Error;
        assert!(
            genre
                .text("g")
                .unwrap_err()
                .contains("value \"g\" has no entry")
        );
    }
}
