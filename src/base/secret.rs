//! `Secret<T>`: a value that must never reach a log, an error message or `--help` output.
//!
//! The only way to read the inner value is [`Secret::expose`], so every use site of a secret is
//! greppable. `Debug` and `Display` print a fixed placeholder.

use std::fmt;

use base64::Engine;

/// A redacting wrapper for client secrets, cookie secrets, passwords and tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// Reads the secret. Call it only where the value is handed to the code that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// oauth2-proxy's `SecretBytes`: base64url (padding optional) when that decodes to a valid AES
/// key length, else the raw bytes.
pub fn key_bytes(secret: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let mut end = secret.len();
        while end > 0 && secret[end - 1] == b'=' {
            end -= 1;
        }
        &secret[..end]
    };
    match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed) {
        Ok(decoded) if matches!(decoded.len(), 16 | 24 | 32) => decoded,
        _ => secret.to_vec(),
    }
}

/// Equality that takes the same time wherever the inputs differ (secrets, their hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}
