//! Helpers shared by the integration tests of flip-data.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use flip_data::PromptTokenizer;

/// The workspace's `datasets/` folder.
pub fn datasets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// A temporary folder holding the synthetic fixture `datasets/<rel>` under real file names.
pub fn fixture(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    flip_data::fixtures::materialize(&datasets().join(rel), dir.path()).unwrap();
    dir
}

/// A small uncased WordPiece vocabulary covering the fixtures' template words.
pub fn tiny_tokenizer() -> (tempfile::TempDir, PromptTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    let mut words: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    words.extend(
        ". , ( ) ' - / | : ; & \" user id is gender female male age occupation zip code movie title genre \
         the rust story borrow checker cargo cult unsafe blocks lifetimes drama comedy action \
         animation documentary horror thriller mystery film noir sci fi children s under other \
         writer technician scientist 18 24 25 34 35 44 45 49 56 1 2 3 4 5 6 7 8 9 0"
            .split_whitespace()
            .map(str::to_owned),
    );
    for d in ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] {
        words.push(format!("##{d}"));
    }
    std::fs::write(dir.path().join("vocab.txt"), words.join("\n")).unwrap();
    let tk = PromptTokenizer::from_path(dir.path()).unwrap();
    (dir, tk)
}

/// The cache with real fetched data, when the test command provided one. Returns `None` (and
/// says so) when absent, unless `FLIP_REQUIRE_REAL_DATA=1`, which makes its absence a failure.
pub fn real_home(needs: &[&str]) -> Option<flip_data::FlipHome> {
    let home = flip_data::FlipHome::from_env();
    let fetcher = flip_data::fetch::Fetcher::new(home.clone());
    let missing: Vec<&str> = needs
        .iter()
        .copied()
        .filter(|n| {
            fetcher
                .complete(flip_data::fetch::catalog::source(n).unwrap())
                .is_none()
        })
        .collect();
    if missing.is_empty() {
        return Some(home);
    }
    if std::env::var("FLIP_REQUIRE_REAL_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "real data missing from {}: {missing:?}; run `cargo xtask fetch`",
            home.root().display()
        );
    }
    eprintln!(
        "skipped: {missing:?} not fetched into {} (run `cargo xtask test`)",
        home.root().display()
    );
    None
}
