//! Rollout progress on a terminal: one bar per wave, counting its hosts as
//! they are confirmed or fail, with the bake's remaining time; failures are
//! printed above the bar as they happen. Nothing at all when stderr is not
//! a terminal (cron, CI, pipes): the table and the JSON at the end say it all.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use schedfleet_fleet::rollout::{NoProgress, Progress};

pub struct WaveBars {
    multi: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
}

/// Bars when stderr is a terminal, silence otherwise.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(WaveBars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            current: Mutex::new(None),
        })
    } else {
        Box::new(NoProgress)
    }
}

impl Progress for WaveBars {
    fn wave(&self, index: usize, waves: usize, hosts: &[String]) {
        let bar = self.multi.add(ProgressBar::new(hosts.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("wave {prefix} [{bar:30}] {pos}/{len} hosts  {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{waves}", index + 1));
        bar.set_message("activating");
        if let Some(old) = self.current.lock().unwrap_or_else(|p| p.into_inner()).replace(bar) {
            old.finish_with_message("done");
        }
    }

    fn host(&self, host: &str, state: &str) {
        let guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bar) = guard.as_ref() else { return };
        match state {
            "baking" => {}
            "confirmed" => bar.inc(1),
            other => {
                bar.inc(1);
                let _ = self.multi.println(crate::terminal::clean(&format!("{host}: {other}")));
            }
        }
    }

    fn bake(&self, left: Duration) {
        if let Some(bar) = self.current.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            bar.set_message(format!("baking, {}s left", left.as_secs()));
        }
    }

    fn done(&self) {
        if let Some(bar) = self.current.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_with_message("done");
        }
    }
}
