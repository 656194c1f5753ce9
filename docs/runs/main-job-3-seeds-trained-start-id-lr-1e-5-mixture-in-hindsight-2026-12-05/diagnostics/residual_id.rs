//! Diagnostic, not part of the build (copy into crates/flip-train/examples/ and run with
//! `cargo run --release -p flip-train --features flex --example residual_id -- ...`): the ID tower trained on every training row with the finetuned
//! language model's logit as a fixed offset, `z = z_id + c z_plm`, against the same training
//! without it (c = 0). Epoch chosen on every validation row by the AUC of `z`.
//!
//! `residual_id <run> <seed> <start: scratch|pretrained> <c,c,...>`

use anyhow::Result;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Device, Int, Tensor, TensorData};
use flip_data::{Batcher, Padding, Split};
use flip_train::ctr::bce_with_logits;
use flip_train::experiment::{SavedModels, SavedRun, UserSegments, input_shape};
use flip_train::finetune::tower_logits;
use flip_train::metrics::auc;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let run = std::path::PathBuf::from(args.next().expect("run folder"));
    let seed: u64 = args.next().expect("seed").parse()?;
    let start = args.next().expect("start");
    let cs: Vec<f32> = args
        .next()
        .expect("c values")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let device = Device::flex();
    let saved = SavedModels::open(&run)?;
    let info: SavedRun =
        serde_json::from_str(&std::fs::read_to_string(run.join("models/run.json"))?)?;
    let dataset = saved.dataset();
    let pad = dataset.meta().tokenizer.pad_id;
    let mut text = saved.flip(&device)?;
    text.id_model = None;
    text.load_from(&mut BurnpackStore::from_file(
        run.join("finetuned").join(format!("flip-plm-seed{seed}.bpk")),
    ))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let train = dataset.load(Split::Train)?;
    let valid = dataset.load(Split::Valid)?;
    let test = dataset.load(Split::Test)?;
    let users = UserSegments::of_dataset(dataset, &test)?.expect("segments");
    let t0 = std::time::Instant::now();
    let plm_train = tower_logits(&text, &train, 256, pad, &device).1;
    let plm_valid = tower_logits(&text, &valid, 256, pad, &device).1;
    let plm_test = tower_logits(&text, &test, 256, pad, &device).1;
    println!(
        "text logits on {} rows in {:.0} s; text alone: valid {:.4} test {:.4}",
        train.len() + valid.len() + test.len(),
        t0.elapsed().as_secs_f64(),
        auc(&valid.labels, &plm_valid).unwrap(),
        auc(&test.labels, &plm_test).unwrap()
    );
    let shape = input_shape(dataset);
    let ad = device.clone().autodiff();
    for &c in &cs {
        ad.seed(seed.wrapping_mul(7919).wrapping_add(17));
        let mut model = info.backbone.init(shape, &ad);
        if start == "pretrained" {
            model
                .load_from(&mut BurnpackStore::from_file(run.join("pretrain/id-model.bpk")))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let mut best: Option<(f64, usize, f64, f64, f64, f64)> = None;
        let mut since = 0;
        for epoch in 1..=5usize {
            for batch in Batcher::new(&train, 1024, Padding::Longest, 0)
                .shuffled(seed.wrapping_add(epoch as u64))
            {
                let ids = Tensor::<2, Int>::from_data(
                    TensorData::new(batch.ids.clone(), [batch.size, batch.num_fields]),
                    &ad,
                );
                let labels =
                    Tensor::<1>::from_data(TensorData::new(batch.labels.clone(), [batch.size]), &ad);
                let off: Vec<f32> = batch.rows.iter().map(|&r| c * plm_train[r]).collect();
                let off = Tensor::<1>::from_data(TensorData::new(off, [batch.size]), &ad);
                let x = model.embed(ids);
                let out = model.forward_embedded(&x);
                let loss = bce_with_logits(out.logit + off, labels);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(1e-3, model, grads);
            }
            let eval = model.valid();
            let logits = |data: &flip_data::SplitData| -> Vec<f32> {
                let mut z = Vec::new();
                for b in Batcher::new(data, 8192, Padding::Longest, 0) {
                    let ids = Tensor::<2, Int>::from_data(
                        TensorData::new(b.ids.clone(), [b.size, b.num_fields]),
                        &device,
                    );
                    z.extend(eval.forward(ids).logit.into_data().convert::<f32>().iter::<f32>());
                }
                z
            };
            let (zv, zt) = (logits(&valid), logits(&test));
            let mix = |z: &[f32], p: &[f32]| -> Vec<f32> {
                z.iter().zip(p).map(|(a, b)| a + c * b).collect()
            };
            let (mv, mt) = (mix(&zv, &plm_valid), mix(&zt, &plm_test));
            let va = auc(&valid.labels, &mv).unwrap();
            let ta = auc(&test.labels, &mt).unwrap();
            let seg = |rows: &[usize], z: &[f32]| {
                let l: Vec<u8> = rows.iter().map(|&r| test.labels[r]).collect();
                let s: Vec<f32> = rows.iter().map(|&r| z[r]).collect();
                auc(&l, &s).unwrap()
            };
            let (seen, unseen) = (seg(&users.seen, &mt), seg(&users.unseen, &mt));
            let id_alone = auc(&test.labels, &zt).unwrap();
            println!(
                "c {c}: epoch {epoch}: valid {va:.4} test {ta:.4} (seen {seen:.4} new {unseen:.4}; ID part alone {id_alone:.4})"
            );
            if best.is_none_or(|b| va > b.0) {
                best = Some((va, epoch, ta, seen, unseen, id_alone));
                since = 0;
            } else {
                since += 1;
                if since >= 2 {
                    break;
                }
            }
        }
        let b = best.unwrap();
        println!(
            "RESULT seed {seed} start {start} c {c}: epoch {} valid {:.4} test {:.4} seen {:.4} new {:.4} id-part {:.4}",
            b.1, b.0, b.2, b.3, b.4, b.5
        );
    }
    Ok(())
}
