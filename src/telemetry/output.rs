//! Where log lines go: stdout and stderr, or `logging_filename` rotated as oauth2-proxy's
//! lumberjack does it (`logging_max_size` MB, `logging_max_backups`, `logging_max_age` days,
//! `logging_compress`; backups named `<name>-<time>.<ext>`, gzipped when asked).
//!
//! One `Output` per file per process, shared by the standard log and every app's request and
//! auth log, so a rotation is never done twice. Never formats lines; it only writes them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use anyhow::Context;

/// Rotation settings for `logging_filename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    pub path: PathBuf,
    /// Bytes before rotating; 0 never rotates.
    pub max_size: u64,
    /// Backups kept; 0 keeps all (subject to `max_age`).
    pub max_backups: usize,
    /// Backups older than this are deleted; zero keeps them.
    pub max_age: Duration,
    pub compress: bool,
    /// Backup names in local time instead of UTC.
    pub local_time: bool,
}

pub enum Output {
    Stdio,
    File(Mutex<RotatingFile>),
}

impl Output {
    /// Writes one line. `error` lines go to stderr on stdio (the caller decides, with
    /// `errors_to_info_log`); a file takes everything.
    pub fn line(&self, line: &str, error: bool) {
        match self {
            Output::Stdio if error => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Output::Stdio => {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Output::File(f) => f.lock().unwrap_or_else(|e| e.into_inner()).write_line(line),
        }
    }

    /// The output for these settings: stdio, or the process's one handle on the file.
    pub fn open(file: Option<&FileConfig>) -> anyhow::Result<Arc<Output>> {
        static STDIO: std::sync::LazyLock<Arc<Output>> = std::sync::LazyLock::new(|| Arc::new(Output::Stdio));
        static FILES: std::sync::LazyLock<Mutex<HashMap<PathBuf, Weak<Output>>>> = std::sync::LazyLock::new(Default::default);
        let Some(cfg) = file else { return Ok(STDIO.clone()) };
        let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = files.get(&cfg.path).and_then(Weak::upgrade) {
            return Ok(open);
        }
        let out = Arc::new(Output::File(Mutex::new(RotatingFile::open(cfg.clone())?)));
        files.insert(cfg.path.clone(), Arc::downgrade(&out));
        Ok(out)
    }
}

pub struct RotatingFile {
    cfg: FileConfig,
    file: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(cfg: FileConfig) -> anyhow::Result<RotatingFile> {
        if let Some(dir) = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("logging_filename: cannot create {}", dir.display()))?;
        }
        let file = append(&cfg.path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile { cfg, file, size })
    }

    fn write_line(&mut self, line: &str) {
        let len = line.len() as u64 + 1;
        if self.cfg.max_size > 0
            && self.size > 0
            && self.size + len > self.cfg.max_size
            && let Err(e) = self.rotate()
        {
            // Nowhere else to say it: the log itself is what failed.
            let _ = writeln!(std::io::stderr(), "gatehouse: log rotation of {} failed: {e:#}", self.cfg.path.display());
        }
        if writeln!(self.file, "{line}").is_ok() {
            self.size += len;
        }
    }

    fn rotate(&mut self) -> anyhow::Result<()> {
        let backup = backup_name(&self.cfg.path, SystemTime::now(), self.cfg.local_time);
        std::fs::rename(&self.cfg.path, &backup).with_context(|| format!("cannot rename to {}", backup.display()))?;
        self.file = append(&self.cfg.path)?;
        self.size = 0;
        // Compressing and pruning can take a while; the writer does not wait for them.
        let cfg = self.cfg.clone();
        std::thread::spawn(move || prune(&cfg));
        Ok(())
    }
}

fn append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("logging_filename: cannot open {}", path.display()))
}

fn split(path: &Path) -> (String, String) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => (name[..i].to_string(), name[i..].to_string()),
        None => (name, String::new()),
    }
}

/// lumberjack's backup name: `<stem>-2006-01-02T15-04-05.000<ext>`.
fn backup_name(path: &Path, at: SystemTime, local: bool) -> PathBuf {
    let (stem, ext) = split(path);
    let at: chrono::DateTime<chrono::Utc> = at.into();
    let stamp = if local {
        at.with_timezone(&chrono::Local).format("%Y-%m-%dT%H-%M-%S%.3f").to_string()
    } else {
        at.format("%Y-%m-%dT%H-%M-%S%.3f").to_string()
    };
    path.with_file_name(format!("{stem}-{stamp}{ext}"))
}

/// Compresses, then deletes backups beyond `max_backups` and older than `max_age`.
fn prune(cfg: &FileConfig) {
    let (stem, ext) = split(&cfg.path);
    let dir = cfg.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!("{stem}-");
    // Backups sort by name as by time: the stamp is fixed-width.
    let mut backups: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.starts_with(&prefix) && (name.ends_with(&ext) || name.ends_with(&format!("{ext}.gz")))
        })
        .collect();
    backups.sort();
    backups.reverse();
    let now = SystemTime::now();
    for (i, b) in backups.into_iter().enumerate() {
        let too_many = cfg.max_backups > 0 && i >= cfg.max_backups;
        let too_old = !cfg.max_age.is_zero()
            && std::fs::metadata(&b).and_then(|m| m.modified()).is_ok_and(|t| now.duration_since(t).unwrap_or_default() > cfg.max_age);
        if too_many || too_old {
            let _ = std::fs::remove_file(&b);
        } else if cfg.compress && b.extension().is_none_or(|e| e != "gz") {
            let _ = gzip(&b);
        }
    }
}

fn gzip(path: &Path) -> std::io::Result<()> {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let mut input = File::open(path)?;
    let mut enc = flate2::write::GzEncoder::new(File::create(&gz_name)?, flate2::Compression::default());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?.sync_all()?;
    std::fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &Path, max_size: u64, max_backups: usize, compress: bool) -> FileConfig {
        FileConfig { path: dir.join("gatehouse.log"), max_size, max_backups, max_age: Duration::ZERO, compress, local_time: false }
    }

    fn backups(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "gatehouse.log")
            .collect();
        names.sort();
        names
    }

    fn wait_until(mut cond: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < deadline, "pruning did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn rotates_at_the_size_and_keeps_max_backups() {
        let dir = tempfile_dir("rotate");
        let mut f = RotatingFile::open(cfg(&dir, 100, 2, false)).unwrap();
        for i in 0..5 {
            f.write_line(&format!("{i}: {}", "x".repeat(60)));
            std::thread::sleep(Duration::from_millis(5));
        }
        // Five 64-byte lines, 100 bytes per file: every line but the first rotated.
        wait_until(|| backups(&dir).len() == 2);
        let names = backups(&dir);
        assert!(names.iter().all(|n| n.starts_with("gatehouse-") && n.ends_with(".log")), "{names:?}");
        let current = std::fs::read_to_string(dir.join("gatehouse.log")).unwrap();
        assert!(current.starts_with("4: "), "{current}");
        let newest = std::fs::read_to_string(dir.join(&names[1])).unwrap();
        assert!(newest.starts_with("3: "), "{newest}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn compresses_backups() {
        let dir = tempfile_dir("gzip");
        let mut f = RotatingFile::open(cfg(&dir, 50, 0, true)).unwrap();
        f.write_line(&"a".repeat(40));
        f.write_line(&"b".repeat(40));
        wait_until(|| backups(&dir).iter().any(|n| n.ends_with(".log.gz")) && !backups(&dir).iter().any(|n| n.ends_with(".log")));
        let gz = dir.join(&backups(&dir)[0]);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(File::open(gz).unwrap()), &mut text).unwrap();
        assert_eq!(text, format!("{}\n", "a".repeat(40)));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn backup_names_follow_lumberjack() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_136_214_245_123);
        assert_eq!(backup_name(Path::new("/var/log/o.log"), at, false), Path::new("/var/log/o-2006-01-02T15-04-05.123.log"));
        assert_eq!(backup_name(Path::new("plain"), at, false), Path::new("plain-2006-01-02T15-04-05.123"));
    }

    fn tempfile_dir(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gatehouse-log-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
