//! `file:///dir#/mount/` upstreams: static files from a directory, never outside it.

use std::path::{Component, Path, PathBuf};

use actix_web::{HttpRequest, HttpResponse};

/// The file for `request_path` under `dir`, with `mount` removed from the front. `None` for
/// anything that could leave `dir` (`..`, absolute components, encoded slashes or NULs).
pub fn resolve(dir: &Path, mount: &str, request_path: &str) -> Option<PathBuf> {
    let rest = request_path.strip_prefix(mount.trim_end_matches('/')).unwrap_or(request_path);
    let decoded = String::from_utf8(crate::base::text::percent_decode(rest, true)?).ok()?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = dir.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Serves the file (with `index.html` for directories), or 404.
pub async fn serve(req: &HttpRequest, dir: &Path, mount: &str) -> HttpResponse {
    let Some(mut path) = resolve(dir, mount, req.path()) else {
        return HttpResponse::NotFound().body("Not Found\n");
    };
    if path.is_dir() {
        path.push("index.html");
    }
    match actix_files::NamedFile::open_async(&path).await {
        Ok(file) => file.into_response(req),
        Err(_) => HttpResponse::NotFound().body("Not Found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_refused() {
        let d = Path::new("/srv/site");
        assert_eq!(resolve(d, "/static/", "/static/a/b.css"), Some(PathBuf::from("/srv/site/a/b.css")));
        for bad in [
            "/static/../etc/passwd",
            "/static/%2e%2e/etc/passwd",
            "/static/a/%2E%2E/%2E%2E/x",
            "/static/..%2fx",
            "/static/%00",
            "/static/..\\x",
            "/static/%zz",
        ] {
            assert_eq!(resolve(d, "/static/", bad), None, "{bad}");
        }
    }
}
