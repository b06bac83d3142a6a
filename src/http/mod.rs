//! Gatehouse's HTTP vocabulary, shared by the gate, the server's middleware and the handlers:
//! reading a request ([`request`]), the one table from typed errors to error answers
//! ([`error`]), and the plain answers every endpoint gives ([`respond`]).
//!
//! Invariant: the only place that chooses a status code, apart from the renderers of the
//! gate's verdicts (`endpoints::auth`, `endpoints::proxy`), which choose among these answers.
//! Never: decides whether a request may pass, or talks to a store or a provider.

pub mod error;
pub mod request;
pub mod respond;

pub use error::HttpError;
