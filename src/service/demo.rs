//! The demo branch a newcomer talks to: bound to one sim chat, with a secretary and two
//! roster entries waiting to be claimed with `加入`.

use super::{Result, ServiceError, Services, members::NewMember};
use crate::domain::{
    BranchId, Role,
    chat::{ChatKind, ChatRef, PlatformKind, Sender},
};

/// The demo branch's fixed id.
pub const DEMO_BRANCH: &str = "demo";
/// The demo secretary's sim user id.
pub const DEMO_SECRETARY: &str = "secretary";

impl Services {
    /// Seeds the demo branch once; later calls find it and do nothing.
    pub async fn seed_demo(&self, bot: &str, chat_id: &str, name: &str) -> Result<BranchId> {
        let chat = ChatRef {
            platform: PlatformKind::Sim,
            bot: bot.to_owned(),
            chat_id: chat_id.to_owned(),
        };
        let id = BranchId::parse(DEMO_BRANCH).ok_or(ServiceError::BranchNotFound)?;
        if self.store.chat_branch(&chat).await?.is_some() {
            return Ok(id);
        }
        self.ensure_branch(&id, name).await?;
        let code = self.issue_bind_code(&id, false).await?;
        let secretary = Sender {
            chat,
            chat_kind: ChatKind::Group,
            user_id: DEMO_SECRETARY.to_owned(),
            name: Some("王书记".to_owned()),
        };
        match self.bind_chat(&code.code, &secretary, false, None).await {
            // Another replica seeded it meanwhile.
            Ok(_) | Err(ServiceError::ChatAlreadyBound) => {}
            Err(e) => return Err(e),
        }
        for (member, role) in [("张三", Role::Member), ("李四", Role::Probationary)] {
            let entry = NewMember {
                name: member.to_owned(),
                role: Some(role),
                joined_party_on: None,
                birthday: None,
                phone: None,
                employer: None,
                care_flags: Vec::new(),
                notes: None,
            };
            match self.add_member(&id, entry, None).await {
                Ok(_) | Err(ServiceError::Invalid(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(id)
    }
}
