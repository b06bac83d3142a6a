//! Files read at start and again while running: the TLS certificate and key, and
//! `authenticated_emails_file`. Owns the "read, check, swap" cycle: each file set is polled
//! every second (modification time and size) and re-read on SIGHUP.
//!
//! Never serves a half-read or broken file: the first read must succeed (a start-up error),
//! and a later failed read keeps the last good value and logs why. Never parses the files
//! itself; the owner passes the loader.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

type Loader<T> = Box<dyn Fn() -> anyhow::Result<T> + Send + Sync>;

/// What identifies one version of a file on disk.
type Stamp = Vec<Option<(SystemTime, u64)>>;

/// A value loaded from files, replaced when they change.
pub struct Watched<T> {
    what: &'static str,
    files: Vec<PathBuf>,
    load: Loader<T>,
    current: RwLock<(Arc<T>, Stamp)>,
}

impl<T> std::fmt::Debug for Watched<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("what", &self.what).field("files", &self.files).finish_non_exhaustive()
    }
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Loads the value now; an error here is a start-up error.
    pub fn new(
        what: &'static str,
        files: Vec<PathBuf>,
        load: impl Fn() -> anyhow::Result<T> + Send + Sync + 'static,
    ) -> anyhow::Result<Arc<Watched<T>>> {
        let stamp = stamp(&files);
        let value = load()?;
        Ok(Arc::new(Watched { what, files, load: Box::new(load), current: RwLock::new((Arc::new(value), stamp)) }))
    }

    /// The current value (cheap: a read lock and a reference count).
    pub fn get(&self) -> Arc<T> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone()
    }

    /// Reads the files again; on failure the old value stays and the error is logged.
    pub fn reload(&self) {
        // The stamp is taken before reading, so a write during the read is seen next tick.
        let stamp = stamp(&self.files);
        match (self.load)() {
            Ok(value) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (Arc::new(value), stamp);
                log::info!("{} reloaded from {}", self.what, self.files[0].display());
            }
            Err(e) => {
                // Remember the broken version so it is not re-read (and re-logged) every second.
                self.current.write().unwrap_or_else(|e| e.into_inner()).1 = stamp;
                log::error!("{} not reloaded, keeping the previous one: {e:#}", self.what);
            }
        }
    }

    fn changed(&self) -> bool {
        stamp(&self.files) != self.current.read().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Polls the files every second and listens for SIGHUP, reloading on either.
    /// Must run inside the actix runtime.
    pub fn watch(self: &Arc<Self>) {
        let me = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(Duration::from_secs(1));
            #[cfg(unix)]
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                {
                    let hup_fired = async {
                        match hup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        _ = tick.tick() => { if me.changed() { me.reload(); } }
                        _ = hup_fired => { me.reload(); }
                    }
                }
                #[cfg(not(unix))]
                {
                    tick.tick().await;
                    if me.changed() {
                        me.reload();
                    }
                }
            }
        });
    }
}

fn stamp(files: &[PathBuf]) -> Stamp {
    files.iter().map(|f| std::fs::metadata(f).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_good_value() {
        let dir = std::env::temp_dir().join(format!("gatehouse-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("list");
        std::fs::write(&file, "one").unwrap();
        let f = file.clone();
        let w = Watched::new("list", vec![file.clone()], move || {
            let s = std::fs::read_to_string(&f)?;
            anyhow::ensure!(!s.contains("broken"), "broken");
            Ok(s)
        })
        .unwrap();
        assert_eq!(*w.get(), "one");
        assert!(!w.changed());
        std::fs::write(&file, "two, longer").unwrap();
        assert!(w.changed());
        w.reload();
        assert_eq!(*w.get(), "two, longer");
        std::fs::write(&file, "broken").unwrap();
        w.reload();
        assert_eq!(*w.get(), "two, longer");
        assert!(!w.changed(), "a broken version is not retried every tick");
        std::fs::remove_dir_all(&dir).ok();
    }
}
