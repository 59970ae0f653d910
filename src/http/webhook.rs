//! `POST /webhook/{platform}/{bot}`: verify, parse, resolve the sender, count the command
//! against its limits, claim the message id (members), apply the command, store the reply
//! with the claim, answer. Bounded work only: nothing here calls a platform but a first-time
//! display-name lookup. What guests and unbound chats cost is bounded too: expiring counters,
//! and replies through the outbox only within a per-bot budget (`bounded_guest_replies`).

use std::time::Duration;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::problem::Problem;
use crate::{
    chat::{
        self,
        command::{self, CommandKey},
        dispatch::dispatch,
        reply,
    },
    domain::{BranchId, Language, Role},
    metrics::{COMMAND_SECONDS, GUEST_REPLIES_DROPPED, REJECTIONS, WEBHOOKS},
    platform::{
        ChatKind, Inbound, InboundEvent, InboundRequest, Platform, PlatformError, PlatformKind,
        Reply, sim,
    },
    service::{
        ServiceError, branches::ChatContext, meetings::CheckinOutcome,
        private_branch::MessageBranch,
    },
    state::AppState,
    store::{
        StoreError,
        dedup::Claim,
        inbound::{self, Entry, FastCheckin, Stored},
        limits::{CommandVerdict, LimitScope},
    },
};

mod private_chat;

/// How long a duplicate waits for the first delivery's reply before asking for a retry.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(5);
/// How often it looks.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(25);

fn count(platform: &str, outcome: &'static str) {
    metrics::counter!(WEBHOOKS, "platform" => platform.to_owned(), "outcome" => outcome)
        .increment(1);
}

fn reject(platform: &str, reason: &'static str) {
    metrics::counter!(REJECTIONS, "platform" => platform.to_owned(), "reason" => reason)
        .increment(1);
}

fn unavailable(platform: &str, error: &StoreError) -> Problem {
    tracing::warn!(error.cause_chain = %crate::error::Chain(error), "webhook refused: store unavailable");
    metrics::counter!(crate::metrics::REDIS_ERRORS).increment(1);
    count(platform, "unavailable");
    Problem::unavailable()
}

fn store_failure(platform: &str, error: &StoreError) -> Problem {
    match error {
        StoreError::Unavailable(_) => unavailable(platform, error),
        // Many writers on one roster at once: the platform's retry will find it calm.
        StoreError::Contention(what) => {
            tracing::warn!(
                what,
                "webhook refused: too much contention; the platform will retry"
            );
            count(platform, "contention");
            Problem::unavailable()
        }
        other => {
            tracing::error!(error.cause_chain = %crate::error::Chain(other), "webhook failed");
            count(platform, "error");
            Problem::internal()
        }
    }
}

/// Resolves the adapter for a path, or the 404 that says which part is unknown.
fn adapter(
    state: &AppState,
    platform: &str,
    bot: &str,
) -> Result<(PlatformKind, std::sync::Arc<dyn Platform>), Problem> {
    let Ok(kind) = platform.parse::<PlatformKind>() else {
        count("unknown", "unknown_platform");
        return Err(Problem::not_found(
            "unknown platform; use one of telegram, feishu, dingtalk, wecom, onebot, sim",
        ));
    };
    match state.platforms.get(bot) {
        Some(a) if a.kind() == kind => Ok((kind, a.clone())),
        _ => {
            count(kind.as_str(), "unknown_bot");
            Err(Problem::not_found(format!(
                "no {kind} bot with that name is configured"
            )))
        }
    }
}

/// The webhook handler.
pub async fn receive_webhook(
    State(state): State<AppState>,
    Path((platform, bot)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (kind, adapter) = match adapter(&state, &platform, &bot) {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    let span = tracing::Span::current();
    span.record("platform", kind.as_str());
    span.record("bot", bot.as_str());
    let platform = kind.as_str();
    if method == Method::GET && !adapter.accepts_get() {
        count(platform, "method_not_allowed");
        return (
            [(axum::http::header::ALLOW, "POST")],
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                "this platform's webhook takes POST",
            ),
        )
            .into_response();
    }
    let request = InboundRequest {
        method: &method,
        query: uri.query().unwrap_or_default(),
        headers: &headers,
        body: &body,
    };

    if let Err(e) = adapter.verify(request) {
        tracing::info!(
            reason = e.reason(),
            "webhook refused: proof of origin failed"
        );
        count(platform, "unauthenticated");
        reject(platform, e.reason());
        return Problem::unauthorized("the request's proof of origin did not verify")
            .into_response();
    }
    let event = match adapter.parse(request) {
        Ok(Inbound::Event(event)) => event,
        Ok(Inbound::Unattributed(event)) => {
            span.record("chat_id", event.chat.chat_id.as_str());
            span.record("message_id", event.message_id.as_str());
            return unattributed(&state, adapter.as_ref(), without_markers(event)).await;
        }
        Ok(Inbound::Immediate(response)) => {
            count(platform, "immediate");
            return response;
        }
        Err(PlatformError::Malformed(detail)) => {
            count(platform, "malformed");
            reject(platform, "malformed");
            return Problem::bad_request(detail).into_response();
        }
        Err(e @ PlatformError::Unauthenticated(_)) => {
            count(platform, "unauthenticated");
            reject(platform, e.reason());
            return Problem::unauthorized(e.to_string()).into_response();
        }
    };
    span.record("chat_id", event.chat.chat_id.as_str());
    span.record("message_id", event.message_id.as_str());

    let mut event = without_markers(event);
    let names = state.platforms.names(&bot);
    let parsed = command::parse_addressed(&event.text, event.mentioned, names);
    let key = match &parsed {
        command::Parsed::NotCommand => {
            count(platform, "ignored");
            return adapter.render_replies(&event, &[]).response;
        }
        command::Parsed::Command { spec, .. } => Some(spec.key),
        command::Parsed::Unknown(_) | command::Parsed::TooLong => None,
    };

    let started = std::time::Instant::now();
    let services = &state.services;
    let is_join = key == Some(CommandKey::Join);
    let sender = event.sender();
    // Where the message belongs: the chat's branch (from this replica's checked copy of the
    // index, or one read) or, privately, the sender's.
    // A private sender on several rosters who has not chosen is asked which branch first.
    let branch_id = match services.resolve_branch(&sender).await {
        Ok(MessageBranch::Choose(branches)) => {
            return private_chat::choose_first(
                &state,
                adapter.as_ref(),
                &event,
                &parsed,
                &branches,
            )
            .await;
        }
        Ok(found) => found.found(),
        Err(e) => return service_failure(platform, e).into_response(),
    };
    // `签到` needs nothing but its branch: one script resolves the sender, counts, checks
    // for a retry, finds the window, checks the code, records, and stores the outcome.
    let mut early = None;
    if let (Some(branch), command::Parsed::Command { spec, args }) = (&branch_id, &parsed)
        && spec.key == CommandKey::CheckIn
    {
        let (no, code) = chat::meetings::checkin_args(args);
        match services
            .fast_checkin(branch, &sender, &event.message_id, no, code)
            .await
        {
            Err(e) => return service_failure(platform, e).into_response(),
            Ok(FastCheckin::Done { outcome, .. }) => {
                let replies = checkin_replies(&event, &outcome);
                metrics::histogram!(COMMAND_SECONDS, "command" => spec.en[0])
                    .record(started.elapsed().as_secs_f64());
                return answer(&state, adapter.as_ref(), platform, &event, &replies, "ok").await;
            }
            Ok(FastCheckin::Entry(Entry::Bound {
                branch: b,
                member,
                verdict: Some(verdict),
                claim,
            })) => {
                let ctx = ChatContext {
                    branch: Some(b),
                    member,
                };
                early = Some((ctx, verdict, claim));
            }
            // A guest, an index still to build, or anything else the script leaves to the
            // service: the general path below.
            Ok(
                FastCheckin::Entry(_)
                | FastCheckin::Fallback { .. }
                | FastCheckin::Unbound
                | FastCheckin::Stale,
            ) => {}
        }
    }
    // Who is speaking, their count against the limits and (a member's command) the claim, in
    // one script in a bound chat; an unbound chat has only its limit counters.
    let entered = match (early, &branch_id) {
        (Some(done), _) => Some(done),
        (None, Some(branch)) => {
            match services
                .enter(branch, &sender, &event.message_id, is_join, key.is_some())
                .await
            {
                Ok(entered) => entered,
                Err(e) => return service_failure(platform, e).into_response(),
            }
        }
        (None, None) => None,
    };
    let (ctx, verdict, claim) = match entered {
        Some((ctx, verdict, claim)) => (ctx, Ok(verdict), claim),
        None => {
            let verdict = services.count_unbound(&sender, is_join).await;
            (
                ChatContext {
                    branch: None,
                    member: None,
                },
                verdict,
                None,
            )
        }
    };
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    // Nobody vouched for a guest or for anyone in an unbound chat (on DingTalk, whoever holds
    // one captured header pair can be any sender in any conversation): they take no claim,
    // and what their replies cost is bounded (`bounded_guest_replies`).
    let guest = ctx.branch.is_none() || ctx.role() == Role::Guest;
    // `effect`: the command made a guest a member (a bind or a join that consumed a code or an
    // entry someone with authority made), so its reply is not charged to the guest budget.
    let (replies, outcome, effect) = match verdict {
        Err(e) => return service_failure(platform, e).into_response(),
        // A refused command changes nothing but its counter: one short reply, then silence.
        Ok(CommandVerdict::Refused {
            scope,
            first,
            retry_after,
        }) => {
            let replies = refused(platform, lang, scope, first, retry_after)
                .map(|text| Reply {
                    chat_id: event.chat.chat_id.clone(),
                    text,
                })
                .into_iter()
                .collect();
            (replies, "limited", false)
        }
        Ok(CommandVerdict::Allowed) => {
            // Only binding and joining keep the sender's name (roster entries and identities);
            // a join in an unbound chat only hears that the chat is not bound.
            let names_sender = matches!(key, Some(CommandKey::Bind | CommandKey::BindCommittee))
                || (key == Some(CommandKey::Join) && ctx.branch.is_some());
            let mut looked_up = None;
            if event.sender_name.is_none() && names_sender {
                let found = sender_name(&state, adapter.as_ref(), &event).await;
                if let Some(SenderName::LookedUp(name)) = &found {
                    looked_up = Some(name.clone());
                }
                event.sender_name = found.map(|n| {
                    n.into_name()
                        .chars()
                        .filter(|c| !crate::platform::is_token_char(*c))
                        .collect()
                });
            }
            // Hints change nothing; a guest's commands (and anything in an unbound chat) are
            // read-only or idempotent by construction (a bind per chat and code, a join per
            // account), so a retry converges without a claim and a guest costs no dedup key.
            match (&ctx.branch, key.is_none() || guest) {
                (Some(branch), false) => {
                    if let Some(name) = &looked_up {
                        cache_name(&state, adapter.as_ref(), &event, name).await;
                    }
                    let branch = branch.id.clone();
                    match run_once(
                        &state,
                        adapter.as_ref(),
                        &event,
                        &ctx,
                        &parsed,
                        &branch,
                        claim,
                    )
                    .await
                    {
                        Ok((replies, outcome)) => (replies, outcome, false),
                        Err(problem) => return problem.into_response(),
                    }
                }
                _ => {
                    let replies = match dispatch(services, &event, &ctx, &parsed).await {
                        Ok(r) => r,
                        Err(e) => return service_failure(platform, e).into_response(),
                    };
                    let effect = matches!(
                        key,
                        Some(CommandKey::Bind | CommandKey::BindCommittee | CommandKey::Join)
                    ) && remember_if_now_member(&state, &event, &replies).await;
                    // A guest's name is cached only once they are on a roster: an unknown
                    // sender costs no 7-day key.
                    if let (true, Some(name)) = (effect, &looked_up) {
                        cache_name(&state, adapter.as_ref(), &event, name).await;
                    }
                    (replies, "ok", effect)
                }
            }
        }
    };
    if let (command::Parsed::Command { spec, .. }, "ok") = (&parsed, outcome) {
        metrics::histogram!(COMMAND_SECONDS, "command" => spec.en[0])
            .record(started.elapsed().as_secs_f64());
    }
    let rendered = adapter.render_replies(&event, &replies);
    let deferred = if guest {
        let bind = matches!(key, Some(CommandKey::Bind | CommandKey::BindCommittee));
        match bounded_guest_replies(
            &state,
            adapter.as_ref(),
            &ctx,
            bind,
            effect,
            rendered.deferred,
        )
        .await
        {
            Ok(kept) => kept,
            Err(e) => return store_failure(platform, &e).into_response(),
        }
    } else {
        rendered.deferred
    };
    if let Err(problem) = queue_deferred(&state, platform, &event, &deferred).await {
        return problem.into_response();
    }
    count(platform, outcome);
    rendered.response
}

/// A command over a limit: counted as refused, and answered once per window (the first
/// refusal), then silence.
fn refused(
    platform: &'static str,
    lang: Language,
    scope: LimitScope,
    first: bool,
    retry_after: Duration,
) -> Option<String> {
    reject(
        platform,
        match scope {
            LimitScope::Chat => "chat_limit",
            LimitScope::Sender => "sender_limit",
        },
    );
    first.then(|| reply::rate_limited(lang, scope, retry_after))
}

/// The event without the server's own markers: nothing a user types may carry them (forged
/// mentions).
fn without_markers(mut event: InboundEvent) -> InboundEvent {
    if event.text.chars().any(crate::platform::is_token_char) {
        event.text.retain(|c| !crate::platform::is_token_char(c));
    }
    if let Some(name) = &mut event.sender_name {
        name.retain(|c| !crate::platform::is_token_char(c));
    }
    event
}

/// A member's answer: rendered, the replies the platform cannot carry inline queued, counted.
async fn answer(
    state: &AppState,
    adapter: &dyn Platform,
    platform: &str,
    event: &InboundEvent,
    replies: &[Reply],
    outcome: &'static str,
) -> Response {
    let rendered = adapter.render_replies(event, replies);
    if let Err(problem) = queue_deferred(state, platform, event, &rendered.deferred).await {
        return problem.into_response();
    }
    count(platform, outcome);
    rendered.response
}

/// The reply to a check-in (none when its acknowledgement waits for the chat's digest).
fn checkin_replies(event: &InboundEvent, outcome: &CheckinOutcome) -> Vec<Reply> {
    let text = reply::meetings::checkin(outcome);
    if text.is_empty() {
        return Vec::new();
    }
    vec![Reply {
        chat_id: event.chat.chat_id.clone(),
        text,
    }]
}

/// Queues the replies the platform cannot carry inline, keyed by the message they answer so
/// that a retried webhook queues them once.
async fn queue_deferred(
    state: &AppState,
    platform: &str,
    event: &InboundEvent,
    deferred: &[Reply],
) -> Result<(), Problem> {
    for (i, reply) in deferred.iter().enumerate() {
        let chat = crate::platform::ChatRef {
            chat_id: reply.chat_id.clone(),
            ..event.chat.clone()
        };
        let intent = format!("reply:{}:{}:{i}", event.chat.key(), event.message_id);
        let context = event.context.clone();
        if let Err(e) = state
            .services
            .send_reply(&chat, &reply.text, &intent, context)
            .await
        {
            tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not queue a deferred reply");
            return Err(match e {
                ServiceError::Store(s) => store_failure(platform, &s),
                _ => Problem::internal(),
            });
        }
    }
    Ok(())
}

fn dropped(platform: &str, reason: &'static str, n: usize) {
    metrics::counter!(GUEST_REPLIES_DROPPED, "platform" => platform.to_owned(), "reason" => reason)
        .increment(n as u64);
}

/// Of the replies to a guest (or in an unbound chat) that must go through the outbox, those
/// that may. Each would cost outbox keys and a share of the bot's send budget (a DingTalk
/// robot sends 20 a minute in all), and nothing bounds how many guests or unbound chats there
/// are, so:
///
/// - in an unbound chat only the answer to `绑定` / `绑定支委群` (`bind`) goes; `帮助`, hints,
///   "not bound" and limit notices are dropped;
/// - a reply to a command that made the sender a member (`effect`) always goes: it consumed a
///   single-use code or a roster entry that the operator or the secretary made;
/// - every other reply takes one of the bot's guest budget for the window
///   (`Services::guest_reply_budget`), and past it is dropped.
///
/// Dropped replies are counted in `mb_guest_replies_dropped_total`, never queued.
async fn bounded_guest_replies(
    state: &AppState,
    adapter: &dyn Platform,
    ctx: &ChatContext,
    bind: bool,
    effect: bool,
    deferred: Vec<Reply>,
) -> Result<Vec<Reply>, StoreError> {
    let platform = adapter.kind().as_str();
    if deferred.is_empty() || effect {
        return Ok(deferred);
    }
    if ctx.branch.is_none() && !bind {
        dropped(platform, "unbound", deferred.len());
        return Ok(Vec::new());
    }
    let mut kept = Vec::with_capacity(deferred.len());
    for reply in deferred {
        let allowed = match state
            .services
            .take_guest_reply(adapter.bot(), adapter.limits())
            .await
        {
            Ok(allowed) => allowed,
            Err(ServiceError::Store(e)) => return Err(e),
            Err(other) => {
                tracing::error!(error.cause_chain = %crate::error::Chain(&other), "unexpected error taking a guest reply");
                false
            }
        };
        if allowed {
            kept.push(reply);
        } else {
            dropped(platform, "budget", 1);
        }
    }
    Ok(kept)
}

/// A message whose sender cannot be told (see [`Inbound::Unattributed`]): never run, so
/// nothing it asks is done. A command in a group is answered, once per chat and
/// `limits.window`, with a request to post as oneself; everything else gets the platform's
/// no-op. Costs Redis one expiring counter per chat, and reads only otherwise.
async fn unattributed(state: &AppState, adapter: &dyn Platform, event: InboundEvent) -> Response {
    let platform = adapter.kind().as_str();
    let names = state.platforms.names(adapter.bot());
    let parsed = command::parse_addressed(&event.text, event.mentioned, names);
    if matches!(parsed, command::Parsed::NotCommand) || event.chat_kind != ChatKind::Group {
        count(platform, "unattributed");
        return adapter.render_replies(&event, &[]).response;
    }
    reject(platform, "unattributed");
    let services = &state.services;
    let first = match services.first_unattributed(&event.chat).await {
        Ok(first) => first,
        Err(e) => return service_failure(platform, e).into_response(),
    };
    if !first {
        count(platform, "unattributed");
        return adapter.render_replies(&event, &[]).response;
    }
    let ctx = match services.chat_context(&event.sender()).await {
        Ok(ctx) => ctx,
        Err(e) => return service_failure(platform, e).into_response(),
    };
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    let replies = [Reply {
        chat_id: event.chat.chat_id.clone(),
        text: crate::texts::unattributed(lang),
    }];
    let rendered = adapter.render_replies(&event, &replies);
    let deferred =
        match bounded_guest_replies(state, adapter, &ctx, false, false, rendered.deferred).await {
            Ok(kept) => kept,
            Err(e) => return store_failure(platform, &e).into_response(),
        };
    if let Err(problem) = queue_deferred(state, platform, &event, &deferred).await {
        return problem.into_response();
    }
    count(platform, "unattributed");
    rendered.response
}

/// How long a first-time name lookup may hold up a webhook.
const NAME_LOOKUP_BUDGET: Duration = Duration::from_secs(1);

/// A display name, and whether it came from the platform just now (and so is not cached).
enum SenderName {
    Cached(String),
    LookedUp(String),
}

impl SenderName {
    fn into_name(self) -> String {
        match self {
            Self::Cached(name) | Self::LookedUp(name) => name,
        }
    }
}

/// The sender's display name for platforms whose events carry none: from the cache, or asked
/// of the platform within a small budget. A failure only means the name stays unknown. The
/// caller caches a looked-up name once the sender is a member (`cache_name`).
async fn sender_name(
    state: &AppState,
    adapter: &dyn Platform,
    event: &InboundEvent,
) -> Option<SenderName> {
    let (bot, user) = (adapter.bot(), event.sender_id.as_str());
    if let Ok(Some(name)) = state.services.cached_name(bot, user).await {
        return Some(SenderName::Cached(name));
    }
    let lookup = adapter.fetch_display_name(&event.chat.chat_id, user);
    match tokio::time::timeout(NAME_LOOKUP_BUDGET, lookup).await {
        Ok(Ok(Some(name))) => Some(SenderName::LookedUp(name)),
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::info!(error.cause_chain = %crate::error::Chain(&e), "display name lookup failed");
            None
        }
        Err(_) => {
            tracing::info!("display name lookup timed out");
            None
        }
    }
}

/// Caches a member's looked-up display name, so that their next `绑定` or `加入` asks the
/// platform no more. Failing only means asking again.
async fn cache_name(state: &AppState, adapter: &dyn Platform, event: &InboundEvent, name: &str) {
    if let Err(e) = state
        .services
        .cache_name(adapter.bot(), &event.sender_id, name)
        .await
    {
        tracing::debug!(error.cause_chain = %crate::error::Chain(&e), "could not cache a display name");
    }
}

fn service_failure(platform: &str, error: ServiceError) -> Problem {
    match error {
        ServiceError::Store(e) => store_failure(platform, &e),
        other => {
            tracing::error!(error.cause_chain = %crate::error::Chain(&other), "unexpected service error");
            Problem::internal()
        }
    }
}

/// A guest's `绑定` or `加入` that put them on the roster: a retry of that message now comes
/// from a member and goes through the claim, so the reply is stored where the claim looks,
/// and the retry answers the same. Only an effect writes this; a refusal leaves no key.
/// Returns whether the sender is now a member.
async fn remember_if_now_member(state: &AppState, event: &InboundEvent, replies: &[Reply]) -> bool {
    let services = &state.services;
    let branch = match services.chat_context(&event.sender()).await {
        Ok(after) if after.role() > Role::Guest => after.branch.map(|b| b.id),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not re-read the sender after a join or bind");
            None
        }
    };
    let Some(branch) = branch else {
        return false;
    };
    let Ok(json) = serde_json::to_string(replies) else {
        return true;
    };
    // Failing here only weakens dedup of a later retry, whose command is idempotent.
    if let Err(e) = services
        .remember_reply(&branch, &event.sender(), &event.message_id, &json)
        .await
    {
        tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not store reply for dedup");
    }
    true
}

/// The replies a stored value answers a duplicate with: the replies themselves, or a
/// check-in's outcome rendered again (whose digest job is scheduled again if absent).
async fn stored_replies(
    state: &AppState,
    event: &InboundEvent,
    branch: &BranchId,
    value: &str,
) -> Result<Vec<Reply>, Problem> {
    match inbound::stored(value) {
        Ok(Stored::Replies(json)) => serde_json::from_str(&json).map_err(|e| {
            tracing::error!(error.cause_chain = %crate::error::Chain(&e), "stored reply does not decode");
            Problem::internal()
        }),
        Ok(Stored::Checkin(outcome)) => {
            if let (true, Some(bucket)) = (outcome.digest, outcome.bucket)
                && let Err(e) = state
                    .services
                    .ensure_digest_job(branch, &event.chat, bucket)
                    .await
            {
                tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not schedule a check-in digest again");
            }
            Ok(checkin_replies(event, &outcome))
        }
        Err(e) => {
            tracing::error!(error.cause_chain = %crate::error::Chain(&e), "stored reply does not decode");
            Err(Problem::internal())
        }
    }
}

/// Runs a command at most once per message id across every replica, answering duplicates with
/// the reply stored by the first delivery. `claim` is what the inbound script found; a
/// duplicate in flight polls until the first delivery finishes or gives up.
async fn run_once(
    state: &AppState,
    adapter: &dyn Platform,
    event: &InboundEvent,
    ctx: &ChatContext,
    parsed: &command::Parsed,
    branch: &BranchId,
    claim: Option<Claim>,
) -> Result<(Vec<Reply>, &'static str), Problem> {
    let services = &state.services;
    let platform = adapter.kind().as_str();
    let deadline = tokio::time::Instant::now() + IN_FLIGHT_WAIT;
    let mut claim = claim;
    loop {
        let current = match claim.take() {
            Some(c) => c,
            None => services
                .claim_message(branch, &event.sender(), &event.message_id)
                .await
                .map_err(|e| service_failure(platform, e))?,
        };
        match current {
            Claim::Done(stored) => {
                let replies = stored_replies(state, event, branch, &stored).await?;
                return Ok((replies, "duplicate"));
            }
            Claim::InFlight => {
                if tokio::time::Instant::now() >= deadline {
                    count(platform, "in_flight");
                    return Err(Problem::unavailable());
                }
                tokio::time::sleep(IN_FLIGHT_POLL).await;
            }
            Claim::Owned(token) => {
                let replies = match dispatch(services, event, ctx, parsed).await {
                    Ok(r) => r,
                    Err(e) => {
                        // Give the claim back so the platform's retry runs the command afresh.
                        if let Err(release) = services.release_message(&token).await {
                            tracing::warn!(error.cause_chain = %crate::error::Chain(&release), "could not release claim; it expires by itself");
                        }
                        return Err(service_failure(platform, e));
                    }
                };
                let json = serde_json::to_string(&replies).map_err(|_| Problem::internal())?;
                // The effect is stored; failing to store the reply only weakens dedup of a
                // later retry (the claim expires and the command, idempotent, runs again).
                match services.finish_message(&token, &json).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("claim expired before the reply was stored"),
                    Err(e) => {
                        tracing::warn!(error.cause_chain = %crate::error::Chain(&e), "could not store reply for dedup")
                    }
                }
                return Ok((replies, "ok"));
            }
        }
    }
}

/// Query of the sim mailbox.
#[derive(Debug, Deserialize)]
pub struct MailboxQuery {
    chat_id: Option<String>,
}

/// `GET /webhook/sim/{bot}/messages?chat_id=…`: what was sent proactively to a sim chat.
pub async fn read_sim_mailbox(
    State(state): State<AppState>,
    Path(bot): Path<String>,
    Query(query): Query<MailboxQuery>,
    headers: HeaderMap,
) -> Response {
    let adapter = match adapter(&state, "sim", &bot) {
        Ok((_, a)) => a,
        Err(problem) => return problem.into_response(),
    };
    let body = Bytes::new();
    if adapter
        .verify(InboundRequest::post(&headers, &body))
        .is_err()
    {
        return Problem::unauthorized(format!("send the bot's secret in {}", sim::SECRET_HEADER))
            .into_response();
    }
    let Some(chat_id) = query.chat_id.filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Problem::invalid("chat_id", "the chat_id query parameter is required")
            .into_response();
    };
    match state.services.sim_mailbox(&bot, &chat_id).await {
        Ok(messages) => (StatusCode::OK, Json(json!({ "messages": messages }))).into_response(),
        Err(e) => service_failure("sim", e).into_response(),
    }
}
