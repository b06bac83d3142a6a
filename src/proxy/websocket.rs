//! WebSocket upgrades (`proxy_websockets`): the client's handshake is answered once the
//! upstream accepted its own, then messages are relayed both ways until either side closes.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{SinkExt, StreamExt};
use url::Url;

use super::Upstream;
use super::forward::{self, Clients, Forwarding, ProxyError};

/// Is this request a WebSocket handshake?
pub fn is_upgrade(req: &HttpRequest) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

pub async fn relay(
    clients: &Clients,
    up: &Upstream,
    base: &Url,
    req: &HttpRequest,
    body: web::Payload,
    fwd: Forwarding<'_>,
    // Resolves when Gatehouse stops: the client is then told "going away".
    closing: impl std::future::Future<Output = ()> + 'static,
) -> Result<HttpResponse, ProxyError> {
    let mut ws = clients.pick(up).ws(forward::upstream_url(base, fwd.uri)).max_frame_size(16 * 1024 * 1024);
    // awc makes its own handshake headers.
    for (name, value) in forward::upstream_headers(up, req, &fwd).into_iter().filter(|(n, _)| !n.as_str().starts_with("sec-websocket-")) {
        ws = ws.set_header(name, value);
    }
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_string()))
        .filter(|p| !p.is_empty())
        .collect();
    if !offered.is_empty() {
        ws = ws.protocols(offered.iter());
    }

    let (upstream_res, framed) = match actix_web::rt::time::timeout(up.timeout, ws.connect()).await {
        Err(_) => return Err(ProxyError::Timeout(up.timeout)),
        Ok(Err(e)) => return Err(ProxyError::Unreachable(e.to_string())),
        Ok(Ok(pair)) => pair,
    };
    let chosen: Vec<String> =
        upstream_res.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(|p| vec![p.to_string()]).unwrap_or_default();
    let chosen: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let (response, session, from_client) =
        actix_ws::handle_with_protocols(req, body, &chosen).map_err(|e| ProxyError::Unreachable(format!("websocket handshake: {e}")))?;
    let (to_upstream, from_upstream) = framed.split();

    actix_web::rt::spawn(client_to_upstream(from_client, to_upstream));
    actix_web::rt::spawn(upstream_to_client(from_upstream, session, closing));
    Ok(response)
}

/// The client's messages to the upstream, until either side closes.
async fn client_to_upstream(mut from_client: actix_ws::MessageStream, mut to_upstream: impl futures_util::Sink<actix_ws::Message> + Unpin) {
    while let Some(Ok(msg)) = from_client.next().await {
        let close = matches!(msg, actix_ws::Message::Close(_));
        if to_upstream.send(msg).await.is_err() || close {
            break;
        }
    }
    let _ = to_upstream.close().await;
}

/// The upstream's frames to the client, until either side closes or Gatehouse stops
/// (`closing`): then the client is told "going away" (1001).
async fn upstream_to_client(
    mut from_upstream: impl futures_util::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>> + Unpin,
    mut session: actix_ws::Session,
    closing: impl std::future::Future<Output = ()>,
) {
    use awc::ws::Frame;
    let mut closing = std::pin::pin!(closing);
    loop {
        let frame = tokio::select! {
            frame = from_upstream.next() => frame,
            // Shutting down: the client is told "going away" (1001); its Close reply goes
            // upstream through the other half, so both sides see a proper close.
            _ = &mut closing => {
                let reason = actix_ws::CloseReason { code: actix_ws::CloseCode::Away, description: Some("Gatehouse is restarting".into()) };
                let _ = session.close(Some(reason)).await;
                return;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let sent = match frame {
            Frame::Text(b) => match String::from_utf8(b.to_vec()) {
                Ok(text) => session.text(text).await,
                Err(_) => break,
            },
            Frame::Binary(b) => session.binary(b).await,
            Frame::Ping(b) => session.ping(&b).await,
            Frame::Pong(b) => session.pong(&b).await,
            Frame::Continuation(item) => session.continuation(item).await,
            Frame::Close(reason) => {
                let _ = session.close(reason).await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
    let _ = session.close(None).await;
}
