//! The benchmarks' ratio rule: a quick run with a handful of erratic samples (RSA key
//! generation varies several-fold from key to key) prints "noisy", never a ratio such as
//! the 1.68 "faster than the raw crypto" that 5 RSA keys once gave; steady samples print
//! the ratio with its standard error.

#[path = "../benches/support/sample.rs"]
mod sample;

use sample::{ratio, Sample};

#[test]
fn a_few_erratic_samples_give_no_ratio() {
    // Five RSA-like key generations: 30 ms to 400 ms each.
    let raw = Sample::of(vec![0.40, 0.03, 0.25, 0.05, 0.32]);
    let stored = Sample::of(vec![0.06, 0.35, 0.04, 0.09, 0.07]);
    assert!(stored.per_second() / raw.per_second() > 1.5, "the trap");
    assert_eq!(ratio(&stored, &raw), "noisy");
}

#[test]
fn steady_samples_give_the_ratio_and_its_error() {
    let raw = Sample::of(
        (0..200)
            .map(|i| 0.010 + f64::from(i % 3) * 0.0005)
            .collect(),
    );
    let stored = Sample::of(
        (0..200)
            .map(|i| 0.020 + f64::from(i % 5) * 0.0005)
            .collect(),
    );
    let shown = ratio(&stored, &raw);
    let (r, e) = shown.split_once('±').expect("a ratio with its error");
    let r: f64 = r.parse().unwrap();
    let e: f64 = e.parse().unwrap();
    assert!((r - 0.49).abs() < 0.02, "{shown}");
    assert!(e < 0.01, "{shown}");
}

#[test]
fn a_batch_is_one_measurement_not_one_per_operation() {
    // Four batches of ten: four measurements, however many operations they ran. The
    // clock is the test's own, moved by each batch: no wall time, so no load, decides.
    let now = std::cell::Cell::new(0.0);
    let mut times = [0.9, 0.1, 0.6, 0.2].into_iter();
    let batched = Sample::measure_by(
        0.0,
        40,
        || now.get(),
        |_| {
            now.set(now.get() + times.next().unwrap_or(0.5) / 10.0);
            10
        },
    );
    assert_eq!(batched.count(), 40);
    // Spread like that over 4 measurements is far from known to within a quarter.
    assert!(
        batched.relative_error() > 0.25,
        "{}",
        batched.relative_error()
    );
}

#[test]
fn one_sample_has_no_error_estimate() {
    let one = Sample::of(vec![0.01]);
    assert!(one.relative_error().is_infinite());
    assert_eq!(ratio(&one, &one), "noisy");
}
