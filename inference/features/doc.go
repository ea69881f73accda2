// Package features is the pure feature library shared by serving (package
// inference) and training (cmd/edgepm-train): per-device sliding windows over
// named sensor channels and the window statistics a reliability engineer uses.
// Training and serving call the same code, so there is no train/serve skew.
//
// # Basics
//
// A [Window] holds the recent samples of one device, by count ([KindCount]) or
// by duration ([KindDuration]). [Window.Push] adds a reading and reports when
// a feature row is due (every Hop accepted readings once the window is
// ready: a count window when it is full, or, with MinSamples < Size, as soon
// as it holds MinSamples readings, over the samples held so far).
// A [Plan] turns a window into a feature vector in the order of its [Spec]s.
// [Extractor] combines both for many devices (used by the trainer).
//
// # Statistics
//
// All statistics skip missing samples and use the population (n) definitions:
//
//	mean      Σx/n
//	std       sqrt(Σ(x-mean)²/n)                     (0 for n=1)
//	min, max  smallest, largest value
//	rms       sqrt(Σx²/n)
//	p2p       max - min
//	crest     max|x| / rms                           (0 when rms = 0)
//	skewness  m3 / m2^1.5, mk = Σ(x-mean)^k/n         (0 when std ≈ 0)
//	kurtosis  m4 / m2² (Pearson, normal = 3)         (0 when std ≈ 0)
//	slope     least-squares slope of x over time, per second (0 for n<2 or no time spread)
//	ewma      e = x0; e = α·x + (1-α)·e, oldest to newest; α = Spec.Alpha (default 0.3)
//	last      newest valid value
//	count     number of valid samples
//	band_energy  mean-square power of the newest waveform of the channel in
//	          [Band[0], Band[1]) Hz (one-sided FFT, rectangular window, zero
//	          padded to a power of two; all bands together sum to mean(x²))
//
// "std ≈ 0" means std <= 1e-12·max(1, |mean|).
//
// # Bad input
//
//   - A channel missing from a reading is a missing sample (NaN in the window).
//   - NaN and ±Inf values are treated as missing and counted in PushResult.Invalid.
//   - A reading with no valid value for any channel of the window is ignored
//     (ErrNoValues) and does not advance the window.
//   - A reading older than the newest sample of its device is rejected with
//     ErrOutOfOrder and does not change the window; equal timestamps are accepted.
//     (The engine starts a new window for a device whose clock was set back by
//     more than its clock_reset_after.)
//   - A statistic with no valid samples (e.g. mean of an all-missing channel)
//     is NaN before imputation; [Plan.Compute] replaces it with the plan's fill
//     value for that feature (the training mean) and reports how many it filled.
//     The output vector therefore never contains NaN or Inf.
//
// # Concurrency
//
// Window, Plan and Extractor do not block. A Plan is immutable and safe for
// concurrent use; a Window and an Extractor are not (callers lock per device).
package features
