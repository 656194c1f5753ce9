//! Times language-model training steps (or, with `infer`, forward passes) at one shape, for
//! profiling (`perf record`):
//! `cargo run --release -p flip-train --features flex --example plm_step -- LEN [STEPS] [infer]`.
//! MiniLM shape (6 layers, 384 wide), batch 32, [CLS] head, BCE, AdamW.

use burn::tensor::Device;
use flip_plm::PlmConfig;
use flip_train::bench::plm_throughput;

fn main() {
    let mut args = std::env::args().skip(1);
    let len: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let steps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let train = args.next().as_deref() != Some("infer");
    let device = if train {
        Device::flex().autodiff()
    } else {
        Device::flex()
    };
    device.seed(1);
    let result = plm_throughput(&PlmConfig::minilm_l6_h384(), 32, len, steps, train, &device);
    println!(
        "len {len}: {:.1} sequences/s, {:.0} ms/step",
        result.samples_per_second, result.ms_per_step
    );
}
