//! The command line: exit codes, messages and outputs, without network.

use std::path::Path;
use std::process::{Command, Output};

fn xtask(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("FLIP_HOME", home)
        .env("FLIP_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn prepare_a_custom_csv_and_reuse_it() {
    let home = tempfile::tempdir().unwrap();
    let vocab = tempfile::tempdir().unwrap();
    std::fs::write(
        vocab.path().join("vocab.txt"),
        "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nuser\n.",
    )
    .unwrap();
    let recipe = workspace().join("datasets/example-clicks/recipe.toml");
    let out = home.path().join("clicks");
    let report = home.path().join("report.md");
    let args = [
        "prepare",
        recipe.to_str().unwrap(),
        "--tokenizer",
        vocab.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    let first = xtask(&args, home.path());
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(
        stdout.contains("## example-clicks (temporal split)"),
        "{stdout}"
    );
    assert!(stdout.contains("| 120 | 0 | 120 |"), "{stdout}");
    assert!(
        stdout.contains(&format!("prepared {}", out.display())),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&report)
            .unwrap()
            .contains("| field | distinct values |")
    );
    assert!(out.join("meta.json").is_file() && out.join("train.parquet").is_file());

    let second = xtask(&args, home.path());
    assert!(second.status.success());
    assert!(
        text(&second)
            .0
            .contains(&format!("reused {}", out.display()))
    );
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let home = tempfile::tempdir().unwrap();
    let o = xtask(&["prepare", "no-such-dataset"], home.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("error: no dataset `no-such-dataset`: give a recipe file or one of"),
        "{:?}",
        text(&o)
    );

    let o = xtask(&["fetch", "ml-10m"], home.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("unknown source `ml-10m`; choose one of: ml-100k, ml-1m, bookcrossing, minilm, goodreads, all"));

    let bad = home.path().join("recipe.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ntemplate = \"{a}\"\n[source]\nformat = \"csv\"\n",
    )
    .unwrap();
    let o = xtask(&["prepare", bad.to_str().unwrap()], home.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains(&format!("error: {}:", bad.display())),
        "{:?}",
        text(&o)
    );
    assert!(!home.path().join("prepared").exists(), "nothing written");
}
