//! GitHub, against the GitHub stand-in (`support::github`), each scenario through oauth2-proxy too.

use crate::differential::{Peer, Running, config_text, run};
use crate::support::browser::Browser;
use crate::support::github::{Account as GhAccount, GitHub};
use crate::support::peers::Upstream;
use crate::support::{MINIMAL, free_port, load_text};

/// GitHub's users: alice (orgs acme and other, team acme:devs, pushes to acme/app), bob (org
/// acme, team acme:ops, pulls from the public acme/app), carol (no verified primary email),
/// dave (150 organizations, `deep` on the second page; a collaborator of acme/app).
fn github_accounts() -> Vec<GhAccount> {
    let email = |e: &str| vec![(e.to_string(), true, true)];
    let repo = |private, pull, push| [("acme/app".to_string(), (private, pull, push))].into_iter().collect();
    let mut dave_orgs: Vec<String> = (1..150).map(|i| format!("o{i}")).collect();
    dave_orgs.push("deep".into());
    vec![
        GhAccount {
            login: "alice".into(),
            emails: email("alice@example.com"),
            orgs: vec!["acme".into(), "other".into()],
            teams: vec![("acme".into(), "devs".into())],
            repos: repo(false, true, true),
        },
        GhAccount {
            login: "bob".into(),
            emails: email("bob@example.org"),
            orgs: vec!["acme".into()],
            teams: vec![("acme".into(), "ops".into())],
            repos: repo(false, true, false),
        },
        GhAccount {
            login: "carol".into(),
            emails: vec![("carol@old.example".into(), true, false), ("carol@example.com".into(), false, true)],
            ..GhAccount::default()
        },
        GhAccount { login: "dave".into(), emails: email("dave@example.com"), orgs: dave_orgs, ..GhAccount::default() },
    ]
}

/// oauth2-proxy and Gatehouse on one GitHub stand-in, with `extra` beside its provider lines.
fn github_pair(gh: &GitHub, api: &str, extra: &str) -> Vec<(Peer, Running, Upstream)> {
    let common = format!("{}{extra}", gh.config(api));
    [Peer::OAuth2Proxy, Peer::Gatehouse]
        .into_iter()
        .map(|peer| {
            let (port, app) = (free_port(), Upstream::start());
            // GitHub is no OpenID Provider: no issuer, and (like most GitHub apps) no PKCE.
            let text: String = config_text("", &app, port, &common)
                .lines()
                .filter(|l| !l.starts_with("oidc_issuer_url") && !l.starts_with("code_challenge_method"))
                .map(|l| format!("{l}\n"))
                .collect();
            (peer, run(peer, &text, port, &format!("{peer:?} with {extra:?}")), app)
        })
        .collect()
}

/// Who may log in, with which user, email and groups: `github_org`, `github_team` (with and
/// without the org), `github_repo` (the user's own access, or `github_token`'s collaborator
/// check), `github_users`, `allowed_groups` on GitHub's groups, organizations on a second page,
/// an email that is not primary and verified, and GitHub Enterprise's `/api/v3` API; in both,
/// on the same stand-in. oauth2-proxy answers a refusal by GitHub's rules with 500, Gatehouse
/// with 403 (README "Differences").
#[actix_web::test]
async fn github_logins_behave_like_oauth2_proxy() {
    let gh = GitHub::start(github_accounts(), &[("acme/app", &["dave"])]);
    let token = crate::support::github::ADMIN_TOKEN;
    for (api, extra) in [
        ("/", String::new()),
        ("/api/v3/", String::new()),
        ("/", "github_org = \"acme\"\n".into()),
        ("/", "github_org = \"ACME\"\ngithub_team = \"Devs, ops2\"\n".into()),
        ("/", "github_team = \"acme:ops\"\n".into()),
        ("/", "github_team = \"ops\"\n".into()),
        ("/", "github_repo = \"acme/app\"\n".into()),
        ("/", format!("github_repo = \"acme/app\"\ngithub_token = \"{token}\"\n")),
        ("/", "github_users = [\"bob\"]\ngithub_org = \"other\"\n".into()),
        ("/", "github_users = [\"bob\"]\n".into()),
        ("/", "github_org = \"deep\"\n".into()),
        ("/", "allowed_groups = [\"acme:devs\", \"deep\"]\n".into()),
    ] {
        let pair = github_pair(&gh, api, &format!("{extra}set_xauthrequest = true\n"));
        let mut seen = Vec::new();
        for (peer, run, _) in &pair {
            let mut out = Vec::new();
            for account in ["alice", "bob", "carol", "dave"] {
                let mut browser = Browser::new(None);
                let r = browser.login(&format!("{}/oauth2/start?rd=%2F", run.base), account).await;
                if *peer == Peer::Gatehouse && r.status != 302 {
                    assert_eq!(r.status, 403, "{account} with {extra:?}: Gatehouse refuses with 403\n{}", run.log());
                }
                out.push(format!("{account} login {}", if r.status == 302 { "in" } else { "refused" }));
                let r = browser.get(&format!("{}/oauth2/userinfo", run.base)).await;
                out.push(format!("{account} userinfo {} {}", r.status, r.body.trim()));
                let r = browser.get(&format!("{}/oauth2/auth", run.base)).await;
                let header = |n: &str| r.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap_or_default();
                let groups = header("x-auth-request-groups");
                out.push(format!(
                    "{account} auth {} {} {} {}",
                    r.status,
                    header("x-auth-request-user"),
                    header("x-auth-request-email"),
                    groups.len()
                ));
            }
            seen.push(out);
        }
        assert_eq!(seen[0], seen[1], "{api} {extra}: oauth2-proxy (left) and Gatehouse (right):\n{}", pair[1].1.log());
    }
}

/// A GitHub session is revalidated when `cookie_refresh` is due (GitHub's tokens are never
/// refreshed): `validate_url` accepts the token and the session goes on; once the user
/// revokes the app, it ends, in both.
#[actix_web::test]
async fn a_github_session_is_revalidated_like_oauth2_proxys() {
    let gh = GitHub::start(github_accounts(), &[]);
    let pair = github_pair(&gh, "/", "cookie_refresh = \"1s\"\n");
    let mut browsers = Vec::new();
    for (peer, run, _) in &pair {
        let mut browser = Browser::new(None);
        assert_eq!(browser.login(&format!("{}/oauth2/start?rd=/", run.base), "alice").await.status, 302, "{peer:?} login");
        browsers.push(browser);
    }
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    let validations = gh.asked().iter().filter(|p| *p == "/?").count();
    for ((peer, run, _), browser) in pair.iter().zip(&mut browsers) {
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 202, "{peer:?} revalidated:\n{}", run.log());
    }
    assert_eq!(gh.asked().iter().filter(|p| *p == "/?").count(), validations + 2, "one revalidation each");
    gh.revoke("alice");
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2100)).await;
    for ((peer, run, _), browser) in pair.iter().zip(&mut browsers) {
        assert_eq!(browser.get(&format!("{}/oauth2/auth", run.base)).await.status, 401, "{peer:?} after a revocation:\n{}", run.log());
    }
}

/// github options outside provider = "github", OpenID Connect options beside it, a repository
/// that is not owner/name and a github_token without a repository are errors; GitHub's
/// endpoints and scope are the defaults.
#[test]
fn github_options_are_checked() {
    let errors = load_text(&format!("{MINIMAL}github_org = \"acme\"\n"), &[], vec![]).unwrap_err().to_string();
    assert!(errors.contains("github_org") && errors.contains("only used by the github provider"), "{errors}");
    let env = [("OAUTH2_PROXY_PROVIDER", "github")];
    let text = format!("{MINIMAL}github_repo = \"acme\"\ngithub_token = \"t\"\nskip_jwt_bearer_tokens = true\n");
    let errors = load_text(&text, &env, vec![]).unwrap_err().to_string();
    for (key, problem) in [
        ("oidc_issuer_url", "GitHub speaks plain OAuth 2.0"),
        ("github_repo", "is not owner/name"),
        ("skip_jwt_bearer_tokens", "GitHub issues no JWTs"),
    ] {
        assert!(errors.contains(key) && errors.contains(problem), "{key}: {errors}");
    }
    let text: String = MINIMAL.lines().filter(|l| !l.starts_with("oidc_issuer_url")).map(|l| format!("{l}\n")).collect();
    let cfg = load_text(&format!("{text}github_token = \"t\"\n"), &env, vec![]).unwrap_err().to_string();
    assert!(cfg.contains("github_token") && cfg.contains("without github_repo"), "{cfg}");
    let cfg = load_text(&text, &env, vec![]).unwrap().config;
    assert_eq!(cfg.oidc.scope, "user:email read:org");
    assert_eq!(cfg.oidc.login_url.unwrap().as_str(), "https://github.com/login/oauth/authorize");
    assert_eq!(cfg.oidc.validate_url.unwrap().as_str(), "https://api.github.com/");
}
