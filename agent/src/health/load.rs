//! Load: the load averages of `/proc/loadavg` and the tasks runnable right
//! now (`procs_running` in `/proc/stat`). The load averages also count tasks
//! in uninterruptible sleep, which on GPU hosts includes threads waiting on
//! the driver; `runnable` counts only tasks that want a CPU.

use schedfleet_proto::LoadAvg;

pub fn loadavg() -> Option<LoadAvg> {
    parse_loadavg(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

pub fn runnable() -> Option<u64> {
    parse_procs_running(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Parses `1.31 2.32 2.27 2/99 7279`: the first three fields.
pub fn parse_loadavg(text: &str) -> Option<LoadAvg> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some(LoadAvg { avg1: fields.next()?.ok()?, avg5: fields.next()?.ok()?, avg15: fields.next()?.ok()? })
}

/// The value of the `procs_running N` line of `/proc/stat`.
pub fn parse_procs_running(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("procs_running ")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg_takes_the_three_averages() {
        assert_eq!(parse_loadavg("1.31 2.32 2.27 2/99 7279\n"), Some(LoadAvg { avg1: 1.31, avg5: 2.32, avg15: 2.27 }));
        assert_eq!(parse_loadavg("0.00 0.01"), None);
        assert_eq!(parse_loadavg("a b c"), None);
    }

    #[test]
    fn procs_running_is_found_among_the_stat_lines() {
        let stat = "cpu  10 0 20 300 0 0 0 0 0 0\ncpu0 5 0 10 150 0 0 0 0 0 0\nintr 1 2 3\nctxt 4477\nbtime 1700000000\nprocesses 7290\nprocs_running 3\nprocs_blocked 1\nsoftirq 1 2\n";
        assert_eq!(parse_procs_running(stat), Some(3));
        assert_eq!(parse_procs_running("cpu 1 2 3\n"), None);
        // `procs_running_x` is not `procs_running`.
        assert_eq!(parse_procs_running("procs_running_x 5\n"), None);
    }

    #[test]
    fn this_machine_reports_itself_runnable() {
        assert!(runnable().unwrap() >= 1, "the test itself is running");
        assert!(loadavg().is_some());
    }
}
