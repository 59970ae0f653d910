//! `/api/v1/branches/{id}/notices`: a text for every bound chat, now or at a time.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{
    auth::Admin,
    branches::{audit, branch_id},
    error::ApiError,
    idempotency::IdempotencyKey,
    json::ApiJson,
};
use crate::{http::problem::Problem, service::notices::NewNotice, state::AppState};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{delete, post};
    axum::Router::new()
        .route("/branches/{id}/notices", post(create_notice))
        .route("/branches/{id}/notices/{notice}", delete(cancel_notice))
}

/// `POST /branches/{id}/notices`: `201 {"id", "at", "scheduled"}`. A retry with the same
/// `Idempotency-Key` answers the same notice and sends it once.
pub async fn create_notice(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewNotice>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "notice.create", &input)
        .await?;
    let notice = state
        .services
        .create_notice(&id, input, origin.as_deref())
        .await?;
    audit(&state, Some(&id), &admin, "notice.create", &notice.id).await;
    Ok((StatusCode::CREATED, Json(notice)).into_response())
}

/// `DELETE /branches/{id}/notices/{notice}`: cancels a scheduled notice.
pub async fn cancel_notice(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, notice)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    if notice.len() > 64 || !state.services.cancel_notice(&id, &notice).await? {
        return Err(Problem::not_found("no scheduled notice with that id").into());
    }
    audit(&state, Some(&id), &admin, "notice.cancel", &notice).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
