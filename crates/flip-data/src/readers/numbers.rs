//! Parsing the numbers found in CTR dumps, with errors that name the file and line.

use std::path::Path;

use crate::error::{DataError, Result};

/// Parses a rating or other label source (`"4"`, `"4.5"`, `" 3 "`).
pub fn parse_number(path: &Path, line: u64, what: &str, raw: &str) -> Result<f64> {
    let trimmed = raw.trim();
    match trimmed.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(DataError::parse(
            path,
            line,
            format!("{what} {raw:?} is not a number"),
        )),
    }
}

/// Parses Unix seconds written as an integer or as a float (`"978300760"`, `"978300760.0"`).
pub fn parse_seconds(path: &Path, line: u64, what: &str, raw: &str) -> Result<i64> {
    let trimmed = raw.trim();
    if let Ok(v) = trimmed.parse::<i64>() {
        return Ok(v);
    }
    match trimmed.parse::<f64>() {
        Ok(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
        _ => Err(DataError::parse(
            path,
            line,
            format!("{what} {raw:?} is not a whole number of seconds"),
        )),
    }
}

/// Writes integral floats as integers (`"18.0"` becomes `"18"`) so that codes read from typed
/// files match codes read from text files; anything else is returned trimmed.
pub fn canonical_code(raw: &str) -> &str {
    let trimmed = raw.trim();
    trimmed
        .strip_suffix(".0")
        .filter(|s| s.parse::<i64>().is_ok())
        .unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_errors() {
        let p = Path::new("r.inter");
        assert_eq!(parse_number(p, 1, "rating", " 4.5").unwrap(), 4.5);
        let err = parse_number(p, 3, "rating", "four")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "r.inter:3: rating \"four\" is not a number");
        assert!(parse_number(p, 3, "rating", "NaN").is_err());
        assert_eq!(
            parse_seconds(p, 1, "t", "978300760.0").unwrap(),
            978_300_760
        );
        assert!(parse_seconds(p, 1, "t", "1.5").is_err());
    }

    #[test]
    fn codes_are_canonical() {
        assert_eq!(canonical_code("18.0"), "18");
        assert_eq!(canonical_code(" 56 "), "56");
        assert_eq!(canonical_code("2.5"), "2.5");
        assert_eq!(canonical_code("x.0"), "x.0");
    }
}
