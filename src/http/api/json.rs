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
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| Problem::for_status(rejection.status(), &rejection.body_text()))?;
        from_slice(&bytes).map(Self)
    }
}

/// Decodes a JSON body, naming the field at fault: 400 for bytes that are not JSON, 422 for
/// JSON of the wrong shape. The characters the server reserves for its own mention markers
/// are dropped from every string first, as the webhook drops them from everything typed in a
/// chat: text that enters through the API is data too, and must not forge a mention.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut value: serde_json::Value = serde::Deserialize::deserialize(&mut de).map_err(|e| {
        ApiError::from(Problem::bad_request(format!("body is not valid JSON: {e}")))
    })?;
    de.end().map_err(|e| {
        ApiError::from(Problem::bad_request(format!(
            "trailing data after JSON: {e}"
        )))
    })?;
    strip_markers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = crate::platform::field_path(e.path()).unwrap_or_else(|| "body".to_owned());
        ApiError::from(Problem::invalid(field, e.into_inner().to_string()))
    })
}

fn strip_markers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.chars().any(crate::platform::is_token_char) => {
            s.retain(|c| !crate::platform::is_token_char(c));
        }
        Value::Array(items) => items.iter_mut().for_each(strip_markers),
        Value::Object(map) => map.values_mut().for_each(strip_markers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Notice {
        text: String,
        tags: Vec<String>,
    }

    #[test]
    fn marker_characters_are_dropped_from_every_string() {
        let body = "{\"text\":\"a\u{FDE0}u1\u{FDE1}all\u{FDE2}b\",\"tags\":[\"\\ufde0x\"]}";
        let notice: Notice = from_slice(body.as_bytes()).unwrap();
        assert_eq!(notice.text, "au1allb");
        assert_eq!(notice.tags, ["x"]);
    }

    #[test]
    fn bad_json_is_400_and_a_wrong_shape_names_the_field() {
        assert!(from_slice::<Notice>(b"{\"text\":").is_err());
        let err = from_slice::<Notice>(br#"{"text": 5, "tags": []}"#).unwrap_err();
        assert!(format!("{err:?}").contains("text"), "{err:?}");
    }
}
