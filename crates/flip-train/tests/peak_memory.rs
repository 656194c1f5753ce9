//! The benchmarks' peak-memory probe, in a process of its own so that no other test allocates
//! or resets the mark meanwhile.

use flip_train::bench::memory;

#[test]
fn peak_memory_grows_by_what_is_touched_after_a_reset() {
    if !memory::reset_peak() {
        eprintln!("skipped: /proc/self/clear_refs is not writable here");
        return;
    }
    let before = memory::peak_mib().expect("VmHWM is readable where clear_refs is");
    let block = vec![1u8; 64 << 20];
    std::hint::black_box(&block);
    let after = memory::peak_mib().expect("still readable");
    assert!(after >= before + 60.0, "{before} MiB -> {after} MiB");
    drop(block);
    assert!(memory::reset_peak());
    let reset = memory::peak_mib().expect("still readable");
    assert!(
        reset < after - 60.0,
        "reset mark {reset} MiB, peak was {after} MiB"
    );
}
