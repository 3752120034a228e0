//! Who should own how many partitions, and which ones to give up: pure
//! arithmetic over the live nodes a node sees in the lease bucket. Nodes
//! never negotiate: each aims at its share and the leases (compare-and-set
//! in JetStream) settle any race. Knows no NATS.

use std::collections::BTreeSet;

/// How many of `partitions` the node at `rank` (its place among the sorted
/// live node ids) should own among `nodes`: an even split, the first
/// `partitions mod nodes` nodes one more.
pub fn fair_share(partitions: u32, nodes: usize, rank: usize) -> usize {
    let (p, n) = (partitions as usize, nodes.max(1));
    p / n + usize::from(rank < p % n)
}

/// The partitions the node at `rank` tries first: its own contiguous slice
/// (partition `p` belongs to rank `p * nodes / partitions`), then the others
/// from just after it. So nodes rarely compete for the same free lease, and a
/// node that comes back gets the same partitions back.
pub fn preference(partitions: u32, nodes: usize, rank: usize) -> Vec<u32> {
    let home = |p: u32| (p as usize * nodes.max(1)) / partitions.max(1) as usize == rank;
    let start = (0..partitions).find(|&p| home(p)).unwrap_or(0);
    (0..partitions).map(|i| (start + i) % partitions).collect()
}

/// The live nodes, sorted, from the lease bucket's keys (`node.<id>`)
/// and this node's own id. A key counts once: JetStream's key listing
/// repeats a key that is written while it lists (every node rewrites its
/// own each round), and a repeated node made every node's share too small
/// — partitions were handed back and taken again every few seconds.
pub fn live_nodes(keys: &[String], me: &str) -> Vec<String> {
    let nodes: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("node."))
        .chain(std::iter::once(me))
        .map(String::from)
        .collect();
    nodes.into_iter().collect()
}

/// The live nodes, given this round's listing and when each node was last
/// listed: a node listed within `ttl` still counts. A listing can miss a
/// node that is alive (JetStream's key listing runs on a consumer that may
/// sit on a replica still catching up after a server restart); trusting it
/// alone made a node think it was alone and reach for every partition.
pub fn remembered(
    seen: &mut std::collections::BTreeMap<String, std::time::Instant>,
    listed: &[String],
    now: std::time::Instant,
    ttl: std::time::Duration,
) -> Vec<String> {
    for n in listed {
        seen.insert(n.clone(), now);
    }
    seen.retain(|_, at| now.saturating_duration_since(*at) < ttl);
    seen.keys().cloned().collect()
}

/// What a node does this round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Partitions to hand back (consumers stopped, then the lease deleted).
    pub release: Vec<u32>,
    /// How many free partitions to try to take.
    pub acquire: usize,
}

/// Gives up partitions beyond the share (those outside the node's own slice
/// first, then the highest), or asks for more below it.
pub fn plan(owned: &BTreeSet<u32>, partitions: u32, nodes: usize, rank: usize) -> Plan {
    let share = fair_share(partitions, nodes, rank);
    if owned.len() <= share {
        return Plan {
            release: Vec::new(),
            acquire: share - owned.len(),
        };
    }
    let order = preference(partitions, nodes, rank);
    let mut by_preference: Vec<u32> = owned.iter().copied().collect();
    by_preference.sort_by_key(|p| order.iter().position(|q| q == p));
    Plan {
        release: by_preference.split_off(share),
        acquire: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_every_partition_and_differ_by_at_most_one() {
        for partitions in [1u32, 7, 16, 64] {
            for nodes in 1..=5 {
                let shares: Vec<usize> = (0..nodes)
                    .map(|r| fair_share(partitions, nodes, r))
                    .collect();
                assert_eq!(shares.iter().sum::<usize>(), partitions as usize);
                assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn each_rank_prefers_its_own_slice_and_the_slices_cover_everything() {
        let firsts: Vec<u32> = (0..3).map(|r| preference(16, 3, r)[0]).collect();
        assert_eq!(firsts, vec![0, 6, 11]);
        for r in 0..3 {
            let mut all = preference(16, 3, r);
            all.sort();
            assert_eq!(all, (0..16).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_node_over_its_share_gives_back_what_lies_outside_its_slice_first() {
        // Alone it took all 16; a second node appears and it is rank 0.
        let owned: BTreeSet<u32> = (0..16).collect();
        let p = plan(&owned, 16, 2, 0);
        assert_eq!(p.release, (8..16).collect::<Vec<_>>());
        assert_eq!(p.acquire, 0);
        // Rank 1 of the same pair, owning everything, keeps its own half.
        assert_eq!(plan(&owned, 16, 2, 1).release, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn a_node_listed_twice_counts_once_and_a_node_always_sees_itself() {
        let keys: Vec<String> = ["node.b", "partition.3", "node.a", "node.b", "node.b"]
            .map(String::from)
            .into();
        assert_eq!(live_nodes(&keys, "a"), ["a", "b"]);
        assert_eq!(live_nodes(&keys, "c"), ["a", "b", "c"]);
        // With the repeats, b (rank 1 of 2) keeps its share of 8 of 16.
        let nodes = live_nodes(&keys, "b");
        assert_eq!(fair_share(16, nodes.len(), 1), 8);
    }

    #[test]
    fn a_node_missing_from_one_listing_still_counts_until_the_ttl() {
        use std::time::{Duration, Instant};
        let (t0, ttl) = (Instant::now(), Duration::from_secs(5));
        let mut seen = Default::default();
        let both: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(remembered(&mut seen, &both, t0, ttl), both);
        let only_a: Vec<String> = vec!["a".into()];
        let later = t0 + Duration::from_secs(2);
        assert_eq!(remembered(&mut seen, &only_a, later, ttl), both);
        let gone = t0 + Duration::from_secs(6);
        assert_eq!(remembered(&mut seen, &only_a, gone, ttl), only_a);
    }

    #[test]
    fn a_node_under_its_share_asks_for_the_difference() {
        let owned: BTreeSet<u32> = [3, 4].into();
        assert_eq!(
            plan(&owned, 16, 3, 2),
            Plan {
                release: vec![],
                acquire: 3
            }
        );
    }
}
