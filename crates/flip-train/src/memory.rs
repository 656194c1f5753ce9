//! How the process keeps freed memory. By default glibc maps every block over 128 KiB freshly
//! from the kernel and returns it on free, so each step of a training loop pays for page faults
//! and for the kernel zeroing pages again (a quarter of a language-model training step on
//! 2 cores; docs/benchmarks.md). Elsewhere than Linux with glibc both calls do nothing.

/// Keeps freed tensor buffers in the process for reuse: call it first in `main`, before any
/// thread starts.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; the caller calls it before threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20); // the largest glibc accepts
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Hands memory freed so far back to the kernel (after [`keep_freed_memory`] the process keeps
/// it), for example between benchmark scenarios so that each one's peak is its own.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
