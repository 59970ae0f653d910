//! Runs a parsed command: finds the sender's branch and role, checks permission, calls the
//! service, and turns the outcome (or a refusal) into replies.

use super::{
    command::{Args, CommandKey, CommandSpec, MAX_COMMAND_CHARS, Parsed, lookup},
    reply,
};
use crate::{
    domain::{Branch, Language, Role},
    platform::{ChatKind, InboundEvent, Reply},
    service::{
        ServiceError, Services,
        audience::{PrivateRoute, chat_is_private},
        branches::ChatContext,
        members::{Approval, Rejection, Unlinking},
    },
};

/// Handles one message, for a sender whose branch and roster entry the caller resolved
/// (`Services::chat_context`, before its limit checks and dedup claim). Only a store failure
/// is an error; every refusal is a reply.
#[tracing::instrument(name = "dispatch", skip_all, fields(command))]
pub async fn dispatch(
    services: &Services,
    event: &InboundEvent,
    ctx: &ChatContext,
    parsed: &Parsed,
) -> Result<Vec<Reply>, ServiceError> {
    // An empty text is a deliberate silence (a check-in acknowledged in the next digest).
    let reply = |text: String| {
        if text.is_empty() {
            return Vec::new();
        }
        vec![Reply {
            chat_id: event.chat.chat_id.clone(),
            text,
        }]
    };
    let (spec, args) = match parsed {
        Parsed::NotCommand => return Ok(Vec::new()),
        Parsed::Command { spec, args } => (*spec, args.as_str()),
        Parsed::Unknown(_) | Parsed::TooLong => {
            let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
            let text = match parsed {
                Parsed::Unknown(word) => reply::unknown_command(lang, word),
                _ => reply::too_long(lang, MAX_COMMAND_CHARS),
            };
            return Ok(reply(text));
        }
    };
    tracing::Span::current().record("command", spec.zh[0]);
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    match run(services, event, ctx, spec, args).await {
        Ok(text) => Ok(reply(text)),
        Err(e) if matches!(e, ServiceError::Store(_)) => Err(e),
        Err(e) => Ok(reply(reply::service_error(lang, &e))),
    }
}

/// `绑定` / `绑定支委群`, with the message as the bind's origin (its retry answers the same).
async fn bind(
    services: &Services,
    event: &InboundEvent,
    args: &str,
    committee: bool,
) -> Result<String, ServiceError> {
    let origin = event.origin();
    let outcome = services
        .bind_chat(args, &event.sender(), committee, Some(&origin))
        .await?;
    Ok(reply::bound(&outcome))
}

async fn run(
    services: &Services,
    event: &InboundEvent,
    ctx: &ChatContext,
    spec: &'static CommandSpec,
    args: &str,
) -> Result<String, ServiceError> {
    let role = ctx.role();
    let lang = ctx.branch.as_ref().map_or(Language::Zh, |b| b.language);
    if spec.args == Args::Required && args.is_empty() {
        return Ok(reply::usage_error(lang, spec, args));
    }
    let Some(branch) = &ctx.branch else {
        return Ok(match spec.key {
            CommandKey::Help => help(lang, event, ctx, false, args),
            CommandKey::Bind => bind(services, event, args, false).await?,
            CommandKey::BindCommittee => bind(services, event, args, true).await?,
            _ if event.chat_kind == ChatKind::Private => reply::no_branch_private(lang),
            _ => reply::not_bound(lang),
        });
    };
    let sender_name = event.sender_name.as_deref();
    if role < spec.min_role {
        return Ok(reply::forbidden(lang, spec, role, sender_name));
    }
    Ok(match spec.key {
        CommandKey::Help => help(lang, event, ctx, true, args),
        CommandKey::Bind => bind(services, event, args, false).await?,
        CommandKey::BindCommittee => bind(services, event, args, true).await?,
        CommandKey::Join => {
            reply::joined(lang, &services.join(branch, &event.sender(), args).await?)
        }
        CommandKey::Approve => {
            let (name, pick, role) = name_pick_role(args);
            let actor = event.sender().account();
            let approval = services
                .approve(branch, &name, pick, role, &actor, Some(&event.origin()))
                .await?;
            match &approval {
                // The waiting accounts are for the secretary's eyes only.
                Approval::Choose { .. } => {
                    let text = reply::approved(lang, branch, &approval, true);
                    answer_privately(services, branch, event, spec, text).await?
                }
                Approval::Approved { .. } => {
                    let private = chat_is_private(branch, &event.sender());
                    reply::approved(lang, branch, &approval, private)
                }
            }
        }
        CommandKey::Reject => {
            let (name, pick, _) = name_pick_role(args);
            let actor = event.sender().account();
            let outcome = services
                .reject(branch, &name, pick, &actor, Some(&event.origin()))
                .await?;
            let text = reply::rejected(lang, branch, &outcome);
            match outcome {
                Rejection::Choose { .. } => {
                    answer_privately(services, branch, event, spec, text).await?
                }
                Rejection::Rejected(_) => text,
            }
        }
        CommandKey::Unlink => {
            let (name, pick, _) = name_pick_role(args);
            let actor = event.sender().account();
            let outcome = services
                .unlink(&branch.id, &name, pick, &actor, Some(&event.origin()))
                .await?;
            let text = reply::unlinked(lang, branch, &outcome);
            match outcome {
                Unlinking::Choose { .. } => {
                    answer_privately(services, branch, event, spec, text).await?
                }
                Unlinking::Unlinked { .. } => text,
            }
        }
        CommandKey::Members => {
            let (members, requests) = services.roster_view(&branch.id).await?;
            let text = reply::roster(lang, branch, &members, &requests);
            answer_privately(services, branch, event, spec, text).await?
        }
        CommandKey::BindCode => bind_code(services, branch, event, spec, args).await?,
        CommandKey::Me => match &ctx.member {
            // A member's record names their role and party standing: for them alone.
            Some(member) => {
                let text = reply::me(lang, branch, Some(member), None, services.clock.now());
                if event.chat_kind == ChatKind::Private {
                    text
                } else if let Some(chat) = event.sender().private_chat() {
                    let intent = format!("answer:{}:me", event.origin());
                    services.send_to_chat(&chat, &text, &intent).await?;
                    reply::me_sent_privately(lang, &member.name)
                } else {
                    reply::me_ask_privately(lang, &member.name)
                }
            }
            None => {
                let request = services
                    .join_request_of(&branch.id, &event.sender())
                    .await?;
                reply::me(lang, branch, None, request.as_ref(), services.clock.now())
            }
        },
        CommandKey::Branch => {
            let outcome = services.choose_branch(&event.sender(), args).await?;
            reply::private::choice(branch, &outcome)
        }
        _ => match &ctx.member {
            // Meeting commands need a roster entry (the role check above implies one).
            Some(member) => {
                super::meetings::run(services, event, branch, member, spec, args).await?
            }
            None => reply::forbidden(lang, spec, role, sender_name),
        },
    })
}

/// Sends a sensitive answer where it may be read and returns what the asking chat is told.
async fn answer_privately(
    services: &Services,
    branch: &Branch,
    event: &InboundEvent,
    spec: &'static CommandSpec,
    text: String,
) -> Result<String, ServiceError> {
    let route = services
        .answer_privately(branch, &event.sender(), &text, &event.origin())
        .await?;
    Ok(match route {
        PrivateRoute::Inline => text,
        other => reply::sent_elsewhere(branch.language, other, spec),
    })
}

/// `绑定码 [支委群]`: a new code, only ever in a private chat with the secretary.
async fn bind_code(
    services: &Services,
    branch: &Branch,
    event: &InboundEvent,
    spec: &'static CommandSpec,
    args: &str,
) -> Result<String, ServiceError> {
    let lang = branch.language;
    let committee = match args.trim().to_lowercase().as_str() {
        "" | "普通群" | "群" => false,
        "支委群" | "支委" | "committee" => true,
        _ => return Ok(reply::usage_error(lang, spec, args)),
    };
    let origin = event.origin();
    if event.chat_kind == ChatKind::Private {
        let code = services
            .issue_bind_code_for(&branch.id, committee, Some(&origin))
            .await?;
        return Ok(reply::bind_code(lang, branch, &code, committee));
    }
    // Even the committee chat is a group: a code there could bind a chat the secretary never
    // meant to.
    let Some(chat) = event.sender().private_chat() else {
        return Ok(reply::bind_code_ask_privately(lang));
    };
    let code = services
        .issue_bind_code_for(&branch.id, committee, Some(&origin))
        .await?;
    let text = reply::bind_code(lang, branch, &code, committee);
    services
        .send_to_chat(&chat, &text, &format!("bindcode:{origin}"))
        .await?;
    Ok(reply::bind_code_sent(lang, committee))
}

/// Reads `<姓名> [n] [身份]`: a trailing number picks one of several, a trailing role word
/// sets the role of a new member; both optional, in either order.
fn name_pick_role(args: &str) -> (String, Option<usize>, Option<Role>) {
    let mut words: Vec<&str> = args.split_whitespace().collect();
    let (mut pick, mut role) = (None, None);
    while words.len() > 1 {
        let Some(last) = words.last() else { break };
        let digits = last.trim_start_matches('#');
        if pick.is_none()
            && !digits.is_empty()
            && digits.len() <= 3
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            pick = digits.parse().ok();
        } else if role.is_none()
            && let Some(r) = Role::parse(last)
        {
            role = Some(r);
        } else {
            break;
        }
        words.pop();
    }
    (words.join(" "), pick, role)
}

/// `帮助`, `帮助 全部` or `帮助 <命令>`.
fn help(
    lang: Language,
    event: &InboundEvent,
    ctx: &ChatContext,
    bound: bool,
    topic: &str,
) -> String {
    let all = matches!(topic.to_lowercase().as_str(), "全部" | "所有" | "all");
    if topic.is_empty() || all {
        let sender = event.sender();
        let who = reply::HelpFor {
            role: ctx.role(),
            bound,
            joined: ctx.member.is_some(),
            all,
            // Asked in a private chat, the line about asking privately says nothing new.
            private_chat: !sender.in_private() && sender.private_chat().is_some(),
        };
        return reply::help(lang, who);
    }
    let word = topic.trim_start_matches('/');
    match lookup(word) {
        Some(spec) => reply::help_one(lang, spec),
        None => reply::help_unknown(lang, word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_arguments_split_into_name_pick_and_role() {
        let cases = [
            ("张三", ("张三", None, None)),
            ("张三 2", ("张三", Some(2), None)),
            ("张三 #2", ("张三", Some(2), None)),
            ("张三 预备党员", ("张三", None, Some(Role::Probationary))),
            (
                "张三 2 预备党员",
                ("张三", Some(2), Some(Role::Probationary)),
            ),
            (
                "张三 预备党员 2",
                ("张三", Some(2), Some(Role::Probationary)),
            ),
            ("Li Ming 1", ("Li Ming", Some(1), None)),
            // A name alone is never taken for a number or a role.
            ("12", ("12", None, None)),
            ("党员", ("党员", None, None)),
            ("张三 1234", ("张三 1234", None, None)),
        ];
        for (args, (name, pick, role)) in cases {
            assert_eq!(
                name_pick_role(args),
                (name.to_owned(), pick, role),
                "{args}"
            );
        }
    }
}
