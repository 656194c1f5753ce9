use burn::tensor::{Device, Distribution, Tensor, activation};
use std::time::Instant;
fn main() {
    let d = Device::flex();
    let ad = d.clone().autodiff();
    for (name, dev) in [("plain", &d), ("autodiff", &ad)] {
        for size in [8usize, 128, 1024] {
            let mut x = Tensor::<2>::random([size, 128], Distribution::Normal(0.0, 1.0), dev);
            if dev.is_autodiff() {
                x = x.require_grad();
            }
            let s = Instant::now();
            let mut y = x.clone();
            for _ in 0..1000 {
                y = y.mul_scalar(1.0001);
            }
            let _ = y.sum().into_scalar::<f32>();
            println!(
                "{name} [{size},128] mul_scalar: {:.1} us/op",
                s.elapsed().as_secs_f64() * 1e3
            );
        }
        let x = Tensor::<2>::random([1024, 128], Distribution::Normal(0.0, 1.0), dev);
        let s = Instant::now();
        for _ in 0..100 {
            let _ = activation::tanh(x.clone()).sum().into_scalar::<f32>();
        }
        println!(
            "{name} tanh [1024,128]: {:.1} us",
            s.elapsed().as_secs_f64() * 1e4
        );
        let s = Instant::now();
        for _ in 0..100 {
            let _ = activation::sigmoid(x.clone()).sum().into_scalar::<f32>();
        }
        println!(
            "{name} sigmoid [1024,128]: {:.1} us",
            s.elapsed().as_secs_f64() * 1e4
        );
    }
}
