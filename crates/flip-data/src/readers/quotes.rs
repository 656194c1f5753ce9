//! Finding a quote that is never closed in a delimited text file.
//!
//! A CSV parser reads an unclosed quote as a field that runs to the end of the file, so one stray
//! `"` silently swallows every row after it. [`unclosed_quote`] scans the bytes with the same
//! quoting rules as the parser (a quote opens a field only at its start; inside, a doubled quote
//! or an escaped one is literal) and gives the line where the unclosed field opened.

/// How a file quotes its fields.
#[derive(Debug, Clone, Copy)]
pub struct Quoting {
    /// The field separator.
    pub delimiter: u8,
    /// The quote character.
    pub quote: u8,
    /// An escape character that makes the next character literal inside quotes (`\` in
    /// BookCrossing), if any.
    pub escape: Option<u8>,
    /// Whether `""` inside a quoted field is a literal quote (RFC 4180).
    pub double_quote: bool,
}

impl Quoting {
    /// RFC 4180 quoting with `delimiter`.
    pub fn rfc4180(delimiter: u8) -> Self {
        Quoting {
            delimiter,
            quote: b'"',
            escape: None,
            double_quote: true,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    EscapeInQuoted,
    QuoteInQuoted,
}

/// The 1-based line of a quoted field that is still open at the end of `bytes`, if any.
pub fn unclosed_quote(bytes: &[u8], q: Quoting) -> Option<u64> {
    let mut state = State::FieldStart;
    let mut line = 1u64;
    let mut opened = 0u64;
    let ends_field = |b: u8| b == q.delimiter || b == b'\n' || b == b'\r';
    for &b in bytes {
        state = match state {
            State::FieldStart if b == q.quote => {
                opened = line;
                State::Quoted
            }
            State::FieldStart | State::Unquoted => {
                if ends_field(b) {
                    State::FieldStart
                } else {
                    State::Unquoted
                }
            }
            State::Quoted if Some(b) == q.escape => State::EscapeInQuoted,
            State::Quoted if b == q.quote => {
                if q.double_quote {
                    State::QuoteInQuoted
                } else {
                    State::Unquoted
                }
            }
            State::Quoted => State::Quoted,
            State::EscapeInQuoted => State::Quoted,
            State::QuoteInQuoted if b == q.quote => State::Quoted,
            State::QuoteInQuoted if ends_field(b) => State::FieldStart,
            State::QuoteInQuoted => State::Unquoted,
        };
        if b == b'\n' {
            line += 1;
        }
    }
    matches!(state, State::Quoted | State::EscapeInQuoted).then_some(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_quotes_pass() {
        let q = Quoting::rfc4180(b',');
        assert_eq!(
            unclosed_quote(b"a,b\n\"x, y\",\"say \"\"hi\"\"\"\n", q),
            None
        );
        // A quote inside an unquoted field is literal (5'11" tall).
        assert_eq!(unclosed_quote(b"h\n5'11\" tall,2\n", q), None);
        // A quoted field may span lines.
        assert_eq!(unclosed_quote(b"h\n\"two\nlines\",1\n", q), None);
    }

    #[test]
    fn the_line_of_an_unclosed_quote_is_found() {
        let q = Quoting::rfc4180(b',');
        assert_eq!(unclosed_quote(b"h,i\n1,2\n\"3,4\n5,6\n7,8\n", q), Some(3));
        assert_eq!(unclosed_quote(b"h,i\n1,\"2\"\"\n", q), Some(2));
    }

    #[test]
    fn backslash_escapes() {
        let q = Quoting {
            delimiter: b';',
            quote: b'"',
            escape: Some(b'\\'),
            double_quote: false,
        };
        assert_eq!(unclosed_quote(b"\"a \\\"b\\\" c\";\"1\"\n", q), None);
        assert_eq!(unclosed_quote(b"\"1\";\"2\"\n\"a \\\";\"1\"\n", q), None);
        assert_eq!(unclosed_quote(b"\"1\";\"2\"\n\"a \\\"\n", q), Some(2));
    }
}
