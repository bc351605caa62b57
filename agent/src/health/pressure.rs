//! CPU pressure stall information from `/proc/pressure/cpu`: how much of
//! the time runnable tasks waited for a CPU. Absent when the kernel was
//! built without PSI or booted with `psi=0` (the file is then missing or
//! unreadable with `EOPNOTSUPP`).

use schedfleet_proto::{CpuPressure, PressureLine};

const PATH: &str = "/proc/pressure/cpu";

pub fn read() -> Option<CpuPressure> {
    parse(&std::fs::read_to_string(PATH).ok()?)
}

/// Parses a PSI file:
/// `some avg10=0.12 avg60=0.05 avg300=0.01 total=123456` and, since 5.13,
/// a `full` line of the same form. A `some` line is required.
pub fn parse(text: &str) -> Option<CpuPressure> {
    let (mut some, mut full) = (None, None);
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        *slot = parse_line(words);
    }
    Some(CpuPressure { some: some?, full })
}

fn parse_line<'a>(words: impl Iterator<Item = &'a str>) -> Option<PressureLine> {
    let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
    for word in words {
        let (key, value) = word.split_once('=')?;
        match key {
            "avg10" => avg10 = value.parse().ok(),
            "avg60" => avg60 = value.parse().ok(),
            "avg300" => avg300 = value.parse().ok(),
            "total" => total = value.parse().ok(),
            _ => {}
        }
    }
    Some(PressureLine { avg10: avg10?, avg60: avg60?, avg300: avg300?, total: total? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_and_full_lines_parse() {
        let p = parse("some avg10=2.87 avg60=15.02 avg300=25.65 total=631506737\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
            .unwrap();
        assert_eq!(p.some, PressureLine { avg10: 2.87, avg60: 15.02, avg300: 25.65, total: 631506737 });
        assert_eq!(p.full.unwrap().total, 0);
    }

    #[test]
    fn kernels_before_5_13_have_no_full_line() {
        let p = parse("some avg10=0.00 avg60=0.10 avg300=0.00 total=42\n").unwrap();
        assert_eq!(p.some.total, 42);
        assert_eq!(p.full, None);
    }

    #[test]
    fn broken_files_are_absent_not_zero() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("some avg10=x avg60=0 avg300=0 total=1\n"), None);
        assert_eq!(parse("some avg10=1 avg60=0 total=1\n"), None);
        // A broken `full` line loses only itself.
        let p = parse("some avg10=1 avg60=2 avg300=3 total=4\nfull garbage\n").unwrap();
        assert_eq!((p.some.avg60, p.full), (2.0, None));
    }

    #[test]
    fn this_machine_parses_when_psi_is_on() {
        if let Ok(text) = std::fs::read_to_string(PATH) {
            assert!(parse(&text).is_some(), "{text}");
        }
    }
}
