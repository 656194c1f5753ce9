//! The matrix-multiply ceiling of this CPU as burn-flex sees it: GFLOP/s of the `gemm` crate
//! (burn-flex's f32 matrix multiply) on the MiniLM layer shapes, with 1 and with all threads.
//! `cargo run --release -p flip-train --features flex --example gemm_ceiling`

use std::time::Instant;

/// GFLOP/s of `c[m, n] = a[m, k] b[k, n]` (row-major), best of the timed repetitions.
fn gflops(m: usize, k: usize, n: usize, threads: usize) -> f64 {
    let a = vec![1.0f32; m * k];
    let b = vec![0.5f32; k * n];
    let mut c = vec![0.0f32; m * n];
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut run = || {
        // SAFETY: the pointers and strides describe the three row-major buffers above.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            )
        }
    };
    for _ in 0..3 {
        run();
    }
    let reps = 20;
    let start = Instant::now();
    for _ in 0..reps {
        run();
    }
    2.0 * (m * k * n) as f64 * reps as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("| m x k x n | 1 thread GFLOP/s | {threads} threads GFLOP/s |\n|---|---:|---:|");
    for (m, k, n) in [
        (2048, 384, 1536),
        (2048, 1536, 384),
        (2048, 384, 384),
        (1024, 1024, 1024),
    ] {
        println!(
            "| {m} x {k} x {n} | {:.0} | {:.0} |",
            gflops(m, k, n, 1),
            gflops(m, k, n, threads)
        );
    }
}
