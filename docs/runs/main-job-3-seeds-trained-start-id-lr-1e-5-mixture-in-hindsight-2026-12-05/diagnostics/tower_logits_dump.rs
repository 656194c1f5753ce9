//! Diagnostic, not part of the build: both finetuned towers' logits of a staged run's seed on
//! every validation and test row, with the label, whether the user was seen in training and
//! which validation sample the row belongs to (`select`: chose FLIP_PLM's epoch, `mixing`:
//! chose α, `other`). Copy into crates/flip-train/examples/, add `sample_apart` to the
//! `pub use variants::{..}` line of crates/flip-train/src/experiment/mod.rs, then
//! `cargo run --release -p flip-train --features flex --example tower_logits_dump -- <run> <seed> <out.csv>`
//! and `python alpha_sweep.py <out.csv>` (numpy, scikit-learn). The CSV holds MovieLens
//! labels: never commit it.

use std::io::Write;

use anyhow::Result;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Device;
use flip_data::Split;
use flip_train::experiment::{SavedModels, UserSegments, sample, sample_apart};
use flip_train::finetune::tower_logits;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let run = std::path::PathBuf::from(args.next().expect("run folder"));
    let seed: u64 = args.next().expect("seed").parse()?;
    let out = std::path::PathBuf::from(args.next().expect("out csv"));
    let eval_rows = 2000;
    let device = Device::flex();
    let saved = SavedModels::open(&run)?;
    let mut text = saved.flip(&device)?;
    let mut id = text.id_model.take().expect("FLIP has an ID tower");
    let finetuned = run.join("finetuned");
    id.load_from(&mut BurnpackStore::from_file(
        finetuned.join(format!("flip-id-seed{seed}.bpk")),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    text.load_from(&mut BurnpackStore::from_file(
        finetuned.join(format!("flip-plm-seed{seed}.bpk")),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let flip = text.joined(id);
    let dataset = saved.dataset();
    let pad = dataset.meta().tokenizer.pad_id;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    writeln!(file, "split,row,label,seen,role,id,plm")?;
    for split in [Split::Valid, Split::Test] {
        let data = dataset.load(split)?;
        let segments = UserSegments::of_dataset(dataset, &data)?;
        let position: std::collections::HashMap<u32, usize> = data
            .source_rows
            .iter()
            .enumerate()
            .map(|(i, &r)| (r, i))
            .collect();
        let mut role = vec!["other"; data.len()];
        if split == Split::Valid {
            for r in sample(&data, Some(eval_rows), 2013).source_rows {
                role[position[&r]] = "select";
            }
            if let Some(m) = sample_apart(&data, Some(eval_rows), Some(eval_rows), 2013, 2015) {
                for r in m.source_rows {
                    role[position[&r]] = "mixing";
                }
            }
        }
        let mut seen = vec![1u8; data.len()];
        if let Some(s) = &segments {
            for &r in &s.unseen {
                seen[r] = 0;
            }
        }
        let (id, plm) = tower_logits(&flip, &data, 256, pad, &device);
        let id = id.expect("joined");
        for r in 0..data.len() {
            writeln!(
                file,
                "{},{},{},{},{},{},{}",
                split.name(),
                data.source_rows[r],
                data.labels[r],
                seen[r],
                role[r],
                id[r],
                plm[r]
            )?;
        }
    }
    Ok(())
}
