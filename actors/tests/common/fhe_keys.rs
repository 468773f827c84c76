//! One FHE key set per machine for the tests, generated on first use (~10 s) and kept
//! under cargo's target directory; later test binaries and runs load it.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The test key directory (made if missing).
pub fn dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fhe-test-keys");
        if swarm_actors::fhe::core::keys::check(&dir).is_err() {
            // Made aside and renamed, so a run killed mid-way leaves no half key set.
            let tmp = dir.with_extension(format!("{}.tmp", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            swarm_actors::fhe::core::keys::generate(&tmp).expect("keygen");
            let _ = std::fs::remove_dir_all(&dir);
            if std::fs::rename(&tmp, &dir).is_err() {
                // Another test binary won the race; its key set is as good.
                let _ = std::fs::remove_dir_all(&tmp);
            }
        }
        dir
    })
    .clone()
}
