//! Route normalisation: any URI becomes an absolute path without empty, `.` or `..`
//! segments, so no encoding of `..` or `//` can make a skip rule match a different path; and a
//! path the gate calls plain (the only kind that can skip authentication) reads the same
//! decoded and normalised.
#![no_main]

use gatehouse::gate::path::{RequestPath, normalise_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = std::str::from_utf8(data) else { return };
    let p = normalise_path(uri);
    assert!(p.starts_with('/'), "{uri:?} -> {p:?}");
    let inner = p.strip_prefix('/').unwrap_or(&p);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if !inner.is_empty() {
        for segment in inner.split('/') {
            assert!(!matches!(segment, "" | "." | ".."), "{uri:?} -> {p:?} keeps segment {segment:?}");
            assert!(!segment.contains(';'), "{uri:?} -> {p:?} keeps ;params");
        }
    }
    let read = RequestPath::parse(uri);
    if read.plain {
        assert_eq!(read.decoded, read.normalised, "{uri:?} is plain but its readings differ");
    }
});
