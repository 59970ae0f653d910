//! `/api/v1/branches`: create, list, read, update, and issue bind codes.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Page, PageQuery, auth::Admin, error::ApiError, json::ApiJson};
use crate::{
    domain::{Branch, BranchId, Language, TimingOverrides},
    http::problem::Problem,
    platform::ChatRef,
    service::branches::{BranchPatch, NewBranch},
    state::AppState,
};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/branches", post(create_branch).get(list_branches))
        .route("/branches/{id}", get(get_branch).patch(update_branch))
        .route("/branches/{id}/bind-codes", post(create_bind_code))
}

/// A branch as the API shows it.
#[derive(Debug, Serialize)]
pub struct BranchView {
    id: BranchId,
    name: String,
    timezone: String,
    language: Language,
    created_at: DateTime<Utc>,
    timing: TimingOverrides,
    chats: Vec<ChatRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    committee_chat: Option<ChatRef>,
}

async fn view(state: &AppState, branch: Branch) -> Result<BranchView, ApiError> {
    let chats = state.services.branch_chats(&branch.id).await?;
    Ok(BranchView {
        id: branch.id,
        name: branch.name,
        timezone: branch.timezone.name().to_owned(),
        language: branch.language,
        created_at: branch.created_at,
        timing: branch.timing,
        chats,
        committee_chat: branch.committee_chat,
    })
}

/// Parses the `{id}` path segment.
pub fn branch_id(raw: &str) -> Result<BranchId, ApiError> {
    BranchId::parse(raw).ok_or_else(|| Problem::not_found("no such branch").into())
}

/// `POST /branches` (region admin): `201 {"id", "bind_code", …}`.
pub async fn create_branch(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<NewBranch>,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    let (branch, code) = state.services.create_branch(input).await?;
    audit(&state, None, &admin, "branch.create", branch.id.as_str()).await;
    let mut body =
        serde_json::to_value(view(&state, branch).await?).map_err(|_| Problem::internal())?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("bind_code".to_owned(), code.code.into());
        obj.insert(
            "bind_code_expires_at".to_owned(),
            code.expires_at.to_rfc3339().into(),
        );
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /branches`: a region admin sees all, a branch token its own.
pub async fn list_branches(
    State(state): State<AppState>,
    admin: Admin,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<BranchView>>, ApiError> {
    let (offset, limit) = page.bounds()?;
    let (branches, total) = match &admin.scope {
        super::auth::Scope::Region => state.services.list_branches(offset, limit).await?,
        super::auth::Scope::Branch(id) => {
            let b = state.services.branch(id).await?;
            (if offset == 0 { vec![b] } else { Vec::new() }, 1)
        }
    };
    let mut items = Vec::with_capacity(branches.len());
    for b in branches {
        items.push(view(&state, b).await?);
    }
    Ok(Json(Page {
        items,
        page: page.page,
        per_page: page.per_page,
        total,
    }))
}

/// `GET /branches/{id}`.
pub async fn get_branch(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Json<BranchView>, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let branch = state.services.branch(&id).await?;
    Ok(Json(view(&state, branch).await?))
}

/// `PATCH /branches/{id}`: name, timezone, language, and `timing` overrides.
pub async fn update_branch(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<BranchPatch>,
) -> Result<Json<BranchView>, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let branch = state.services.update_branch(&id, patch).await?;
    audit(&state, Some(&id), &admin, "branch.update", "").await;
    Ok(Json(view(&state, branch).await?))
}

/// Body of `POST /branches/{id}/bind-codes`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBindCode {
    /// For the committee chat.
    #[serde(default)]
    committee: bool,
}

/// `POST /branches/{id}/bind-codes`: `201 {"bind_code", "expires_at"}`. A retry with the same
/// `Idempotency-Key` answers the code the first attempt issued.
pub async fn create_bind_code(
    State(state): State<AppState>,
    admin: Admin,
    key: super::idempotency::IdempotencyKey,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    // The body is optional: an empty one asks for a member-chat code.
    let committee = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        super::json::from_slice::<NewBindCode>(&body)?.committee
    };
    let origin = key
        .origin_for(
            &state.services,
            &id,
            &admin.actor,
            "bind_code.create",
            &committee,
        )
        .await?;
    let code = state
        .services
        .issue_bind_code_for(&id, committee, origin.as_deref())
        .await?;
    audit(
        &state,
        Some(&id),
        &admin,
        "bind_code.create",
        if committee { "committee" } else { "" },
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "bind_code": code.code,
            "expires_at": code.expires_at.to_rfc3339(),
            "committee": committee,
        })),
    )
        .into_response())
}

/// Records an admin change. The change is already stored; an audit failure is logged loudly
/// rather than failing a request whose effect has happened.
pub async fn audit(
    state: &AppState,
    branch: Option<&BranchId>,
    admin: &Admin,
    action: &str,
    detail: &str,
) {
    if let Err(e) = state
        .services
        .audit(branch, &admin.actor, action, detail)
        .await
    {
        tracing::error!(error.cause_chain = %crate::error::Chain(&e), action, "could not write audit entry");
    }
}
