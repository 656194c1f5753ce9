//! A training loop's progress through one epoch, shown twice: as a bar on the terminal, and,
//! since the bar is hidden when stderr is not a terminal (a job under `nohup`), as a `tracing`
//! line at each tenth of the epoch once the epoch has run long enough to be worth one.
//!
//! The pretraining, language-model finetuning and ID-model loops all report through
//! [`EpochProgress`]: each step calls [`EpochProgress::inc`] with its rows, and each fresh
//! summary of the loop's losses goes to [`EpochProgress::set_message`], which shows it on the
//! bar and writes it to the log when a tenth of the epoch has been reached since the last line.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Shortest time between two log lines of one epoch: a loop whose epochs take seconds (the
/// ID models on ML-100K) logs only its per-epoch line, one that takes minutes logs each tenth.
pub const MIN_LINE_INTERVAL: Duration = Duration::from_secs(10);

/// One epoch's bar and its log lines.
pub struct EpochProgress {
    bar: ProgressBar,
    /// What the log line starts with, for example `pretraining epoch 1/1`.
    label: String,
    steps: usize,
    done: usize,
    tenths_logged: usize,
    /// A tenth was reached and no line has been written for it yet.
    line_due: bool,
    min_interval: Duration,
    last_line: Instant,
    lines: usize,
    /// Rows of the steps done since this bar was made, and when it was made.
    rows: usize,
    started: Instant,
}

impl EpochProgress {
    /// A bar of `steps` steps titled `title` (shown before it, for example `pretrain 1/1`),
    /// `done` of them already done (an epoch resumed from a checkpoint), whose log lines start
    /// with `label`.
    pub fn new(title: &str, label: impl Into<String>, steps: usize, done: usize) -> Self {
        let bar = ProgressBar::new(steps as u64)
            .with_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            )
            .with_prefix(title.to_owned());
        bar.set_position(done as u64);
        EpochProgress {
            bar,
            label: label.into(),
            steps,
            done,
            tenths_logged: tenths_done(done, steps),
            line_due: false,
            min_interval: MIN_LINE_INTERVAL,
            last_line: Instant::now(),
            lines: 0,
            rows: 0,
            started: Instant::now(),
        }
    }

    /// The same with another shortest time between two log lines.
    pub fn with_min_interval(mut self, min_interval: Duration) -> Self {
        self.min_interval = min_interval;
        self
    }

    /// One more step done, over `rows` rows.
    pub fn inc(&mut self, rows: usize) {
        self.done += 1;
        self.rows += rows;
        self.bar.inc(1);
        let tenths = tenths_done(self.done, self.steps);
        if tenths > self.tenths_logged {
            self.tenths_logged = tenths;
            self.line_due = true;
        }
    }

    /// A fresh summary of the loop (losses, accuracies, rows/s): shown on the bar, and written to
    /// the log as `<label>, step <done>/<steps>: <summary>` when a tenth of the epoch has been
    /// reached since the last line and at least the shortest interval has passed.
    pub fn set_message(&mut self, summary: String) {
        if self.line_due && self.last_line.elapsed() >= self.min_interval {
            tracing::info!(
                "{}, step {}/{}: {summary}",
                self.label,
                self.done,
                self.steps
            );
            self.line_due = false;
            self.last_line = Instant::now();
            self.lines += 1;
        }
        self.bar.set_message(summary);
    }

    /// Rows per second over the steps done since this bar was made (a resumed epoch counts
    /// from the resume).
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.started.elapsed().as_secs_f64()
    }

    /// How many lines this epoch has written to the log.
    #[cfg(test)]
    fn lines_written(&self) -> usize {
        self.lines
    }

    /// The epoch is over: the bar is cleared.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }

    /// The loop stops inside the epoch (interrupted): the bar stays as it is.
    pub fn abandon(self) {
        self.bar.abandon();
    }
}

/// How many whole tenths of an epoch of `steps_per_epoch` steps `steps_done` steps are (0 to 10).
fn tenths_done(steps_done: usize, steps_per_epoch: usize) -> usize {
    steps_done * 10 / steps_per_epoch.max(1)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{EpochProgress, tenths_done};

    #[test]
    fn tenths_are_whole_tenths_of_the_epoch() {
        assert_eq!(tenths_done(12, 128), 0);
        assert_eq!(tenths_done(13, 128), 1);
        assert_eq!(tenths_done(64, 128), 5);
        assert_eq!(tenths_done(1, 3), 3);
        assert_eq!(tenths_done(3, 3), 10);
        assert_eq!(tenths_done(0, 0), 0);
    }

    /// Steps `0..steps` with a summary after every `every`-th, returning after which steps
    /// (counted from 1) a line went to the log.
    fn lines_after(steps: usize, done: usize, every: usize, interval: Duration) -> Vec<usize> {
        let mut progress =
            EpochProgress::new("test", "test epoch", steps, done).with_min_interval(interval);
        let mut at = Vec::new();
        for step in done + 1..=steps {
            progress.inc(4);
            if step % every == 0 || step == steps {
                let before = progress.lines_written();
                progress.set_message(format!("step {step}"));
                if progress.lines_written() > before {
                    at.push(step);
                }
            }
        }
        assert!(progress.rows_per_second() > 0.0);
        progress.finish();
        at
    }

    #[test]
    fn a_line_at_the_first_summary_after_each_tenth() {
        // 100 steps, a summary at every step: a line at each tenth, ten in all.
        assert_eq!(
            lines_after(100, 0, 1, Duration::ZERO),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        );
        // A summary every 7 steps: the line waits for the summary after the tenth (10 → 14,
        // 20 → 21, 30 → 35, ...), never two lines for one tenth, and the last step has one.
        assert_eq!(
            lines_after(100, 0, 7, Duration::ZERO),
            vec![14, 21, 35, 42, 56, 63, 70, 84, 91, 100]
        );
        // Pretraining's shape: 128 steps, a log window every 10 steps, 12.8 steps a tenth; no
        // line at steps 10, 50 and 100, where no tenth was reached since the last one.
        assert_eq!(
            lines_after(128, 0, 10, Duration::ZERO),
            vec![20, 30, 40, 60, 70, 80, 90, 110, 120, 128]
        );
    }

    #[test]
    fn a_resumed_epoch_counts_its_tenths_from_where_it_stopped() {
        // Resumed at step 45: the tenths up to 4 were logged before the stop.
        assert_eq!(
            lines_after(100, 45, 1, Duration::ZERO),
            vec![50, 60, 70, 80, 90, 100]
        );
    }

    #[test]
    fn a_short_epoch_writes_no_line() {
        // Its whole epoch takes less than the shortest interval between lines.
        assert_eq!(
            lines_after(100, 0, 1, Duration::from_secs(3600)),
            Vec::<usize>::new()
        );
    }
}
