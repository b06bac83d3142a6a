//! Gatehouse's own HTTP endpoints: health, sign-in, OAuth start and callback, sign-out,
//! userinfo and the forward-auth check.
//!
//! Invariant: handlers never read raw cookies or talk to the provider themselves; they use the
//! session and oidc modules, and return typed errors that `server::error` maps to responses.

pub mod admin;
pub mod auth;
pub mod backchannel;
pub mod grpc;
pub mod health;
pub mod login;
pub mod reverse_proxy;
pub mod routes;
pub mod sign_out;
pub mod userinfo;
