//! The HTTP surface (axum): one route per endpoint, typed extractors, admin authentication
//! as an extractor, and the one conversion of [`ApiError`] into an RFC 7807 response.
//! Protocol logic is in [`crate::service`]; nothing here decides anything about attestation.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Path, Request, State,
};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use zeroize::Zeroizing;

use crate::error::{chain, ApiError};
use crate::service::{Credential, Kbs};
use crate::store::PolicyKind;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The key broker.
    pub kbs: Arc<Kbs>,
    /// The admin bearer token.
    pub admin_token: Arc<Zeroizing<String>>,
    /// Request body limit (bytes).
    pub max_body: usize,
    /// Session lifetime (cookie Max-Age).
    pub session_ttl: Duration,
    /// Whether the listener is TLS (cookies get `Secure`).
    pub tls: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("max_body", &self.max_body)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    let limit = state.max_body;
    Router::new()
        .route("/kbs/v0/auth", post(auth))
        .route("/kbs/v0/attest", post(attest))
        .route(
            "/kbs/v0/resource/{*path}",
            get(get_resource).post(set_resource).delete(delete_resource),
        )
        .route("/kbs/v0/resources", get(list_resources))
        .route("/kbs/v0/resource-policy", post(set_resource_policy))
        .route("/kbs/v0/attestation-policy", post(set_attestation_policy))
        .route("/kbs/v0/reference-value", post(set_reference_value))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The cause chain of an error response, for the logging middleware.
#[derive(Debug, Clone)]
struct ErrorChain(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::json!({
            "type": self.problem_type(),
            "title": self.title(),
            "status": self.status(),
            "detail": self.public_detail(),
        });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(ErrorChain(chain(&self)));
        response
    }
}

/// Count every request and log its error once, here at the top of the request.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.kbs.metrics.request(&route, status);
    if let Some(ErrorChain(chain)) = response.extensions().get::<ErrorChain>() {
        if status >= 500 {
            tracing::error!(route = %route, status, error = %chain, "request failed");
        } else {
            tracing::info!(route = %route, status, error = %chain, "request refused");
        }
    }
    response
}

/// A raw request body within the size limit (413 beyond it).
struct Body(Bytes);

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Refuse an announced oversized body before reading any of it; the limit layer
        // still bounds chunked bodies while they are read.
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > u64::try_from(state.max_body).unwrap_or(u64::MAX)) {
            return Err(ApiError::TooLarge {
                limit: state.max_body,
            });
        }
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::TooLarge {
                    limit: state.max_body,
                })
            }
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "reading the request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// The `kbs-session-id` cookie, if sent.
struct SessionCookie(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for SessionCookie {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(session_cookie(&parts.headers)))
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == attestation::kbs::client::SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// An `Authorization: Bearer` token, if sent.
struct Bearer(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(bearer(&parts.headers)))
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Proof that the request carries the admin token.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            ApiError::Unauthenticated(
                "admin endpoints need an Authorization: Bearer admin token".into(),
            )
        })?;
        if !same_secret(token.as_bytes(), state.admin_token.as_bytes()) {
            return Err(ApiError::Unauthenticated("wrong admin token".into()));
        }
        Ok(Self)
    }
}

/// Compare secrets without an early exit: SHA-256 both (hiding the length), then OR the
/// differences of all 32 bytes.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (
        ring::digest::digest(&ring::digest::SHA256, a),
        ring::digest::digest(&ring::digest::SHA256, b),
    );
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn auth(State(state): State<AppState>, Body(body): Body) -> Result<Response, ApiError> {
    let (id, challenge) = state.kbs.auth(&body)?;
    let secure = if state.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{}={id}; Path=/; HttpOnly; Max-Age={}{secure}",
        attestation::kbs::client::SESSION_COOKIE,
        state.session_ttl.as_secs()
    );
    let mut response = Json(challenge).into_response();
    let value = HeaderValue::from_str(&cookie)
        .map_err(|e| ApiError::internal("building the session cookie", e))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

async fn attest(
    State(state): State<AppState>,
    SessionCookie(session): SessionCookie,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let response = state.kbs.attest(session.as_deref(), &body)?;
    Ok(Json(response).into_response())
}

async fn get_resource(
    State(state): State<AppState>,
    Path(path): Path<String>,
    SessionCookie(session): SessionCookie,
    Bearer(token): Bearer,
) -> Result<Response, ApiError> {
    let credential = match (&token, &session) {
        (Some(token), _) => Credential::Bearer(token),
        (None, Some(id)) => Credential::Session(id),
        (None, None) => Credential::None,
    };
    let jwe = state.kbs.resource(&path, credential)?;
    Ok(Json(jwe).into_response())
}

async fn set_resource(
    State(state): State<AppState>,
    _: Admin,
    Path(path): Path<String>,
    Body(body): Body,
) -> Result<StatusCode, ApiError> {
    state.kbs.set_resource(&path, &body)?;
    Ok(StatusCode::OK)
}

async fn delete_resource(
    State(state): State<AppState>,
    _: Admin,
    Path(path): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.kbs.delete_resource(&path)?;
    Ok(StatusCode::OK)
}

async fn list_resources(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    Ok(Json(state.kbs.list_resources()?).into_response())
}

async fn set_resource_policy(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body,
) -> Result<StatusCode, ApiError> {
    state.kbs.set_policy(PolicyKind::Resource, &body)?;
    Ok(StatusCode::OK)
}

async fn set_attestation_policy(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body,
) -> Result<StatusCode, ApiError> {
    state.kbs.set_policy(PolicyKind::Attestation, &body)?;
    Ok(StatusCode::OK)
}

async fn set_reference_value(
    State(state): State<AppState>,
    _: Admin,
    Body(body): Body,
) -> Result<StatusCode, ApiError> {
    state.kbs.set_reference_value(&body)?;
    Ok(StatusCode::OK)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.kbs.metrics.render(),
    )
        .into_response()
}

async fn fallback() -> ApiError {
    ApiError::NotFound("no such endpoint".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_and_bearer_parsing() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; kbs-session-id=abc; b=2"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer tok"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(bearer(&headers).as_deref(), Some("tok"));
        let empty = HeaderMap::new();
        assert!(session_cookie(&empty).is_none());
        assert!(bearer(&empty).is_none());
    }
}
