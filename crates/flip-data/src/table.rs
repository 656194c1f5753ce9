//! The in-memory form every reader produces: one row per interaction, categorical columns stored
//! as codes into a dictionary of distinct strings (so a million rows of eight fields cost 32 MB,
//! and per-value work such as verbalizing or tokenizing runs once per distinct value).

use ahash::AHashMap;

/// A categorical column: `codes[row]` indexes `dict`. The empty string means "missing".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Column {
    /// One code per row.
    pub codes: Vec<u32>,
    /// The distinct values; a value may be unused after rows were filtered.
    pub dict: Vec<String>,
}

impl Column {
    /// The value of row `row`.
    pub fn value(&self, row: usize) -> &str {
        &self.dict[self.codes[row] as usize]
    }

    /// A column for other rows: `rows[i]` is the row of `self` that row `i` takes its value from,
    /// or `None` for a missing value (the empty string).
    pub fn gather(&self, rows: &[Option<u32>]) -> Column {
        let mut dict = self.dict.clone();
        let missing = match dict.iter().position(|v| v.is_empty()) {
            Some(i) => i as u32,
            None => {
                dict.push(String::new());
                (dict.len() - 1) as u32
            }
        };
        let codes = rows
            .iter()
            .map(|row| match row {
                Some(r) => self.codes[*r as usize],
                None => missing,
            })
            .collect();
        Column { codes, dict }
    }
}

/// Builds a [`Column`] value by value, interning repeated strings.
#[derive(Debug, Default)]
pub struct ColumnBuilder {
    index: AHashMap<String, u32>,
    column: Column,
}

impl ColumnBuilder {
    /// Appends one row's value.
    pub fn push(&mut self, value: &str) {
        let code = self.intern(value);
        self.column.codes.push(code);
    }

    /// The code of `value`, adding it to the dictionary if new (no row is appended).
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&code) = self.index.get(value) {
            return code;
        }
        let code = self.column.dict.len() as u32;
        self.column.dict.push(value.to_owned());
        self.index.insert(value.to_owned(), code);
        code
    }

    /// The finished column.
    pub fn finish(self) -> Column {
        self.column
    }
}

/// A table whose rows are looked up by a key (a users or items file), used to join attributes
/// onto interactions.
#[derive(Debug, Default)]
pub struct KeyedTable {
    rows: AHashMap<String, u32>,
    columns: Vec<(String, ColumnBuilder)>,
}

impl KeyedTable {
    /// An empty table with the given attribute column names.
    pub fn new(names: &[&str]) -> Self {
        KeyedTable {
            rows: AHashMap::new(),
            columns: names
                .iter()
                .map(|n| (n.to_string(), ColumnBuilder::default()))
                .collect(),
        }
    }

    /// Adds the row of `key` with one value per attribute column (in the order given to `new`).
    /// Returns false (and adds nothing) if `key` is already present.
    pub fn insert(&mut self, key: &str, values: &[&str]) -> bool {
        debug_assert_eq!(values.len(), self.columns.len());
        if self.rows.contains_key(key) {
            return false;
        }
        self.rows.insert(key.to_owned(), self.rows.len() as u32);
        for ((_, column), value) in self.columns.iter_mut().zip(values) {
            column.push(value);
        }
        true
    }

    /// The row of `key`, if present.
    pub fn row(&self, key: &str) -> Option<u32> {
        self.rows.get(key).copied()
    }

    /// Attribute columns, ready to be gathered onto interaction rows.
    pub fn into_columns(self) -> Vec<(String, Column)> {
        self.columns
            .into_iter()
            .map(|(name, builder)| (name, builder.finish()))
            .collect()
    }
}

/// Interactions with their joined attributes: what every reader returns.
#[derive(Debug, Clone, Default)]
pub struct RawTable {
    /// Named categorical columns, all of length `len()`.
    pub columns: Vec<(String, Column)>,
    /// The number the label rule looks at (a rating, or a 0/1 click), one per row.
    pub rating: Vec<f64>,
    /// Seconds since the Unix epoch, one per row, when the source has time.
    pub timestamp: Option<Vec<i64>>,
    /// What the reader dropped or filled in, for the preparation report.
    pub notes: Vec<String>,
}

impl RawTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rating.len()
    }

    /// True when the table has no row.
    pub fn is_empty(&self) -> bool {
        self.rating.is_empty()
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    /// Names of all columns, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_interns_values() {
        let mut b = ColumnBuilder::default();
        for v in ["a", "b", "a", "c", "b"] {
            b.push(v);
        }
        let c = b.finish();
        assert_eq!(c.dict, vec!["a", "b", "c"]);
        assert_eq!(c.codes, vec![0, 1, 0, 2, 1]);
        assert_eq!(c.value(3), "c");
    }

    #[test]
    fn gather_joins_and_marks_missing_rows_empty() {
        let mut users = KeyedTable::new(&["gender"]);
        assert!(users.insert("u1", &["F"]));
        assert!(users.insert("u2", &["M"]));
        assert!(!users.insert("u1", &["M"]), "duplicate keys are refused");
        let rows: Vec<Option<u32>> = ["u2", "u1", "u9"].iter().map(|k| users.row(k)).collect();
        let gender = &users.into_columns()[0].1;
        let joined = gender.gather(&rows);
        let values: Vec<&str> = (0..3).map(|r| joined.value(r)).collect();
        assert_eq!(values, vec!["M", "F", ""]);
    }
}
