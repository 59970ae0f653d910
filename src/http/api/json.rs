//! A JSON body extractor whose rejections are problem documents naming the field at fault.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::http::problem::Problem;

/// `Json<T>` for the admin API.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !json_type {
            return Err(Problem::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "send Content-Type: application/json",
            )
            .into());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            Problem::new(
                rejection.status(),
                "body",
                "Body not readable",
                rejection.body_text(),
            )
        })?;
        from_slice(&bytes).map(Self)
    }
}

/// Decodes a JSON body, naming the field at fault: 400 for bytes that are not JSON, 422 for
/// JSON of the wrong shape.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::from(Problem::bad_request(format!(
                "body is not valid JSON: {inner}"
            )))
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::from(Problem::invalid(field, inner.to_string()))
        }
    })?;
    de.end().map_err(|e| {
        ApiError::from(Problem::bad_request(format!(
            "trailing data after JSON: {e}"
        )))
    })?;
    Ok(value)
}
