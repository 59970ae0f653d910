//! Who may read what (SPEC §4): every member chat, the committee only, or one person
//! privately. Sensitive text (leave reasons, absentee lists, the roster with its roles and
//! waiting requests, bind codes) never goes to a member chat; these functions are the only
//! way services address an audience, so that rule is kept in one place.

use super::{Result, Services};
use crate::{
    domain::{
        Branch, Identity, MemberStatus, Role,
        chat::{ChatRef, Sender, private_chat_id},
    },
    store::roster::RosterSnapshot,
    texts,
};

/// What a notice for the committee does when there is no committee chat and no private chat
/// with the secretary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nowhere {
    /// The member chats get a neutral pointer that something waits (a notice only the
    /// secretary can act on: leave, absentees).
    Pointer,
    /// Nothing is said (a notice the secretary also finds by asking: join requests in `成员`).
    Silence,
}

/// Where a sensitive answer to a command went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateRoute {
    /// The command came from a private chat or the committee chat: answer it there.
    Inline,
    /// Sent to the committee chat.
    CommitteeChat,
    /// Sent to the asker's private chat.
    PrivateChat,
    /// Nowhere private to send it; nothing was sent.
    Nowhere,
}

/// Whether a chat may read sensitive text: a private chat, or the branch's committee chat.
pub fn chat_is_private(branch: &Branch, sender: &Sender) -> bool {
    sender.in_private() || branch.committee_chat.as_ref() == Some(&sender.chat)
}

/// The private chat with an account, where the platform lets a bot start one.
pub fn private_chat_with(identity: &Identity) -> Option<ChatRef> {
    private_chat_id(identity.platform, &identity.user_id).map(|chat_id| ChatRef {
        platform: identity.platform,
        bot: identity.bot.clone(),
        chat_id,
    })
}

impl Services {
    /// Queues a text to every member chat of the branch, once per intent and chat.
    pub async fn tell_branch(&self, branch: &Branch, text: &str, intent: &str) -> Result<()> {
        for chat in self.store.branch_chats(&branch.id).await? {
            self.send_to_chat(&chat, text, &format!("{intent}:chat:{}", chat.key()))
                .await?;
        }
        Ok(())
    }

    /// Sensitive text (names of absentees, leave reasons) for the secretary only: the committee
    /// chat if one is bound, else the secretary's private chats (SPEC §4). Never a group: with
    /// neither, the member chats get a neutral pointer. `Ok(true)` when someone was told.
    pub async fn tell_committee(&self, branch: &Branch, text: &str, intent: &str) -> Result<bool> {
        self.tell_committee_with(branch, None, text, intent, Nowhere::Pointer)
            .await
    }

    /// Like [`Services::tell_committee`], with the roster the caller has just read (so that it
    /// is not read again) and a choice of what happens with nowhere private to go.
    pub async fn tell_committee_with(
        &self,
        branch: &Branch,
        roster: Option<&RosterSnapshot>,
        text: &str,
        intent: &str,
        nowhere: Nowhere,
    ) -> Result<bool> {
        if let Some(chat) = &branch.committee_chat {
            self.send_to_chat(chat, text, &format!("{intent}:committee"))
                .await?;
            return Ok(true);
        }
        let read;
        let roster = match roster {
            Some(r) => r,
            None => {
                read = self.store.roster(&branch.id).await?;
                &read
            }
        };
        let mut told = false;
        for secretary in roster
            .members
            .values()
            .filter(|m| m.role == Role::Secretary && m.status == MemberStatus::Active)
        {
            for identity in &secretary.identities {
                if let Some(chat) = private_chat_with(identity) {
                    self.send_to_chat(&chat, text, &format!("{intent}:dm:{}", identity.key()))
                        .await?;
                    told = true;
                }
            }
        }
        if !told && nowhere == Nowhere::Pointer {
            // Nowhere private to say it (SPEC §4): the group learns only that something waits.
            tracing::warn!(branch = %branch.id, "no committee chat or reachable secretary for a sensitive notice");
            let pointer = texts::sensitive_pointer(branch);
            self.tell_branch(branch, &pointer, &format!("{intent}:pointer"))
                .await?;
        }
        Ok(told)
    }

    /// Delivers a sensitive answer to a command of someone entitled to it (the command's role
    /// check has passed): inline when asked in a private chat or the committee chat; otherwise
    /// to the committee chat, else to the asker privately, through the outbox. `origin` names
    /// the inbound message, so a retried webhook queues it once. The caller replies in the
    /// group with where it went, never with the text.
    pub async fn answer_privately(
        &self,
        branch: &Branch,
        sender: &Sender,
        text: &str,
        origin: &str,
    ) -> Result<PrivateRoute> {
        if chat_is_private(branch, sender) {
            return Ok(PrivateRoute::Inline);
        }
        if let Some(chat) = &branch.committee_chat {
            self.send_to_chat(chat, text, &format!("answer:{origin}:committee"))
                .await?;
            return Ok(PrivateRoute::CommitteeChat);
        }
        if let Some(chat) = sender.private_chat() {
            self.send_to_chat(&chat, text, &format!("answer:{origin}:dm"))
                .await?;
            return Ok(PrivateRoute::PrivateChat);
        }
        Ok(PrivateRoute::Nowhere)
    }
}
