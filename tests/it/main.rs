//! The integration test binary: one binary, one module per behaviour.

// The future-size probe in `gate` walks deep async types.
#![recursion_limit = "1024"]

// Shared helpers: fixtures, loading, spawning the app.
mod support;

// Configuration: the tutorial's files, sources and precedence, alpha YAML, every invalid fixture.
mod config;
// The `gatehouse` binary: --config-test, --version, --help, generate-secret, refusal to start.
mod cli;
// The server started in-process on port 0.
mod server;
// OpenID Connect login, sessions, refresh and sign-out against the real provider.
mod login;
// The cookie session store: sealing, chunking, expiry, damage.
mod sessions;
// Sessions ended from the provider's side: back-channel logout across instances.
mod logout;
// route_rules: one policy, the same verdicts standalone and behind an edge, and --explain.
mod rules;
// Envoy's gRPC external authorization, with the shipped configuration and the real Envoy.
mod grpc;
// Forward auth: the /oauth2/auth contract, then real nginx, Traefik and Envoy with the shipped configs.
mod forward;
// Standalone reverse proxy: the tutorial as written, routing, headers, streaming, errors, TLS.
mod standalone;
// `make run`: the demo configuration with the development issuer and echo app.
mod demo;
// The Redis session store against a real redis-server.
mod redis;
// Operations: readiness, health checks, graceful stop.
mod ops;
// The deployment files: they parse and agree with the configuration and the Makefile.
mod deploy;
// Open redirects: a hostile corpus against every entry point that takes a redirect.
mod redirects;
// The sign-in experience in headless Chromium: pages, the provider's forms, every proxy.
mod e2e;
// The gate: one view, one decision; each class of request that once got around it.
mod gate;
// Hardening: cookie bounds, header trust, advisories.
mod security;
// Bearer tokens and htpasswd users in the Authorization header and the sign-in form.
mod credentials;
// The real oauth2-proxy beside Gatehouse: same configuration, same client, same observations.
mod differential;
// Odd requests to oauth2-proxy and Gatehouse, directly and through the shipped edges: Gatehouse never lets more through.
mod adversarial;
// A provider misbehaving one OpenID Foundation RP test at a time, through Gatehouse and oauth2-proxy.
mod conformance;
// Providers beyond generic OIDC, each compared with oauth2-proxy on its stand-in.
mod providers;
// Several providers at once: two OpenID Providers and the GitHub stand-in, each chosen in turn.
mod several;
// Tidy: the layering, where statuses are chosen, and the size of the rooms, read from src/.
mod tidy;
