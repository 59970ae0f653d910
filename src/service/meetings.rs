//! Meetings (SPEC §6): create and announce, RSVP and leave, reminders, reschedule and cancel,
//! check-in, end with counts, minutes. Chat commands and the admin API both call these.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Result, ServiceError, Services, retry_on_conflict};
use crate::{
    domain::chat::ChatRef,
    domain::{
        Branch, BranchId, Invalid, Member,
        ledger::{self, Ledger, Period},
        meeting::{
            self, Attendance, Leave, Meeting, MeetingKind, MeetingStatus, MinutesEntry, Summary,
        },
    },
    platform::BoxFuture,
    scheduler::{Job, JobError, JobHandler},
    store::{
        effects::EffectMark,
        limits::{Attempt, Gate},
        meetings::MeetingSelection,
    },
    texts,
};

/// The job kind of a meeting reminder.
pub const REMINDER_JOB: &str = "meeting.reminder";
/// Default length of a meeting.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(90 * 60);
/// Longest topic.
pub const MAX_TOPIC: usize = 100;

/// What creating a meeting needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    /// Kind.
    pub kind: MeetingKind,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Topic.
    pub topic: String,
    /// Length; default 90 minutes.
    #[serde(default, with = "humantime_serde::option")]
    pub duration: Option<Duration>,
    /// Online link.
    #[serde(default)]
    pub link: Option<String>,
}

/// A meeting with what is known of its attendance.
#[derive(Debug, Clone)]
pub struct MeetingView {
    /// The meeting.
    pub meeting: Meeting,
    /// Its counts.
    pub summary: Summary,
    /// Attendance records by member id.
    pub attendance: HashMap<String, Attendance>,
    /// The roster the counts were made against.
    pub members: Vec<Member>,
}

/// The outcome of a `签到` (recorded, acknowledged or refused), with what its reply needs.
pub use crate::store::inbound::{CheckinOutcome, CheckinResult};

#[derive(Debug, Serialize, Deserialize)]
struct ReminderPayload {
    branch: BranchId,
    no: u64,
    before_secs: u64,
}

fn reminder_key(branch: &BranchId, no: u64, before: Duration) -> String {
    format!(
        "meeting:{branch}:{no}:reminder:{}",
        humantime::format_duration(before)
    )
}

/// Checks a topic; server-made marker characters are dropped (see `platform::mention_token`).
pub(crate) fn parse_topic(raw: &str) -> Result<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !crate::platform::is_token_char(*c))
        .collect();
    let topic = cleaned.trim();
    if topic.is_empty() || topic.chars().count() > MAX_TOPIC {
        return Err(
            Invalid::new("topic", format!("1 to {MAX_TOPIC} characters"))
                .zh(format!("主题需 1 到 {MAX_TOPIC} 个字"))
                .into(),
        );
    }
    Ok(topic.to_owned())
}

pub(crate) fn parse_link(raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l)
            if (l.starts_with("https://") || l.starts_with("http://"))
                && l.len() <= 500
                && !l.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(Some(l.to_owned()))
        }
        Some(_) => Err(
            Invalid::new("link", "an http(s) URL of at most 500 characters")
                .zh("链接需以 http:// 或 https:// 开头")
                .into(),
        ),
    }
}

/// How many meetings `签到状态` shows at most: a phone screen.
pub const OWN_RECORDS: usize = 10;

impl Services {
    /// A meeting of the branch, or `MeetingNotFound`.
    pub async fn meeting(&self, branch: &BranchId, no: u64) -> Result<Meeting> {
        Ok(self
            .store
            .meeting(branch, no)
            .await?
            .ok_or(ServiceError::MeetingNotFound(no))?
            .0)
    }

    /// How long an effect marker keeps a retried message or request from repeating its
    /// effect: as long as platforms retry (the dedup window).
    pub(crate) fn effect_ttl(&self) -> Duration {
        self.settings.timing.dedup_ttl
    }

    /// Creates a meeting, announces it in every bound chat and schedules its reminders.
    /// `origin` names the chat message, API request (`Idempotency-Key`) or series occurrence
    /// it answers: a retry of it after a failure at any step finds the number, the meeting,
    /// the announcement and the reminders of the first attempt, and adds none.
    pub async fn create_meeting(
        &self,
        branch: &Branch,
        creator: &str,
        input: NewMeeting,
        origin: Option<&str>,
    ) -> Result<Meeting> {
        let topic = parse_topic(&input.topic)?;
        let link = parse_link(input.link.as_deref())?;
        let now = self.clock.now();
        if input.starts_at <= now {
            return Err(Invalid::new("starts_at", "must be in the future")
                .zh("会议时间已过，请换一个将来的时间")
                .into());
        }
        if input.starts_at > now + chrono::Duration::days(366) {
            return Err(Invalid::new("starts_at", "must be within a year")
                .zh("会议时间需在一年以内")
                .into());
        }
        let duration = input.duration.unwrap_or(DEFAULT_DURATION);
        if duration < Duration::from_secs(60) || duration > Duration::from_secs(24 * 3600) {
            return Err(Invalid::new("duration", "between 1m and 24h")
                .zh("时长需在 1 分钟到 24 小时之间")
                .into());
        }
        let no = self
            .store
            .number_for(&branch.id, origin, self.effect_ttl())
            .await?;
        let meeting = Meeting {
            no,
            branch: branch.id.clone(),
            kind: input.kind,
            topic,
            starts_at: input.starts_at,
            duration,
            link,
            status: MeetingStatus::Scheduled,
            created_by: creator.to_owned(),
            created_at: now,
            ended_at: None,
            minutes: Vec::new(),
            checkin: None,
        };
        let meeting = if self.store.insert_meeting(&meeting).await? {
            meeting
        } else {
            // Stored by the first attempt of this origin: finish what it began.
            self.meeting(&branch.id, no).await?
        };
        if meeting.status != MeetingStatus::Scheduled {
            // Cancelled or ended between the attempts: nothing left to announce or remind.
            return Ok(meeting);
        }
        let text = texts::announcement(branch, &meeting);
        self.tell_branch(
            branch,
            &text,
            &format!("meeting:{}:{}:announce", branch.id, meeting.no),
        )
        .await?;
        self.schedule_reminders(branch, &meeting).await?;
        Ok(meeting)
    }

    async fn schedule_reminders(&self, branch: &Branch, meeting: &Meeting) -> Result<()> {
        let now = self.clock.now();
        for before in branch.timing.apply(&self.settings.timing).meeting_reminders {
            let due = crate::clock::earlier(meeting.starts_at, before);
            let key = reminder_key(&branch.id, meeting.no, before);
            if due <= now {
                self.store.cancel_job(&key).await?;
                continue;
            }
            let payload = ReminderPayload {
                branch: branch.id.clone(),
                no: meeting.no,
                before_secs: before.as_secs(),
            };
            let job = Job {
                key,
                kind: REMINDER_JOB.to_owned(),
                due,
                payload: serde_json::to_value(&payload)
                    .map_err(|e| Invalid::new("meeting", e.to_string()))?,
                recurrence: None,
                attempts: 0,
            };
            self.store.schedule_job(&job).await?;
        }
        Ok(())
    }

    async fn cancel_reminders(&self, branch: &Branch, no: u64) -> Result<()> {
        for before in branch.timing.apply(&self.settings.timing).meeting_reminders {
            self.store
                .cancel_job(&reminder_key(&branch.id, no, before))
                .await?;
        }
        Ok(())
    }

    /// Meetings not yet over, soonest first (through the branch's agenda index, never its
    /// whole history).
    pub async fn upcoming_meetings(&self, branch: &BranchId) -> Result<Vec<Meeting>> {
        let now = self.clock.now();
        let mut meetings: Vec<Meeting> = self
            .store
            .select_meetings(branch, MeetingSelection::EndingAfter(now))
            .await?
            .into_iter()
            .filter(|m| m.status == MeetingStatus::Scheduled)
            .filter(|m| {
                m.starts_at + chrono::Duration::from_std(m.duration).unwrap_or_default() > now
            })
            .collect();
        meetings.sort_by_key(|m| m.starts_at);
        Ok(meetings)
    }

    /// `签到状态`: the member's record at the (at most) [`OWN_RECORDS`] meetings nearest to
    /// now among every scheduled one and those ended within
    /// [`RECENT_ENDED`](crate::store::meetings::RECENT_ENDED), chosen by
    /// [`meeting::own_records`], in start order.
    pub async fn checkin_status(
        &self,
        branch: &BranchId,
        member: &Member,
    ) -> Result<Vec<(Meeting, Attendance)>> {
        let now = self.clock.now();
        let recent = crate::clock::earlier(now, crate::store::meetings::RECENT_ENDED);
        let meetings: Vec<Meeting> = self
            .store
            .select_meetings(branch, MeetingSelection::Current(recent))
            .await?
            .into_iter()
            .filter(|m| match m.status {
                MeetingStatus::Scheduled => true,
                MeetingStatus::Ended => m.starts_at >= recent,
                MeetingStatus::Cancelled => false,
            })
            .collect();
        let nos: Vec<u64> = meetings.iter().map(|m| m.no).collect();
        let records = self
            .store
            .member_attendances(branch, &nos, &member.id)
            .await?;
        Ok(meeting::own_records(
            meetings.into_iter().zip(records).collect(),
            member,
            now,
            OWN_RECORDS,
        ))
    }

    /// A meeting with its counts so far, everyone's attendance and the roster they were
    /// counted against (read once, for callers that need names too).
    pub async fn meeting_view(&self, branch: &BranchId, no: u64) -> Result<MeetingView> {
        let meeting = self.meeting(branch, no).await?;
        let roster = self.store.roster(branch).await?;
        let members: Vec<Member> = roster.members.into_values().collect();
        let attendance = self.store.attendance(branch, no).await?;
        let summary = meeting::summarize(&meeting, &members, &attendance);
        Ok(MeetingView {
            meeting,
            summary,
            attendance,
            members,
        })
    }

    async fn open_meeting(&self, branch: &BranchId, no: u64) -> Result<Meeting> {
        let meeting = self.meeting(branch, no).await?;
        match meeting.status {
            MeetingStatus::Scheduled => Ok(meeting),
            MeetingStatus::Cancelled => Err(ServiceError::MeetingClosed(no)),
            MeetingStatus::Ended => Err(ServiceError::MeetingClosed(no)),
        }
    }

    /// Changes one member's attendance record, optimistically.
    async fn update_attendance<F>(
        &self,
        branch: &BranchId,
        no: u64,
        member: &Member,
        change: F,
    ) -> Result<Attendance>
    where
        F: Fn(&mut Attendance),
    {
        self.update_attendance_marked(branch, no, member, None, change)
            .await
    }

    /// Like `update_attendance`, writing an effect marker in the same commit.
    async fn update_attendance_marked<F>(
        &self,
        branch: &BranchId,
        no: u64,
        member: &Member,
        mark: Option<&EffectMark<'_>>,
        change: F,
    ) -> Result<Attendance>
    where
        F: Fn(&mut Attendance),
    {
        let record = retry_on_conflict!("attendance", {
            let (mut attendance, raw) =
                self.store.member_attendance(branch, no, &member.id).await?;
            change(&mut attendance);
            self.store
                .put_attendance_marked(branch, no, &member.id, &attendance, raw.as_deref(), mark)
                .await?
                .then_some(attendance)
        });
        Ok(record)
    }

    /// What `origin` did already, if it did (see [`EffectMark`]).
    async fn done_by(&self, branch: &BranchId, origin: Option<&str>) -> Result<Option<String>> {
        match origin {
            Some(origin) => Ok(self.store.effect(branch, origin).await?),
            None => Ok(None),
        }
    }

    /// `参加 #n`: the member will attend (this withdraws a leave request).
    pub async fn rsvp(&self, branch: &BranchId, no: u64, member: &Member) -> Result<Meeting> {
        let meeting = self.open_meeting(branch, no).await?;
        self.update_attendance(branch, no, member, |a| {
            a.rsvp = true;
            a.leave = None;
        })
        .await?;
        Ok(meeting)
    }

    /// `请假 #n <理由>`: before the start only; the secretary is told privately, once per
    /// message (`origin`): a retry rewrites the same record and queues no second notice.
    pub async fn ask_leave(
        &self,
        branch: &Branch,
        no: u64,
        member: &Member,
        reason: &str,
        origin: &str,
    ) -> Result<Meeting> {
        let meeting = self.open_meeting(&branch.id, no).await?;
        let now = self.clock.now();
        if now >= meeting.starts_at {
            return Err(ServiceError::MeetingStarted(no));
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(Invalid::new("reason", "1 to 200 characters")
                .zh("请写明请假理由（200 字以内）")
                .into());
        }
        let leave = Leave {
            reason: reason.to_owned(),
            at: now,
            refused: false,
        };
        self.update_attendance(&branch.id, no, member, |a| {
            a.rsvp = false;
            a.leave = Some(leave.clone());
        })
        .await?;
        let text = texts::leave_notice(branch, &meeting, &member.name, reason);
        let intent = format!("meeting:{}:{no}:leave:{}:{origin}", branch.id, member.id);
        self.tell_committee(branch, &text, &intent).await?;
        Ok(meeting)
    }

    /// `驳回请假 #n <姓名>`: the member is expected after all, and told so privately. The
    /// refusal is marked with its message (`origin`), so that a retry after a failure past the
    /// commit tells the member (once) instead of finding no leave left to refuse.
    pub async fn refuse_leave(
        &self,
        branch: &Branch,
        no: u64,
        name: &str,
        origin: &str,
    ) -> Result<(Meeting, Member)> {
        let meeting = self.open_meeting(&branch.id, no).await?;
        let roster = self.store.roster(&branch.id).await?;
        let member = roster
            .by_name(name.trim())
            .cloned()
            .ok_or_else(|| ServiceError::MemberNotFound(name.trim().to_owned()))?;
        let done = self.done_by(&branch.id, Some(origin)).await?;
        if done.as_deref() != Some(member.id.as_str()) {
            let (attendance, _) = self
                .store
                .member_attendance(&branch.id, no, &member.id)
                .await?;
            if !attendance.excused() {
                return Err(ServiceError::NoLeave(member.name.clone()));
            }
            let mark = EffectMark {
                origin,
                value: &member.id,
                ttl: self.effect_ttl(),
            };
            self.update_attendance_marked(&branch.id, no, &member, Some(&mark), |a| {
                if let Some(leave) = &mut a.leave {
                    leave.refused = true;
                }
            })
            .await?;
        }
        let text = texts::leave_refused(branch, &meeting);
        for identity in &member.identities {
            if let Some(chat) = super::audience::private_chat_with(identity) {
                let intent = format!(
                    "meeting:{}:{no}:refused:{}:{origin}",
                    branch.id,
                    identity.key()
                );
                self.send_to_chat(&chat, &text, &intent).await?;
            }
        }
        Ok((meeting, member))
    }

    /// `改期 #n <时间>`: moves the meeting and its reminders, and tells the group.
    pub async fn reschedule(
        &self,
        branch: &Branch,
        no: u64,
        starts_at: DateTime<Utc>,
    ) -> Result<Meeting> {
        if starts_at <= self.clock.now() {
            return Err(Invalid::new("starts_at", "must be in the future")
                .zh("新时间已过，请换一个将来的时间")
                .into());
        }
        let meeting = retry_on_conflict!("meeting", {
            let (mut m, raw) = self
                .store
                .meeting(&branch.id, no)
                .await?
                .ok_or(ServiceError::MeetingNotFound(no))?;
            if m.status != MeetingStatus::Scheduled {
                return Err(ServiceError::MeetingClosed(no));
            }
            m.starts_at = starts_at;
            self.store.update_meeting(&m, &raw).await?.then_some(m)
        });
        self.schedule_reminders(branch, &meeting).await?;
        let text = texts::rescheduled(branch, &meeting);
        let intent = format!("meeting:{}:{no}:moved:{}", branch.id, starts_at.timestamp());
        self.tell_branch(branch, &text, &intent).await?;
        Ok(meeting)
    }

    /// `取消会议 #n`: removes its reminders and tells the group. A retry of the same `origin`
    /// finishes the first attempt's cancellation instead of finding the meeting closed.
    pub async fn cancel_meeting(
        &self,
        branch: &Branch,
        no: u64,
        origin: Option<&str>,
    ) -> Result<Meeting> {
        let meeting = self
            .set_status(&branch.id, no, MeetingStatus::Cancelled, origin)
            .await?;
        self.cancel_reminders(branch, no).await?;
        let text = texts::cancelled(branch, &meeting);
        self.tell_branch(
            branch,
            &text,
            &format!("meeting:{}:{no}:cancelled", branch.id),
        )
        .await?;
        Ok(meeting)
    }

    /// Closes a scheduled meeting (cancelled or ended). With an `origin` that closed it
    /// already, the meeting as it stands, so that the caller finishes what follows.
    async fn set_status(
        &self,
        branch: &BranchId,
        no: u64,
        status: MeetingStatus,
        origin: Option<&str>,
    ) -> Result<Meeting> {
        let now = self.clock.now();
        let field = no.to_string();
        if self.done_by(branch, origin).await?.as_deref() == Some(field.as_str()) {
            let meeting = self.meeting(branch, no).await?;
            if meeting.status == status {
                return Ok(meeting);
            }
        }
        let meeting = retry_on_conflict!("meeting", {
            let (mut m, raw) = self
                .store
                .meeting(branch, no)
                .await?
                .ok_or(ServiceError::MeetingNotFound(no))?;
            if m.status != MeetingStatus::Scheduled {
                return Err(ServiceError::MeetingClosed(no));
            }
            m.status = status;
            if status == MeetingStatus::Ended {
                m.ended_at = Some(now);
            }
            let mark = origin.map(|origin| EffectMark {
                origin,
                value: &field,
                ttl: self.effect_ttl(),
            });
            self.store
                .update_meeting_marked(&m, &raw, mark.as_ref())
                .await?
                .then_some(m)
        });
        Ok(meeting)
    }

    /// The check-in window of a meeting: from `checkin_opens_before` before the start to
    /// `checkin_closes_after` after it (branch timing).
    pub fn checkin_window(
        &self,
        branch: &Branch,
        meeting: &Meeting,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        if let Some(w) = &meeting.checkin {
            return (w.opens_at, w.closes_at);
        }
        let timing = branch.timing.apply(&self.settings.timing);
        let opens = crate::clock::earlier(meeting.starts_at, timing.checkin_opens_before);
        let closes = crate::clock::later(meeting.starts_at, timing.checkin_closes_after);
        (opens, closes)
    }

    /// `签到 [#n]`: records present (by the start) or late. Without a number, the one meeting
    /// whose window is open; with several open, the member is asked which. In a busy chat the
    /// acknowledgement goes to the chat's next digest. The webhook does all of this in one
    /// script (`inbound.lua`); this is the same rule for what the script hands back.
    pub async fn check_in(
        &self,
        branch: &Branch,
        chat: &ChatRef,
        member: &Member,
        no: Option<u64>,
        code: Option<&str>,
    ) -> Result<CheckinOutcome> {
        let now = self.clock.now();
        let mut out = CheckinOutcome {
            lang: branch.language,
            tz: branch.timezone,
            name: member.name.clone(),
            no,
            kind: None,
            r: CheckinResult::NoneOpen,
            late: false,
            nos: Vec::new(),
            opens: None,
            wait: None,
            digest: false,
            bucket: None,
        };
        let meeting = match no {
            Some(no) => {
                let m = match self.open_meeting(&branch.id, no).await {
                    Ok(m) => m,
                    Err(ServiceError::MeetingNotFound(_)) => {
                        out.r = CheckinResult::NotFound;
                        return Ok(out);
                    }
                    Err(ServiceError::MeetingClosed(_)) => {
                        out.r = CheckinResult::MeetingClosed;
                        return Ok(out);
                    }
                    Err(e) => return Err(e),
                };
                let (opens, closes) = self.checkin_window(branch, &m);
                if now < opens {
                    out.r = CheckinResult::NotOpen;
                    out.opens = Some(opens.timestamp_millis());
                    return Ok(out);
                }
                if now > closes {
                    out.r = CheckinResult::Closed;
                    return Ok(out);
                }
                m
            }
            None => {
                let open: Vec<Meeting> = self
                    .upcoming_meetings(&branch.id)
                    .await?
                    .into_iter()
                    .filter(|m| {
                        let (opens, closes) = self.checkin_window(branch, m);
                        now >= opens && now <= closes
                    })
                    .collect();
                match open.as_slice() {
                    [] => return Ok(out),
                    [one] => one.clone(),
                    several => {
                        out.r = CheckinResult::Several;
                        out.nos = several.iter().map(|m| m.no).collect();
                        return Ok(out);
                    }
                }
            }
        };
        out.no = Some(meeting.no);
        if let Some(expected) = meeting.checkin.as_ref().and_then(|w| w.code.as_deref()) {
            // A short code falls to guessing: the gate is asked before the code is looked at,
            // and every wrong code is counted per member and per meeting (SPEC §10).
            let attempt = Attempt::checkin_code(&branch.id, meeting.no, &member.id);
            let too_many = |gate: Gate, out: &mut CheckinOutcome| {
                gate.wait().map(|retry_after| {
                    out.r = CheckinResult::TooMany;
                    out.wait = Some(u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX));
                })
            };
            if too_many(self.code_gate(&attempt).await?, &mut out).is_some() {
                return Ok(out);
            }
            match code.map(str::trim).filter(|c| !c.is_empty()) {
                // No code is no guess: nothing to count.
                None => {
                    out.r = CheckinResult::CodeNeeded;
                    return Ok(out);
                }
                Some(given) if given != expected => {
                    let after = self.wrong_code(&attempt).await?;
                    if too_many(after, &mut out).is_none() {
                        out.r = CheckinResult::WrongCode;
                    }
                    return Ok(out);
                }
                Some(_) => {}
            }
        }
        out.kind = Some(meeting.kind);
        let late = now > meeting.starts_at;
        // Whether this call recorded it, decided by the state the committed update saw (a
        // time comparison would mistake two check-ins in one instant for two first ones).
        let already = std::sync::atomic::AtomicBool::new(false);
        let record = self
            .update_attendance(&branch.id, meeting.no, member, |a| {
                already.store(
                    a.checked_in_at.is_some(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                if a.checked_in_at.is_none() {
                    a.checked_in_at = Some(now);
                }
            })
            .await?;
        if already.load(std::sync::atomic::Ordering::Relaxed) {
            out.r = CheckinResult::Already;
            out.late = record.checked_in_at.is_some_and(|t| t > meeting.starts_at);
        } else {
            out.r = CheckinResult::Recorded;
            out.late = late;
            // In a busy chat a new check-in is acknowledged in the next digest instead.
            out.digest = self.digest_checkin(branch, chat, &member.name).await?;
        }
        Ok(out)
    }

    /// `开始签到 #n [分钟] [签到码]`: opens the check-in window now for `minutes` (default: until
    /// the default window's close), optionally with a code.
    pub async fn open_checkin(
        &self,
        branch: &Branch,
        no: u64,
        minutes: Option<u32>,
        code: Option<&str>,
    ) -> Result<Meeting> {
        let now = self.clock.now();
        if let Some(code) = code
            && (code.chars().count() < 4
                || code.chars().count() > 16
                || code.chars().any(char::is_whitespace))
        {
            // Four at least: `签到 12` reads 12 as a meeting's number, never as a code.
            return Err(
                Invalid::new("code", "4 to 16 characters without spaces, e.g. 6666")
                    .zh("签到码需 4 到 16 个字符，不含空格，例如 6666")
                    .into(),
            );
        }
        if minutes.is_some_and(|m| m == 0 || m > 24 * 60) {
            return Err(Invalid::new("minutes", "1 to 1440")
                .zh("签到时长需在 1 到 1440 分钟之间")
                .into());
        }
        let meeting = retry_on_conflict!("meeting", {
            let (mut m, raw) = self
                .store
                .meeting(&branch.id, no)
                .await?
                .ok_or(ServiceError::MeetingNotFound(no))?;
            if m.status != MeetingStatus::Scheduled {
                return Err(ServiceError::MeetingClosed(no));
            }
            let closes_at = match minutes {
                Some(minutes) => now + chrono::Duration::minutes(i64::from(minutes)),
                None => self
                    .checkin_window(
                        branch,
                        &Meeting {
                            checkin: None,
                            ..m.clone()
                        },
                    )
                    .1
                    .max(now + chrono::Duration::minutes(15)),
            };
            m.checkin = Some(meeting::CheckinWindow {
                opens_at: now,
                closes_at,
                code: code.map(str::to_owned),
            });
            self.store.update_meeting(&m, &raw).await?.then_some(m)
        });
        Ok(meeting)
    }

    /// `结束会议 #n`: closes it; the group gets the counts (and the quorum), the committee chat
    /// (or the secretary privately) the names of the absent. A retry of the same `origin`
    /// finishes the first attempt's close instead of finding the meeting closed.
    pub async fn end_meeting(
        &self,
        branch: &Branch,
        no: u64,
        origin: Option<&str>,
    ) -> Result<(Meeting, Summary)> {
        let meeting = self
            .set_status(&branch.id, no, MeetingStatus::Ended, origin)
            .await?;
        self.cancel_reminders(branch, no).await?;
        let roster = self.store.roster(&branch.id).await?;
        let members: Vec<Member> = roster.members.into_values().collect();
        let attendance = self.store.attendance(&branch.id, no).await?;
        let summary = meeting::summarize(&meeting, &members, &attendance);
        let mut absent: Vec<&str> = members
            .iter()
            .filter(|m| summary.outcomes.get(&m.id) == Some(&meeting::Outcome::Absent))
            .map(|m| m.name.as_str())
            .collect();
        absent.sort_unstable();
        if !absent.is_empty() {
            let text = texts::absentees(branch, &meeting, &absent);
            self.tell_committee(branch, &text, &format!("meeting:{}:{no}:absent", branch.id))
                .await?;
        }
        Ok((meeting, summary))
    }

    /// The 三会一课 ledger of a period: the configured rules judged against the ended
    /// meetings, with counts and attendance rates, from when the branch began.
    ///
    /// The branch began at its creation here, or at its earliest meeting if that is older
    /// (meetings entered for the time before the branch was registered): units over before
    /// then read 支部尚未成立, not 未完成.
    pub async fn ledger(&self, branch: &Branch, period: Period) -> Result<Ledger> {
        let rules = &self.settings.ledger;
        let covering = rules.covering(period);
        let roster = self.store.roster(&branch.id).await?;
        let members: Vec<Member> = roster.members.into_values().collect();
        let mut pairs = Vec::new();
        let mut since = branch.created_at;
        for m in self.store.meetings(&branch.id).await? {
            if m.status != MeetingStatus::Cancelled {
                since = since.min(m.starts_at);
            }
            if !covering.contains_instant(m.starts_at, branch.timezone) {
                continue;
            }
            let attendance = self.store.attendance(&branch.id, m.no).await?;
            let summary = meeting::summarize(&m, &members, &attendance);
            pairs.push((m, summary));
        }
        Ok(ledger::ledger(
            rules,
            period,
            branch.timezone,
            &pairs,
            &members,
            self.clock.now(),
        )
        .since(since))
    }

    /// The branch's meetings as an iCalendar feed, if `token` is its current feed secret.
    pub async fn calendar_feed(&self, branch: &BranchId, token: &str) -> Result<Option<String>> {
        let Some(branch) = self.store.branch(branch).await? else {
            return Ok(None);
        };
        let matches = branch.calendar_token.as_deref().is_some_and(|t| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                t.as_bytes(),
                token.as_bytes(),
            ))
        });
        if !matches {
            return Ok(None);
        }
        let meetings = self.store.meetings(&branch.id).await?;
        Ok(Some(crate::export::ical::calendar(
            &branch,
            &meetings,
            self.clock.now(),
        )))
    }

    /// A new secret for the branch's calendar feed; the old URL stops working.
    pub async fn rotate_calendar_token(&self, branch: &BranchId) -> Result<String> {
        let token: String = (0..32)
            .map(|_| format!("{:x}", rand::random_range(0..16u8)))
            .collect();
        retry_on_conflict!("branch", {
            let (mut b, raw) = self
                .store
                .branch_raw(branch)
                .await?
                .ok_or(ServiceError::BranchNotFound)?;
            b.calendar_token = Some(token.clone());
            self.store.update_branch(&b, &raw).await?.then_some(())
        });
        Ok(token)
    }

    /// Every meeting of the branch, newest number first (the admin API's list).
    pub async fn meetings_newest_first(&self, branch: &BranchId) -> Result<Vec<Meeting>> {
        let mut all = self.store.meetings(branch).await?;
        all.reverse();
        Ok(all)
    }

    /// Appends to the minutes on behalf of a roster entry named by an admin (the API's
    /// `by`), as `会议记录` does for the member who types it.
    pub async fn add_minutes_by_name(
        &self,
        branch: &BranchId,
        no: u64,
        author_name: &str,
        text: &str,
        origin: Option<&str>,
    ) -> Result<Meeting> {
        let roster = self.store.roster(branch).await?;
        let author = roster.by_name(author_name.trim()).cloned().ok_or_else(|| {
            Invalid::new("by", "the roster name of who wrote it").zh("请填写记录人的花名册姓名")
        })?;
        self.add_minutes(branch, no, &author, text, origin).await
    }

    /// `会议记录 #n <text>`: appends to the minutes, with who wrote it and when; once per
    /// `origin`, so that a retried message or request appends nothing twice.
    pub async fn add_minutes(
        &self,
        branch: &BranchId,
        no: u64,
        author: &Member,
        text: &str,
        origin: Option<&str>,
    ) -> Result<Meeting> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 2000 {
            return Err(Invalid::new("text", "1 to 2000 characters")
                .zh("记录内容需 1 到 2000 字")
                .into());
        }
        let now = self.clock.now();
        let field = no.to_string();
        if self.done_by(branch, origin).await?.as_deref() == Some(field.as_str()) {
            return self.meeting(branch, no).await;
        }
        let meeting = retry_on_conflict!("meeting", {
            let (mut m, raw) = self
                .store
                .meeting(branch, no)
                .await?
                .ok_or(ServiceError::MeetingNotFound(no))?;
            if m.status == MeetingStatus::Cancelled {
                return Err(ServiceError::MeetingClosed(no));
            }
            m.minutes.push(MinutesEntry {
                by: author.name.clone(),
                at: now,
                text: text.to_owned(),
            });
            let mark = origin.map(|origin| EffectMark {
                origin,
                value: &field,
                ttl: self.effect_ttl(),
            });
            self.store
                .update_meeting_marked(&m, &raw, mark.as_ref())
                .await?
                .then_some(m)
        });
        Ok(meeting)
    }
}

/// Sends the reminders of meetings: who has neither said they come nor asked for leave is
/// named, with the platform's own mention where the member has an account on that chat's bot.
#[derive(Debug)]
pub struct ReminderHandler {
    services: Services,
}

impl ReminderHandler {
    /// A handler over the services.
    pub fn new(services: Services) -> Self {
        Self { services }
    }

    async fn remind(&self, payload: ReminderPayload) -> Result<()> {
        let services = &self.services;
        let branch = services.branch(&payload.branch).await?;
        let Some((meeting, _)) = services.store.meeting(&branch.id, payload.no).await? else {
            return Ok(());
        };
        if meeting.status != MeetingStatus::Scheduled {
            return Ok(());
        }
        let roster = services.store.roster(&branch.id).await?;
        let members: Vec<Member> = roster.members.into_values().collect();
        let attendance = services.store.attendance(&branch.id, meeting.no).await?;
        let mut waiting = meeting::not_yet_answered(&meeting, &members, &attendance);
        waiting.sort_by(|a, b| a.name.cmp(&b.name));
        let before = Duration::from_secs(payload.before_secs);
        for chat in services.store.branch_chats(&branch.id).await? {
            let names: Vec<String> = waiting
                .iter()
                .map(|m| {
                    match m
                        .identities
                        .iter()
                        .find(|i| i.platform == chat.platform && i.bot == chat.bot)
                    {
                        Some(identity) => {
                            crate::platform::mention_token(&identity.user_id, &m.name)
                        }
                        None => m.name.clone(),
                    }
                })
                .collect();
            let text = texts::reminder(&branch, &meeting, before, &names);
            // The start is part of the intent: after 改期 the new reminders are new messages.
            let intent = format!(
                "{}:{}:chat:{}",
                reminder_key(&branch.id, meeting.no, before),
                meeting.starts_at.timestamp(),
                chat.key()
            );
            services.send_to_chat(&chat, &text, &intent).await?;
        }
        // A quorum that looks unlikely is the secretary's to act on, privately.
        if let Some(forecast) = meeting::quorum_forecast(&meeting, &members, &attendance)
            && !forecast.met()
        {
            let text = texts::quorum_warning(&branch, &meeting, forecast);
            let intent = format!("{}:quorum", reminder_key(&branch.id, meeting.no, before));
            services.tell_committee(&branch, &text, &intent).await?;
        }
        Ok(())
    }
}

impl JobHandler for ReminderHandler {
    fn kind(&self) -> &'static str {
        REMINDER_JOB
    }

    fn grace(&self) -> Duration {
        // A reminder is worth sending a little late, never after the meeting has begun.
        Duration::from_secs(10 * 60)
    }

    fn run<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, std::result::Result<(), JobError>> {
        Box::pin(async move {
            let payload: ReminderPayload = serde_json::from_value(job.payload.clone())
                .map_err(|e| JobError::fail(format!("bad reminder payload: {e}")))?;
            match self.remind(payload).await {
                Ok(()) => Ok(()),
                Err(ServiceError::Store(e)) => Err(JobError::retry(e)),
                Err(e) => Err(JobError::fail(e)),
            }
        })
    }
}
