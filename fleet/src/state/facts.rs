//! The last facts each host reported, so `validate` can render templates
//! with real values without contacting hosts.

use std::path::PathBuf;

use schedfleet_proto::Facts;

pub struct FactsCache {
    dir: PathBuf,
}

impl FactsCache {
    pub fn open() -> FactsCache {
        FactsCache { dir: super::dir().join("facts") }
    }

    fn path(&self, host: &str) -> PathBuf {
        // Host names are checked at load (letters, digits, `-_.`), so they are safe file names.
        self.dir.join(format!("{host}.json"))
    }

    pub fn get(&self, host: &str) -> Option<Facts> {
        serde_json::from_slice(&std::fs::read(self.path(host)).ok()?).ok()
    }

    /// Best effort: a cache that cannot be written only costs accuracy later.
    pub fn put(&self, host: &str, facts: &Facts) {
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let tmp = self.dir.join(format!(".{host}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec_pretty(facts)?)?;
            std::fs::rename(tmp, self.path(host))
        };
        if let Err(e) = write() {
            tracing::debug!(host, error = %e, "cannot cache facts");
        }
    }
}
