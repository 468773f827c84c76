//! Programmable-bootstrap counts of the FHE workloads (tfhe's `pbs-stats`): deterministic,
//! unlike time, so the cost of each step is pinned here. Alone in its binary, because the
//! count is process-wide.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use swarm_actors::fhe::core::auction::{self, AuctionRule};
use swarm_actors::fhe::core::holder::KeyHolder;
use swarm_actors::fhe::core::progress::Progress;
use swarm_actors::fhe::core::secure_sum::{self, FixedPoint};
use swarm_actors::fhe::core::{keys, tally, wire};

/// Bootstraps `f` runs.
fn bootstraps<T>(f: impl FnOnce() -> T) -> (T, u64) {
    tfhe::reset_pbs_count();
    let out = f();
    (out, tfhe::get_pbs_count())
}

// One test: the count is process-wide, so the workloads are measured one after another.
#[test]
fn bootstrap_counts() {
    let dir = common::fhe_keys::dir();
    let server = keys::load_server(&dir).unwrap();
    let holder = KeyHolder::new(keys::load_client(&dir).unwrap());
    tfhe::set_server_key(server.server.clone());
    tally_counts(&server, &holder);
    auction_counts(&server, &holder);
    secure_sum_counts(&server, &holder);
    scoring_counts();
}

fn tally_counts(server: &keys::ServerKeys, holder: &KeyHolder) {
    let progress = Progress::new(u64::MAX, None);
    let (options, n) = (2, 4);
    let lists: Vec<_> = (0..n)
        .map(|i| {
            let bytes = wire::encrypt_u8(
                &server.public,
                &[u8::from(i % 2 == 0), u8::from(i % 2 == 1)],
            )
            .unwrap();
            wire::read_list(&bytes, options).unwrap()
        })
        .collect();
    let (ballots, expand) = bootstraps(|| {
        lists
            .iter()
            .map(|l| wire::expand_u8(l).unwrap())
            .collect::<Vec<_>>()
    });
    let (valid, check) = bootstraps(|| tally::validity(&ballots[0], &progress).unwrap());
    assert!(holder.reveal_bool(&valid));
    let (multi, multi_pbs) = bootstraps(|| tally::totals(&ballots, options, &progress).unwrap());
    let (seq, seq_pbs) =
        bootstraps(|| tally::totals_sequential(&ballots, options, &progress).unwrap());
    assert_eq!(holder.reveal_u16(&multi), vec![2, 2]);
    assert_eq!(holder.reveal_u16(&seq), vec![2, 2]);
    println!(
        "bootstraps: expand {n}×{options} values {expand}, validity {check}, multi-operand totals {multi_pbs}, sequential totals {seq_pbs}"
    );
    // Expanding: one bootstrap per 2-bit block (4 per 8-bit value); validity of two
    // entries; totals of 4 ballots × 2 options.
    assert_eq!(
        (expand, check, multi_pbs, seq_pbs),
        (32, 19, 42, 128),
        "pinned counts"
    );
    assert!(
        seq_pbs >= 3 * multi_pbs,
        "the multi-operand sum bootstraps 3× less"
    );
}

fn auction_counts(server: &keys::ServerKeys, holder: &KeyHolder) {
    let progress = Progress::new(u64::MAX, None);
    let bids: Vec<_> = [300u16, 1200, 700]
        .iter()
        .map(|&b| {
            let bytes = wire::encrypt_u16(&server.public, &[b]).unwrap();
            wire::expand_u16(&wire::read_list(&bytes, 1).unwrap())
                .unwrap()
                .remove(0)
        })
        .collect();
    let ((w1, p1), first) =
        bootstraps(|| auction::decide(&bids, AuctionRule::First, &progress).unwrap());
    let ((w2, p2), second) =
        bootstraps(|| auction::decide(&bids, AuctionRule::Second, &progress).unwrap());
    assert_eq!((holder.reveal_u8(&w1), holder.reveal_value(&p1)), (1, 1200));
    assert_eq!((holder.reveal_u8(&w2), holder.reveal_value(&p2)), (1, 700));
    println!("bootstraps: auction of 3 × 16-bit bids, first price {first}, second price {second}");
    // Per bid after the first: a 16-bit comparison and two selects (first price, 42);
    // second price adds a select and a running maximum (97).
    assert_eq!((first, second), (84, 194), "pinned counts");
}

fn secure_sum_counts(server: &keys::ServerKeys, holder: &KeyHolder) {
    let progress = Progress::new(u64::MAX, None);
    let encoding = FixedPoint::default();
    let updates: [(&[f32], u64); 3] = [(&[0.5, -1.0], 10), (&[1.5, 2.0], 20), (&[-0.25, 0.0], 30)];
    let lists: Vec<_> = updates
        .iter()
        .map(|(w, n)| {
            let bytes = wire::encrypt(&server.public, &encoding.encode(w, *n).unwrap()).unwrap();
            wire::read_list_of(&bytes, 3, tfhe::FheTypes::Int32).unwrap()
        })
        .collect();
    let (vectors, expand) = bootstraps(|| {
        lists
            .iter()
            .map(|l| wire::expand::<tfhe::FheInt32>(l).unwrap())
            .collect::<Vec<_>>()
    });
    let (sums, summed) = bootstraps(|| secure_sum::sum(&vectors, 3, &progress).unwrap());
    let mut clear = vec![0i32; 3];
    for (w, n) in updates {
        for (s, q) in clear.iter_mut().zip(encoding.encode(w, n).unwrap()) {
            *s += q;
        }
    }
    assert_eq!(holder.reveal_i32(&sums), clear);
    println!(
        "bootstraps: secure sum of 3 clients × 3 32-bit values, expand {expand}, sums {summed}"
    );
    // One bootstrap per 2-bit block on expansion (16 per value); a 3-operand sum of
    // 16-block values cleans carries with 32.
    assert_eq!((expand, summed), (144, 96), "pinned counts");
}

fn scoring_counts() {
    use swarm_actors::fhe::core::lwe_score::{self, ScoringKey};
    let key = ScoringKey::generate();
    let (weights, q_x) = (
        [-161i64, -193, -148, -177, -164, 28, -100, -227],
        [3i64, -20, 7, 0, 127, -128, 55, 9],
    );
    let sample = key.encrypt(&q_x).unwrap();
    let (scored, pbs) = bootstraps(|| lwe_score::score(&weights, 37_821, &sample).unwrap());
    let clear: i64 = weights.iter().zip(q_x).map(|(w, x)| w * x).sum::<i64>() + 37_821;
    assert_eq!(key.decrypt(&scored).unwrap(), clear);
    println!("bootstraps: encrypted linear score of 8 features {pbs}");
    // Leveled, as Concrete ML's circuit for the same model (its statistics: 0 PBS).
    assert_eq!(pbs, 0, "pinned counts");
}
