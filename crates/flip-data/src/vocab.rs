//! Vocabularies: every (field, value) pair gets a global id in one index space shared by all
//! fields, with reserved PAD, OOV and MASK ids per field that no real value can take.
//!
//! Layout of field `f` with `n_f` kept values, starting at `offset_f`:
//! `offset_f + 0` PAD, `offset_f + 1` OOV, `offset_f + 2` MASK, then the values from
//! `offset_f + 3`, most frequent in train first (ties by value). `offset_{f+1} = offset_f + 3 + n_f`.

use ahash::AHashMap;
use serde::{Deserialize, Serialize};

/// Local id of a field's padding entry.
pub const PAD: u32 = 0;
/// Local id of a field's out-of-vocabulary entry (unseen or rare values).
pub const OOV: u32 = 1;
/// Local id of a field's mask entry (masked tabular modelling).
pub const MASK: u32 = 2;
/// Number of reserved ids at the start of every field.
pub const RESERVED: u32 = 3;

/// The vocabulary of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldVocab {
    /// Field name.
    pub name: String,
    /// Global id of the field's PAD entry; its other ids follow.
    pub offset: u32,
    /// Kept values; `values[i]` has global id `offset + RESERVED + i`.
    pub values: Vec<String>,
    #[serde(skip)]
    index: AHashMap<String, u32>,
}

impl FieldVocab {
    /// Builds a field's vocabulary from `(value, train count)` pairs; values seen fewer than
    /// `min_count` times are left out (they map to OOV).
    pub fn build(
        name: &str,
        offset: u32,
        counts: impl IntoIterator<Item = (String, u64)>,
        min_count: u64,
    ) -> Self {
        let mut kept: Vec<(String, u64)> = counts
            .into_iter()
            .filter(|(_, c)| *c >= min_count.max(1))
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Self::from_values(name, offset, kept.into_iter().map(|(v, _)| v).collect())
    }

    /// A vocabulary with the given values in id order.
    pub fn from_values(name: &str, offset: u32, values: Vec<String>) -> Self {
        let index = values
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), RESERVED + i as u32))
            .collect();
        FieldVocab {
            name: name.to_owned(),
            offset,
            values,
            index,
        }
    }

    /// Number of ids the field occupies, reserved ones included.
    pub fn size(&self) -> u32 {
        RESERVED + self.values.len() as u32
    }

    /// Global id of `value`, or the field's OOV id.
    pub fn id(&self, value: &str) -> u32 {
        self.offset + self.index.get(value).copied().unwrap_or(OOV)
    }

    /// Global id of the PAD entry.
    pub fn pad_id(&self) -> u32 {
        self.offset + PAD
    }

    /// Global id of the OOV entry.
    pub fn oov_id(&self) -> u32 {
        self.offset + OOV
    }

    /// Global id of the MASK entry.
    pub fn mask_id(&self) -> u32 {
        self.offset + MASK
    }

    /// The value of a global id of this field, `None` for reserved ids and other fields.
    pub fn value(&self, id: u32) -> Option<&str> {
        let local = id.checked_sub(self.offset + RESERVED)? as usize;
        self.values.get(local).map(String::as_str)
    }
}

/// All fields' vocabularies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    /// One per field, in field order, with increasing offsets.
    pub fields: Vec<FieldVocab>,
}

impl Vocab {
    /// Total number of global ids (the embedding table size).
    pub fn size(&self) -> u32 {
        self.fields.last().map_or(0, |f| f.offset + f.size())
    }

    /// True for the reserved (PAD/OOV/MASK) ids of any field.
    pub fn is_reserved(&self, id: u32) -> bool {
        self.fields
            .iter()
            .any(|f| id >= f.offset && id < f.offset + RESERVED)
    }

    /// Builds field vocabularies one after another, each starting where the previous ends.
    pub fn build(fields: impl IntoIterator<Item = (String, Vec<(String, u64)>, u64)>) -> Self {
        let mut offset = 0;
        let mut built = Vec::new();
        for (name, counts, min_count) in fields {
            let field = FieldVocab::build(&name, offset, counts, min_count);
            offset += field.size();
            built.push(field);
        }
        Vocab { fields: built }
    }

    /// Rebuilds the lookup tables after deserializing.
    pub fn reindex(self) -> Self {
        Vocab {
            fields: self
                .fields
                .into_iter()
                .map(|f| FieldVocab::from_values(&f.name, f.offset, f.values))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(v, c)| (v.to_string(), *c)).collect()
    }

    #[test]
    fn ids_follow_the_layout() {
        let vocab = Vocab::build([
            ("gender".to_string(), counts(&[("M", 5), ("F", 7)]), 1),
            (
                "zip".to_string(),
                counts(&[("b", 1), ("a", 1), ("c", 3), ("rare", 1)]),
                1,
            ),
        ]);
        let gender = &vocab.fields[0];
        assert_eq!(
            (gender.pad_id(), gender.oov_id(), gender.mask_id()),
            (0, 1, 2)
        );
        assert_eq!(gender.id("F"), 3, "most frequent first");
        assert_eq!(gender.id("M"), 4);
        assert_eq!(gender.id("X"), 1, "unseen values are OOV");
        let zip = &vocab.fields[1];
        assert_eq!(zip.offset, 5);
        assert_eq!(zip.id("c"), 8);
        assert_eq!(zip.id("a"), 9, "ties ordered by value");
        assert_eq!(zip.value(9), Some("a"));
        assert_eq!(zip.value(6), None, "reserved");
        assert_eq!(vocab.size(), 5 + 3 + 4);
        assert!(vocab.is_reserved(7) && !vocab.is_reserved(8));
    }

    #[test]
    fn min_count_sends_rare_values_to_oov() {
        let vocab = Vocab::build([("zip".to_string(), counts(&[("a", 2), ("b", 1)]), 2)]);
        assert_eq!(vocab.fields[0].id("a"), 3);
        assert_eq!(vocab.fields[0].id("b"), OOV);
        assert_eq!(vocab.size(), 4);
    }

    #[test]
    fn no_real_value_takes_a_reserved_id() {
        let vocab = Vocab::build([("f".to_string(), counts(&[("<pad>", 1), ("", 1)]), 1)]);
        for v in ["<pad>", ""] {
            assert!(!vocab.is_reserved(vocab.fields[0].id(v)));
        }
    }

    #[test]
    fn reindex_restores_lookups() {
        let vocab = Vocab::build([("f".to_string(), counts(&[("a", 1)]), 1)]);
        let json = serde_json::to_string(&vocab).unwrap();
        let back: Vocab = serde_json::from_str::<Vocab>(&json).unwrap().reindex();
        assert_eq!(back.fields[0].id("a"), 3);
    }
}
