//! Aggregators that tolerate faulty clients: coordinate-wise median and trimmed mean,
//! Krum / MultiKrum (squared L2 distances, k = max(1, n − f − 2) nearest), and Bulyan.

use rayon::prelude::*;

use super::{FlError, Update};

/// Coordinates per block: a block of every update fits in cache while it is reduced.
const BLOCK: usize = 1024;

/// Applies `reduce` to each coordinate's values across updates, block by block, with the
/// blocks spread over the process's one shared pool (rayon's, sized to the cores), so
/// concurrent aggregations share the cores instead of each starting threads of its own
/// (`reduce` gets the coordinate's index).
fn per_coordinate<F>(updates: &[Update], reduce: F) -> Vec<f32>
where
    F: Fn(usize, &mut [f32]) -> f32 + Sync,
{
    let d = updates.first().map_or(0, |u| u.weights.len());
    let mut out = vec![0.0f32; d];
    let parts = rayon::current_num_threads().min(d.div_ceil(BLOCK)).max(1);
    let per_part = (d.div_ceil(parts).div_ceil(BLOCK) * BLOCK).max(1);
    out.par_chunks_mut(per_part)
        .enumerate()
        .for_each(|(t, chunk)| reduce_range(updates, t * per_part, chunk, &reduce));
    out
}

fn reduce_range<F>(updates: &[Update], first: usize, out: &mut [f32], reduce: &F)
where
    F: Fn(usize, &mut [f32]) -> f32,
{
    let n = updates.len();
    let mut block = vec![0.0f32; n * BLOCK];
    let mut start = 0;
    while start < out.len() {
        let len = BLOCK.min(out.len() - start);
        for (k, u) in updates.iter().enumerate() {
            for (j, w) in u.weights[first + start..first + start + len]
                .iter()
                .enumerate()
            {
                block[j * n + k] = *w;
            }
        }
        for j in 0..len {
            out[start + j] = reduce(first + start + j, &mut block[j * n..(j + 1) * n]);
        }
        start += len;
    }
}

fn median_of(values: &mut [f32]) -> f32 {
    let n = values.len();
    let mid = n / 2;
    let (_, upper, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..mid]
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    ((f64::from(lower) + f64::from(upper)) / 2.0) as f32
}

/// Coordinate-wise median (the mean of the two middle values for an even count).
pub(crate) fn median(updates: &[Update]) -> Vec<f32> {
    per_coordinate(updates, |_, v| median_of(v))
}

/// Coordinate-wise mean after cutting `int(beta·n)` values from each end.
pub(crate) fn trimmed_mean(updates: &[Update], beta: f64) -> Vec<f32> {
    let n = updates.len();
    let cut = (beta * n as f64) as usize;
    per_coordinate(updates, |_, values| {
        // Two selections instead of a sort: the kept values end up in [cut, n − cut).
        if cut > 0 {
            values.select_nth_unstable_by(cut - 1, f32::total_cmp);
            values[cut..].select_nth_unstable_by(n - 2 * cut, f32::total_cmp);
        }
        let kept = &values[cut..n - cut];
        (kept.iter().map(|v| f64::from(*v)).sum::<f64>() / kept.len() as f64) as f32
    })
}

fn squared_distances(updates: &[Update]) -> Vec<Vec<f64>> {
    let n = updates.len();
    let mut d = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f64 = updates[i]
                .weights
                .iter()
                .zip(updates[j].weights.iter())
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
                .sum();
            d[i][j] = s;
            d[j][i] = s;
        }
    }
    d
}

fn krum_scores(updates: &[Update], f: usize) -> Vec<f64> {
    let n = updates.len();
    let k = n.saturating_sub(f.saturating_add(2)).max(1);
    squared_distances(updates)
        .into_iter()
        .map(|row| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|a, b| row[*a].total_cmp(&row[*b]));
            // The nearest entry is the update itself (distance 0); it is skipped.
            order.iter().skip(1).take(k).map(|&j| row[j]).sum()
        })
        .collect()
}

/// The example-weighted average of `updates` picked by `indices`.
fn weighted_average(updates: &[Update], indices: &[usize]) -> Vec<f32> {
    let d = updates[indices[0]].weights.len();
    let total: f64 = indices
        .iter()
        .map(|&i| updates[i].num_examples as f64)
        .sum();
    let mut acc = vec![0.0f64; d];
    for &i in indices {
        let n = updates[i].num_examples as f64;
        for (a, w) in acc.iter_mut().zip(updates[i].weights.iter()) {
            *a += n * f64::from(*w);
        }
    }
    acc.into_iter().map(|a| (a / total) as f32).collect()
}

fn best(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold(0, |b, (i, s)| if *s < scores[b] { i } else { b })
}

/// Krum (`to_keep == 0`): the update with the lowest score. MultiKrum: the
/// example-weighted average of the `to_keep` lowest scores.
pub(crate) fn krum(updates: &[Update], f: usize, to_keep: usize) -> Vec<f32> {
    let scores = krum_scores(updates, f);
    if to_keep == 0 {
        return updates[best(&scores)].weights.to_vec();
    }
    let mut order: Vec<usize> = (0..updates.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    order.truncate(to_keep.min(updates.len()));
    weighted_average(updates, &order)
}

/// Bulyan: pick θ = n − 2f updates by repeated Krum, then average, per coordinate, the
/// β = θ − 2f values closest to the coordinate-wise median of the picked ones.
pub(crate) fn bulyan(updates: &[Update], f: usize) -> Result<Vec<f32>, FlError> {
    let n = updates.len();
    let needed = super::strategy::bulyan_minimum(f);
    if needed.is_none_or(|needed| n < needed) {
        return Err(FlError::Invalid(format!(
            "bulyan with f = {f} needs at least 4f + 3 updates, got {n}"
        )));
    }
    let theta = n - 2 * f;
    let beta = theta - 2 * f;
    let mut remaining: Vec<Update> = updates.to_vec();
    let mut selected = Vec::with_capacity(theta);
    for _ in 0..theta {
        let scores = krum_scores(&remaining, f);
        selected.push(remaining.remove(best(&scores)));
    }
    let med = median(&selected);
    Ok(per_coordinate(&selected, |i, values| {
        let m = med[i];
        values.sort_unstable_by(|a, b| (a - m).abs().total_cmp(&(b - m).abs()));
        (values[..beta].iter().map(|v| f64::from(*v)).sum::<f64>() / beta as f64) as f32
    }))
}
