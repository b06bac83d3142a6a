//! The server, started in-process exactly as `main` starts it.

use gatehouse::App;

use crate::support::{MINIMAL, load_text};

fn start(extra: &str) -> (String, gatehouse::app::Handle) {
    let text = format!("{MINIMAL}http_address = \"127.0.0.1:0\"\n{extra}");
    let config = load_text(&text, &[], vec![]).unwrap().config;
    let app = App::build(config).unwrap();
    let base = format!("http://{}", app.addrs()[0]);
    let handle = app.handle();
    actix_web::rt::spawn(app.run());
    (base, handle)
}

#[actix_web::test]
async fn ping_answers_ok() {
    let (base, handle) = start("");
    let client = awc::Client::default();
    let mut res = client.get(format!("{base}/ping")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body().await.unwrap(), "OK");
    let res = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    handle.stop(true).await;
}

#[actix_web::test]
async fn ping_path_is_configurable() {
    let (base, handle) = start("ping_path = \"/healthz\"\n");
    let client = awc::Client::default();
    assert_eq!(client.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{base}/ping")).send().await.unwrap().status(), 404);
    handle.stop(true).await;
}
