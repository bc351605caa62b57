//! The command-line flags of the upstream schedulers schedfleet knows
//! (`scx_bpfland`, `scx_cosmos`), with the type of each value, so that a
//! rendered argument list is checked before any host is contacted: an
//! unknown flag, a missing value or a value of the wrong type is refused by
//! `validate` and `plan` instead of by the scheduler on every host of a
//! wave. Schedulers not in this table get their arguments as written.
//!
//! Flags that make the binary print something and exit (`--help`,
//! `--version`, `--monitor`, `--help-stats`) never run a scheduler, so they
//! are refused for every binary.

/// What follows a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagValue {
    /// Nothing: the flag is a switch.
    Switch,
    /// An unsigned integer.
    Unsigned,
    /// A signed integer.
    Signed,
    /// A decimal number (`0.5`).
    Decimal,
    /// `true` or `false`.
    Bool,
    /// Any text (a CPU mask, a path, a mode name).
    Text,
}

impl FlagValue {
    fn describe(self) -> &'static str {
        match self {
            FlagValue::Switch => "no value",
            FlagValue::Unsigned => "an unsigned integer",
            FlagValue::Signed => "an integer",
            FlagValue::Decimal => "a number",
            FlagValue::Bool => "`true` or `false`",
            FlagValue::Text => "a value",
        }
    }

    fn accepts(self, v: &str) -> bool {
        match self {
            FlagValue::Switch => false,
            FlagValue::Unsigned => v.parse::<u64>().is_ok(),
            FlagValue::Signed => v.parse::<i64>().is_ok(),
            FlagValue::Decimal => v.parse::<f64>().is_ok_and(f64::is_finite),
            FlagValue::Bool => v == "true" || v == "false",
            FlagValue::Text => true,
        }
    }
}

/// One flag: `--long`, its optional `-s` short form, what it takes.
#[derive(Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    pub value: FlagValue,
}

const fn f(long: &'static str, short: Option<char>, value: FlagValue) -> Flag {
    Flag { long, short, value }
}

use FlagValue::{Bool, Decimal, Signed, Switch, Text, Unsigned};

/// The libbpf options every scx scheduler built on scx_utils takes.
const LIBBPF: &[Flag] = &[
    f("relaxed-maps", None, Bool),
    f("pin-root-path", None, Text),
    f("kconfig", None, Text),
    f("btf-custom-path", None, Text),
    f("bpf-token-path", None, Text),
];

/// `scx_bpfland` 1.1.4 (its `Opts`, as `scx_bpfland --help` lists them).
const BPFLAND: &[Flag] = &[
    f("exit-dump-len", None, Unsigned),
    f("slice-us", Some('s'), Unsigned),
    f("slice-min-us", Some('L'), Unsigned),
    f("slice-us-lag", Some('l'), Unsigned),
    f("throttle-us", Some('t'), Unsigned),
    f("idle-resume-us", Some('I'), Signed),
    f("local-pcpu", Some('p'), Switch),
    f("local-kthreads", Some('k'), Switch),
    f("no-wake-sync", Some('w'), Switch),
    f("sticky-tasks", Some('S'), Switch),
    f("primary-domain", Some('m'), Text),
    f("preferred-idle-scan", Some('P'), Switch),
    f("disable-smt", None, Switch),
    f("disable-numa", None, Switch),
    f("cpufreq", Some('f'), Switch),
    f("stats", None, Decimal),
    f("debug", Some('d'), Switch),
    f("verbose", Some('v'), Switch),
];

/// `scx_cosmos` 1.1.7 (its `Opts`, as `scx_cosmos --help` lists them).
const COSMOS: &[Flag] = &[
    f("exit-dump-len", None, Unsigned),
    f("slice-us", Some('s'), Unsigned),
    f("slice-lag-us", Some('l'), Unsigned),
    f("cpu-busy-thresh", Some('c'), Unsigned),
    f("polling-ms", Some('p'), Unsigned),
    f("primary-domain", Some('m'), Text),
    f("primary-overload-us", None, Unsigned),
    f("perf-config", Some('e'), Text),
    f("perf-threshold", Some('E'), Unsigned),
    f("perf-sticky", Some('y'), Text),
    f("perf-sticky-threshold", Some('Y'), Unsigned),
    f("gpu", Some('g'), Switch),
    f("gpu-util-threshold", None, Unsigned),
    f("disable-numa", Some('n'), Switch),
    f("disable-cpufreq", Some('f'), Switch),
    f("flat-idle-scan", Some('i'), Switch),
    f("preferred-idle-scan", Some('P'), Switch),
    f("disable-smt", None, Switch),
    f("avoid-smt", Some('S'), Switch),
    f("no-early-clear", Some('N'), Switch),
    f("no-wake-sync", Some('w'), Switch),
    f("no-deferred-wakeup", Some('d'), Switch),
    f("time-preemption", None, Switch),
    f("mm-affinity", Some('a'), Switch),
    f("stats", None, Decimal),
    f("verbose", Some('v'), Switch),
];

/// Flags that print and exit instead of running a scheduler.
const NOT_RUNNING: &[&str] = &["help", "version", "monitor", "help-stats"];
const NOT_RUNNING_SHORT: &[char] = &['h', 'V'];

/// The flags of scheduler `name` (its ops name: `bpfland`), when known.
pub fn known(name: &str) -> Option<(&'static [Flag], &'static [Flag])> {
    match name {
        "bpfland" => Some((BPFLAND, LIBBPF)),
        "cosmos" => Some((COSMOS, LIBBPF)),
        _ => None,
    }
}

/// Checks a rendered argument list; the error names the argument (1-based)
/// and what to write instead.
pub fn check(name: &str, args: &[String]) -> Result<(), String> {
    let table = known(name);
    let find_long = |l: &str| table.and_then(|(a, b)| a.iter().chain(b).find(|f| f.long == l));
    let find_short = |c: char| table.and_then(|(a, b)| a.iter().chain(b).find(|f| f.short == Some(c)));
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let n = i + 1;
        // (the flag as written, the table entry, a value glued to it)
        let (shown, flag, glued): (String, Option<&Flag>, Option<&str>) = if let Some(long) = arg.strip_prefix("--") {
            let (l, v) = match long.split_once('=') {
                Some((l, v)) => (l, Some(v)),
                None => (long, None),
            };
            if NOT_RUNNING.contains(&l) {
                return Err(not_running(n, arg));
            }
            (format!("--{l}"), find_long(l), v)
        } else if let Some(short) =
            arg.strip_prefix('-').filter(|s| !s.is_empty() && !s.starts_with(|c: char| c.is_ascii_digit()))
        {
            let c = short.chars().next().expect("not empty");
            if NOT_RUNNING_SHORT.contains(&c) {
                return Err(not_running(n, arg));
            }
            let rest = &short[c.len_utf8()..];
            (format!("-{c}"), find_short(c), (!rest.is_empty()).then_some(rest.trim_start_matches('=')))
        } else {
            if table.is_some() {
                return Err(format!(
                    "argument {n} `{}` is not a flag; scx_{name} takes no positional arguments (write `--flag VALUE` pairs)",
                    arg.escape_debug()
                ));
            }
            i += 1;
            continue;
        };
        let Some((own, libbpf)) = table else {
            i += 1;
            continue;
        };
        let Some(flag) = flag else {
            let names: Vec<String> = own.iter().chain(libbpf).map(|f| format!("--{}", f.long)).collect();
            return Err(format!(
                "argument {n}: scx_{name} has no flag `{}`; its flags are: {}",
                shown.escape_debug(),
                names.join(", ")
            ));
        };
        if flag.value == Switch {
            if glued.is_some() {
                return Err(format!("argument {n}: `{shown}` is a switch and takes no value; write `{shown}` alone"));
            }
            i += 1;
            continue;
        }
        let value = match glued {
            Some(v) => v,
            None => match args.get(i + 1) {
                Some(v) => {
                    i += 1;
                    v.as_str()
                }
                None => {
                    return Err(format!(
                        "argument {n}: `{shown}` needs {} after it; add it as the next list item",
                        flag.value.describe()
                    ))
                }
            },
        };
        if !flag.value.accepts(value) {
            return Err(format!(
                "argument {n}: `{shown}` takes {}, not `{}`",
                flag.value.describe(),
                value.escape_debug()
            ));
        }
        i += 1;
    }
    Ok(())
}

fn not_running(n: usize, arg: &str) -> String {
    format!(
        "argument {n} `{}` makes the binary print and exit without running a scheduler; remove it",
        arg.escape_debug()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn known_flags_are_typed() {
        assert!(check("bpfland", &args(&["--slice-us", "5000", "-k", "--primary-domain=all", "-I", "-1"])).is_ok());
        assert!(check("bpfland", &args(&["-s5000", "--relaxed-maps", "true"])).is_ok());
        let e = check("bpfland", &args(&["--slice-us", "fast"])).unwrap_err();
        assert_eq!(e, "argument 1: `--slice-us` takes an unsigned integer, not `fast`");
        let e = check("bpfland", &args(&["--slice-us"])).unwrap_err();
        assert!(e.contains("needs an unsigned integer after it"), "{e}");
        let e = check("bpfland", &args(&["--slice", "5"])).unwrap_err();
        assert!(e.starts_with("argument 1: scx_bpfland has no flag `--slice`; its flags are: --exit-dump-len"), "{e}");
        let e = check("bpfland", &args(&["-k=1"])).unwrap_err();
        assert!(e.contains("is a switch"), "{e}");
        let e = check("bpfland", &args(&["5000"])).unwrap_err();
        assert!(e.contains("not a flag"), "{e}");
        assert!(check("cosmos", &args(&["--slice-us", "10", "--avoid-smt", "--stats", "0.5", "-g"])).is_ok());
        assert!(check("bpfland", &args(&["--stats", "soon"])).unwrap_err().contains("takes a number"));
        assert!(check("cosmos", &args(&["--slice-us-lag", "10"])).is_err(), "that is bpfland's");
    }

    #[test]
    fn flags_that_do_not_run_a_scheduler_are_refused_for_every_binary() {
        for bad in ["--help", "-V", "--monitor", "--monitor=1", "-h"] {
            assert!(check("bpfland", &args(&[bad])).unwrap_err().contains("print and exit"), "{bad}");
            assert!(check("lavd", &args(&[bad])).unwrap_err().contains("print and exit"), "{bad}");
        }
        // Unknown schedulers take anything else as written.
        assert!(check("lavd", &args(&["--performance", "x", "7"])).is_ok());
    }
}
