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

/// The ratings a source can hold: whole numbers from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatingScale {
    /// The lowest rating.
    pub min: u8,
    /// The highest rating.
    pub max: u8,
    /// The dataset, named in errors.
    pub dataset: &'static str,
}

/// MovieLens: 1 to 5 stars.
pub const MOVIELENS_STARS: RatingScale = RatingScale {
    min: 1,
    max: 5,
    dataset: "MovieLens",
};

/// BookCrossing: 0 (implicit) or 1 to 10.
pub const BOOKCROSSING_SCORES: RatingScale = RatingScale {
    min: 0,
    max: 10,
    dataset: "BookCrossing",
};

/// GoodReads: 0 (shelved without a rating) or 1 to 5 stars.
pub const GOODREADS_STARS: RatingScale = RatingScale {
    min: 0,
    max: 5,
    dataset: "GoodReads",
};

/// Parses a rating that must be a whole number on `scale` (`"4"` and `"4.0"` both give 4).
pub fn parse_rating(
    path: &Path,
    line: u64,
    what: &str,
    raw: &str,
    scale: RatingScale,
) -> Result<f64> {
    let value = parse_number(path, line, what, raw)?;
    check_rating(path, line, what, value, scale)
}

/// Checks that `value` is a whole number on `scale`.
pub fn check_rating(
    path: &Path,
    line: u64,
    what: &str,
    value: f64,
    scale: RatingScale,
) -> Result<f64> {
    let in_range = (f64::from(scale.min)..=f64::from(scale.max)).contains(&value);
    if in_range && value.fract() == 0.0 {
        Ok(value)
    } else {
        Err(DataError::parse(
            path,
            line,
            format!(
                "{what} {value} is not a {} rating: expected a whole number from {} to {}",
                scale.dataset, scale.min, scale.max
            ),
        ))
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
    fn ratings_are_whole_and_on_the_scale() {
        let p = Path::new("ratings.dat");
        assert_eq!(
            parse_rating(p, 1, "rating", "5.0", MOVIELENS_STARS).unwrap(),
            5.0
        );
        assert_eq!(
            parse_rating(p, 1, "rating", "0", GOODREADS_STARS).unwrap(),
            0.0
        );
        let err = parse_rating(p, 9, "rating", "6", MOVIELENS_STARS)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "ratings.dat:9: rating 6 is not a MovieLens rating: expected a whole number from 1 to 5"
        );
        assert!(parse_rating(p, 1, "rating", "0", MOVIELENS_STARS).is_err());
        assert!(parse_rating(p, 1, "rating", "3.5", MOVIELENS_STARS).is_err());
        assert!(parse_rating(p, 1, "rating", "11", BOOKCROSSING_SCORES).is_err());
        assert!(parse_rating(p, 1, "rating", "inf", BOOKCROSSING_SCORES).is_err());
    }

    #[test]
    fn codes_are_canonical() {
        assert_eq!(canonical_code("18.0"), "18");
        assert_eq!(canonical_code(" 56 "), "56");
        assert_eq!(canonical_code("2.5"), "2.5");
        assert_eq!(canonical_code("x.0"), "x.0");
    }
}
