//! End-to-end tests live in `tests/`.

#![warn(missing_docs)]
