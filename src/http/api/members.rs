//! `/api/v1/branches/{id}/members`: the roster.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{
    Page, PageQuery,
    auth::Admin,
    branches::{audit, branch_id},
    error::ApiError,
    idempotency::IdempotencyKey,
    json::ApiJson,
};
use crate::{
    domain::{JoinRequest, Member},
    service::members::NewMember,
    state::AppState,
};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/branches/{id}/members",
            get(list_members).post(create_member),
        )
        .route(
            "/branches/{id}/join-requests",
            get(list_join_requests).delete(clear_join_requests),
        )
}

/// `GET /branches/{id}/members`: the full records (personal data: admins only).
pub async fn list_members(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<Member>>, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    page.bounds()?; // a bad page is refused before anything is read
    let all = state.services.list_members(&id).await?;
    Ok(Json(page.page_of(all)?))
}

/// `GET /branches/{id}/join-requests`: the accounts waiting for the secretary's `批准`,
/// oldest first (the order `批准 <姓名> <n>` counts in).
pub async fn list_join_requests(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<JoinRequest>>, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    page.bounds()?; // a bad page is refused before anything is read
    state.services.branch(&id).await?;
    let (_, all) = state.services.roster_view(&id).await?;
    Ok(Json(page.page_of(all)?))
}

/// `DELETE /branches/{id}/join-requests`: drops every waiting request (a flood of strangers,
/// or a clean start); answers how many there were.
pub async fn clear_join_requests(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let cleared = state.services.clear_join_requests(&id).await?;
    audit(
        &state,
        Some(&id),
        &admin,
        "join_requests.clear",
        &cleared.to_string(),
    )
    .await;
    Ok(Json(serde_json::json!({ "cleared": cleared })))
}

/// `POST /branches/{id}/members`: adds a roster entry that its person links to with `加入`.
/// A retry with the same `Idempotency-Key` answers the entry the first attempt made.
pub async fn create_member(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewMember>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "member.create", &input)
        .await?;
    let member = state
        .services
        .add_member(&id, input, origin.as_deref())
        .await?;
    audit(&state, Some(&id), &admin, "member.create", &member.id).await;
    Ok((StatusCode::CREATED, Json(member)).into_response())
}
