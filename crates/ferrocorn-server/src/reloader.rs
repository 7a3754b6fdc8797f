//! `--reload` for development: watch the app's source files and, when one changes, stop this worker
//! gracefully so the master starts a fresh one that imports the new code.
//!
//! Directories are watched (not files) so editors that save by rename are seen too; events are
//! filtered to the files we care about.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc;

use notify::{RecursiveMode, Watcher};

use crate::log;

/// Start watching `files` from a background thread of this worker.
pub fn watch(files: Vec<PathBuf>) -> notify::Result<()> {
    let wanted: HashSet<PathBuf> = files.iter().filter_map(|f| f.canonicalize().ok()).collect();
    let dirs: HashSet<PathBuf> = wanted
        .iter()
        .filter_map(|f| f.parent().map(PathBuf::from))
        .collect();
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx)?;
    for d in &dirs {
        watcher.watch(d, RecursiveMode::NonRecursive)?;
    }
    log::info(&format!(
        "Reloader watching {} files in {} directories",
        wanted.len(),
        dirs.len()
    ));
    std::thread::Builder::new()
        .name("ferrocorn-reloader".into())
        .spawn(move || {
            let _keep = watcher;
            for ev in rx {
                let Ok(ev) = ev else { continue };
                if !(ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove()) {
                    continue;
                }
                let hit = ev.paths.iter().find(|p| {
                    wanted.contains(*p)
                        || p.canonicalize()
                            .map(|c| wanted.contains(&c))
                            .unwrap_or(false)
                });
                if let Some(p) = hit {
                    log::info(&format!("Worker reloading: {} modified", p.display()));
                    let _ = nix::sys::signal::kill(
                        nix::unistd::getpid(),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                    return;
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(())
}
