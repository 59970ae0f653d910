//! Chat: reading commands out of messages, checking the sender's role, running the command
//! through the services, and the reply texts (Chinese by default, English on request).

pub mod command;
pub mod dispatch;
pub mod meetings;
pub mod reply;
pub mod time;
