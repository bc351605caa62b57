//! Cutting the selected hosts into waves, the way Ansible's `serial` list
//! does, so that a new scheduler reaches one host, then a few, then the rest.
//!
//! This module owns only the arithmetic and the order: which host goes in
//! which wave. It does not decide when a wave starts, how long it bakes, or
//! what a failure costs; that is the rollout's.
//!
//! # Sizes
//!
//! The i-th entry of `sizes` is the size of the i-th wave. Every entry is
//! computed against the *total* number of hosts, not against the hosts left
//! (`"50%"` of 40 hosts is 20 whether it comes first or third), percentages
//! are rounded up, and every wave holds at least one host (`0` and `"0%"`
//! mean one). The last entry repeats until every host is in a wave, and a
//! wave never takes more hosts than are left. So `[1, "10%", "50%", "100%"]`
//! over 40 hosts gives waves of 1, 4, 20 and 15, and `[2, 3]` over 10 hosts
//! gives 2, 3, 3, 2. An empty `sizes` means one wave of every host, as an
//! absent `serial` does in Ansible.
//!
//! # Order
//!
//! Without `order_by`, hosts keep the inventory's order. With it, hosts are
//! sorted by the value of that label, compared as plain strings byte by byte
//! (`r10` sorts before `r2`: zero-pad rack names that should sort as
//! numbers), and hosts without the label come after all hosts with it. The
//! sort is stable, so hosts with equal values keep their inventory order.
//!
//! The waves are then cut from that one sorted list, front to back, at the
//! sizes above, and nothing else is reordered. Wave boundaries do not snap
//! to label boundaries: a wave of 4 over racks of 3 hosts takes a whole rack
//! and the first host of the next. What the sort buys is that each wave is a
//! contiguous run of racks, so it touches as few racks as its size allows
//! and a rack is finished before the next one is started. Snapping to racks
//! would silently change the sizes that the failure budget and the operator
//! reason about, which is worse than a wave that straddles two racks.
//!
//! The result depends only on the input, so the same commit and inventory
//! always give the same waves; a resumed rollout relies on that.

use std::collections::BTreeMap;

use crate::config::HostCount;

/// One batch of hosts, rolled out together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wave {
    /// The wave's position, from 0.
    pub index: usize,
    /// Host names, in the order they were sorted into.
    pub hosts: Vec<String>,
}

/// Cuts `hosts` (name and labels, in inventory order) into waves of `sizes`,
/// ordered by the label `order_by` when it is given. See the module
/// documentation for the exact rules.
pub fn waves(hosts: &[(String, BTreeMap<String, String>)], sizes: &[HostCount], order_by: Option<&str>) -> Vec<Wave> {
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    if let Some(label) = order_by {
        // `sort_by_key` is stable: equal values keep their inventory order.
        // `(false, Some(v))` sorts before `(true, None)`: labelled hosts first.
        order.sort_by_key(|&i| {
            let value = hosts[i].1.get(label).map(String::as_str);
            (value.is_none(), value)
        });
    }
    let mut names = order.into_iter().map(|i| hosts[i].0.clone());
    batch_sizes(hosts.len(), sizes)
        .into_iter()
        .enumerate()
        .map(|(index, size)| Wave { index, hosts: names.by_ref().take(size).collect() })
        .collect()
}

/// The size of each wave for `total` hosts; the sizes add up to `total`.
fn batch_sizes(total: usize, sizes: &[HostCount]) -> Vec<usize> {
    let Some(&last) = sizes.last() else {
        return if total == 0 { Vec::new() } else { vec![total] };
    };
    let mut out = Vec::new();
    let mut left = total;
    let mut entries = sizes.iter().copied().chain(std::iter::repeat(last));
    while left > 0 {
        let entry = entries.next().expect("the last entry repeats forever");
        let size = entry.of(total).max(1).min(left);
        out.push(size);
        left -= size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use HostCount::{Count, Percent};

    /// Hosts `h00`, `h01`, ... without labels.
    fn plain(n: usize) -> Vec<(String, BTreeMap<String, String>)> {
        (0..n).map(|i| (format!("h{i:02}"), BTreeMap::new())).collect()
    }

    fn labelled(hosts: &[(&str, Option<&str>)]) -> Vec<(String, BTreeMap<String, String>)> {
        hosts
            .iter()
            .map(|&(name, rack)| {
                let labels = rack.map(|r| BTreeMap::from([("rack".to_string(), r.to_string())])).unwrap_or_default();
                (name.to_string(), labels)
            })
            .collect()
    }

    fn lens(waves: &[Wave]) -> Vec<usize> {
        waves.iter().map(|w| w.hosts.len()).collect()
    }

    fn names(waves: &[Wave]) -> Vec<Vec<&str>> {
        waves.iter().map(|w| w.hosts.iter().map(String::as_str).collect()).collect()
    }

    #[test]
    fn sizes_are_shares_of_the_total() {
        let w = waves(&plain(40), &[Count(1), Percent(10), Percent(50), Percent(100)], None);
        assert_eq!(lens(&w), [1, 4, 20, 15]);
        assert_eq!(w.iter().map(|w| w.index).collect::<Vec<_>>(), [0, 1, 2, 3]);
        // Every host exactly once, in inventory order.
        let all: Vec<String> = w.into_iter().flat_map(|w| w.hosts).collect();
        assert_eq!(all, plain(40).into_iter().map(|h| h.0).collect::<Vec<_>>());
    }

    #[test]
    fn one_host_per_wave() {
        let w = waves(&plain(5), &[Count(1)], None);
        assert_eq!(lens(&w), [1; 5]);
        assert_eq!(names(&w), [["h00"], ["h01"], ["h02"], ["h03"], ["h04"]]);
    }

    #[test]
    fn the_last_entry_repeats_and_never_overshoots() {
        assert_eq!(lens(&waves(&plain(10), &[Count(2), Count(3)], None)), [2, 3, 3, 2]);
        assert_eq!(lens(&waves(&plain(10), &[Percent(30)], None)), [3, 3, 3, 1]);
        // An entry larger than what is left takes only what is left.
        assert_eq!(lens(&waves(&plain(3), &[Count(1), Count(50)], None)), [1, 2]);
        assert_eq!(lens(&waves(&plain(3), &[Count(7)], None)), [3]);
        // Entries after every host is placed are not used.
        assert_eq!(lens(&waves(&plain(2), &[Count(1), Count(1), Count(1), Count(1)], None)), [1, 1]);
    }

    #[test]
    fn everything_at_once() {
        assert_eq!(lens(&waves(&plain(17), &[Percent(100)], None)), [17]);
        assert_eq!(lens(&waves(&plain(17), &[], None)), [17], "no sizes: one wave");
    }

    #[test]
    fn percentages_round_up_and_waves_hold_at_least_one_host() {
        // 10% of 41 is 4.1: 5 hosts.
        assert_eq!(lens(&waves(&plain(41), &[Percent(10), Percent(100)], None)), [5, 36]);
        // 1% of 3 is 0.03: 1 host, then 1% again.
        assert_eq!(lens(&waves(&plain(3), &[Percent(1)], None)), [1, 1, 1]);
        // 33% of 10 is 3.3: 4, 4, then the 2 left.
        assert_eq!(lens(&waves(&plain(10), &[Percent(33)], None)), [4, 4, 2]);
        // Zero means one, so a rollout always moves forward.
        assert_eq!(lens(&waves(&plain(3), &[Count(0), Percent(0)], None)), [1, 1, 1]);
    }

    #[test]
    fn no_hosts_no_waves() {
        assert!(waves(&[], &[Count(1), Percent(100)], None).is_empty());
        assert!(waves(&[], &[], Some("rack")).is_empty());
    }

    #[test]
    fn order_by_sorts_stably_with_unlabelled_hosts_last() {
        let hosts = labelled(&[
            ("a", Some("r2")),
            ("b", None),
            ("c", Some("r1")),
            ("d", Some("r2")),
            ("e", None),
            ("f", Some("r1")),
            ("g", Some("r10")),
        ]);
        let w = waves(&hosts, &[Count(1), Count(3), Percent(100)], Some("rack"));
        // r1 (c, f), r10 (g), r2 (a, d), then no rack (b, e); ties in inventory order.
        assert_eq!(names(&w), vec![vec!["c"], vec!["f", "g", "a"], vec!["d", "b", "e"]]);
        // Cut, not snapped to racks: the second wave straddles r1, r10 and r2.

        // A label no host has changes nothing.
        let w = waves(&hosts, &[Percent(100)], Some("zone"));
        assert_eq!(names(&w), [["a", "b", "c", "d", "e", "f", "g"]]);
    }

    #[test]
    fn the_same_input_gives_the_same_waves() {
        let hosts = labelled(&[("x", Some("b")), ("y", None), ("z", Some("a")), ("w", Some("b"))]);
        let sizes = [Count(1), Percent(50)];
        let first = waves(&hosts, &sizes, Some("rack"));
        for _ in 0..10 {
            assert_eq!(waves(&hosts, &sizes, Some("rack")), first);
        }
        assert_eq!(names(&first), vec![vec!["z"], vec!["x", "w"], vec!["y"]]);
    }
}
