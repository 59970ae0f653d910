//! `/api/v1/branches/{id}/meetings`, the ledger and the calendar feed.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    PageQuery,
    auth::Admin,
    branches::{audit, branch_id},
    error::ApiError,
    idempotency::IdempotencyKey,
    json::ApiJson,
};
use crate::{
    domain::ledger::{Cadence, Period},
    export,
    http::problem::Problem,
    service::meetings::NewMeeting,
    state::AppState,
};

/// This resource's routes, merged into [`super::router`].
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route(
            "/branches/{id}/meetings",
            post(create_meeting).get(list_meetings),
        )
        .route(
            "/branches/{id}/meetings/{no}",
            get(get_meeting).patch(reschedule_meeting),
        )
        .route("/branches/{id}/meetings/{no}/cancel", post(cancel_meeting))
        .route("/branches/{id}/meetings/{no}/end", post(end_meeting))
        .route("/branches/{id}/meetings/{no}/minutes", post(add_minutes))
        .route("/ledger/board", get(region_board))
        .route("/branches/{id}/ledger", get(get_ledger))
        .route("/branches/{id}/recurring-meetings", post(create_series))
        .route(
            "/branches/{id}/recurring-meetings/{series}",
            delete(cancel_series),
        )
        .route("/branches/{id}/calendar-feed", post(rotate_calendar_feed))
}

/// `POST /branches/{id}/meetings`: plans a meeting, announces it and schedules its reminders.
/// A retry with the same `Idempotency-Key` answers the same meeting (same number), announced
/// once.
pub async fn create_meeting(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewMeeting>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let branch = state.services.branch(&id).await?;
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "meeting.create", &input)
        .await?;
    let meeting = state
        .services
        .create_meeting(
            &branch,
            &format!("api:{}", admin.actor),
            input,
            origin.as_deref(),
        )
        .await?;
    audit(
        &state,
        Some(&id),
        &admin,
        "meeting.create",
        &meeting.no.to_string(),
    )
    .await;
    Ok((StatusCode::CREATED, Json(meeting)).into_response())
}

/// `GET /branches/{id}/meetings`: every meeting, newest number first.
pub async fn list_meetings(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    page.bounds()?; // a bad page is refused before anything is read
    state.services.branch(&id).await?;
    let all = state.services.meetings_newest_first(&id).await?;
    Ok(Json(page.page_of(all)?).into_response())
}

/// `GET /branches/{id}/meetings/{no}`: the meeting, its counts and everyone's attendance
/// (names and leave reasons: personal data, for admins only).
pub async fn get_meeting(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, no)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let no: u64 = no
        .parse()
        .map_err(|_| Problem::not_found("no such meeting"))?;
    let view = state.services.meeting_view(&id, no).await?;
    let (summary, attendance) = (&view.summary, &view.attendance);
    let mut people: Vec<_> = view
        .members
        .iter()
        .filter(|m| summary.outcomes.contains_key(&m.id) || attendance.contains_key(&m.id))
        .map(|m| {
            json!({
                "member_id": m.id,
                "name": m.name,
                "outcome": summary.outcomes.get(&m.id),
                "attendance": attendance.get(&m.id),
            })
        })
        .collect();
    people.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({
        "meeting": view.meeting,
        "summary": summary_json(summary),
        "attendance": people,
    }))
    .into_response())
}

/// `POST /branches/{id}/recurring-meetings`: a monthly series; answers the series and its
/// first planned meeting.
pub async fn create_series(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<crate::service::series::NewSeries>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let branch = state.services.branch(&id).await?;
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "series.create", &input)
        .await?;
    let (series, first) = state
        .services
        .create_series(
            &branch,
            &format!("api:{}", admin.actor),
            input,
            origin.as_deref(),
        )
        .await?;
    audit(&state, Some(&id), &admin, "series.create", &series.id).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "series": series, "first_meeting": first })),
    )
        .into_response())
}

/// `DELETE /branches/{id}/recurring-meetings/{series}`: no further occurrences are planned.
pub async fn cancel_series(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, series)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    if series.len() > 32 || !state.services.cancel_series(&id, &series).await? {
        return Err(Problem::not_found("no such series").into());
    }
    audit(&state, Some(&id), &admin, "series.cancel", &series).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A meeting's counts as the API shows them.
fn summary_json(summary: &crate::domain::meeting::Summary) -> serde_json::Value {
    json!({
        "expected": summary.expected, "present": summary.present, "late": summary.late,
        "excused": summary.excused, "absent": summary.absent, "attended": summary.attended(),
        "quorum": summary.quorum.map(|q| json!({"voters": q.voters, "attending": q.attending, "met": q.met()})),
    })
}

/// Query of the ledger.
#[derive(Debug, Deserialize)]
pub struct LedgerQuery {
    /// `2026-12`, `2026-Q4` or `2026`; default the current quarter.
    period: Option<String>,
    /// json (default), csv or xlsx.
    format: Option<String>,
    /// For CSV: meetings (default) or members.
    table: Option<String>,
}

/// `GET /branches/{id}/ledger`: the 三会一课 ledger as JSON, CSV or XLSX.
pub async fn get_ledger(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
    Query(query): Query<LedgerQuery>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let branch = state.services.branch(&id).await?;
    let period = match query.period.as_deref() {
        Some(p) => Period::parse(p).map_err(|e| ApiError::invalid("period", &e.message))?,
        None => Period::current(
            Cadence::Quarterly,
            state.services.clock.now(),
            branch.timezone,
        ),
    };
    let ledger = state.services.ledger(&branch, period).await?;
    let file = |ext: &str| {
        format!(
            "attachment; filename=\"ledger-{}-{}.{ext}\"",
            branch.id,
            period.label()
        )
    };
    let failed = |e: export::ExportError| {
        tracing::error!(error.cause_chain = %crate::error::Chain(&e), "ledger export failed");
        ApiError::from(Problem::internal())
    };
    Ok(match query.format.as_deref().unwrap_or("json") {
        "json" => Json(ledger).into_response(),
        "csv" => {
            let bytes = match query.table.as_deref().unwrap_or("meetings") {
                "meetings" => export::csv::meetings_csv(&ledger).map_err(failed)?,
                "members" => export::csv::members_csv(&ledger).map_err(failed)?,
                _ => return Err(ApiError::invalid("table", "meetings or members")),
            };
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, file("csv")),
                ],
                bytes,
            )
                .into_response()
        }
        "xlsx" => {
            let bytes = export::xlsx::ledger_xlsx(&ledger).map_err(failed)?;
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .to_owned(),
                    ),
                    (header::CONTENT_DISPOSITION, file("xlsx")),
                ],
                bytes,
            )
                .into_response()
        }
        _ => return Err(ApiError::invalid("format", "json, csv or xlsx")),
    })
}

/// `POST /branches/{id}/calendar-feed`: a new secret feed URL (the old one stops working).
pub async fn rotate_calendar_feed(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let token = state.services.rotate_calendar_token(&id).await?;
    audit(&state, Some(&id), &admin, "calendar_feed.rotate", "").await;
    let base = state
        .services
        .settings
        .server
        .public_url
        .trim_end_matches('/');
    Ok((
        StatusCode::CREATED,
        Json(json!({ "url": format!("{base}/calendar/{id}/{token}.ics") })),
    )
        .into_response())
}

/// `GET /calendar/{branch}/{token}.ics`: the feed phone calendars subscribe to. The secret in
/// the path is the only credential, as calendar apps send no headers.
pub async fn calendar_feed(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let not_found = || Problem::not_found("no such calendar").into_response();
    let (Some(id), Some(token)) = (
        crate::domain::BranchId::parse(&id),
        file.strip_suffix(".ics"),
    ) else {
        return not_found();
    };
    if token.len() > 64 {
        return not_found();
    }
    match state.services.calendar_feed(&id, token).await {
        Ok(Some(ics)) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            ics,
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A meeting number from the path.
fn meeting_no(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| Problem::not_found("no such meeting").into())
}

/// The branch and meeting number of a `/branches/{id}/meetings/{no}` path, once the caller's
/// token is checked against the branch.
async fn branch_meeting(
    state: &AppState,
    admin: &Admin,
    id: &str,
    no: &str,
) -> Result<(crate::domain::Branch, u64), ApiError> {
    let id = branch_id(id)?;
    admin.require_branch(&id)?;
    let no = meeting_no(no)?;
    Ok((state.services.branch(&id).await?, no))
}

/// Body of `PATCH /branches/{id}/meetings/{no}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingPatch {
    /// New start (moves the reminders and tells every chat).
    starts_at: chrono::DateTime<chrono::Utc>,
}

/// `PATCH /branches/{id}/meetings/{no}`: reschedules, as `改期` does.
pub async fn reschedule_meeting(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, no)): Path<(String, String)>,
    ApiJson(patch): ApiJson<MeetingPatch>,
) -> Result<Response, ApiError> {
    let (branch, no) = branch_meeting(&state, &admin, &id, &no).await?;
    let id = branch.id.clone();
    let meeting = state
        .services
        .reschedule(&branch, no, patch.starts_at)
        .await?;
    audit(
        &state,
        Some(&id),
        &admin,
        "meeting.reschedule",
        &no.to_string(),
    )
    .await;
    Ok(Json(meeting).into_response())
}

/// `POST /branches/{id}/meetings/{no}/cancel`, as `取消会议` does.
pub async fn cancel_meeting(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path((id, no)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (branch, no) = branch_meeting(&state, &admin, &id, &no).await?;
    let id = branch.id.clone();
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "meeting.cancel", &no)
        .await?;
    let meeting = state
        .services
        .cancel_meeting(&branch, no, origin.as_deref())
        .await?;
    audit(&state, Some(&id), &admin, "meeting.cancel", &no.to_string()).await;
    Ok(Json(meeting).into_response())
}

/// `POST /branches/{id}/meetings/{no}/end`, as `结束会议` does: the counts come back; the
/// names of the absent go to the committee chat.
pub async fn end_meeting(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path((id, no)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (branch, no) = branch_meeting(&state, &admin, &id, &no).await?;
    let id = branch.id.clone();
    let origin = key
        .origin_for(&state.services, &id, &admin.actor, "meeting.end", &no)
        .await?;
    let (meeting, summary) = state
        .services
        .end_meeting(&branch, no, origin.as_deref())
        .await?;
    audit(&state, Some(&id), &admin, "meeting.end", &no.to_string()).await;
    Ok(Json(json!({
        "meeting": meeting,
        "summary": summary_json(&summary),
    }))
    .into_response())
}

/// Body of `POST /branches/{id}/meetings/{no}/minutes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMinutes {
    /// The text to append.
    text: String,
    /// The roster name of who wrote it.
    by: String,
}

/// `POST /branches/{id}/meetings/{no}/minutes`: appends, as `会议记录` does.
pub async fn add_minutes(
    State(state): State<AppState>,
    admin: Admin,
    key: IdempotencyKey,
    Path((id, no)): Path<(String, String)>,
    ApiJson(input): ApiJson<NewMinutes>,
) -> Result<Response, ApiError> {
    let id = branch_id(&id)?;
    admin.require_branch(&id)?;
    let no = meeting_no(&no)?;
    let origin = key
        .origin_for(
            &state.services,
            &id,
            &admin.actor,
            "meeting.minutes",
            &(no, &input),
        )
        .await?;
    let meeting = state
        .services
        .add_minutes_by_name(&id, no, &input.by, &input.text, origin.as_deref())
        .await?;
    audit(
        &state,
        Some(&id),
        &admin,
        "meeting.minutes",
        &no.to_string(),
    )
    .await;
    Ok((StatusCode::CREATED, Json(meeting)).into_response())
}

/// Query of the region board.
#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    period: Option<String>,
}

/// `GET /ledger/board` (region admins): every branch's standing for a period in one list,
/// overdue (missed) and at-risk first.
pub async fn region_board(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<BoardQuery>,
) -> Result<Response, ApiError> {
    admin.require_region()?;
    let period = match query.period.as_deref() {
        Some(p) => Some(Period::parse(p).map_err(|e| ApiError::invalid("period", &e.message))?),
        None => None,
    };
    let rows = state.services.region_board(period).await?;
    Ok(Json(json!({ "items": rows })).into_response())
}
