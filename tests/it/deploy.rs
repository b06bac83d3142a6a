//! The deployment files in `deploy/`: each parses, and agrees with the configuration and the
//! Makefile. (No Docker engine runs on the test machines, so the image is not built here.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::support::load;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(rel)
}

fn yaml(rel: &str) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(deploy(rel)).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

const SECRETS: [(&str, &str); 2] =
    [("OAUTH2_PROXY_CLIENT_SECRET", "s"), ("OAUTH2_PROXY_COOKIE_SECRET", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")];

fn port_of(addr: &Option<gatehouse::server::ListenAddr>) -> u16 {
    match addr {
        Some(gatehouse::server::ListenAddr::Tcp { port, .. }) => *port,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_production_config_loads_with_secrets_from_the_environment() {
    let loaded = load(Some(&deploy("gatehouse.cfg")), &SECRETS, vec![]).unwrap_or_else(|e| panic!("{e}"));
    let cfg = loaded.config;
    assert_eq!(port_of(&cfg.server.http_address), 4180);
    assert_eq!(port_of(&cfg.server.metrics_address), 9100);
    // The ConfigMap carries the same configuration.
    let cm = yaml("k8s/configmap.yaml");
    let text = cm["data"]["gatehouse.cfg"].as_str().unwrap();
    let from_cm = crate::support::load_text(text, &SECRETS, vec![]).unwrap().config;
    assert_eq!(format!("{from_cm:?}"), format!("{cfg:?}"));
}

#[test]
fn compose_agrees_with_the_config() {
    let c = yaml("compose.yaml");
    let g = &c["services"]["gatehouse"];
    let ports: Vec<&str> = g["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(ports, ["4180:4180", "9100:9100"]);
    assert!(deploy(g["build"]["context"].as_str().unwrap()).join(g["build"]["dockerfile"].as_str().unwrap()).is_file());
    for v in g["volumes"].as_sequence().unwrap() {
        let source = v.as_str().unwrap().split(':').next().unwrap();
        assert!(deploy(source).exists(), "{source}");
    }
    let env = g["environment"].as_mapping().unwrap();
    for (name, _) in SECRETS {
        assert!(env.contains_key(name), "{name}");
    }
    for service in ["redis", "app"] {
        assert!(c["services"][service].is_mapping(), "{service}");
    }
}

#[test]
fn kubernetes_manifests_agree_with_the_config() {
    let d = yaml("k8s/deployment.yaml");
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let ports: Vec<(String, u64)> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["containerPort"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, [("http".to_string(), 4180), ("metrics".to_string(), 9100), ("grpc".to_string(), 4190)]);
    let cfg = load(Some(&deploy("gatehouse.cfg")), &SECRETS, vec![]).unwrap().config;
    assert_eq!(port_of(&cfg.server.grpc_address), 4190);
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some(cfg.server.ping_path.as_str()));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some(cfg.server.ready_path.as_str()));
    // Kubernetes kills the pod after its grace period: it must cover the readiness delay and the
    // 30 s drain of requests in flight.
    let grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(cfg.server.shutdown_delay >= Duration::from_secs(1), "the manifests set shutdown_delay");
    let drain = cfg.server.shutdown_delay + gatehouse::server::SHUTDOWN_TIMEOUT;
    assert!(grace >= drain.as_secs(), "terminationGracePeriodSeconds {grace} is shorter than the drain ({drain:?})");
    let secret = yaml("k8s/secret.yaml");
    for e in container["env"].as_sequence().unwrap() {
        let key = e["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
        assert!(secret["stringData"][key].is_string(), "{key}");
        assert!(SECRETS.iter().any(|(n, _)| Some(*n) == e["name"].as_str()));
    }
    assert_eq!(d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"], yaml("k8s/configmap.yaml")["metadata"]["name"]);
    let svc = yaml("k8s/service.yaml");
    for p in svc["spec"]["ports"].as_sequence().unwrap() {
        assert!(ports.iter().any(|(n, _)| Some(n.as_str()) == p["targetPort"].as_str()));
    }
    assert!(d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap() > 30, "longer than the 30 s graceful stop");
}

/// The ingress-nginx example: its auth URL is Gatehouse's check on its Service, its sign-in
/// URL Gatehouse's start, the identity headers it passes on are the ones the configuration
/// sends, and Gatehouse's own pages are routed to the Service's named port. (No cluster here.)
#[test]
fn the_ingress_nginx_example_points_at_gatehouse() {
    let text = std::fs::read_to_string(deploy("k8s/ingress-nginx.yaml")).unwrap();
    let docs: Vec<Value> =
        serde_yaml_ng::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{e}"))).collect();
    let cfg = load(Some(&deploy("gatehouse.cfg")), &SECRETS, vec![]).unwrap().config;
    let svc = yaml("k8s/service.yaml");
    let service = svc["metadata"]["name"].as_str().unwrap();
    let prefix = cfg.server.proxy_prefix.as_str();
    let sent: Vec<String> = cfg.headers.response.iter().map(|h| h.name.to_ascii_lowercase()).collect();
    let (mut checked, mut pages) = (0, 0);
    for doc in &docs {
        assert_eq!(doc["kind"], "Ingress");
        let notes = &doc["metadata"]["annotations"];
        if let Some(auth) = notes["nginx.ingress.kubernetes.io/auth-url"].as_str() {
            let url = url::Url::parse(auth).unwrap();
            assert_eq!(url.host_str().unwrap().split('.').next(), Some(service), "{auth}");
            assert_eq!(url.port_or_known_default(), svc["spec"]["ports"][0]["port"].as_u64().map(|p| p as u16));
            assert_eq!(url.path(), format!("{prefix}/auth"));
            let signin = notes["nginx.ingress.kubernetes.io/auth-signin"].as_str().unwrap();
            assert!(signin.contains(&format!("{prefix}/start?rd=")), "{signin}");
            for h in notes["nginx.ingress.kubernetes.io/auth-response-headers"].as_str().unwrap().split(',') {
                assert!(sent.contains(&h.to_ascii_lowercase()), "{h} is not among the check's response headers {sent:?}");
            }
            checked += 1;
        } else {
            let path = &doc["spec"]["rules"][0]["http"]["paths"][0];
            assert_eq!(path["path"].as_str(), Some(prefix));
            assert_eq!(path["backend"]["service"]["name"].as_str(), Some(service));
            let port = path["backend"]["service"]["port"]["name"].as_str();
            assert!(svc["spec"]["ports"].as_sequence().unwrap().iter().any(|p| p["name"].as_str() == port), "{port:?}");
            pages += 1;
        }
    }
    assert_eq!((checked, pages), (2, 1));
}

/// The documents of a multi-document YAML file in `deploy/`.
fn documents(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(rel)).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: {e}"))).collect()
}

/// The Service's port named `name`, and the configuration's port behind it.
fn service_port(name: &str) -> u64 {
    let svc = yaml("k8s/service.yaml");
    let port = svc["spec"]["ports"].as_sequence().unwrap().iter().find(|p| p["name"].as_str() == Some(name)).cloned();
    port.unwrap_or_else(|| panic!("the Service has no port {name}"))["port"].as_u64().unwrap()
}

/// The gRPC examples (Envoy Gateway's SecurityPolicy, Istio's extension provider and CUSTOM
/// policy) point at the Service's gRPC port, which is the configuration's `grpc_address`, and
/// leave Gatehouse's own pages unchecked. (No cluster here: parsed and cross-checked only.)
#[test]
fn the_grpc_examples_point_at_gatehouses_grpc_port() {
    let cfg = load(Some(&deploy("gatehouse.cfg")), &SECRETS, vec![]).unwrap().config;
    let service = yaml("k8s/service.yaml")["metadata"]["name"].as_str().unwrap().to_string();
    let grpc = service_port("grpc");
    assert_eq!(grpc, u64::from(port_of(&cfg.server.grpc_address)), "the Service's grpc port is grpc_address's");
    let prefix = cfg.server.proxy_prefix.clone();

    let eg = documents("k8s/envoy-gateway.yaml");
    let policy = eg.iter().find(|d| d["kind"] == "SecurityPolicy").expect("a SecurityPolicy");
    let backend = &policy["spec"]["extAuth"]["grpc"]["backendRefs"][0];
    assert_eq!((backend["name"].as_str(), backend["port"].as_u64()), (Some(service.as_str()), Some(grpc)));
    assert_eq!(policy["spec"]["extAuth"]["failOpen"].as_bool(), Some(false));
    let target = policy["spec"]["targetRefs"][0]["name"].as_str().unwrap();
    let routes: Vec<&Value> = eg.iter().filter(|d| d["kind"] == "HTTPRoute").collect();
    let checked = routes.iter().find(|r| r["metadata"]["name"].as_str() == Some(target)).expect("the route the policy targets");
    assert_eq!(checked["spec"]["rules"][0]["backendRefs"][0]["name"].as_str(), Some("app"));
    let pages = routes.iter().find(|r| r["metadata"]["name"].as_str() != Some(target)).expect("a route for Gatehouse's pages");
    assert_eq!(pages["spec"]["rules"][0]["matches"][0]["path"]["value"].as_str(), Some(format!("{prefix}/").as_str()));
    assert_eq!(pages["spec"]["rules"][0]["backendRefs"][0]["name"].as_str(), Some(service.as_str()));
    assert_eq!(pages["spec"]["rules"][0]["backendRefs"][0]["port"].as_u64(), Some(service_port("http")));

    let istio = documents("k8s/istio.yaml");
    let mesh = istio.iter().find(|d| d["kind"] == "IstioOperator").expect("the mesh configuration");
    let provider = &mesh["spec"]["meshConfig"]["extensionProviders"][0];
    let ext = &provider["envoyExtAuthzGrpc"];
    assert_eq!(ext["service"].as_str().unwrap().split('.').next(), Some(service.as_str()));
    assert_eq!(ext["port"].as_u64(), Some(grpc));
    assert_eq!(ext["failOpen"].as_bool(), Some(false));
    let policy = istio.iter().find(|d| d["kind"] == "AuthorizationPolicy").expect("an AuthorizationPolicy");
    assert_eq!(policy["spec"]["action"].as_str(), Some("CUSTOM"));
    assert_eq!(policy["spec"]["provider"]["name"], provider["name"]);
    assert_eq!(policy["spec"]["rules"][0]["to"][0]["operation"]["notPaths"][0].as_str(), Some(format!("{prefix}/*").as_str()));
}

#[test]
fn the_dockerfile_builds_like_the_makefile_and_runs_unprivileged() {
    let docker = std::fs::read_to_string(deploy("Dockerfile")).unwrap();
    let make = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Makefile")).unwrap();
    let build = "cargo build --release --locked";
    assert!(docker.contains(&format!("RUN {build}")));
    assert!(make.contains(&format!("$(CARGO) {}", build.trim_start_matches("cargo "))), "make build runs the same command");
    let user = docker.lines().find(|l| l.starts_with("USER ")).unwrap();
    assert!(!user.contains(" 0") && !user.contains("root"), "{user}");
    assert!(docker.contains("HEALTHCHECK") && docker.contains("/ping"));
    assert!(docker.contains("EXPOSE 4180"));
    assert!(docker.contains("COPY deploy/gatehouse.cfg"));
}

#[test]
fn the_systemd_unit_is_sandboxed_and_knows_the_exit_codes() {
    let unit = std::fs::read_to_string(deploy("gatehouse.service")).unwrap();
    for line in [
        "ExecStart=/usr/local/bin/gatehouse --config /etc/gatehouse/gatehouse.cfg",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "RestartPreventExitStatus=64",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}");
    }
}

#[test]
fn every_file_in_deploy_is_checked() {
    let mut files: Vec<String> = Vec::new();
    for dir in ["", "k8s"] {
        for e in std::fs::read_dir(deploy(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                files.push(p.strip_prefix(deploy("")).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    let checked = [
        "Dockerfile",
        "README.md",
        "compose.yaml",
        "demo.cfg",
        "gatehouse.cfg",
        "gatehouse.service",
        "k8s/configmap.yaml",
        "k8s/deployment.yaml",
        "k8s/envoy-gateway.yaml",
        "k8s/ingress-nginx.yaml",
        "k8s/istio.yaml",
        "k8s/secret.yaml",
        "k8s/service.yaml",
    ];
    assert_eq!(files, checked, "a new deployment file needs a test here");
}
