//! Rebuilding damaged samples from their surroundings: least-squares autoregressive
//! (LSAR) interpolation, and a look-ahead framework that runs a detector over a stream
//! and repairs what it marks before the samples leave.
//!
//! LSAR (Janssen, Veldhuis & Vries 1986; Godsill & Rayner, *Digital Audio Restoration*,
//! ch. 5): fit an all-pole model of order p to the known samples around a gap, then choose
//! the missing samples that minimise the model's prediction error energy over the window.
//! The normal equations are banded (bandwidth p), so a gap of m samples costs O(m·p²).

/// Order of the autoregressive model.
pub const ORDER: usize = 32;

/// AR prediction-error filter `[1, a1, …, ap]` of `x` by the covariance method (least
/// squares over every stretch of p+1 known samples; far less biased on short windows of
/// tonal music than the autocorrelation method), or `None` when there is too little known
/// signal.
pub fn ar_fit(x: &[f64], known: &[bool], order: usize) -> Option<Vec<f64>> {
    let n_known = known.iter().filter(|&&k| k).count();
    let p = order.min(n_known / 4);
    if p == 0 {
        return None;
    }
    // Normal equations Φ·c = −φ, Φ stored as its lower band of full width.
    let mut phi = vec![0.0; p * p];
    let mut rhs = vec![0.0; p];
    let mut rows = 0usize;
    let mut run = 0usize; // known samples in a row ending here
    for n in 0..x.len() {
        run = if known[n] { run + 1 } else { 0 };
        if run <= p {
            continue;
        }
        rows += 1;
        for i in 0..p {
            let xi = x[n - 1 - i];
            rhs[i] -= xi * x[n];
            for j in 0..=i {
                // Row i, column j at i*p + (p-1 - (i-j)).
                phi[i * p + (p - 1 - (i - j))] += xi * x[n - 1 - j];
            }
        }
    }
    if rows < 2 * p {
        return None;
    }
    let trace: f64 = (0..p).map(|i| phi[i * p + p - 1]).sum();
    if trace.is_nan() || trace <= 1e-30 {
        return None;
    }
    // A little white noise keeps the model stable on pure tones.
    for i in 0..p {
        phi[i * p + p - 1] += 1e-9 * trace / p as f64;
    }
    let c = banded_cholesky_solve(&mut phi, &mut rhs, p, p - 1)?;
    let mut a = Vec::with_capacity(p + 1);
    a.push(1.0);
    a.extend(c);
    a.iter().all(|v| v.is_finite()).then_some(a)
}

/// Replaces the samples of `x` marked in `missing` by their LSAR estimate under the
/// prediction-error filter `a` (from [`ar_fit`]). Missing samples must lie at least
/// `a.len()` samples from both ends of `x`. Returns false if the system could not be
/// solved (then `x` is unchanged).
pub fn lsar_fill(x: &mut [f64], missing: &[bool], a: &[f64]) -> bool {
    let Some(mut sys) = LsarSystem::new(x, missing, a) else {
        return false;
    };
    if sys.unknown.is_empty() {
        return true;
    }
    if !banded_cholesky(&mut sys.band, sys.unknown.len(), sys.p) {
        return false;
    }
    banded_solve(&sys.band, &mut sys.rhs, sys.unknown.len(), sys.p);
    for (&ui, &v) in sys.unknown.iter().zip(&sys.rhs) {
        x[ui] = v;
    }
    true
}

/// The LSAR estimate of the samples of `x` marked in `missing` (as [`lsar_fill`], same
/// conditions) with, for each, its posterior variance per unit prediction-error variance:
/// under a Gaussian AR model with innovation variance σ², the missing samples given the
/// known ones are Gaussian with this mean and σ² times this variance
/// (Godsill & Rayner, §5.2). In the order of the missing samples.
pub fn lsar_posterior(x: &[f64], missing: &[bool], a: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let mut sys = LsarSystem::new(x, missing, a)?;
    let (m, p) = (sys.unknown.len(), sys.p);
    if !banded_cholesky(&mut sys.band, m, p) {
        return None;
    }
    banded_solve(&sys.band, &mut sys.rhs, m, p);
    // diag(M⁻¹) = Σ_k (L⁻¹)_{k,i}²: column i of L⁻¹ is zero above row i.
    let w = p + 1;
    let mut var = vec![0.0; m];
    let mut col = vec![0.0; m];
    for (i, v) in var.iter_mut().enumerate() {
        col[i..].fill(0.0);
        for r in i..m {
            let mut s = if r == i { 1.0 } else { 0.0 };
            let k0 = r.saturating_sub(p).max(i);
            for (k, ck) in col.iter().enumerate().take(r).skip(k0) {
                s -= sys.band[r * w + (p - (r - k))] * ck;
            }
            col[r] = s / sys.band[r * w + p];
        }
        *v = col[i..].iter().map(|c| c * c).sum();
    }
    Some((sys.rhs, var))
}

/// The banded normal equations of an LSAR fill: unknowns, lower band, right-hand side.
struct LsarSystem {
    unknown: Vec<usize>,
    band: Vec<f64>,
    rhs: Vec<f64>,
    p: usize,
}

impl LsarSystem {
    fn new(x: &[f64], missing: &[bool], a: &[f64]) -> Option<LsarSystem> {
        let p = a.len() - 1;
        // Autocorrelation of the filter: the normal matrix away from the window's edges.
        let ra: Vec<f64> = (0..=p)
            .map(|d| (0..=p - d).map(|k| a[k] * a[k + d]).sum())
            .collect();
        let unknown: Vec<usize> = (0..x.len()).filter(|&i| missing[i]).collect();
        if let (Some(&first), Some(&last)) = (unknown.first(), unknown.last())
            && (first < p || last + p >= x.len())
        {
            return None;
        }
        let m = unknown.len();
        // Banded normal matrix, row i holds M[i][i-p..=i] (lower band).
        let mut band = vec![0.0; m * (p + 1)];
        let mut rhs = vec![0.0; m];
        for (i, &ui) in unknown.iter().enumerate() {
            for j in i.saturating_sub(p)..=i {
                let d = ui - unknown[j];
                if d <= p {
                    band[i * (p + 1) + (p - (i - j))] = ra[d];
                }
            }
            band[i * (p + 1) + p] *= 1.0 + 1e-9;
            let mut b = 0.0;
            for j in ui - p..=ui + p {
                if !missing[j] {
                    b -= ra[ui.abs_diff(j)] * x[j];
                }
            }
            rhs[i] = b;
        }
        Some(LsarSystem {
            unknown,
            band,
            rhs,
            p,
        })
    }
}

/// Solves `M·y = rhs` for a symmetric positive-definite banded `M` stored as its lower
/// band (`band[i*(p+1) + (p - (i-j))] = M[i][j]` for i−p ≤ j ≤ i), in place. Returns the
/// solution, or `None` if `M` is not positive definite.
fn banded_cholesky_solve(
    band: &mut [f64],
    rhs: &mut [f64],
    m: usize,
    p: usize,
) -> Option<Vec<f64>> {
    if !banded_cholesky(band, m, p) {
        return None;
    }
    banded_solve(band, rhs, m, p);
    Some(rhs.to_vec())
}

/// Cholesky factor `L` of a banded `M` (layout of [`banded_cholesky_solve`]), in place;
/// false if `M` is not positive definite.
fn banded_cholesky(band: &mut [f64], m: usize, p: usize) -> bool {
    let w = p + 1;
    let at = |i: usize, j: usize| i * w + (p - (i - j));
    for i in 0..m {
        for j in i.saturating_sub(p)..=i {
            let mut s = band[at(i, j)];
            for k in i.saturating_sub(p).max(j.saturating_sub(p))..j {
                s -= band[at(i, k)] * band[at(j, k)];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return false;
                }
                band[at(i, i)] = s.sqrt();
            } else {
                band[at(i, j)] = s / band[at(j, j)];
            }
        }
    }
    true
}

/// Solves `L·Lᵀ·y = rhs` in place, `L` from [`banded_cholesky`].
fn banded_solve(band: &[f64], rhs: &mut [f64], m: usize, p: usize) {
    let w = p + 1;
    let at = |i: usize, j: usize| i * w + (p - (i - j));
    for i in 0..m {
        let mut s = rhs[i];
        for k in i.saturating_sub(p)..i {
            s -= band[at(i, k)] * rhs[k];
        }
        rhs[i] = s / band[at(i, i)];
    }
    for i in (0..m).rev() {
        let mut s = rhs[i];
        for k in i + 1..(i + p + 1).min(m) {
            s -= band[at(k, i)] * rhs[k];
        }
        rhs[i] = s / band[at(i, i)];
    }
}

/// What a [`GapRepair`] looks for and how it rebuilds it.
pub trait Damage: Send {
    /// Marks the damaged samples of `x[lo..hi]` in `mask[lo..hi]`. `x` holds at least
    /// [`CONTEXT`] samples before `lo` and after `hi`.
    fn detect(&mut self, x: &[f64], lo: usize, hi: usize, mask: &mut [bool]);
    /// Clears any running state of the detector.
    fn reset(&mut self) {}
}

/// Known samples kept on each side of a damaged cluster to fit the model and anchor the
/// solution.
pub const CONTEXT: usize = 1024;
/// Samples handed to the detector at a time.
const DETECT_FRAME: usize = 1024;
/// Damaged runs closer than this are rebuilt together.
const MERGE_GAP: usize = 2 * ORDER;
/// Longest cluster rebuilt in one piece; longer ones are split (bounds the latency).
const MAX_SPAN: usize = 4096;
/// Fixed delay of a [`GapRepair`]: enough for any cluster to be detected, closed and
/// rebuilt before its first sample is due out.
pub const LATENCY: usize = 2 * DETECT_FRAME + 2 * CONTEXT + MAX_SPAN + MERGE_GAP;

struct Channel {
    /// Samples from absolute index `base` on; starts with [`CONTEXT`] zeros before time 0.
    buf: Vec<f64>,
    mask: Vec<bool>,
    base: i64,
}

/// A streaming detect-and-rebuild stage with a fixed [`LATENCY`], the core of the
/// declicker. Samples no detector marks pass through bit-exact.
pub struct GapRepair<D: Damage> {
    damage: D,
    channels: Vec<Channel>,
    /// Absolute index of the next input sample.
    total: i64,
    /// Mask valid below this.
    detected: i64,
    /// Every cluster starting below this has been rebuilt.
    repaired: i64,
    /// Samples rebuilt so far, per channel summed.
    rebuilt: u64,
}

impl<D: Damage> GapRepair<D> {
    /// A stage for `channels` interleaved channels.
    pub fn new(channels: usize, damage: D) -> Self {
        let mut g = GapRepair {
            damage,
            channels: Vec::new(),
            total: 0,
            detected: 0,
            repaired: 0,
            rebuilt: 0,
        };
        g.channels = (0..channels.max(1)).map(|_| Channel::new()).collect();
        g
    }

    /// The detector.
    pub fn damage(&self) -> &D {
        &self.damage
    }

    /// Samples rebuilt so far (all channels).
    pub fn rebuilt(&self) -> u64 {
        self.rebuilt
    }

    /// Clears all running state (buffers, counters).
    pub fn reset(&mut self) {
        let n = self.channels.len();
        self.channels = (0..n).map(|_| Channel::new()).collect();
        self.total = 0;
        self.detected = 0;
        self.repaired = 0;
        self.rebuilt = 0;
        self.damage.reset();
    }

    /// Processes interleaved frames in place with a delay of [`LATENCY`] frames.
    pub fn process(&mut self, block: &mut [f32]) {
        let nch = self.channels.len();
        let frames = block.len() / nch;
        let out_start = self.total - LATENCY as i64;
        for frame in block.chunks_exact(nch) {
            for (c, &v) in self.channels.iter_mut().zip(frame) {
                c.buf.push(if v.is_finite() { f64::from(v) } else { 0.0 });
                c.mask.push(false);
            }
        }
        self.total += frames as i64;
        // Detect whole frames that have their right-hand context.
        while self.detected + (DETECT_FRAME + CONTEXT) as i64 <= self.total {
            let lo = self.detected;
            for c in &mut self.channels {
                let (l, h) = (
                    (lo - c.base) as usize,
                    (lo - c.base) as usize + DETECT_FRAME,
                );
                self.damage.detect(&c.buf, l, h, &mut c.mask);
            }
            self.detected += DETECT_FRAME as i64;
        }
        self.repair_closed_clusters();
        for (i, frame) in block.chunks_exact_mut(nch).enumerate() {
            let t = out_start + i as i64;
            for (c, out) in self.channels.iter().zip(frame.iter_mut()) {
                *out = if t < c.base {
                    0.0
                } else {
                    c.buf[(t - c.base) as usize] as f32
                };
            }
        }
        // Keep what the next output and the next cluster's context still need.
        let keep = (out_start + frames as i64).min(self.repaired) - CONTEXT as i64;
        for c in &mut self.channels {
            let drop = (keep - c.base).max(0) as usize;
            if drop > 4 * LATENCY {
                c.buf.drain(..drop);
                c.mask.drain(..drop);
                c.base += drop as i64;
            }
        }
    }

    /// Rebuilds, channel by channel, every cluster of marked samples whose end is followed
    /// by [`MERGE_GAP`] clean samples and [`CONTEXT`] samples within the detected part.
    fn repair_closed_clusters(&mut self) {
        let limit = self.detected - CONTEXT as i64;
        let mut next_repaired = limit.max(self.repaired);
        for ci in 0..self.channels.len() {
            let c = &mut self.channels[ci];
            let mut t = self.repaired;
            while t < limit {
                let i = (t - c.base) as usize;
                if !c.mask[i] {
                    t += 1;
                    continue;
                }
                // Extend the cluster while damaged runs follow within MERGE_GAP.
                let start = i;
                let mut end = i; // last damaged index
                let mut j = i + 1;
                let lim = (limit - c.base) as usize;
                while j < lim && j - end <= MERGE_GAP && j - start < MAX_SPAN {
                    if c.mask[j] {
                        end = j;
                    }
                    j += 1;
                }
                let closed = j - end > MERGE_GAP || j - start >= MAX_SPAN;
                if !closed {
                    // Wait for more input; nothing at or after `t` is done in this channel.
                    next_repaired = next_repaired.min(t);
                    break;
                }
                let lo = start - CONTEXT;
                let hi = end + CONTEXT + 1;
                let window = &mut c.buf[lo..hi];
                let missing: Vec<bool> = (lo..hi)
                    .map(|k| k >= start && k <= end && c.mask[k])
                    .collect();
                let known: Vec<bool> = (lo..hi).map(|k| !c.mask[k]).collect();
                if let Some(a) = ar_fit(window, &known, ORDER)
                    && lsar_fill(window, &missing, &a)
                {
                    self.rebuilt += missing.iter().filter(|&&m| m).count() as u64;
                }
                for k in start..=end {
                    c.mask[k] = false;
                }
                t = c.base + end as i64 + 1;
            }
        }
        self.repaired = next_repaired;
    }
}

impl Channel {
    fn new() -> Channel {
        Channel {
            buf: vec![0.0; CONTEXT],
            mask: vec![false; CONTEXT],
            base: -(CONTEXT as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::testsig::*;

    #[test]
    fn lsar_rebuilds_a_gap_in_a_harmonic_signal() {
        let rate = 44_100.0;
        let n = 2048;
        let mut rng = Rng(5);
        let mut x = rng.noise(n, 1e-4);
        for h in 1..=6 {
            for (o, v) in
                x.iter_mut()
                    .zip(sine(n, rate, 131.0 * h as f64, 0.3 / h as f64, h as f64))
            {
                *o += v;
            }
        }
        let clean = x.clone();
        let missing: Vec<bool> = (0..n).map(|i| (1000..1080).contains(&i)).collect();
        let known: Vec<bool> = missing.iter().map(|m| !m).collect();
        x[1000..1080].fill(0.0);
        let a = ar_fit(&x, &known, ORDER).unwrap();
        assert!(lsar_fill(&mut x, &missing, &a));
        let e: f64 = (1000..1080).map(|i| (x[i] - clean[i]).powi(2)).sum();
        let s: f64 = (1000..1080).map(|i| clean[i].powi(2)).sum();
        let snr = 10.0 * (s / e).log10();
        assert!(snr > 30.0, "gap rebuilt at {snr:.1} dB SNR");
    }
}
