//! Loading a Hugging Face tokenizer for prompts, from `tokenizer.json`, a WordPiece `vocab.txt`
//! or a byte-level BPE `vocab.json` + `merges.txt`, with its special tokens found and any padding
//! or truncation baked into the file removed (MiniLM's `tokenizer.json` pads everything to 128).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokenizers::models::bpe::BPE;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::{BertNormalizer, NormalizerWrapper};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, ModelWrapper, Tokenizer};

use crate::error::{DataError, IoContext, Result};

/// A tokenizer ready to encode prompts.
pub struct PromptTokenizer {
    inner: Tokenizer,
    source: PathBuf,
    hash: String,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    pad_id: u32,
    mask_id: Option<u32>,
}

/// Token ids of one text without special tokens, with the byte range each token covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlainEncoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Byte offsets `(start, end)` of each token in the text.
    pub offsets: Vec<(usize, usize)>,
}

impl PromptTokenizer {
    /// Loads a tokenizer from a model folder (`tokenizer.json` preferred, else `vocab.txt`, else
    /// `vocab.json` + `merges.txt`) or from one of those files.
    pub fn from_path(path: &Path) -> Result<Self> {
        let dir_or_file = |name: &str| -> Option<PathBuf> {
            if path.is_dir() {
                Some(path.join(name)).filter(|p| p.is_file())
            } else {
                (path.file_name().and_then(|n| n.to_str()) == Some(name)).then(|| path.to_owned())
            }
        };
        if !path.exists() {
            return Err(DataError::io(path, std::io::ErrorKind::NotFound.into()));
        }
        if let Some(file) = dir_or_file("tokenizer.json") {
            let bytes = std::fs::read(&file).at(&file)?;
            let inner = Tokenizer::from_bytes(&bytes).map_err(|e| {
                DataError::format(&file, format!("not a Hugging Face tokenizer.json: {e}"))
            })?;
            return Self::new(inner, &file, &[&bytes]);
        }
        if let Some(vocab) = dir_or_file("vocab.txt") {
            let config = vocab.with_file_name("tokenizer_config.json");
            let config_bytes = if config.is_file() {
                std::fs::read(&config).at(&config)?
            } else {
                Vec::new()
            };
            let lowercase = lowercase_from_config(&config, &config_bytes)?;
            let bytes = std::fs::read(&vocab).at(&vocab)?;
            let inner = wordpiece_from_vocab(&vocab, lowercase)?;
            return Self::new(inner, &vocab, &[&bytes, &config_bytes]);
        }
        if let Some(vocab) = dir_or_file("vocab.json") {
            let merges = vocab.with_file_name("merges.txt");
            let vocab_bytes = std::fs::read(&vocab).at(&vocab)?;
            let merges_bytes = std::fs::read(&merges).at(&merges)?;
            let inner = bpe_from_files(&vocab, &merges)?;
            return Self::new(inner, &vocab, &[&vocab_bytes, &merges_bytes]);
        }
        Err(DataError::format(
            path,
            "no tokenizer here: expected tokenizer.json, vocab.txt (WordPiece) or vocab.json + merges.txt (BPE)",
        ))
    }

    /// Wraps a tokenizer built in code; `files` are the bytes its hash is computed from.
    pub fn new(mut inner: Tokenizer, source: &Path, files: &[&[u8]]) -> Result<Self> {
        let fixed_pad = inner.get_padding().map(|p| p.pad_id);
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| DataError::format(source, format!("cannot disable truncation: {e}")))?;
        let mut hasher = Sha256::new();
        for f in files {
            hasher.update((f.len() as u64).to_le_bytes());
            hasher.update(f);
        }
        let probe = inner.encode("a", true).map_err(|e| {
            DataError::format(source, format!("the tokenizer cannot encode text: {e}"))
        })?;
        let mask = probe.get_special_tokens_mask();
        let first = mask.iter().position(|&m| m == 0).unwrap_or(mask.len());
        let last = mask.iter().rposition(|&m| m == 0).map_or(first, |i| i + 1);
        let ids = probe.get_ids();
        let find = |names: &[&str]| names.iter().find_map(|n| inner.token_to_id(n));
        let pad_id = fixed_pad
            .or_else(|| find(&["[PAD]", "<pad>"]))
            .ok_or_else(|| {
                DataError::format(
                    source,
                    "no padding token (no padding setting, no [PAD] or <pad> token): prompts of \
                     different lengths cannot be batched",
                )
            })?;
        Ok(PromptTokenizer {
            prefix: ids[..first].to_vec(),
            suffix: ids[last..].to_vec(),
            pad_id,
            mask_id: find(&["[MASK]", "<mask>"]),
            hash: hex::encode(hasher.finalize()),
            source: source.to_owned(),
            inner,
        })
    }

    /// sha256 of the files the tokenizer was built from.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The file it was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Special tokens put before a sequence (`[CLS]`, `<s>`).
    pub fn prefix(&self) -> &[u32] {
        &self.prefix
    }

    /// Special tokens put after a sequence (`[SEP]`, `</s>`).
    pub fn suffix(&self) -> &[u32] {
        &self.suffix
    }

    /// Id used to pad batches (0 for BERT, 1 for RoBERTa).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Id of the mask token, if the vocabulary has one.
    pub fn mask_id(&self) -> Option<u32> {
        self.mask_id
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// True when encoding a prompt piece by piece gives the same tokens as encoding it whole,
    /// provided pieces meet at a space or an ASCII punctuation mark: BERT's pre-tokenizer splits
    /// there, and its normalizer works character by character.
    pub fn splits_at_boundaries(&self) -> bool {
        let normalizer_ok = match self.inner.get_normalizer() {
            None => true,
            Some(NormalizerWrapper::BertNormalizer(_) | NormalizerWrapper::Lowercase(_)) => true,
            Some(_) => false,
        };
        let pre_ok = matches!(
            self.inner.get_pre_tokenizer(),
            Some(PreTokenizerWrapper::BertPreTokenizer(_))
        );
        let model_ok = matches!(self.inner.get_model(), ModelWrapper::WordPiece(_));
        normalizer_ok && pre_ok && model_ok
    }

    /// Encodes `text` without special tokens.
    pub fn encode_plain(&self, text: &str) -> Result<PlainEncoding> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| DataError::Data(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(PlainEncoding {
            ids: enc.get_ids().to_vec(),
            offsets: enc.get_offsets().to_vec(),
        })
    }
}

fn lowercase_from_config(path: &Path, bytes: &[u8]) -> Result<bool> {
    if bytes.is_empty() {
        return Ok(true);
    }
    let config: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| DataError::format(path, format!("not JSON: {e}")))?;
    Ok(config
        .get("do_lower_case")
        .and_then(|v| v.as_bool())
        .unwrap_or(true))
}

const BERT_SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// A BERT WordPiece tokenizer from a `vocab.txt` (what `BertTokenizer` does in Python).
pub fn wordpiece_from_vocab(vocab: &Path, lowercase: bool) -> Result<Tokenizer> {
    let name = vocab.to_string_lossy();
    let model = WordPiece::from_file(&name)
        .unk_token("[UNK]".into())
        .build()
        .map_err(|e| DataError::format(vocab, format!("not a WordPiece vocabulary: {e}")))?;
    let mut tk = Tokenizer::new(model);
    let id = |t: &str| {
        tk.token_to_id(t)
            .ok_or_else(|| DataError::format(vocab, format!("the vocabulary has no {t} token")))
    };
    let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
    tk.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))
        .map_err(|e| DataError::format(vocab, e.to_string()))?;
    tk.with_pre_tokenizer(Some(BertPreTokenizer));
    tk.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), sep),
        ("[CLS]".into(), cls),
    )));
    let specials: Vec<AddedToken> = BERT_SPECIALS
        .iter()
        .filter(|t| tk.token_to_id(t).is_some())
        .map(|t| AddedToken::from(*t, true))
        .collect();
    tk.add_special_tokens(specials)
        .map_err(|e| DataError::format(vocab, format!("cannot register special tokens: {e}")))?;
    Ok(tk)
}

/// A RoBERTa byte-level BPE tokenizer from `vocab.json` + `merges.txt`.
pub fn bpe_from_files(vocab: &Path, merges: &Path) -> Result<Tokenizer> {
    let model = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
        .build()
        .map_err(|e| {
            DataError::format(
                vocab,
                format!("not a BPE vocabulary with {}: {e}", merges.display()),
            )
        })?;
    let mut tk = Tokenizer::new(model);
    let id = |t: &str| {
        tk.token_to_id(t)
            .ok_or_else(|| DataError::format(vocab, format!("the vocabulary has no {t} token")))
    };
    let (bos, eos) = (id("<s>")?, id("</s>")?);
    tk.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
    tk.with_decoder(Some(ByteLevel::default()));
    tk.with_post_processor(Some(RobertaProcessing::new(
        ("</s>".into(), eos),
        ("<s>".into(), bos),
    )));
    let specials: Vec<AddedToken> = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        .iter()
        .filter(|t| tk.token_to_id(t).is_some())
        .map(|t| AddedToken::from(*t, true))
        .collect();
    tk.add_special_tokens(specials)
        .map_err(|e| DataError::format(vocab, format!("cannot register special tokens: {e}")))?;
    Ok(tk)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small uncased WordPiece vocabulary written to a temporary folder.
    pub(crate) fn tiny_vocab_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let words = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "[MASK]",
            ".",
            ",",
            "(",
            ")",
            "'",
            "-",
            "|",
            "user",
            "id",
            "is",
            "gender",
            "female",
            "male",
            "title",
            "toy",
            "story",
            "genre",
            "animation",
            "comedy",
            "age",
            "1",
            "2",
            "3",
            "4",
            "5",
            "9",
            "##9",
            "##5",
            "##s",
            "the",
            "movie",
            "un",
            "##known",
            "rust",
            "##y",
        ];
        std::fs::write(dir.path().join("vocab.txt"), words.join("\n")).unwrap();
        dir
    }

    #[test]
    fn wordpiece_from_vocab_txt() {
        let dir = tiny_vocab_dir();
        let tk = PromptTokenizer::from_path(dir.path()).unwrap();
        assert_eq!(tk.prefix(), &[2]);
        assert_eq!(tk.suffix(), &[3]);
        assert_eq!((tk.pad_id(), tk.mask_id()), (0, Some(4)));
        assert!(tk.splits_at_boundaries());
        let enc = tk.encode_plain("Toy Story (1995).").unwrap();
        assert_eq!(enc.ids, vec![19, 20, 7, 25, 31, 31, 32, 8, 5]);
        assert_eq!(enc.offsets[1], (4, 9));
        let enc = tk.encode_plain("Rusty").unwrap();
        assert_eq!(enc.ids, vec![38, 39]);
    }

    #[test]
    fn hash_follows_content() {
        let dir = tiny_vocab_dir();
        let a = PromptTokenizer::from_path(dir.path())
            .unwrap()
            .hash()
            .to_owned();
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            r#"{"do_lower_case": false}"#,
        )
        .unwrap();
        let b = PromptTokenizer::from_path(dir.path()).unwrap();
        assert_ne!(a, b.hash());
        assert_eq!(
            b.encode_plain("Toy").unwrap().ids,
            vec![1],
            "cased: Toy is unknown"
        );
    }

    #[test]
    fn missing_tokenizer_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = PromptTokenizer::from_path(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no tokenizer here"), "{err}");
    }
}
