//! The base layer: small pure helpers every other module may use, and which use nothing else
//! in the crate (the tidy test holds this).
//!
//! Never: reads configuration, does I/O, or knows about HTTP servers, sessions or providers.

pub mod names;
pub mod secret;
pub mod text;

pub use secret::Secret;
