//! `/api/v1/tokens`: issue (shown once), list and revoke admin tokens (region admins only).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{auth::Admin, branches::audit, error::ApiError, json::ApiJson};
use crate::{
    http::problem::Problem, service::tokens::NewToken, state::AppState, store::tokens::TokenScope,
};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{delete, post};
    axum::Router::new()
        .route("/tokens", post(create_token).get(list_tokens))
        .route("/tokens/{id}", delete(revoke_token))
}

/// `POST /tokens`: `201 {"id", "token", …}`; the token is shown this once.
pub async fn create_token(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<NewToken>,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    let (token, clear) = state.services.issue_token(input).await?;
    audit(&state, None, &admin, "token.create", &token.id).await;
    let branch_id = match &token.scope {
        TokenScope::Branch { branch_id } => Some(branch_id.clone()),
        TokenScope::Region => None,
    };
    let scope = if branch_id.is_some() {
        "branch"
    } else {
        "region"
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": token.id, "token": clear, "scope": scope, "branch_id": branch_id,
            "created_at": token.created_at, "expires_at": token.expires_at,
        })),
    )
        .into_response())
}

/// `GET /tokens`: the live tokens, without their secrets.
pub async fn list_tokens(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    let tokens = state.services.live_tokens().await?;
    Ok(Json(json!({ "items": tokens, "total": tokens.len() })).into_response())
}

/// `DELETE /tokens/{id}`: revokes at once.
pub async fn revoke_token(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    if !state.services.revoke_token(&id).await? {
        return Err(Problem::not_found("no such token").into());
    }
    audit(&state, None, &admin, "token.revoke", &id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
