//! Names of the request headers read on every check, parsed once: a `&str` name is parsed
//! into a header name on every lookup.

use actix_web::http::header::HeaderName;

pub const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
pub const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");
pub const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
pub const X_GATEHOUSE_ALLOWED_GROUPS: HeaderName = HeaderName::from_static("x-gatehouse-allowed-groups");
pub const X_GATEHOUSE_ALLOWED_EMAILS: HeaderName = HeaderName::from_static("x-gatehouse-allowed-emails");
pub const X_GATEHOUSE_ALLOWED_EMAIL_DOMAINS: HeaderName = HeaderName::from_static("x-gatehouse-allowed-email-domains");
