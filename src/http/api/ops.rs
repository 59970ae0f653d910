//! Operator views of the machinery (region admins): dead letters, skipped and failed jobs.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{Page, PageQuery, auth::Admin, branches::audit, error::ApiError};
use crate::{
    http::problem::Problem,
    state::AppState,
    store::{jobs::RecordList, outbox::QueuedMessage},
};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/outbox/dead", get(list_dead))
        .route("/outbox/dead/{id}/retry", post(retry_dead))
        .route("/jobs/skipped", get(list_skipped))
        .route("/jobs/failed", get(list_failed))
}

/// `GET /outbox/dead?page=&per_page=`: messages given up on, oldest first, one page at a
/// time (there may be `outbox.dead_letter_cap` of them).
pub async fn list_dead(
    State(state): State<AppState>,
    admin: Admin,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<QueuedMessage>>, ApiError> {
    admin.require_region()?;
    let (offset, limit) = page.bounds()?;
    let (items, total) = state.services.dead_letters(offset, limit).await?;
    Ok(Json(Page {
        items,
        page: page.page,
        per_page: page.per_page,
        total: usize::try_from(total).unwrap_or(usize::MAX),
    }))
}

/// `POST /outbox/dead/{id}/retry`: back into its chat's queue with a fresh attempt count.
pub async fn retry_dead(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    if !state.services.revive_dead_letter(&id).await? {
        return Err(Problem::not_found("no dead message with that id").into());
    }
    audit(&state, None, &admin, "outbox.retry", &id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /jobs/skipped`: jobs missed beyond their grace, newest first.
pub async fn list_skipped(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_region()?;
    let items = state.services.job_records(RecordList::Skipped).await?;
    Ok(Json(json!({ "items": items })))
}

/// `GET /jobs/failed`: jobs that failed for good, newest first.
pub async fn list_failed(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Value>, ApiError> {
    admin.require_region()?;
    let items = state.services.job_records(RecordList::Failed).await?;
    Ok(Json(json!({ "items": items })))
}
