//! Scoring new rows with a finished run's saved FLIP_ID: the output's format follows its
//! extension, it carries the input's key columns (or all) beside the score, values are read
//! with the recipe's options and canonical codes, unseen values are counted per field, and bad
//! input names its row.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use burn::tensor::Device;
use flip_data::FlipHome;
use flip_train::experiment::{
    CarriedColumns, Experiment, FlipSettings, PrepareRequest, SavedModels, SavedVariant, Sources,
    Variant, model_named, preset_named,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A run of the example-clicks recipe (with `delimiter` in its recipe and CSV) whose FLIP_ID
/// was finetuned and saved; returns the run folder and the CSV it was prepared from.
fn finished_run(scratch: &Path, delimiter: char) -> (PathBuf, PathBuf) {
    let data = scratch.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let csv = std::fs::read_to_string(root().join("datasets/example-clicks/clicks.csv")).unwrap();
    std::fs::write(
        data.join("clicks.csv"),
        csv.replace(',', &delimiter.to_string()),
    )
    .unwrap();
    let recipe = std::fs::read_to_string(root().join("datasets/example-clicks/recipe.toml"))
        .unwrap()
        .replace("delimiter = \",\"", &format!("delimiter = \"{delimiter}\""));
    std::fs::write(data.join("recipe.toml"), recipe).unwrap();

    let tiny_bert = root().join("crates/flip-plm/tests/fixtures/tiny-bert");
    let sources = Sources::new(FlipHome::at(scratch), root().join("datasets"));
    let request = PrepareRequest::new(
        data.join("recipe.toml").display().to_string(),
        tiny_bert.display().to_string(),
    );
    let dataset = sources.prepare(&request).unwrap().dataset;
    let mut settings = FlipSettings::from_preset(
        &preset_named("cpu-quick").unwrap(),
        model_named("dcnv2").unwrap(),
        tiny_bert,
    );
    settings.pretraining.pretrain.max_rows = Some(64);
    settings.id_training.max_epochs = 1;
    let run = scratch.join("run");
    let mut experiment = Experiment::new(dataset, settings, &run, Device::flex()).unwrap();
    experiment.pretrain().unwrap();
    experiment.finetune(Variant::FlipId, 2012).unwrap();
    (run, data.join("clicks.csv"))
}

/// The input: the header and the first three data rows of `csv`, the third with a user never
/// seen in training.
fn input_rows(csv: &Path, delimiter: char) -> String {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines: Vec<String> = text.lines().take(4).map(str::to_owned).collect();
    let rest = lines[3].split_once(delimiter).unwrap().1.to_owned();
    lines[3] = format!("u999{delimiter}{rest}");
    lines.join("\n") + "\n"
}

fn scores_of_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn scores_carry_keys_in_the_format_the_extension_names() {
    let scratch = tempfile::tempdir().unwrap();
    let (run, csv) = finished_run(scratch.path(), ';');
    let saved = SavedModels::open(&run).unwrap();
    let device = Device::flex();
    // The recipe reads `;`-separated files: so is the input (a `,` reader would find one column).
    let input = scratch.path().join("new.csv");
    std::fs::write(&input, input_rows(&csv, ';')).unwrap();

    let output = scratch.path().join("scores.csv");
    let prediction = saved
        .predict_file(
            SavedVariant::FlipId,
            &input,
            &output,
            CarriedColumns::Keys,
            &device,
        )
        .unwrap();
    assert_eq!(prediction.rows, 3);
    assert_eq!(prediction.oov[0], ("user".to_owned(), 1));
    assert_eq!(
        prediction.oov_lines(),
        ["user: 1 of 3 rows not seen in training (scored with its OOV id)"]
    );
    let (header, rows) = scores_of_csv(&output);
    assert_eq!(header, ["row", "user", "ad_category", "score"]);
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0][0].as_str(), rows[0][1].as_str()), ("0", "u4"));
    assert_eq!((rows[2][0].as_str(), rows[2][1].as_str()), ("2", "u999"));
    for row in &rows {
        let score: f32 = row[3].parse().unwrap();
        assert!((0.0..=1.0).contains(&score), "{row:?}");
    }

    let all = scratch.path().join("scores.parquet");
    saved
        .predict_file(
            SavedVariant::FlipId,
            &input,
            &all,
            CarriedColumns::All,
            &device,
        )
        .unwrap();
    let file = std::fs::File::open(&all).unwrap();
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "row",
            "user",
            "region",
            "device",
            "ad_category",
            "hour",
            "clicked",
            "time",
            "score"
        ]
    );

    let err = saved
        .predict_file(
            SavedVariant::FlipId,
            &input,
            &scratch.path().join("scores.txt"),
            CarriedColumns::Keys,
            &device,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("scores.txt: name the output .csv or .parquet"),
        "{err}"
    );
    assert!(!scratch.path().join("scores.txt").exists());
}

#[test]
fn typed_codes_match_text_codes_and_bad_values_name_their_row() {
    let scratch = tempfile::tempdir().unwrap();
    let (run, csv) = finished_run(scratch.path(), ',');
    let saved = SavedModels::open(&run).unwrap();
    let device = Device::flex();
    let text_input = scratch.path().join("new.csv");
    std::fs::write(&text_input, input_rows(&csv, ',')).unwrap();
    let text_scores = scratch.path().join("text.csv");
    saved
        .predict_file(
            SavedVariant::FlipId,
            &text_input,
            &text_scores,
            CarriedColumns::Keys,
            &device,
        )
        .unwrap();

    // The same rows in Parquet, `hour` as a float column (20.0, not "20").
    let (_, rows) = scores_of_csv(&text_input);
    let text = |c: usize| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>(),
        ))
    };
    let hours: Vec<f64> = rows.iter().map(|r| r[4].parse().unwrap()).collect();
    let batch = RecordBatch::try_from_iter([
        ("user", text(0)),
        ("region", text(1)),
        ("device", text(2)),
        ("ad_category", text(3)),
        ("hour", Arc::new(Float64Array::from(hours)) as ArrayRef),
    ])
    .unwrap();
    let parquet_input = scratch.path().join("new.parquet");
    let file = std::fs::File::create(&parquet_input).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let typed_scores = scratch.path().join("typed.csv");
    let prediction = saved
        .predict_file(
            SavedVariant::FlipId,
            &parquet_input,
            &typed_scores,
            CarriedColumns::Keys,
            &device,
        )
        .unwrap();
    assert_eq!(
        prediction.oov[3],
        ("hour".to_owned(), 0),
        "20.0 reads as 20"
    );
    assert_eq!(scores_of_csv(&typed_scores), scores_of_csv(&text_scores));

    // `device` must be one of the recipe's words (`unmapped = "error"`).
    std::fs::write(
        &text_input,
        input_rows(&csv, ',').replacen("tablet", "watch", 2),
    )
    .unwrap();
    let err = saved
        .predict_file(
            SavedVariant::FlipId,
            &text_input,
            &scratch.path().join("bad.csv"),
            CarriedColumns::Keys,
            &device,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("new.csv: row 1 (counted from 1 after the header), column `device`"),
        "{err}"
    );
    assert!(!scratch.path().join("bad.csv").exists());
}
