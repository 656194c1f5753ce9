//! Devices by name (`flex`, `wgpu`, `cuda:N`, `tch-cpu`, `tch-cuda:N`), as `cargo xtask
//! --device` spells them. Backends are cargo features of this crate (`flex`, `wgpu`, `cuda`,
//! `tch`; xtask turns on `flex` by default); asking for a device whose backend the build lacks
//! is an error that names the feature.

use anyhow::{Result, bail};
use burn::tensor::Device;

/// Devices this build can use, as `--device` spells them.
pub fn available() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda:N");
    }
    if cfg!(feature = "tch") {
        names.extend(["tch-cpu", "tch-cuda:N"]);
    }
    names
}

fn missing(spec: &str, feature: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "--device {spec} needs the `{feature}` feature of flip-train: for the command line, \
         replace `cargo xtask` by `cargo run --release -p xtask --features {feature} --` \
         (this build has: {})",
        available().join(", ")
    )
}

fn index(spec: &str, prefix: &str) -> Result<usize> {
    spec.strip_prefix(prefix)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!("--device {spec}: expected {prefix}N with N a device number")
        })
}

/// Parses `flex`, `wgpu`, `cuda:N`, `tch-cpu` or `tch-cuda:N`.
#[allow(deprecated)] // burn 0.22 deprecates its libtorch devices (burn-tch goes away after it)
pub fn parse(spec: &str) -> Result<Device> {
    match spec {
        "flex" => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[allow(unreachable_code)]
            Err(missing(spec, "flex"))
        }
        "wgpu" => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(Default::default()));
            #[allow(unreachable_code)]
            Err(missing(spec, "wgpu"))
        }
        "tch-cpu" => {
            #[cfg(feature = "tch")]
            return Ok(Device::libtorch());
            #[allow(unreachable_code)]
            Err(missing(spec, "tch"))
        }
        s if s.starts_with("tch-cuda:") => {
            let _n = index(s, "tch-cuda:")?;
            #[cfg(feature = "tch")]
            return Ok(Device::libtorch_cuda(_n));
            #[allow(unreachable_code)]
            Err(missing(spec, "tch"))
        }
        s if s.starts_with("cuda:") => {
            let _n = index(s, "cuda:")?;
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(_n));
            #[allow(unreachable_code)]
            Err(missing(spec, "cuda"))
        }
        other => bail!("unknown device `{other}`; use flex, wgpu, cuda:N, tch-cpu or tch-cuda:N"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_or_name_their_feature() {
        assert!(parse("flex").is_ok());
        let err = parse("cuda:0").unwrap_err().to_string();
        if !cfg!(feature = "cuda") {
            assert!(
                err.starts_with("--device cuda:0 needs the `cuda` feature"),
                "{err}"
            );
        }
        assert!(
            parse("cuda:x")
                .unwrap_err()
                .to_string()
                .contains("expected cuda:N")
        );
        assert!(
            parse("tpu")
                .unwrap_err()
                .to_string()
                .starts_with("unknown device `tpu`")
        );
        assert!(available().contains(&"flex"));
    }
}
