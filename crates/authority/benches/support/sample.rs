//! Timing samples for the benchmarks: per-operation times collected for a time budget, and
//! rate ratios printed with their standard error (or as "noisy"), so that a quick run never
//! prints a figure it cannot back. Shared by the bench and its test
//! (`crates/authority/tests/bench_sample.rs`).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Per-operation times of one phase, in seconds: one value per timed step (a step may run
/// several operations, as a batch of 100 per commit does; its value is its time per
/// operation). Steps, not operations, are the independent measurements, so the error is
/// computed over steps.
pub struct Sample {
    steps: Vec<f64>,
    ops: usize,
}

impl Sample {
    /// A sample of single-operation steps taking `secs` each.
    pub fn of(secs: Vec<f64>) -> Self {
        let ops = secs.len();
        Self { steps: secs, ops }
    }

    /// Runs `step(i)` (which performs `k` operations and returns `k`) until at least
    /// `min_ops` operations ran and `budget` has passed, recording each step's time per op.
    pub fn measure(budget: Duration, min_ops: usize, step: impl FnMut(usize) -> usize) -> Self {
        let start = Instant::now();
        Self::measure_by(
            budget.as_secs_f64(),
            min_ops,
            || start.elapsed().as_secs_f64(),
            step,
        )
    }

    /// [`measure`](Self::measure), reading the time from `clock` (seconds since any fixed
    /// instant): the benches pass the monotonic clock, the tests a clock of their own, so
    /// what they check does not depend on how busy the machine is.
    pub fn measure_by(
        budget: f64,
        min_ops: usize,
        mut clock: impl FnMut() -> f64,
        mut step: impl FnMut(usize) -> usize,
    ) -> Self {
        let start = clock();
        let mut steps = Vec::new();
        let mut ops = 0;
        while ops < min_ops || clock() - start < budget {
            let t = clock();
            let k = step(ops).max(1);
            steps.push((clock() - t) / k as f64);
            ops += k;
        }
        Self { steps, ops }
    }

    /// Operations run.
    pub fn count(&self) -> usize {
        self.ops
    }

    /// Mean time per operation.
    pub fn mean(&self) -> f64 {
        self.steps.iter().sum::<f64>() / self.steps.len().max(1) as f64
    }

    pub fn per_second(&self) -> f64 {
        1.0 / self.mean()
    }

    /// The standard error of the mean, relative to the mean. RSA key generation times vary
    /// several-fold from key to key, so a handful of keys says little.
    pub fn relative_error(&self) -> f64 {
        let n = self.steps.len() as f64;
        if n < 2.0 {
            return f64::INFINITY;
        }
        let m = self.mean();
        let var = self.steps.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        (var / n).sqrt() / m
    }
}

/// `a / b` as a rate ratio with its standard error, or "noisy" when the error is more
/// than a quarter of the ratio.
pub fn ratio(a: &Sample, b: &Sample) -> String {
    let error = a.relative_error().hypot(b.relative_error());
    let r = a.per_second() / b.per_second();
    if error > 0.25 {
        "noisy".to_owned()
    } else {
        format!("{r:.2}±{:.2}", r * error)
    }
}
