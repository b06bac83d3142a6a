//! The alpha `providers[]` entry: the provider's own fields, its `oidcConfig`, and the
//! sections of provider types (Gatehouse reads those of the types it builds).

use serde::Deserialize;
use serde_yaml_ng::Value;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "clientid", default)]
    pub client_id: Option<String>,
    #[serde(rename = "clientsecret", default)]
    pub client_secret: Option<String>,
    #[serde(rename = "clientsecretfile", default)]
    pub client_secret_file: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(rename = "loginurl", default)]
    pub login_url: Option<String>,
    #[serde(rename = "loginurlparameters", default)]
    pub login_url_parameters: Option<Vec<LoginUrlParameter>>,
    #[serde(rename = "redeemurl", default)]
    pub redeem_url: Option<String>,
    #[serde(rename = "profileurl", default)]
    pub profile_url: Option<String>,
    #[serde(rename = "validateurl", default)]
    pub validate_url: Option<String>,
    #[serde(rename = "skipclaimsfromprofileurl", default)]
    pub skip_claims_from_profile_url: Option<bool>,
    #[serde(rename = "resource", default)]
    pub resource: Option<String>,
    #[serde(rename = "allowedgroups", default)]
    pub allowed_groups: Option<Vec<String>>,
    #[serde(rename = "authrequestresponsemode", default)]
    pub auth_request_response_mode: Option<String>,
    #[serde(rename = "codechallengemethod", default)]
    pub code_challenge_method: Option<String>,
    #[serde(rename = "backendlogouturl", default)]
    pub backend_logout_url: Option<String>,
    #[serde(rename = "cafiles", default)]
    pub ca_files: Option<Vec<String>>,
    #[serde(rename = "usesystemtruststore", default)]
    pub use_system_trust_store: Option<bool>,
    /// Gatehouse's own: emails this provider's users must have (narrowing `email_domains`).
    #[serde(rename = "emaildomains", default)]
    pub email_domains: Option<Vec<String>>,
    /// Gatehouse's own: hosts and path prefixes whose logins go to this provider.
    #[serde(rename = "defaultfor", default)]
    pub default_for: Option<Vec<String>>,
    #[serde(rename = "additionalclaims", default)]
    pub additional_claims: Option<Vec<String>>,
    #[serde(rename = "oidcconfig", default)]
    pub oidc_config: Option<OidcConfig>,
    #[serde(rename = "keycloakconfig", default)]
    pub keycloak_config: Option<KeycloakConfig>,
    #[serde(rename = "azureconfig", default)]
    pub azure_config: Option<AzureConfig>,
    // Other providers' sections are recognised so the message can say they are unsupported.
    #[serde(rename = "adfsconfig", default)]
    pub adfs_config: Option<AdfsConfig>,
    #[serde(rename = "bitbucketconfig", default)]
    pub bitbucket_config: Option<Value>,
    #[serde(rename = "githubconfig", default)]
    pub github_config: Option<GitHubConfig>,
    #[serde(rename = "gitlabconfig", default)]
    pub gitlab_config: Option<GitLabConfig>,
    #[serde(rename = "googleconfig", default)]
    pub google_config: Option<GoogleConfig>,
    #[serde(rename = "logingovconfig", default)]
    pub login_gov_config: Option<Value>,
    #[serde(rename = "microsoftentraidconfig", default)]
    pub entra_id_config: Option<EntraIdConfig>,
}

/// `loginURLParameters[]`: an extra parameter of the authorization request, its default
/// values, and the values `/oauth2/start` may choose instead.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoginUrlParameter {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub default: Option<Vec<String>>,
    #[serde(default)]
    pub allow: Option<Vec<UrlParameterRule>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UrlParameterRule {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
}

/// `gitlabConfig`: `group` is `gitlab_groups`, `projects` is `gitlab_projects`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitLabConfig {
    #[serde(default)]
    pub group: Option<Vec<String>>,
    #[serde(default)]
    pub projects: Option<Vec<String>>,
}

/// `githubConfig`: `org`, `team`, `repo`, `token`, `users` are `github_org`, `github_team`,
/// `github_repo`, `github_token`, `github_users`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub repo: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub users: Option<Vec<String>>,
}

/// `azureConfig`: `tenant` is `azure_tenant`, `graphGroupField` `azure_graph_group_field`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(rename = "graphgroupfield", default)]
    pub graph_group_field: Option<String>,
}

/// `microsoftEntraIDConfig`: `allowedTenants` is `entra_id_allowed_tenants`,
/// `federatedTokenAuth` `entra_id_federated_token_auth`; `graphURL` (Gatehouse's own) is
/// `microsoft_graph_url`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EntraIdConfig {
    #[serde(rename = "allowedtenants", default)]
    pub allowed_tenants: Option<Vec<String>>,
    #[serde(rename = "federatedtokenauth", default)]
    pub federated_token_auth: Option<bool>,
    #[serde(rename = "graphurl", default)]
    pub graph_url: Option<String>,
}

/// `googleConfig`: `group`, `adminEmail`, `serviceAccountJson` (and the refused ADC and
/// organization ID switches); `adminAPIURL` (Gatehouse's own) is `google_admin_api_url`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GoogleConfig {
    #[serde(default)]
    pub group: Option<Vec<String>>,
    #[serde(rename = "adminemail", default)]
    pub admin_email: Option<String>,
    #[serde(rename = "serviceaccountjson", default)]
    pub service_account_json: Option<String>,
    #[serde(rename = "useapplicationdefaultcredentials", default)]
    pub use_application_default_credentials: Option<bool>,
    #[serde(rename = "targetprincipal", default)]
    pub target_principal: Option<String>,
    #[serde(rename = "useorganizationid", default)]
    pub use_organization_id: Option<bool>,
    #[serde(rename = "adminapiuserscope", default)]
    pub admin_api_user_scope: Option<String>,
    #[serde(rename = "adminapiurl", default)]
    pub admin_api_url: Option<String>,
}

/// `ADFSConfig`: whether the authorization request leaves `scope` out.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdfsConfig {
    #[serde(rename = "skipscope", default)]
    pub skip_scope: Option<bool>,
}

/// `keycloakConfig`: `roles` is `allowed_roles`; `groups` is the legacy provider's
/// `keycloak_groups` (refused, with its reason).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeycloakConfig {
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    #[serde(rename = "issuerurl", default)]
    pub issuer_url: Option<String>,
    #[serde(rename = "insecureallowunverifiedemail", default)]
    pub insecure_allow_unverified_email: Option<bool>,
    #[serde(rename = "insecureskipissuerverification", default)]
    pub insecure_skip_issuer_verification: Option<bool>,
    #[serde(rename = "insecureskipnonce", default)]
    pub insecure_skip_nonce: Option<bool>,
    #[serde(rename = "skipdiscovery", default)]
    pub skip_discovery: Option<bool>,
    #[serde(rename = "jwksurl", default)]
    pub jwks_url: Option<String>,
    #[serde(rename = "emailclaim", default)]
    pub email_claim: Option<String>,
    #[serde(rename = "groupsclaim", default)]
    pub groups_claim: Option<String>,
    #[serde(rename = "useridclaim", default)]
    pub user_id_claim: Option<String>,
    #[serde(rename = "audienceclaims", default)]
    pub audience_claims: Option<Vec<String>>,
    #[serde(rename = "extraaudiences", default)]
    pub extra_audiences: Option<Vec<String>>,
    #[serde(rename = "publickeyfiles", default)]
    pub public_key_files: Option<Vec<String>>,
    #[serde(rename = "enabledsigningalgs", default)]
    pub enabled_signing_algs: Option<Vec<String>>,
}
