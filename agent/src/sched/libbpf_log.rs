//! Captures what libbpf prints (including the kernel verifier's log, which
//! libbpf fetches and prints when a program is refused) so a refusal can be
//! reported with its reason instead of a bare `EACCES`.

use std::sync::Mutex;

use libbpf_rs::PrintLevel;

/// Enough for the tail of any verifier log without growing without bound.
const CAP: usize = 1 << 20;

static CAPTURED: Mutex<String> = Mutex::new(String::new());

fn capture(level: PrintLevel, msg: String) {
    if matches!(level, PrintLevel::Warn) {
        crate::log::debug(msg.trim_end());
    }
    let mut buf = CAPTURED.lock().unwrap_or_else(|p| p.into_inner());
    if buf.len() + msg.len() <= CAP {
        buf.push_str(&msg);
    }
}

pub fn install() {
    libbpf_rs::set_print(Some((PrintLevel::Debug, capture)));
}

/// Everything captured since the last call.
pub fn take() -> String {
    std::mem::take(&mut *CAPTURED.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The last `lines` lines of the verifier's log in `captured`, or of the
/// whole capture when it holds no verifier log.
pub fn verifier_tail(captured: &str, lines: usize) -> Option<String> {
    const BEGIN: &str = "-- BEGIN PROG LOAD LOG --";
    const END: &str = "-- END PROG LOAD LOG --";
    let section = match captured.rfind(BEGIN) {
        Some(start) => {
            let body = &captured[start + BEGIN.len()..];
            &body[..body.find(END).unwrap_or(body.len())]
        }
        None => captured,
    };
    let kept: Vec<&str> = section.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    if kept.is_empty() {
        return None;
    }
    Some(kept[kept.len().saturating_sub(lines)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_prefers_the_verifier_section() {
        let log = "libbpf: noise\n-- BEGIN PROG LOAD LOG --\n0: r1 = 0\n1: (79) r2 = *(u64 *)(r1 +0)\nR1 invalid mem access 'scalar'\n-- END PROG LOAD LOG --\nlibbpf: failed to load\n";
        let tail = verifier_tail(log, 2).unwrap();
        assert_eq!(tail, "1: (79) r2 = *(u64 *)(r1 +0)\nR1 invalid mem access 'scalar'");
    }

    #[test]
    fn tail_falls_back_to_whole_capture() {
        assert_eq!(verifier_tail("a\nb\nc\n", 2).unwrap(), "b\nc");
        assert_eq!(verifier_tail("\n\n", 2), None);
    }
}
