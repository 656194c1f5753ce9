//! Reading text files in the encodings CTR dumps come in, and splitting them into numbered lines.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, IoContext, Result};

/// The character encoding a source file is expected in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Encoding {
    /// UTF-8 (RecBole atomic files, JSON lines, most user CSVs). Invalid bytes are an error.
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    Utf8,
    /// ISO-8859-1, as in the GroupLens `.dat` files and the BookCrossing dump. A file that is
    /// valid UTF-8 with non-ASCII characters is read as UTF-8 instead (a re-saved copy); control
    /// bytes (C0 other than tab/CR/LF, and C1) mean the file is not Latin-1 text and are an error.
    #[serde(rename = "latin-1", alias = "iso-8859-1", alias = "latin1")]
    Latin1,
}

/// Reads `path` whole and decodes it.
pub fn read_text(path: &Path, encoding: Encoding) -> Result<String> {
    let bytes = std::fs::read(path).at(path)?;
    decode(path, bytes, encoding)
}

/// Decodes bytes already read from `path` (used for error messages only).
pub fn decode(path: &Path, bytes: Vec<u8>, encoding: Encoding) -> Result<String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => match encoding {
            Encoding::Utf8 => {
                let bytes = err.as_bytes();
                let at = err.utf8_error().valid_up_to();
                Err(DataError::parse(
                    path,
                    line_of(bytes, at),
                    format!(
                        "not valid UTF-8 (byte 0x{:02x}); this file must be UTF-8 \
                         (set `encoding = \"latin-1\"` in the recipe if it is ISO-8859-1)",
                        bytes[at]
                    ),
                ))
            }
            Encoding::Latin1 => {
                let not_utf8 = err.utf8_error().valid_up_to();
                let bytes = err.into_bytes();
                if let Some(at) = first_utf8_sequence(&bytes) {
                    let end = (at + 4).min(bytes.len());
                    let sample = String::from_utf8_lossy(&bytes[at..end]);
                    return Err(DataError::parse(
                        path,
                        line_of(&bytes, at),
                        format!(
                            "mixed encodings: this line holds UTF-8 ({:?}) but line {} is not \
                             UTF-8 (byte 0x{:02x}); read as Latin-1 the UTF-8 lines would \
                             become mojibake: convert the file to one encoding",
                            sample.chars().next().unwrap_or_default(),
                            line_of(&bytes, not_utf8),
                            bytes[not_utf8]
                        ),
                    ));
                }
                if let Some(at) = bytes.iter().position(|&b| is_control(b)) {
                    return Err(DataError::parse(
                        path,
                        line_of(&bytes, at),
                        format!(
                            "byte 0x{:02x} is a control character: this is not Latin-1 (ISO-8859-1) \
                             text; convert the file to UTF-8 or Latin-1",
                            bytes[at]
                        ),
                    ));
                }
                Ok(bytes.iter().map(|&b| b as char).collect())
            }
        },
    }
}

/// The offset of the first well-formed multi-byte UTF-8 sequence (two or three bytes) in `bytes`.
/// Latin-1 text practically never holds one (it would read as `Ã©` and the like).
fn first_utf8_sequence(bytes: &[u8]) -> Option<usize> {
    let continuation = |b: &u8| (0x80..0xc0).contains(b);
    bytes.iter().enumerate().position(|(i, &b)| {
        let width = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => return false,
        };
        bytes
            .get(i + 1..i + width)
            .is_some_and(|rest| rest.iter().all(continuation))
            && std::str::from_utf8(&bytes[i..i + width]).is_ok()
    })
}

/// Whether `b` is a control byte that Latin-1 text never holds (C0 other than tab, CR and LF;
/// DEL and C1).
pub(crate) fn is_control(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || (0x7f..0xa0).contains(&b)
}

fn line_of(bytes: &[u8], at: usize) -> u64 {
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count() as u64
}

/// Iterates over the non-empty lines of a text with their 1-based line numbers; a trailing `\r`
/// (CRLF files) is removed.
pub fn numbered_lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, line)| (i as u64 + 1, line.strip_suffix('\r').unwrap_or(line)))
        .filter(|(_, line)| !line.is_empty())
}

/// Line numbers of byte offsets in a text, for parsers that report offsets (the `csv` crate's
/// own line count is one short after a CRLF line ending). Offsets must be asked in increasing
/// order.
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    /// A counter over `bytes`, at line 1.
    pub fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record that starts at `offset` (line breaks before it skipped).
    pub fn line_at(&mut self, mut offset: usize) -> u64 {
        while matches!(self.bytes.get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        let offset = offset.min(self.bytes.len()).max(self.offset);
        self.line += self.bytes[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64;
        self.offset = offset;
        self.line
    }
}

/// Splits `line` on `sep` into exactly `n` fields, or explains which line has how many.
pub fn split_exact<'a>(
    path: &Path,
    line_no: u64,
    line: &'a str,
    sep: &str,
    n: usize,
) -> Result<Vec<&'a str>> {
    let fields: Vec<&str> = line.split(sep).collect();
    if fields.len() != n {
        return Err(DataError::parse(
            path,
            line_no,
            format!(
                "expected {n} fields separated by {sep:?}, found {}",
                fields.len()
            ),
        ));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_bytes_become_their_code_points() {
        let text = decode(Path::new("x"), b"Mis\xe9rables".to_vec(), Encoding::Latin1).unwrap();
        assert_eq!(text, "Misérables");
    }

    #[test]
    fn utf8_copy_of_a_latin1_file_is_read_as_utf8() {
        let text = decode(
            Path::new("x"),
            "Misérables".as_bytes().to_vec(),
            Encoding::Latin1,
        );
        assert_eq!(text.unwrap(), "Misérables");
    }

    #[test]
    fn invalid_utf8_names_file_and_line() {
        let err = decode(
            Path::new("a.inter"),
            b"ok\nbad \xff\n".to_vec(),
            Encoding::Utf8,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("a.inter:2: not valid UTF-8 (byte 0xff)"),
            "{err}"
        );
    }

    #[test]
    fn mixed_utf8_and_latin1_lines_are_refused() {
        let err = decode(
            Path::new("movies.dat"),
            "1::Mis\u{e9}rables\n"
                .bytes()
                .chain(*b"2::Caf\xe9\n")
                .collect(),
            Encoding::Latin1,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "movies.dat:1: mixed encodings: this line holds UTF-8 ('é') but line 2"
            ),
            "{err}"
        );
    }

    #[test]
    fn control_bytes_are_not_latin1() {
        let err = decode(
            Path::new("u.dat"),
            b"1::F\n2::\x00\x01\xe9\n".to_vec(),
            Encoding::Latin1,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("u.dat:2: byte 0x00 is a control character"),
            "{err}"
        );
    }

    #[test]
    fn lines_are_numbered_and_crlf_stripped() {
        let lines: Vec<_> = numbered_lines("a\r\n\r\nb\n").collect();
        assert_eq!(lines, vec![(1, "a"), (3, "b")]);
    }

    #[test]
    fn line_counter_skips_the_breaks_before_a_record() {
        let text = b"h\r\na\r\n\r\nb\n";
        let mut lines = LineCounter::new(text);
        assert_eq!(lines.line_at(0), 1);
        assert_eq!(lines.line_at(2), 2);
        assert_eq!(lines.line_at(5), 4);
        assert_eq!(lines.line_at(text.len()), 5);
    }

    #[test]
    fn split_exact_counts_fields() {
        let err = split_exact(Path::new("r.dat"), 7, "1::2::3", "::", 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.dat:7: expected 4 fields separated by \"::\", found 3"
        );
    }
}
