//! Turning a row into its prompt: rendered text, token ids and the field each token belongs to.
//!
//! Prompts repeat a few thousand distinct values a million times, so each distinct value text and
//! each template piece is tokenized once and rows are assembled from those pieces. That is exact
//! when the tokenizer splits words at spaces and ASCII punctuation (BERT WordPiece) and the
//! pieces meet at such a character; any other row, and any other tokenizer, is tokenized whole
//! and its tokens are assigned to fields through the tokenizer's offsets. Both paths give the
//! same result (checked on a sample at start-up and in the tests).

use rayon::prelude::*;

use crate::error::Result;
use crate::template::{Part, Span, Template};
use crate::tokenize::PromptTokenizer;

/// Token-to-field index of template words and special tokens.
pub const NO_FIELD: i8 = -1;

/// One encoded prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedPrompt {
    /// The sentence.
    pub text: String,
    /// Token ids including the special tokens, at most `max_len`.
    pub tokens: Vec<u32>,
    /// For each token, the index of the field whose value it spells, or [`NO_FIELD`].
    pub fields: Vec<i8>,
    /// True when the prompt was longer than `max_len` and its end was cut.
    pub truncated: bool,
    /// Tokens the prompt had before truncation, specials included.
    pub full_len: usize,
}

/// A piece of text with its tokens and whether its ends are word boundaries.
#[derive(Debug, Clone)]
struct Piece {
    text: String,
    tokens: Vec<u32>,
    starts_at_boundary: bool,
    ends_at_boundary: bool,
}

impl Piece {
    fn new(text: String, tokens: Vec<u32>) -> Self {
        Piece {
            starts_at_boundary: text.chars().next().is_some_and(is_boundary),
            ends_at_boundary: text.chars().next_back().is_some_and(is_boundary),
            text,
            tokens,
        }
    }
}

/// Characters where BERT's pre-tokenizer always splits.
fn is_boundary(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.is_ascii_punctuation()
}

/// Encodes rows given as one text id per field.
pub struct PromptEncoder<'a> {
    tokenizer: &'a PromptTokenizer,
    template: &'a Template,
    max_len: usize,
    /// Template pieces, aligned with `template.parts()` (empty for field parts).
    parts: Vec<Piece>,
    /// `values[f][t]`: the text with id `t` of field `f`.
    values: Vec<Vec<Piece>>,
    compose: bool,
}

impl<'a> PromptEncoder<'a> {
    /// Prepares the encoder; `texts[f]` lists the distinct texts of field `f`, and rows refer
    /// to them by position. Tokenizes every text once when composition is possible.
    pub fn new(
        tokenizer: &'a PromptTokenizer,
        template: &'a Template,
        max_len: usize,
        texts: Vec<Vec<String>>,
    ) -> Result<Self> {
        let compose = tokenizer.splits_at_boundaries();
        let piece = |text: String| -> Result<Piece> {
            let tokens = if compose {
                tokenizer.encode_plain(&text)?.ids
            } else {
                Vec::new()
            };
            Ok(Piece::new(text, tokens))
        };
        let parts = template
            .parts()
            .iter()
            .map(|p| match p {
                Part::Text(t) => piece(t.clone()),
                Part::Field(_) => Ok(Piece::new(String::new(), Vec::new())),
            })
            .collect::<Result<Vec<_>>>()?;
        let values = texts
            .into_iter()
            .map(|field_texts| {
                field_texts
                    .into_par_iter()
                    .map(piece)
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PromptEncoder {
            tokenizer,
            template,
            max_len,
            parts,
            values,
            compose,
        })
    }

    /// True when rows are assembled from pre-tokenized pieces.
    pub fn composes(&self) -> bool {
        self.compose
    }

    /// Encodes `rows` both ways and switches composition off if any differs (a tokenizer whose
    /// behaviour this module does not foresee). Returns the number of rows that differed.
    pub fn self_check(&mut self, rows: &[Vec<u32>]) -> Result<usize> {
        if !self.compose {
            return Ok(0);
        }
        let mut differing = 0;
        for row in rows {
            if self.encode(row)? != self.encode_whole(row)? {
                differing += 1;
            }
        }
        if differing > 0 {
            tracing::warn!(
                "{differing} of {} sample prompts tokenize differently piece by piece; tokenizing every prompt whole (slower)",
                rows.len()
            );
            self.compose = false;
        }
        Ok(differing)
    }

    /// Encodes one row; `text_ids[f]` indexes the texts of field `f`.
    pub fn encode(&self, text_ids: &[u32]) -> Result<EncodedPrompt> {
        if !self.compose || !self.meets_at_boundaries(text_ids) {
            return self.encode_whole(text_ids);
        }
        let mut text = String::new();
        let mut body = Vec::new();
        let mut fields = Vec::new();
        for (part, piece) in self.template.parts().iter().zip(&self.parts) {
            let (piece, field) = match part {
                Part::Text(_) => (piece, NO_FIELD),
                Part::Field(f) => (&self.values[*f][text_ids[*f] as usize], *f as i8),
            };
            text.push_str(&piece.text);
            body.extend_from_slice(&piece.tokens);
            fields.extend(std::iter::repeat_n(field, piece.tokens.len()));
        }
        Ok(self.finish(text, body, fields))
    }

    /// Encodes one row by tokenizing the whole sentence and mapping offsets to value spans.
    pub fn encode_whole(&self, text_ids: &[u32]) -> Result<EncodedPrompt> {
        let texts: Vec<&str> = self
            .values
            .iter()
            .zip(text_ids)
            .map(|(v, &t)| v[t as usize].text.as_str())
            .collect();
        let mut text = String::new();
        let mut spans: Vec<Span> = Vec::new();
        self.template.render(&texts, &mut text, &mut spans);
        let enc = self.tokenizer.encode_plain(&text)?;
        let fields = enc
            .offsets
            .iter()
            .map(|&(start, _)| {
                spans
                    .iter()
                    .find(|s| s.bytes.contains(&start))
                    .map_or(NO_FIELD, |s| s.field as i8)
            })
            .collect();
        Ok(self.finish(text, enc.ids, fields))
    }

    /// True when every two consecutive non-empty pieces of the row meet at a boundary character.
    fn meets_at_boundaries(&self, text_ids: &[u32]) -> bool {
        let mut previous_end: Option<bool> = None;
        for (part, piece) in self.template.parts().iter().zip(&self.parts) {
            let piece = match part {
                Part::Text(_) => piece,
                Part::Field(f) => &self.values[*f][text_ids[*f] as usize],
            };
            if piece.text.is_empty() {
                continue;
            }
            if previous_end == Some(false) && !piece.starts_at_boundary {
                return false;
            }
            previous_end = Some(piece.ends_at_boundary);
        }
        true
    }

    /// Adds special tokens, cutting the body so that the whole fits in `max_len`.
    fn finish(&self, text: String, mut body: Vec<u32>, mut fields: Vec<i8>) -> EncodedPrompt {
        let (prefix, suffix) = (self.tokenizer.prefix(), self.tokenizer.suffix());
        let room = self.max_len.saturating_sub(prefix.len() + suffix.len());
        let full_len = prefix.len() + body.len() + suffix.len();
        let truncated = body.len() > room;
        body.truncate(room);
        fields.truncate(room);
        let mut tokens = Vec::with_capacity(prefix.len() + body.len() + suffix.len());
        tokens.extend_from_slice(prefix);
        tokens.extend_from_slice(&body);
        tokens.extend_from_slice(suffix);
        let mut all_fields = Vec::with_capacity(tokens.len());
        all_fields.extend(std::iter::repeat_n(NO_FIELD, prefix.len()));
        all_fields.extend_from_slice(&fields);
        all_fields.extend(std::iter::repeat_n(NO_FIELD, suffix.len()));
        EncodedPrompt {
            text,
            tokens,
            fields: all_fields,
            truncated,
            full_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::tests::tiny_vocab_dir;

    fn setup() -> (PromptTokenizer, Template) {
        let dir = tiny_vocab_dir();
        let tk = PromptTokenizer::from_path(dir.path()).unwrap();
        let template = Template::parse(
            "user id is {user}. gender is {gender}. title is {title}. genre is {genre}.",
            &["user", "gender", "title", "genre"],
        )
        .unwrap();
        (tk, template)
    }

    fn texts() -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            s(&["12", "9"]),
            s(&["female", "male"]),
            s(&["Toy Story (1995)", "Rusty's Story"]),
            s(&["Animation", "unknown", "Comedy|Animation"]),
        ]
    }

    #[test]
    fn composed_equals_whole_and_fields_are_right() {
        let (tk, template) = setup();
        let enc = PromptEncoder::new(&tk, &template, 100, texts()).unwrap();
        assert!(enc.composes());
        let row = [1, 0, 0, 0];
        let p = enc.encode(&row).unwrap();
        assert_eq!(p, enc.encode_whole(&row).unwrap());
        assert_eq!(
            p.text,
            "user id is 9. gender is female. title is Toy Story (1995). genre is Animation."
        );
        // [CLS] user id is 9 . gender is female . title is toy story ( 1 ##9 ##9 ##5 ) . genre is animation . [SEP]
        assert_eq!(
            p.tokens,
            vec![
                2, 12, 13, 14, 30, 5, 15, 14, 16, 5, 18, 14, 19, 20, 7, 25, 31, 31, 32, 8, 5, 21,
                14, 22, 5, 3
            ]
        );
        assert_eq!(
            p.fields,
            vec![
                -1, -1, -1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 2, 2, 2, 2, 2, 2, 2, 2, -1, -1, -1,
                3, -1, -1
            ]
        );
        assert!(!p.truncated);
        for user in 0..2 {
            for title in 0..2 {
                for genre in 0..3 {
                    let row = [user, 1, title, genre];
                    assert_eq!(
                        enc.encode(&row).unwrap(),
                        enc.encode_whole(&row).unwrap(),
                        "{row:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncation_keeps_special_tokens() {
        let (tk, template) = setup();
        let enc = PromptEncoder::new(&tk, &template, 10, texts()).unwrap();
        let p = enc.encode(&[0, 0, 0, 0]).unwrap();
        assert!(p.truncated);
        assert_eq!(p.tokens.len(), 10);
        assert_eq!((p.tokens[0], p.tokens[9]), (2, 3));
        assert_eq!(p.fields.len(), 10);
        assert_eq!(p.fields[9], NO_FIELD);
    }

    #[test]
    fn pieces_not_meeting_at_a_boundary_are_tokenized_whole() {
        let dir = tiny_vocab_dir();
        let tk = PromptTokenizer::from_path(dir.path()).unwrap();
        // "{a}{b}" glues "rust" and "y" into one word: piece by piece would give rust + y.
        let template = Template::parse("{a}{b}", &["a", "b"]).unwrap();
        let texts = vec![vec!["rust".to_string()], vec!["y".to_string()]];
        let mut enc = PromptEncoder::new(&tk, &template, 20, texts).unwrap();
        let p = enc.encode(&[0, 0]).unwrap();
        assert_eq!(p.tokens, vec![2, 38, 39, 3]);
        assert_eq!(
            p.fields,
            vec![-1, 0, 1, -1],
            "each sub-word belongs to the value its characters come from"
        );
        assert_eq!(enc.self_check(&[vec![0, 0]]).unwrap(), 0);
    }
}
