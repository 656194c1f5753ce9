//! `cargo xtask check-backends`: builds the cross-backend test with other burn backends and
//! runs it (the tiny FLIP model on each backend against flex). Each backend builds in a target
//! folder of its own, so the default build is never invalidated; the first build of a backend
//! is long (wgpu about 35 minutes on 2 cores, see docs/backends.md).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args)]
pub struct CheckBackendsArgs {
    /// Backends to check: wgpu (Vulkan; Mesa lavapipe without a GPU), tch (libtorch 2.9.0 from
    /// the Python `torch` package of the active environment), cuda.
    #[arg(long, value_delimiter = ',', default_value = "wgpu")]
    backends: Vec<String>,
}

/// Where torch keeps its shared libraries, asking the Python of the environment.
fn torch_lib_dir() -> Result<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .args([
            "-c",
            "import os, torch; print(torch.__version__); print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .with_context(|| format!("cannot run {python}"))?;
    if !output.status.success() {
        bail!(
            "the tch backend needs PyTorch 2.9.0 in the Python environment ({python}): \
             `python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.9.0` \
             ({})",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    if !version.starts_with("2.9.0") {
        bail!("burn-tch 0.22 needs torch 2.9.0 exactly; {python} has {version}");
    }
    Ok(lines.next().unwrap_or_default().to_owned())
}

/// burn-cuda 0.22 (cubecl-cuda 0.11) links an LLVM bundle that the build script of
/// `tracel-llvm-bundler` downloads from GitHub on first use (docs/backends.md, CUDA). Warns
/// before the long build when the bundle is neither installed nor in the download cache.
fn warn_if_cubecl_llvm_must_download() {
    const BUNDLE: &str = "tracel-llvm-23.1.0-4";
    let Some(home) = std::env::var_os("HOME").map(std::path::PathBuf::from) else {
        return;
    };
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".local/share"));
    let installed = data
        .join("tracel")
        .join(BUNDLE)
        .join(".tracel-llvm-installed");
    let cached = home
        .join(".cache/tracel")
        .join(format!("{BUNDLE}-linux-x64.tar.xz"));
    if !installed.is_file() && !cached.is_file() {
        tracing::warn!(
            "the cuda build downloads {BUNDLE} from github.com/tracel-ai/tracel-llvm/releases; \
             without access to GitHub it fails: see docs/backends.md (CUDA) for the offline install"
        );
    }
}

pub fn check_backends(workspace: &Path, args: &CheckBackendsArgs) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for backend in &args.backends {
        let mut command = Command::new(&cargo);
        command
            .args(["test", "--release", "-p", "flip-e2e", "--features", backend])
            .args(["--test", "cross_backend", "--", "--nocapture"])
            .env(
                "CARGO_TARGET_DIR",
                workspace.join("target").join(format!("backend-{backend}")),
            )
            .current_dir(workspace);
        match backend.as_str() {
            "wgpu" => {}
            "cuda" => warn_if_cubecl_llvm_must_download(),
            "tch" => {
                let lib = torch_lib_dir()?;
                let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
                command
                    .env("LIBTORCH_USE_PYTORCH", "1")
                    .env("LD_LIBRARY_PATH", format!("{lib}:{path}"));
            }
            other => bail!("unknown backend `{other}`; use wgpu, tch or cuda"),
        }
        tracing::info!("checking {backend} (its first build takes long)");
        let status = command.status().context("cannot run cargo test")?;
        if !status.success() {
            bail!("the cross-backend test failed on {backend} ({status})");
        }
    }
    Ok(())
}
