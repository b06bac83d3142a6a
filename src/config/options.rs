//! The table of every oauth2-proxy legacy option: its config-file key, flag, type, default,
//! help text and whether Gatehouse implements it.
//!
//! This table is the single definition the file loader, the environment loader, the flag
//! parser, `--help` and validation all read, so an option cannot exist in one and not another.
//! Defaults are written once, here, as the string a user would write; validation parses them
//! with the same rules as user input.

use super::value::Kind;

/// How far Gatehouse honours an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Implemented: the running server does what the option says.
    Ready,
    /// Gatehouse does not implement this option; a value other than the default is an error.
    /// The text says why and what to use instead.
    Unsupported(&'static str),
}

/// Which alpha-config section replaces a legacy option. oauth2-proxy refuses these keys when
/// `--alpha-config` is given, and so do we, naming the YAML field to use instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    No,
    Upstreams,
    Headers,
    Server,
    Provider,
}

impl Legacy {
    pub fn alpha_section(self) -> &'static str {
        match self {
            Legacy::No => "",
            Legacy::Upstreams => "upstreamConfig",
            Legacy::Headers => "injectRequestHeaders / injectResponseHeaders",
            Legacy::Server => "server / metricsServer",
            Legacy::Provider => "providers",
        }
    }
}

/// The `--help` section an option is listed under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Provider,
    ProviderSpecific,
    Authorization,
    Server,
    Upstreams,
    Headers,
    Cookie,
    Session,
    Logging,
    Pages,
    Development,
}

impl Topic {
    pub fn heading(self) -> &'static str {
        match self {
            Topic::Provider => "OpenID Connect provider",
            Topic::ProviderSpecific => "Other providers (not supported by Gatehouse)",
            Topic::Authorization => "Authorization and routing",
            Topic::Server => "Server, TLS and health",
            Topic::Upstreams => "Upstreams (reverse-proxy mode)",
            Topic::Headers => "Identity headers",
            Topic::Cookie => "Cookies",
            Topic::Session => "Session store (cookie or Redis)",
            Topic::Logging => "Logging",
            Topic::Pages => "Pages and templates",
            Topic::Development => "Development (Gatehouse only; make run)",
        }
    }
}

/// One legacy option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The config-file key, which also names the environment variable.
    pub key: &'static str,
    /// The flag name when it is not `key` with `-` for `_` (list options use singular flags).
    flag: Option<&'static str>,
    pub kind: Kind,
    /// The default as a user would write it; "" means empty or unset.
    pub default: &'static str,
    pub help: &'static str,
    /// A secret is never echoed: errors show `<redacted>` instead of the value.
    pub secret: bool,
    pub legacy: Legacy,
    pub status: Status,
    /// Only in files and the environment; no flag (oauth2-proxy has two keys for one flag).
    pub no_flag: bool,
}

impl OptionSpec {
    /// The long flag, without dashes.
    pub fn flag(&self) -> String {
        match self.flag {
            Some(f) => f.to_string(),
            None => self.key.replace('_', "-"),
        }
    }

    /// The environment variable oauth2-proxy reads: built from the key, so lists are plural.
    pub fn env_var(&self) -> String {
        format!("OAUTH2_PROXY_{}", self.key.to_ascii_uppercase())
    }

    const fn flag_name(mut self, flag: &'static str) -> Self {
        self.flag = Some(flag);
        self
    }

    const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    const fn legacy(mut self, legacy: Legacy) -> Self {
        self.legacy = legacy;
        self
    }

    const fn unsupported(mut self, why: &'static str) -> Self {
        self.status = Status::Unsupported(why);
        self
    }

    const fn file_only(mut self) -> Self {
        self.no_flag = true;
        self
    }
}

const fn o(key: &'static str, kind: Kind, default: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec { key, flag: None, kind, default, help, secret: false, legacy: Legacy::No, status: Status::Ready, no_flag: false }
}

/// A legacy provider option (replaced by alpha `providers`).
const fn p(key: &'static str, kind: Kind, default: &'static str, help: &'static str) -> OptionSpec {
    o(key, kind, default, help).legacy(Legacy::Provider)
}

/// An option of another provider than OIDC: accepted by name, refused when set.
const fn other(key: &'static str, kind: Kind, default: &'static str, help: &'static str) -> OptionSpec {
    p(key, kind, default, help).unsupported(OTHER_PROVIDER)
}

use Kind::{Bool, Dur, Int, List, Str};

// The features later work brings; an option waiting for one names it.

const KEYCLOAK_GROUPS: &str = "it belongs to the legacy `keycloak` provider (oauth2-proxy ignores it with keycloak-oidc); \
    use provider = \"keycloak-oidc\" with allowed_groups (Keycloak's group mapper) or allowed_roles";

const GOOGLE_ADC: &str = "application default credentials (impersonating a service account through IAM) are not built: give google_service_account_json, a key file of the service account";

const GOOGLE_ORG_ID: &str =
    "the organization ID as preferred username (the Directory API's users.get) is not built: the preferred username stays the ID token's";

const OTHER_PROVIDER: &str = "it belongs to a provider Gatehouse does not build (it builds `oidc`, `keycloak-oidc`, `adfs`, `gitlab`, `github`, `entra-id`, `azure` and `google`); \
    README \"Providers\" says what to configure instead of each other provider";

/// oauth2-proxy's other providers, each with what to configure instead (README "Providers"
/// holds the same table; a test keeps them equal).
pub static OTHER_PROVIDERS: &[(&str, &str)] = &[
    (
        "keycloak",
        "the legacy keycloak provider is replaced by provider = \"keycloak-oidc\" with oidc_issuer_url = \"https://HOST/realms/REALM\" (allowed_groups, allowed_roles)",
    ),
    ("linkedin", "LinkedIn is an OpenID Provider: set provider = \"oidc\" and oidc_issuer_url = \"https://www.linkedin.com/oauth\""),
    ("cidaas", "cidaas is an OpenID Provider: set provider = \"oidc\" and oidc_issuer_url to your cidaas instance's URL"),
    (
        "login.gov",
        "login.gov needs private_key_jwt client authentication, which Gatehouse does not do: put an OpenID Connect broker in front of it and set provider = \"oidc\" to the broker",
    ),
    (
        "bitbucket",
        "Bitbucket has no OpenID Connect: put an OpenID Connect broker in front of it (Dex, Keycloak) and set provider = \"oidc\" to the broker",
    ),
    (
        "digitalocean",
        "DigitalOcean has no OpenID Connect: put an OpenID Connect broker in front of it (Dex, Keycloak) and set provider = \"oidc\" to the broker",
    ),
    (
        "facebook",
        "Facebook Login is not OpenID Connect for web logins: put an OpenID Connect broker in front of it (Dex, Keycloak) and set provider = \"oidc\" to the broker",
    ),
    (
        "nextcloud",
        "Nextcloud's OAuth2 is not OpenID Connect: install its OpenID Connect app, or put a broker in front of it, and set provider = \"oidc\"",
    ),
    ("sourcehut", "sourcehut has no OpenID Connect: put an OpenID Connect broker in front of it and set provider = \"oidc\" to the broker"),
];

pub static PROVIDER: &[OptionSpec] = &[
    p(
        "provider",
        Str,
        "google",
        "OAuth provider type; Gatehouse builds \"oidc\", \"keycloak-oidc\" (OIDC plus Keycloak's roles) \"adfs\" (OIDC, upn for email), \"gitlab\" (OIDC, nickname, groups and projects), \"entra-id\" (OIDC, tenants, groups from Microsoft Graph), \"azure\" (the legacy Azure AD provider: v1 or v2.0 endpoints), \"google\" (the default: OIDC, Google groups) and \"github\" (OAuth 2.0 and GitHub's API: organizations, teams, repositories)",
    ),
    p("provider_display_name", Str, "", "Provider name shown on the sign-in button"),
    p("client_id", Str, "", "The OAuth client ID registered at the provider"),
    p("client_secret", Str, "", "The OAuth client secret").secret(),
    p("client_secret_file", Str, "", "A file holding the client secret (read as is)"),
    p("oidc_issuer_url", Str, "", "OpenID Connect issuer URL; discovery reads <issuer>/.well-known/openid-configuration"),
    p("oidc_jwks_url", Str, "", "JWKS URL, used only with skip_oidc_discovery"),
    p("skip_oidc_discovery", Bool, "false", "Skip discovery and use login_url, redeem_url and oidc_jwks_url"),
    p("oidc_public_key_files", List, "", "PEM public keys to verify ID tokens (instead of a JWKS URL)").flag_name("oidc-public-key-file"),
    p("oidc_email_claim", Str, "email", "Claim holding the user's email (dot paths allowed)"),
    p("oidc_groups_claim", Str, "groups", "Claim holding the user's groups (dot paths allowed)"),
    p("oidc_audience_claims", List, "aud", "Claims checked against client_id; the first present one is used")
        .flag_name("oidc-audience-claim"),
    p("oidc_extra_audiences", List, "", "Audiences accepted in addition to client_id").flag_name("oidc-extra-audience"),
    p("oidc_enabled_signing_algs", List, "", "ID token signing algorithms to accept (intersected with discovery)")
        .flag_name("oidc-enabled-signing-alg"),
    p("insecure_oidc_allow_unverified_email", Bool, "false", "Accept an email whose email_verified claim is false"),
    p("insecure_oidc_skip_issuer_verification", Bool, "false", "Do not require the discovered issuer to equal oidc_issuer_url"),
    p(
        "insecure_oidc_skip_nonce",
        Bool,
        "false",
        "Neither send nor check the OIDC nonce (Gatehouse sends and checks it by default; oauth2-proxy's default is true)",
    ),
    p("user_id_claim", Str, "email", "Deprecated alias of oidc_email_claim (see README)"),
    p("scope", Str, "", "OAuth scope; default \"openid email profile\" (+ \" groups\" with allowed_groups)"),
    p("code_challenge_method", Str, "", "PKCE method: S256 or plain (empty disables PKCE)"),
    p("force_code_challenge_method", Str, "", "Deprecated alias of code_challenge_method"),
    p("login_url", Str, "", "Authorization endpoint (discovery overrides it)"),
    p("redeem_url", Str, "", "Token endpoint (discovery overrides it)"),
    p("profile_url", Str, "", "Userinfo endpoint (discovery overrides it)"),
    p(
        "validate_url",
        Str,
        "",
        "After each refresh, the new access token is sent here as a bearer; any answer but 200 ends the session (github: the API root, default https://api.github.com/, asked at login and when cookie_refresh is due)",
    ),
    p("skip_claims_from_profile_url", Bool, "false", "Do not fetch missing claims from the userinfo endpoint"),
    p(
        "resource",
        Str,
        "",
        "adfs: the protected resource, put before the scope (https://app/openid email profile); azure (v1 endpoints): the API the access token is for",
    ),
    p("prompt", Str, "", "OIDC prompt parameter (overrides approval_prompt)"),
    p("approval_prompt", Str, "force", "OAuth approval_prompt parameter, sent unless prompt is set"),
    p("acr_values", Str, "", "acr_values parameter for the authorization request"),
    p("auth_request_response_mode", Str, "", "response_mode parameter for the authorization request: \"form_post\" or \"query\""),
    p("allowed_groups", List, "", "Only members of one of these groups may log in").flag_name("allowed-group"),
    p(
        "allowed_roles",
        List,
        "",
        "keycloak-oidc: users with one of these roles may log in (realm roles, or client:role); each is allowed_groups' role:<name>",
    )
    .flag_name("allowed-role"),
    p("provider_ca_files", List, "", "CA certificates to trust for the provider (replace the system store)").flag_name("provider-ca-file"),
    p("use_system_trust_store", Bool, "false", "Trust the system store in addition to provider_ca_files"),
    p("backend_logout_url", Str, "", "URL called at sign-out; {id_token} is replaced by the session's ID token"),
    o(
        "oidc_rp_initiated_logout",
        Bool,
        "false",
        "Gatehouse only: sign-out also signs out at the provider, through its discovered end_session_endpoint (OpenID Connect RP-Initiated Logout), then returns to rd",
    ),
    o(
        "oidc_backchannel_logout",
        Bool,
        "false",
        "Gatehouse only: accept OpenID Connect Back-Channel Logout tokens from the provider (POST to oidc_backchannel_logout_path) and end the sessions they name, on every instance sharing Redis",
    ),
    o(
        "oidc_backchannel_logout_path",
        Str,
        "",
        "Gatehouse only: where the provider sends logout tokens (register it as the client's backchannel_logout_uri); default <proxy_prefix>/backchannel_logout",
    ),
    o(
        "oidc_backchannel_logout_session_required",
        Bool,
        "false",
        "Gatehouse only: refuse logout tokens without a sid (register backchannel_logout_session_required to match)",
    ),
    o("oidc_backchannel_logout_max_age", Dur, "3m", "Gatehouse only: how long after it was issued (iat) a logout token is still accepted"),
    o("ssl_insecure_skip_verify", Bool, "false", "Do not verify the provider's TLS certificate (dangerous)"),
    p("jwt_key", Str, "", "login.gov private key").secret().unsupported(OTHER_PROVIDER),
    p("jwt_key_file", Str, "", "login.gov private key file").unsupported(OTHER_PROVIDER),
    p("pubjwk_url", Str, "", "login.gov JWK endpoint").unsupported(OTHER_PROVIDER),
];

pub static PROVIDER_SPECIFIC: &[OptionSpec] = &[
    p("keycloak_groups", List, "", "Groups of the legacy keycloak provider").flag_name("keycloak-group").unsupported(KEYCLOAK_GROUPS),
    p(
        "azure_tenant",
        Str,
        "common",
        "azure: the tenant of the default endpoints (https://login.microsoftonline.com/TENANT/oauth2/...), used with skip_oidc_discovery",
    ),
    p(
        "azure_graph_group_field",
        Str,
        "",
        "azure (v2.0 endpoints): which field of a Microsoft Graph group names it in the groups (id by default, or displayName)",
    ),
    p("entra_id_allowed_tenants", List, "", "entra-id: only users of these tenants (the token's tid) may log in (for multi-tenant apps)")
        .flag_name("entra-id-allowed-tenant"),
    p(
        "microsoft_graph_url",
        Str,
        "https://graph.microsoft.com",
        "Gatehouse only: entra-id: where Microsoft Graph is, for the groups of users in too many for the ID token (https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn for national clouds)",
    ),
    p("entra_id_federated_token_auth", Bool, "false", "Entra ID federated token authentication").unsupported(
        "workload identity federation (a client assertion read from AZURE_FEDERATED_TOKEN_FILE) is not built: give entra-id a client secret (client_secret or client_secret_file)",
    ),
    other("bitbucket_team", Str, "", "Bitbucket team"),
    other("bitbucket_repository", Str, "", "Bitbucket repository"),
    other("bitbucket_workspace", Str, "", "Bitbucket workspace"),
    p("github_org", Str, "", "github: only members of this organization may log in"),
    p("github_team", Str, "", "github: only members of one of these teams (comma-separated; org:team without github_org) may log in"),
    p("github_repo", Str, "", "github: only collaborators of this repository (owner/name) may log in"),
    p("github_token", Str, "", "github: a token with push access to github_repo, to check collaborators").secret(),
    p("github_users", List, "", "github: these users may log in whatever the other github rules say").flag_name("github-user"),
    p("gitlab_groups", List, "", "gitlab: only members of one of these groups may log in (replaces allowed_groups)")
        .flag_name("gitlab-group"),
    p(
        "gitlab_projects",
        List,
        "",
        "gitlab: members of one of these projects may log in (group/project, or group/project=<access level 10|20|30|40>, default 20)",
    )
    .flag_name("gitlab-project"),
    p("google_groups", List, "", "google: only members of one of these Google groups may log in (needs google_service_account_json)")
        .flag_name("google-group"),
    p("google_group", List, "", "google: google_groups' deprecated spelling").file_only(),
    p("google_admin_email", Str, "", "google: the Workspace administrator the service account acts as, to read groups"),
    p("google_service_account_json", Str, "", "google: the service account's key file (JSON), to read the user's Google groups"),
    p(
        "google_admin_api_url",
        Str,
        "https://admin.googleapis.com",
        "Gatehouse only: google: where the Admin SDK Directory API is (a Private Service Connect or restricted.googleapis.com endpoint)",
    ),
    p("google_use_application_default_credentials", Bool, "false", "Google application default credentials").unsupported(GOOGLE_ADC),
    p("google_target_principal", Str, "", "Google target principal").unsupported(GOOGLE_ADC),
    p("google_admin_api_user_scope", Str, "", "Google admin API user scope").unsupported(GOOGLE_ORG_ID),
    p("google_use_organization_id", Bool, "false", "Google organisation ID").unsupported(GOOGLE_ORG_ID),
];

pub static AUTHORIZATION: &[OptionSpec] = &[
    o("email_domains", List, "", "Email domains allowed to log in; \"*\" allows any").flag_name("email-domain"),
    o("authenticated_emails_file", Str, "", "File of allowed emails, one per line (reloaded on change and SIGHUP)"),
    o(
        "whitelist_domains",
        List,
        "",
        "Domains allowed as redirect targets after login and logout (.example.com for subdomains, host:port, host:*)",
    )
    .flag_name("whitelist-domain"),
    o(
        "skip_auth_routes",
        List,
        "",
        "Routes that need no login: METHOD=regex, METHOD!=regex, regex or !=regex (matched on the normalised path)",
    )
    .flag_name("skip-auth-route"),
    o("skip_auth_regex", List, "", "Deprecated: path regexes that need no login (use skip_auth_routes)"),
    o(
        "route_rules",
        Str,
        "",
        "Gatehouse only: ordered rules by path, host and method, first match wins (a list in the file; one string separated by ';' in a flag or the environment): path=<regex> [host=<regex>] [methods=GET,POST] then allow, deny or allowed_groups=/allowed_emails=/allowed_email_domains=",
    ),
    o("skip_auth_preflight", Bool, "false", "Let OPTIONS requests through without login"),
    o("api_routes", List, "", "Path regexes answered with 401 JSON instead of the sign-in page").flag_name("api-route"),
    o("skip_provider_button", Bool, "false", "Go straight to the provider instead of showing the sign-in page"),
    o("skip_jwt_bearer_tokens", Bool, "false", "Accept verified ID tokens in Authorization: Bearer"),
    o("extra_jwt_issuers", List, "", "More bearer token issuers, as issuer=audience"),
    o("bearer_token_login_fallback", Bool, "true", "On an invalid bearer token, fall back to login (false: 403)"),
    o("htpasswd_file", Str, "", "htpasswd file (bcrypt or {SHA}) for Basic auth and the sign-in form"),
    o("htpasswd_user_groups", List, "", "Groups given to htpasswd users").flag_name("htpasswd-user-group"),
    o("display_htpasswd_form", Bool, "true", "Show the htpasswd form on the sign-in page"),
    o("trusted_ips", List, "", "Client IPs or CIDRs let through without login").flag_name("trusted-ip"),
    o("force_json_errors", Bool, "false", "Answer unauthenticated requests with 401 JSON, never the sign-in page"),
    o("encode_state", Bool, "false", "base64url-encode the OAuth state parameter"),
    o(
        "allow_query_semicolons",
        Bool,
        "false",
        "Read ; in a query as a parameter separator, as &; the app still gets the query as written (as oauth2-proxy)",
    ),
];

pub static SERVER: &[OptionSpec] = &[
    o("http_address", Str, "127.0.0.1:4180", "[http://]host:port to listen on for HTTP").legacy(Legacy::Server),
    o("https_address", Str, ":443", "host:port to listen on for HTTPS").legacy(Legacy::Server),
    o("tls_cert_file", Str, "", "TLS certificate (PEM); with tls_key_file, serve HTTPS only").legacy(Legacy::Server),
    o("tls_key_file", Str, "", "TLS private key (PEM)").legacy(Legacy::Server),
    o("tls_min_version", Str, "", "Minimum TLS version: TLS1.2 (default) or TLS1.3").legacy(Legacy::Server),
    o("tls_cipher_suites", List, "", "TLS cipher suites to allow (Go/IANA names)").flag_name("tls-cipher-suite").legacy(Legacy::Server),
    o("metrics_address", Str, "", "host:port for the Prometheus metrics listener").legacy(Legacy::Server),
    o("metrics_secure_address", Str, "", "host:port for the HTTPS metrics listener").legacy(Legacy::Server),
    o("metrics_tls_cert_file", Str, "", "TLS certificate for the metrics listener").legacy(Legacy::Server),
    o("metrics_tls_key_file", Str, "", "TLS key for the metrics listener").legacy(Legacy::Server),
    o(
        "grpc_address",
        Str,
        "",
        "Gatehouse only: host:port for Envoy's gRPC external authorization (envoy.service.auth.v3.Authorization/Check, HTTP/2: plaintext, or TLS with grpc_tls_cert_file); unset: none",
    ),
    o("grpc_tls_cert_file", Str, "", "Gatehouse only: TLS certificate (PEM) of the gRPC listener; with grpc_tls_key_file it speaks TLS (tls_min_version and tls_cipher_suites apply)"),
    o("grpc_tls_key_file", Str, "", "Gatehouse only: TLS private key (PEM) of the gRPC listener"),
    o("grpc_tls_client_names", List, "", "Gatehouse only: with grpc_tls_client_ca_file, a client certificate must also name one of these as a DNS or URI subject alternative name (spiffe://… for an Istio workload)").flag_name("grpc-tls-client-name"),
    o("grpc_tls_client_ca_file", Str, "", "Gatehouse only: CA certificates (PEM); when set, only clients with a certificate they issued may ask the gRPC listener (mutual TLS)"),
    o(
        "admin_token_file",
        Str,
        "",
        "Gatehouse only: a file holding the bearer token of the session admin endpoints (/admin/sessions), served on the metrics listener only; unset: no admin endpoints",
    ),
    o("reverse_proxy", Bool, "false", "Honour X-Forwarded-* and the real-IP header from trusted_proxy_ips"),
    o("trusted_proxy_ips", List, "127.0.0.0/8,::1", "Peers whose X-Forwarded-* headers are trusted (Gatehouse default: loopback only)").flag_name("trusted-proxy-ip"),
    o("real_client_ip_header", Str, "X-Real-IP", "Header holding the client IP behind a proxy"),
    o("redirect_url", Str, "", "The OAuth callback URL, e.g. https://app.example.com/oauth2/callback"),
    o("relative_redirect_url", Bool, "false", "Use a relative callback URL"),
    o("proxy_prefix", Str, "/oauth2", "Path prefix of Gatehouse's own endpoints"),
    o("force_https", Bool, "false", "Redirect plain-HTTP requests to HTTPS (308)"),
    o("workers", Int, "0", "Gatehouse only: worker threads serving requests (0: one per CPU)"),
    o(
        "shutdown_delay",
        Dur,
        "0s",
        "Gatehouse only: after SIGTERM, how long /ready answers 503 while requests are still served, before the listeners close",
    ),
    o("ping_path", Str, "/ping", "Liveness path, answered 200 OK"),
    o("ready_path", Str, "/ready", "Readiness path"),
    o("ping_user_agent", Str, "", "User-Agent also answered as a ping (never authorises anything)"),
    o("gcp_healthchecks", Bool, "false", "Deprecated GCP health-check paths").unsupported("deprecated in oauth2-proxy; point the health check at ping_path and ready_path"),
    o("signature_key", Str, "", "Deprecated GAP-Signature key").secret().unsupported("GAP-Signature is deprecated in oauth2-proxy; use the identity headers, or a bearer ID token, to authenticate requests to the upstream"),
];

pub static UPSTREAMS: &[OptionSpec] = &[
    o("upstreams", List, "", "Upstream URLs: http(s)://host[:port][/path], file:///dir#/path/, static://CODE")
        .flag_name("upstream")
        .legacy(Legacy::Upstreams),
    o("pass_host_header", Bool, "true", "Pass the client's Host header to the upstream").legacy(Legacy::Upstreams),
    o("proxy_websockets", Bool, "true", "Proxy WebSocket upgrades").legacy(Legacy::Upstreams),
    o("ssl_upstream_insecure_skip_verify", Bool, "false", "Do not verify upstream TLS certificates").legacy(Legacy::Upstreams),
    o("flush_interval", Dur, "1s", "Streamed responses flushed at least this often (Gatehouse writes each chunk as it arrives)")
        .legacy(Legacy::Upstreams),
    o("upstream_timeout", Dur, "30s", "How long to wait for the upstream's response headers").legacy(Legacy::Upstreams),
    o("disable_keep_alives", Bool, "false", "Do not reuse upstream connections").legacy(Legacy::Upstreams),
];

pub static HEADERS_OPTS: &[OptionSpec] = &[
    o("pass_basic_auth", Bool, "true", "Send X-Forwarded-User/-Email/-Groups (and Basic auth with basic_auth_password) upstream")
        .legacy(Legacy::Headers),
    o("pass_access_token", Bool, "false", "Send X-Forwarded-Access-Token upstream (and X-Auth-Request-Access-Token with set_xauthrequest)")
        .legacy(Legacy::Headers),
    o("pass_user_headers", Bool, "true", "Send X-Forwarded-User, -Email, -Groups, -Preferred-Username upstream").legacy(Legacy::Headers),
    o("pass_authorization_header", Bool, "false", "Send Authorization: Bearer <id_token> upstream").legacy(Legacy::Headers),
    o("set_basic_auth", Bool, "false", "Set Authorization: Basic on responses").legacy(Legacy::Headers),
    o("set_xauthrequest", Bool, "false", "Set X-Auth-Request-User, -Email, -Groups, -Preferred-Username on responses")
        .legacy(Legacy::Headers),
    o("set_authorization_header", Bool, "false", "Set Authorization: Bearer <id_token> on responses").legacy(Legacy::Headers),
    o("prefer_email_to_user", Bool, "false", "Use the email as the user name in headers").legacy(Legacy::Headers),
    o("basic_auth_password", Str, "", "Password for the Basic auth header sent upstream").secret().legacy(Legacy::Headers),
    o("skip_auth_strip_headers", Bool, "true", "Remove client-sent copies of the identity headers").legacy(Legacy::Headers),
];

pub static COOKIE: &[OptionSpec] = &[
    o("cookie_name", Str, "_oauth2_proxy", "Session cookie name"),
    o("cookie_secret", Str, "", "Seed for cookie encryption and signing: 16, 24 or 32 bytes (base64url allowed)").secret(),
    o("cookie_secret_file", Str, "", "File holding the cookie secret (used as is); with several lines, a secret per line, the first sealing (Gatehouse), reloaded when it changes"),
    o("cookie_secrets_previous", List, "", "Gatehouse only: earlier cookie secrets that still open sessions but never seal, to rotate cookie_secret without logging anyone out").secret(),
    o("cookie_domains", List, "", "Cookie domains; the longest one matching the request host wins").flag_name("cookie-domain"),
    o("cookie_path", Str, "/", "Cookie path"),
    o("cookie_expire", Dur, "168h", "Session lifetime; 0 makes a browser-session cookie"),
    o("cookie_refresh", Dur, "0", "Refresh sessions older than this with the refresh token; 0 disables"),
    o("cookie_secure", Bool, "true", "Set the Secure attribute (cookies only over HTTPS)"),
    o("cookie_httponly", Bool, "true", "Set the HttpOnly attribute"),
    o("cookie_samesite", Str, "", "SameSite attribute: lax, strict, none or empty"),
    o("cookie_csrf_per_request", Bool, "false", "Use a CSRF cookie per login attempt (parallel logins)"),
    o("cookie_csrf_per_request_limit", Int, "0", "Most CSRF cookies kept with cookie_csrf_per_request (0: unlimited)"),
    o("cookie_csrf_expire", Dur, "15m", "CSRF cookie lifetime"),
    o("cookie_csrf_samesite", Str, "", "SameSite for the CSRF cookie (empty: as cookie_samesite)"),
];

pub static SESSION: &[OptionSpec] = &[
    o("session_store_type", Str, "cookie", "Where sessions live: cookie or redis"),
    o("session_cookie_minimal", Bool, "false", "Keep no tokens in the session (no token headers, no refresh)"),
    o("redis_connection_url", Str, "", "redis[s]://[user:password@]host[:port][/db]"),
    o("redis_username", Str, "", "Redis user (overrides the URL)"),
    o("redis_password", Str, "", "Redis password (overrides the URL)").secret(),
    o("redis_use_sentinel", Bool, "false", "Connect through Redis Sentinel"),
    o("redis_sentinel_master_name", Str, "", "Sentinel master name"),
    o("redis_sentinel_password", Str, "", "Sentinel password").secret(),
    o("redis_sentinel_connection_urls", List, "", "Sentinel addresses as redis:// URLs"),
    o("redis_use_cluster", Bool, "false", "Connect to a Redis Cluster"),
    o("redis_cluster_connection_urls", List, "", "Cluster node addresses as redis:// URLs"),
    o("redis_ca_path", Str, "", "CA certificate for rediss:// (added to the system store; standalone Redis only)"),
    o("redis_insecure_skip_tls_verify", Bool, "false", "Do not verify Redis TLS certificates (standalone Redis only)"),
    o("redis_connection_idle_timeout", Int, "0", "Seconds before an idle Redis connection is closed (0: never)"),
];

pub static LOGGING: &[OptionSpec] = &[
    o("auth_logging", Bool, "true", "Log authentication events"),
    o("auth_logging_format", Str, "", "Template of auth log lines (oauth2-proxy syntax)"),
    o("request_logging", Bool, "true", "Log requests"),
    o("request_logging_format", Str, "", "Template of request log lines"),
    o("standard_logging", Bool, "true", "Log standard messages"),
    o("standard_logging_format", Str, "", "Template of standard log lines"),
    o("errors_to_info_log", Bool, "false", "Send error lines to stdout instead of stderr"),
    o("exclude_logging_paths", List, "", "Paths not to log").flag_name("exclude-logging-path"),
    o("logging_local_time", Bool, "true", "Log local time instead of UTC"),
    o("silence_ping_logging", Bool, "false", "Do not log ping and ready requests"),
    o("request_id_header", Str, "X-Request-Id", "Header carrying the request ID"),
    o("log_format", Str, "text", "Gatehouse only: text (oauth2-proxy's templates) or json (one object per line)"),
    o("logging_filename", Str, "", "Write logs to this file instead of stdout"),
    o("logging_max_size", Int, "100", "Rotate the log file at this many megabytes"),
    o("logging_max_age", Int, "7", "Days to keep rotated log files"),
    o("logging_max_backups", Int, "0", "Rotated log files to keep (0: all)"),
    o("logging_compress", Bool, "false", "Compress rotated log files"),
];

pub static PAGES_OPTS: &[OptionSpec] = &[
    o("custom_templates_dir", Str, "", "Directory with sign_in.html, error.html and robots.txt overrides (oauth2-proxy template syntax)"),
    o("custom_sign_in_logo", Str, "", "Logo on the sign-in page (path or URL; \"-\" hides it)"),
    o("banner", Str, "", "Text above the sign-in button, shown as text (\"-\" hides the default, which names the email domains)"),
    o("footer", Str, "", "Footer text (\"-\" hides it)"),
    o("show_debug_on_error", Bool, "false", "Show error details on error pages"),
];

/// Gatehouse's own options for the one-command demo: not oauth2-proxy's.
pub static DEVELOPMENT: &[OptionSpec] = &[
    o(
        "dev_issuer_address",
        Str,
        "",
        "Run the development OpenID issuer on this loopback host:port (any name logs in; never in production); oidc_issuer_url must be http://<it>",
    ),
    o("dev_echo_address", Str, "", "Run the development echo app (shows the headers it receives) on this loopback host:port"),
];

/// Every option, grouped by `--help` topic.
pub static TOPICS: &[(Topic, &[OptionSpec])] = &[
    (Topic::Provider, PROVIDER),
    (Topic::Authorization, AUTHORIZATION),
    (Topic::Server, SERVER),
    (Topic::Upstreams, UPSTREAMS),
    (Topic::Headers, HEADERS_OPTS),
    (Topic::Cookie, COOKIE),
    (Topic::Session, SESSION),
    (Topic::Logging, LOGGING),
    (Topic::Pages, PAGES_OPTS),
    (Topic::Development, DEVELOPMENT),
    (Topic::ProviderSpecific, PROVIDER_SPECIFIC),
];

/// Every option, in `--help` order.
pub fn all() -> impl Iterator<Item = &'static OptionSpec> {
    TOPICS.iter().flat_map(|(_, opts)| opts.iter())
}

/// The option with this config-file key.
pub fn find(key: &str) -> Option<&'static OptionSpec> {
    all().find(|o| o.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_flags_and_env_names_are_unique() {
        let mut keys = HashSet::new();
        let mut flags = HashSet::new();
        for o in all() {
            assert!(keys.insert(o.key), "duplicate key {}", o.key);
            if !o.no_flag {
                assert!(flags.insert(o.flag()), "duplicate flag {}", o.flag());
            }
            assert!(o.key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn list_options_use_oauth2_proxy_singular_flags() {
        assert_eq!(find("email_domains").unwrap().flag(), "email-domain");
        assert_eq!(find("upstreams").unwrap().flag(), "upstream");
        assert_eq!(find("upstreams").unwrap().env_var(), "OAUTH2_PROXY_UPSTREAMS");
        assert_eq!(find("cookie_secret").unwrap().flag(), "cookie-secret");
    }
}
