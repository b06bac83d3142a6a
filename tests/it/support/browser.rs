//! A browser-like HTTP client: keeps cookies (honouring host, path, Secure and Max-Age, and
//! ignoring ports as browsers do), never follows redirects by itself, and can walk a login at
//! the test OpenID Provider.

use std::path::Path;

use actix_web::cookie::Cookie;
use url::Url;

/// An awc client trusting `ca` (the provider's self-signed certificate) when given.
pub fn client(ca: Option<&Path>) -> awc::Client {
    let trust = gatehouse::oidc::tls::Trust {
        ca_files: ca.map(|c| vec![c.to_path_buf()]).unwrap_or_default(),
        use_system_trust_store: true,
        ..Default::default()
    };
    let tls = gatehouse::oidc::tls::client_config(&trust).unwrap();
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(tls))
        .disable_redirects()
        .timeout(std::time::Duration::from_secs(30))
        .finish()
}

#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    host: String,
    /// Set with a Domain attribute: also sent to subdomains.
    domain: bool,
    path: String,
    secure: bool,
}

/// One response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub url: Url,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The `Location`, resolved against the request URL.
    /// A provider's `response_mode=form_post` page: the form's target (a callback) and its
    /// hidden fields, HTML entities decoded.
    pub fn form_post(&self) -> Option<(String, Vec<(String, String)>)> {
        let unescape =
            |v: &str| v.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        let attr = |tag: &str, name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(unescape(&tag[start..start + tag[start..].find('"')?]))
        };
        let form = &self.body[self.body.find("<form method=\"post\"")?..];
        let action = attr(&form[..form.find('>')?], "action").filter(|a| a.ends_with("/callback"))?;
        let fields =
            form.split("<input type=\"hidden\"").skip(1).filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?))).collect();
        Some((action, fields))
    }

    pub fn location(&self) -> Option<Url> {
        self.header("location").map(|l| self.url.join(l).unwrap())
    }
}

pub struct Browser {
    client: awc::Client,
    jar: Vec<Stored>,
}

impl Browser {
    pub fn new(ca: Option<&Path>) -> Browser {
        Browser { client: client(ca), jar: Vec::new() }
    }

    /// The cookies this browser holds for a host (for assertions).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.iter().find(|c| c.name == name).map(|c| c.value.clone())
    }

    /// Every cookie whose name starts with `prefix` (a split session too), as a `Cookie` header.
    pub fn cookies_starting(&self, prefix: &str) -> String {
        self.jar.iter().filter(|c| c.name.starts_with(prefix)).map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>().join("; ")
    }

    pub fn cookie_names(&self) -> Vec<String> {
        self.jar.iter().map(|c| c.name.clone()).collect()
    }

    /// Replaces a cookie's value (to tamper with it).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        for c in self.jar.iter_mut().filter(|c| c.name == name) {
            c.value = value.to_string();
        }
    }

    pub fn add_cookie(&mut self, host: &str, name: &str, value: &str) {
        self.jar.push(Stored { name: name.into(), value: value.into(), host: host.into(), domain: false, path: "/".into(), secure: false });
    }

    pub fn remove_cookie(&mut self, name: &str) {
        self.jar.retain(|c| c.name != name);
    }

    fn cookie_header(&self, url: &Url) -> Option<String> {
        let host = url.host_str().unwrap_or("");
        let path = url.path();
        let pairs: Vec<String> = self
            .jar
            .iter()
            .filter(|c| if c.domain { host == c.host || host.ends_with(&format!(".{}", c.host)) } else { host == c.host })
            .filter(|c| path == c.path || path.starts_with(&format!("{}/", c.path.trim_end_matches('/'))) || c.path == "/")
            .filter(|c| !c.secure || url.scheme() == "https")
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    fn store(&mut self, url: &Url, set_cookie: &str) {
        let Ok(c) = Cookie::parse(set_cookie.to_string()) else {
            return;
        };
        let (host, domain) = match c.domain() {
            Some(d) => (d.trim_start_matches('.').to_string(), true),
            None => (url.host_str().unwrap_or("").to_string(), false),
        };
        let path = c.path().map(str::to_string).unwrap_or_else(|| {
            let p = url.path();
            match p.rfind('/') {
                Some(0) | None => "/".to_string(),
                Some(i) => p[..i].to_string(),
            }
        });
        self.jar.retain(|s| !(s.name == c.name() && s.host == host && s.path == path));
        let expired = c.max_age().is_some_and(|m| m.whole_seconds() <= 0) || c.value().is_empty();
        if !expired {
            self.jar.push(Stored {
                name: c.name().to_string(),
                value: c.value().to_string(),
                host,
                domain,
                path,
                secure: c.secure().unwrap_or(false),
            });
        }
    }

    pub async fn request(&mut self, method: &str, url: &str, form: Option<&[(&str, &str)]>, headers: &[(&str, &str)]) -> Resp {
        let url = Url::parse(url).unwrap();
        let mut req = match method {
            "GET" => self.client.get(url.as_str()),
            "POST" => self.client.post(url.as_str()),
            other => self.client.request(awc::http::Method::from_bytes(other.as_bytes()).unwrap(), url.as_str()),
        };
        if let Some(c) = self.cookie_header(&url) {
            req = req.insert_header(("Cookie", c));
        }
        // What a browser sends on a page load; a test can override either.
        req = req
            .insert_header(("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"))
            .insert_header(("Sec-Fetch-Mode", "navigate"));
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        let mut res = match form {
            Some(f) => req.send_form(&f).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> =
            res.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
        for (k, v) in &headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                self.store(&url, v);
            }
        }
        let body = res.body().limit(8 << 20).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        Resp { url, status, headers, body }
    }

    pub async fn get(&mut self, url: &str) -> Resp {
        self.request("GET", url, None, &[]).await
    }

    pub async fn get_with(&mut self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", url, None, headers).await
    }

    /// Walks a login at the test provider: from `start` (Gatehouse's `/oauth2/start?...` or any
    /// URL that leads to the provider) through the provider's login and consent forms, up to
    /// and including Gatehouse's callback, whose response is returned.
    pub async fn login(&mut self, start: &str, account: &str) -> Resp {
        self.login_with(start, &[], account).await
    }

    /// `login`, with `headers` on the first request (what an edge proxy adds to it).
    pub async fn login_with(&mut self, start: &str, headers: &[(&str, &str)], account: &str) -> Resp {
        match self.walk(start, headers, account, false).await {
            Ok(resp) => resp,
            Err(callback) => panic!("stopped before the callback {callback}"),
        }
    }

    /// A login walked up to Gatehouse's callback, not taken: the callback URL the provider
    /// sent the browser to (a mix-up test takes it elsewhere).
    pub async fn login_until_callback(&mut self, start: &str, account: &str) -> Url {
        match self.walk(start, &[], account, true).await {
            Err(callback) => callback,
            Ok(resp) => panic!("the login did not come back to a callback: {} {}", resp.status, resp.body),
        }
    }

    async fn walk(&mut self, start: &str, headers: &[(&str, &str)], account: &str, stop: bool) -> Result<Resp, Url> {
        let mut resp = self.get_with(start, headers).await;
        for _ in 0..20 {
            if (300..400).contains(&resp.status) {
                let next = resp.location().expect("redirect without Location");
                // `/oauth2/callback`, or a further provider's `/oauth2/callback/<id>`.
                let path = next.path();
                let at_callback = path.ends_with("/callback") || path.rsplit_once('/').is_some_and(|(head, _)| head.ends_with("/callback"));
                if at_callback && stop {
                    return Err(next);
                }
                resp = self.get(next.as_str()).await;
                if at_callback {
                    return Ok(resp);
                }
            } else if let Some((action, fields)) = resp.form_post() {
                // `response_mode=form_post`: the page's script submits the form at once.
                let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                return Ok(self.request("POST", &action, Some(&fields), &[]).await);
            } else if resp.status == 200 && resp.url.path().starts_with("/interaction/") {
                let url = resp.url.to_string();
                resp = if resp.body.contains("name=\"login\"") {
                    self.request("POST", &url, Some(&[("prompt", "login"), ("login", account), ("password", "any")]), &[]).await
                } else {
                    self.request("POST", &url, Some(&[("prompt", "consent")]), &[]).await
                };
            } else {
                return Ok(resp);
            }
        }
        panic!("the login did not reach the callback");
    }
}
