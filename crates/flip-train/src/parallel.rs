//! Data parallelism over several devices: every device holds a replica of the model (the same
//! parameters, moved there), computes the gradients of its share of the batch in a thread of its
//! own, and the gradients are summed on the first device, where the optimizer steps.
//!
//! Each share's loss is weighted by its fraction of the batch, so for losses that are means
//! over rows the summed gradient is the gradient of the whole batch's loss: the same training
//! as on one device, up to the order of floating-point sums (and dropout draws, which each
//! device makes for its own rows). burn 0.22 has no multi-process all-reduce; several machines
//! join through burn's remote devices (see docs/backends.md).

use std::ops::Range;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;
use burn::tensor::Tensor;

/// The devices of a data-parallel run; the first is the main one (optimizer, evaluation).
#[derive(Debug, Clone)]
pub struct Replicas {
    devices: Vec<Device>,
}

impl Replicas {
    /// Training on `devices` (autodiff devices; at least one).
    ///
    /// # Panics
    /// When `devices` is empty.
    pub fn new(devices: Vec<Device>) -> Self {
        assert!(
            !devices.is_empty(),
            "data parallelism needs at least one device"
        );
        Replicas { devices }
    }

    /// One device.
    pub fn single(device: Device) -> Self {
        Replicas::new(vec![device])
    }

    /// The main device.
    pub fn main(&self) -> &Device {
        &self.devices[0]
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Always false (there is at least one device).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Seeds every device's random stream (dropout) from `seed`, each differently.
    pub fn seed(&self, seed: u64) {
        for (k, device) in self.devices.iter().enumerate() {
            device.seed(seed ^ ((k as u64) << 56));
        }
    }

    /// The rows of a batch of `rows` each device takes: consecutive, sizes differing by at most
    /// one; devices beyond `rows` get none.
    pub fn shares(&self, rows: usize) -> Vec<Range<usize>> {
        let k = self.devices.len();
        let (base, extra) = (rows / k, rows % k);
        let mut start = 0;
        (0..k)
            .map(|i| {
                let len = base + usize::from(i < extra);
                let range = start..start + len;
                start += len;
                range
            })
            .collect()
    }

    /// Runs `work(share, device)` for every device with a non-empty share of `rows`, each in a
    /// thread of its own (the main device's on this thread), and returns the results in device
    /// order.
    pub fn map<R: Send>(
        &self,
        rows: usize,
        work: impl Fn(Range<usize>, &Device) -> R + Sync,
    ) -> Vec<R> {
        let shares = self
            .shares(rows)
            .into_iter()
            .filter(|share| !share.is_empty())
            .collect();
        self.run_each(shares, work)
    }

    /// Runs `work(item, device)` for the `i`-th item on the `i`-th device, each in a thread of
    /// its own (the first on this thread), and returns the results in order.
    ///
    /// # Panics
    /// With more items than devices, or when a thread panics.
    pub fn run_each<T: Send, R: Send>(
        &self,
        items: Vec<T>,
        work: impl Fn(T, &Device) -> R + Sync,
    ) -> Vec<R> {
        assert!(
            items.len() <= self.devices.len(),
            "one item per device at most"
        );
        let mut jobs = items.into_iter().zip(&self.devices);
        let Some((first, first_device)) = jobs.next() else {
            return Vec::new();
        };
        std::thread::scope(|scope| {
            let work = &work;
            let handles: Vec<_> = jobs
                .map(|(item, device)| scope.spawn(move || work(item, device)))
                .collect();
            let mut results = vec![work(first, first_device)];
            results.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a replica's thread panicked")),
            );
            results
        })
    }
}

/// Draws every lazily initialised parameter of `module` now. burn initialises a parameter on
/// its first use, from the device's random stream at that moment; replicas must start from
/// the weights the caller's seed gave, not from whatever stream a device has when a replica
/// first touches them.
pub fn materialize<M: Module>(module: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
}

/// The gradients of the replicas of `module`, moved to `main` and summed there.
pub fn sum_gradients<M: Module>(
    module: &M,
    main: &Device,
    parts: impl IntoIterator<Item = GradientsParams>,
) -> GradientsParams {
    let mut sum = GradientsAccumulator::new();
    for part in parts {
        sum.accumulate(module, part.to_device(main, module));
    }
    sum.grads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_the_batch_evenly() {
        let r = Replicas::new(vec![Device::flex(); 3]);
        assert_eq!(r.shares(10), vec![0..4, 4..7, 7..10]);
        assert_eq!(r.shares(2), vec![0..1, 1..2, 2..2]);
        assert_eq!(Replicas::single(Device::flex()).shares(5), vec![0..5]);
    }

    #[test]
    fn map_runs_every_non_empty_share_in_order() {
        let r = Replicas::new(vec![Device::flex(); 3]);
        let out = r.map(2, |share, _| share.start * 10 + share.len());
        assert_eq!(out, vec![1, 11]);
    }
}
