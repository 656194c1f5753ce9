//! The library example (`examples/flip_experiment.rs`) runs from start to end: prepare the
//! shipped example dataset, pretrain, finetune FLIP_ID, score it.

#[path = "../examples/flip_experiment.rs"]
mod flip_experiment;

#[test]
fn the_library_example_runs() {
    flip_experiment::main().expect("the example runs");
}
