//! Meetings of organisational life (组织生活): their kinds, attendance, and the rules that
//! count them (summary, quorum). Pure: no Redis, no clock.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BranchId, Language, Member, MemberStatus, Role};

/// The standard kinds of meeting (三会一课 and the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingKind {
    /// 支部党员大会.
    GeneralAssembly,
    /// 支委会.
    Committee,
    /// 党小组会.
    Group,
    /// 党课.
    Lesson,
    /// 主题党日.
    ThemeDay,
    /// 组织生活会.
    LifeMeeting,
    /// 民主评议党员.
    Appraisal,
    /// Anything else.
    Other,
}

impl MeetingKind {
    /// Every kind, in the order help lists them.
    pub const ALL: [Self; 8] = [
        Self::GeneralAssembly,
        Self::Committee,
        Self::Group,
        Self::Lesson,
        Self::ThemeDay,
        Self::LifeMeeting,
        Self::Appraisal,
        Self::Other,
    ];

    /// The kind's name in a language.
    pub fn label(self, lang: Language) -> &'static str {
        match (self, lang) {
            (Self::GeneralAssembly, Language::Zh) => "支部党员大会",
            (Self::Committee, Language::Zh) => "支委会",
            (Self::Group, Language::Zh) => "党小组会",
            (Self::Lesson, Language::Zh) => "党课",
            (Self::ThemeDay, Language::Zh) => "主题党日",
            (Self::LifeMeeting, Language::Zh) => "组织生活会",
            (Self::Appraisal, Language::Zh) => "民主评议党员",
            (Self::Other, Language::Zh) => "其他会议",
            (Self::GeneralAssembly, Language::En) => "general assembly",
            (Self::Committee, Language::En) => "committee meeting",
            (Self::Group, Language::En) => "group meeting",
            (Self::Lesson, Language::En) => "party lesson",
            (Self::ThemeDay, Language::En) => "theme day",
            (Self::LifeMeeting, Language::En) => "organisational life meeting",
            (Self::Appraisal, Language::En) => "member appraisal",
            (Self::Other, Language::En) => "meeting",
        }
    }

    /// Reads a kind typed in chat: full names, common short forms, English.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim().to_lowercase().as_str() {
            "支部党员大会" | "党员大会" | "大会" | "general" | "assembly" => {
                Self::GeneralAssembly
            }
            "支委会" | "支部委员会" | "committee" => Self::Committee,
            "党小组会" | "小组会" | "group" => Self::Group,
            "党课" | "lesson" => Self::Lesson,
            "主题党日" | "党日" | "themeday" | "theme-day" => Self::ThemeDay,
            "组织生活会" | "生活会" | "life" => Self::LifeMeeting,
            "民主评议党员" | "民主评议" | "appraisal" => Self::Appraisal,
            "其他" | "其他会议" | "会议" | "other" => Self::Other,
            _ => return None,
        })
    }

    /// Who is expected: the committee for 支委会, every active member otherwise.
    pub fn expects(self, member: &Member) -> bool {
        if member.status != MemberStatus::Active {
            return false;
        }
        match self {
            Self::Committee => member.role >= Role::Committee,
            _ => member.role >= Role::Activist,
        }
    }

    /// Who counts toward the quorum, for the kinds that have one: full members with voting
    /// rights for 党员大会 (probationary members and activists do not vote), the committee
    /// for 支委会.
    pub fn quorum_voter(self, member: &Member) -> Option<bool> {
        let active = member.status == MemberStatus::Active;
        match self {
            Self::GeneralAssembly => Some(active && member.role >= Role::Member),
            Self::Committee => Some(active && member.role >= Role::Committee),
            _ => None,
        }
    }
}

/// Where a meeting stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// Announced, not yet ended.
    Scheduled,
    /// Called off.
    Cancelled,
    /// Held and closed with `结束会议`.
    Ended,
}

/// A note appended to a meeting's minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinutesEntry {
    /// Who wrote it (roster name).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The text.
    pub text: String,
}

/// A meeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    /// The short number members type (`#3`), unique in the branch across all kinds.
    pub no: u64,
    /// The branch.
    pub branch: BranchId,
    /// Kind.
    pub kind: MeetingKind,
    /// Topic.
    pub topic: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// Planned length.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Online link (video meeting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Status.
    pub status: MeetingStatus,
    /// Who created it (member id).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it was closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Minutes, in the order written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub minutes: Vec<MinutesEntry>,
    /// A check-in window opened by hand (`开始签到`), replacing the default one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin: Option<CheckinWindow>,
}

/// A check-in window opened by hand, optionally with a code said aloud in the meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckinWindow {
    /// Opens.
    pub opens_at: DateTime<Utc>,
    /// Closes.
    pub closes_at: DateTime<Utc>,
    /// The code members must send with `签到` (never shown in the group by the bot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// A member's leave request for one meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leave {
    /// The reason given (sensitive: never shown in a group).
    pub reason: String,
    /// When it was asked.
    pub at: DateTime<Utc>,
    /// Refused by the secretary (`驳回请假`): the member is then expected after all.
    #[serde(default)]
    pub refused: bool,
}

/// One member's attendance at one meeting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendance {
    /// Said they will come (`参加`).
    #[serde(default)]
    pub rsvp: bool,
    /// Asked for leave (`请假`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave: Option<Leave>,
    /// Checked in at (`签到`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_in_at: Option<DateTime<Utc>>,
}

impl Attendance {
    /// Leave that stands (asked, not refused).
    pub fn excused(&self) -> bool {
        self.leave.as_ref().is_some_and(|l| !l.refused)
    }

    /// Whether the member did anything about the meeting (said they come, asked leave or
    /// checked in).
    pub fn is_empty(&self) -> bool {
        !self.rsvp && self.leave.is_none() && self.checked_in_at.is_none()
    }

    /// How the record reads once the meeting has begun, by the rule [`summarize`] counts by.
    pub fn outcome(&self, meeting: &Meeting) -> Outcome {
        match self.checked_in_at {
            Some(at) if at <= meeting.starts_at => Outcome::Present,
            Some(_) => Outcome::Late,
            None if self.excused() => Outcome::Excused,
            None => Outcome::Absent,
        }
    }
}

/// Where one member stands at one meeting, as `签到状态` shows it to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Over (ended, or past its planned end without being ended): how it went.
    Over(Outcome),
    /// Begun and not over: checked in or on leave, or `None` while neither.
    UnderWay(Option<Outcome>),
    /// Not begun yet.
    Ahead(Intent),
}

/// What a member said about a meeting that has not begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Checked in already (the window opens before the start).
    CheckedIn,
    /// On leave.
    Excused,
    /// Asked leave, which the secretary refused: expected after all.
    LeaveRefused,
    /// Said they will come.
    Attending,
    /// Nothing yet.
    Unanswered,
}

impl Standing {
    /// A member's standing at a meeting that is not cancelled, at `now`.
    pub fn of(meeting: &Meeting, record: &Attendance, now: DateTime<Utc>) -> Self {
        let planned_end = chrono::Duration::from_std(meeting.duration)
            .ok()
            .and_then(|d| meeting.starts_at.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        if meeting.status == MeetingStatus::Ended || planned_end <= now {
            Self::Over(record.outcome(meeting))
        } else if meeting.starts_at <= now {
            let outcome = record.outcome(meeting);
            Self::UnderWay((outcome != Outcome::Absent).then_some(outcome))
        } else if record.checked_in_at.is_some() {
            Self::Ahead(Intent::CheckedIn)
        } else if record.excused() {
            Self::Ahead(Intent::Excused)
        } else if record.leave.is_some() {
            Self::Ahead(Intent::LeaveRefused)
        } else if record.rsvp {
            Self::Ahead(Intent::Attending)
        } else {
            Self::Ahead(Intent::Unanswered)
        }
    }
}

/// The meetings `签到状态` shows a member, from their records at the branch's current
/// meetings: the `limit` nearest to `now` (before or after), in start order, leaving out
/// cancelled ones and those the member was never expected at and did nothing about: a
/// meeting of a kind not meant for them (a 支委会 for a plain member), or one held before
/// their roster entry was created (their record cannot say 缺席 for a meeting before they
/// were on the roster).
pub fn own_records(
    meetings: Vec<(Meeting, Attendance)>,
    member: &Member,
    now: DateTime<Utc>,
    limit: usize,
) -> Vec<(Meeting, Attendance)> {
    let mut shown: Vec<(Meeting, Attendance)> = meetings
        .into_iter()
        .filter(|(m, record)| {
            m.status != MeetingStatus::Cancelled
                && (!record.is_empty()
                    || (m.kind.expects(member) && m.starts_at >= member.created_at))
        })
        .collect();
    shown.sort_by_key(|(m, _)| ((m.starts_at - now).abs(), m.no));
    shown.truncate(limit);
    shown.sort_by_key(|(m, _)| (m.starts_at, m.no));
    shown
}

/// How one expected member ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Checked in by the start.
    Present,
    /// Checked in after the start.
    Late,
    /// On approved leave.
    Excused,
    /// None of the above.
    Absent,
}

/// The counts of a meeting, and who is in each (names are for private use only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Expected members.
    pub expected: usize,
    /// Present on time.
    pub present: usize,
    /// Late.
    pub late: usize,
    /// On leave.
    pub excused: usize,
    /// Absent.
    pub absent: usize,
    /// Outcome per member id.
    pub outcomes: HashMap<String, Outcome>,
    /// For 党员大会 and 支委会: whether more than half of those with a vote attended.
    pub quorum: Option<QuorumCount>,
}

/// Attendance among those who count toward a quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuorumCount {
    /// Members with a vote.
    pub voters: usize,
    /// Of them, attended (or, in a forecast, expected to).
    pub attending: usize,
}

impl QuorumCount {
    /// More than half.
    pub fn met(self) -> bool {
        self.voters > 0 && self.attending * 2 > self.voters
    }
}

impl Summary {
    /// Attended = present + late.
    pub fn attended(&self) -> usize {
        self.present + self.late
    }
}

/// A stored series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Id within the branch.
    pub id: String,
    /// The branch.
    pub branch: BranchId,
    /// Kind.
    pub kind: MeetingKind,
    /// Topic.
    pub topic: String,
    /// Day of the month.
    pub day: u32,
    /// Local time.
    pub at: NaiveTime,
    /// Length.
    #[serde(default, with = "humantime_serde::option")]
    pub duration: Option<Duration>,
    /// Link.
    #[serde(default)]
    pub link: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// The rule date (before any working-day move) of the latest planned occurrence, so a job
    /// that runs twice plans it once.
    pub planned_through: Option<NaiveDate>,
}

/// Counts a meeting: each expected member is present, late, excused or absent; a member who
/// checked in counts as attending even if they had asked for leave.
pub fn summarize(
    meeting: &Meeting,
    roster: &[Member],
    attendance: &HashMap<String, Attendance>,
) -> Summary {
    let mut summary = Summary::default();
    let mut voters = 0;
    let mut voting_attended = 0;
    for member in roster {
        let record = attendance.get(&member.id);
        let checked_in = record.and_then(|a| a.checked_in_at);
        let expected = meeting.kind.expects(member);
        if !expected && checked_in.is_none() {
            continue;
        }
        let outcome = match checked_in {
            Some(at) if at <= meeting.starts_at => Outcome::Present,
            Some(_) => Outcome::Late,
            None if record.is_some_and(Attendance::excused) => Outcome::Excused,
            None => Outcome::Absent,
        };
        if expected {
            summary.expected += 1;
        }
        match outcome {
            Outcome::Present => summary.present += 1,
            Outcome::Late => summary.late += 1,
            Outcome::Excused => summary.excused += 1,
            Outcome::Absent => summary.absent += 1,
        }
        if meeting.kind.quorum_voter(member) == Some(true) {
            voters += 1;
            if matches!(outcome, Outcome::Present | Outcome::Late) {
                voting_attended += 1;
            }
        }
        summary.outcomes.insert(member.id.clone(), outcome);
    }
    if meeting.kind.quorum_voter(&placeholder()).is_some() {
        summary.quorum = Some(QuorumCount {
            voters,
            attending: voting_attended,
        });
    }
    summary
}

/// The quorum forecast before the start: voters who said they will come (or already checked
/// in), not counting those on leave. `None` for kinds without a quorum.
pub fn quorum_forecast(
    meeting: &Meeting,
    roster: &[Member],
    attendance: &HashMap<String, Attendance>,
) -> Option<QuorumCount> {
    meeting.kind.quorum_voter(&placeholder())?;
    let mut count = QuorumCount {
        voters: 0,
        attending: 0,
    };
    for member in roster
        .iter()
        .filter(|m| meeting.kind.quorum_voter(m) == Some(true))
    {
        count.voters += 1;
        let record = attendance.get(&member.id);
        let coming = record.is_some_and(|a| a.checked_in_at.is_some() || (a.rsvp && !a.excused()));
        if coming {
            count.attending += 1;
        }
    }
    Some(count)
}

/// Members expected who have neither said they will come nor asked for leave (for reminders).
pub fn not_yet_answered<'a>(
    meeting: &Meeting,
    roster: &'a [Member],
    attendance: &HashMap<String, Attendance>,
) -> Vec<&'a Member> {
    roster
        .iter()
        .filter(|m| meeting.kind.expects(m))
        .filter(|m| {
            attendance
                .get(&m.id)
                .is_none_or(|a| !a.rsvp && !a.excused() && a.checked_in_at.is_none())
        })
        .collect()
}

fn placeholder() -> Member {
    Member {
        id: String::new(),
        name: String::new(),
        role: Role::Guest,
        status: MemberStatus::Active,
        identities: Vec::new(),
        joined_party_on: None,
        birthday: None,
        phone: None,
        employer: None,
        care_flags: Vec::new(),
        notes: None,
        created_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

/// Members who attended no ended meeting since `since` (and were on the roster before it, so
/// newcomers are not flagged): the early warning's list. Names go to the secretary only.
pub fn inactive_since<'a>(
    roster: &'a [Member],
    held: &[(Meeting, HashMap<String, Attendance>)],
    since: DateTime<Utc>,
) -> Vec<&'a Member> {
    let mut inactive: Vec<&Member> = roster
        .iter()
        .filter(|m| {
            m.status == MemberStatus::Active && m.role >= Role::Activist && m.created_at <= since
        })
        .filter(|m| {
            !held.iter().any(|(meeting, attendance)| {
                meeting.status == MeetingStatus::Ended
                    && meeting.starts_at >= since
                    && attendance
                        .get(&m.id)
                        .is_some_and(|a| a.checked_in_at.is_some())
            })
        })
        .collect();
    inactive.sort_by(|a, b| a.name.cmp(&b.name));
    inactive
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, role: Role) -> Member {
        Member {
            id: id.to_owned(),
            name: id.to_owned(),
            role,
            ..placeholder()
        }
    }

    fn meeting(kind: MeetingKind) -> Meeting {
        Meeting {
            no: 1,
            branch: BranchId::parse("b").unwrap(),
            kind,
            topic: "学习".to_owned(),
            starts_at: DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap(),
            duration: Duration::from_secs(5400),
            link: None,
            status: MeetingStatus::Scheduled,
            created_by: "s".to_owned(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            ended_at: None,
            minutes: Vec::new(),
            checkin: None,
        }
    }

    fn at(m: &Meeting, minutes: i64) -> Option<DateTime<Utc>> {
        Some(m.starts_at + chrono::Duration::minutes(minutes))
    }

    fn leave(refused: bool) -> Option<Leave> {
        Some(Leave {
            reason: "出差".to_owned(),
            at: DateTime::<Utc>::UNIX_EPOCH,
            refused,
        })
    }

    #[test]
    fn a_members_standing_follows_the_meeting_from_ahead_to_over() {
        let m = meeting(MeetingKind::Group);
        let minutes = |n: i64| m.starts_at + chrono::Duration::minutes(n);
        let on_time = Attendance {
            checked_in_at: at(&m, -5),
            ..Attendance::default()
        };
        let late = Attendance {
            checked_in_at: at(&m, 10),
            ..Attendance::default()
        };
        let excused = Attendance {
            leave: leave(false),
            ..Attendance::default()
        };
        let refused = Attendance {
            rsvp: true,
            leave: leave(true),
            ..Attendance::default()
        };
        let rsvp = Attendance {
            rsvp: true,
            ..Attendance::default()
        };
        let none = Attendance::default();

        // Before the start.
        let ahead = minutes(-60);
        assert_eq!(
            Standing::of(&m, &on_time, ahead),
            Standing::Ahead(Intent::CheckedIn)
        );
        assert_eq!(
            Standing::of(&m, &excused, ahead),
            Standing::Ahead(Intent::Excused)
        );
        assert_eq!(
            Standing::of(&m, &refused, ahead),
            Standing::Ahead(Intent::LeaveRefused)
        );
        assert_eq!(
            Standing::of(&m, &rsvp, ahead),
            Standing::Ahead(Intent::Attending)
        );
        assert_eq!(
            Standing::of(&m, &none, ahead),
            Standing::Ahead(Intent::Unanswered)
        );

        // Under way (90 minutes long): not yet absent.
        let during = minutes(20);
        assert_eq!(
            Standing::of(&m, &late, during),
            Standing::UnderWay(Some(Outcome::Late))
        );
        assert_eq!(Standing::of(&m, &rsvp, during), Standing::UnderWay(None));

        // Over by its planned end, though nobody ended it.
        let after = minutes(91);
        for (record, outcome) in [
            (&on_time, Outcome::Present),
            (&late, Outcome::Late),
            (&excused, Outcome::Excused),
            (&refused, Outcome::Absent),
            (&rsvp, Outcome::Absent),
            (&none, Outcome::Absent),
        ] {
            assert_eq!(Standing::of(&m, record, after), Standing::Over(outcome));
        }
        // Ended early by the secretary: over at once.
        let ended = Meeting {
            status: MeetingStatus::Ended,
            ..m.clone()
        };
        assert_eq!(
            Standing::of(&ended, &rsvp, during),
            Standing::Over(Outcome::Absent)
        );
    }

    #[test]
    fn own_records_are_the_nearest_meetings_expected_of_the_member() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let day = |d: i64| now + chrono::Duration::days(d);
        let joined = day(-20);
        let mut zhang = member("zhang", Role::Member);
        zhang.created_at = joined;
        let at_day = |no: u64, kind: MeetingKind, d: i64| Meeting {
            no,
            starts_at: day(d),
            ..meeting(kind)
        };
        let none = Attendance::default;
        let mut meetings = vec![
            // Before the roster entry: left out, unless the member did something about it.
            (at_day(1, MeetingKind::Group, -30), none()),
            (
                at_day(2, MeetingKind::Group, -25),
                Attendance {
                    checked_in_at: Some(day(-25)),
                    ..Attendance::default()
                },
            ),
            // A 支委会 is not for a plain member.
            (at_day(3, MeetingKind::Committee, -2), none()),
            (
                Meeting {
                    status: MeetingStatus::Cancelled,
                    ..at_day(4, MeetingKind::Group, -1)
                },
                none(),
            ),
        ];
        // Twelve more, one a day from 11 days ago to tomorrow: the ten nearest stay.
        for (i, d) in (-11..=1).filter(|d| *d != 0).enumerate() {
            meetings.push((at_day(10 + i as u64, MeetingKind::ThemeDay, d), none()));
        }
        let shown = own_records(meetings.clone(), &zhang, now, 10);
        let nos: Vec<u64> = shown.iter().map(|(m, _)| m.no).collect();
        // Days -9..=-1 and +1, in start order; days -11 and -10 are the farthest.
        assert_eq!(nos, [12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);

        let few = own_records(meetings, &zhang, now, 100);
        let nos: Vec<u64> = few.iter().map(|(m, _)| m.no).collect();
        assert_eq!(nos[..2], [2, 10], "{nos:?}");
        assert!(!nos.contains(&1) && !nos.contains(&3) && !nos.contains(&4));
        let mut secretary = member("sec", Role::Secretary);
        secretary.created_at = joined;
        let committee = vec![(at_day(3, MeetingKind::Committee, -2), none())];
        assert_eq!(own_records(committee, &secretary, now, 10).len(), 1);
    }

    #[test]
    fn kinds_parse_from_chat_words() {
        assert_eq!(
            MeetingKind::parse("党员大会"),
            Some(MeetingKind::GeneralAssembly)
        );
        assert_eq!(MeetingKind::parse("支委会"), Some(MeetingKind::Committee));
        assert_eq!(MeetingKind::parse("Theme-Day"), Some(MeetingKind::ThemeDay));
        assert_eq!(MeetingKind::parse("茶话会"), None);
    }

    #[test]
    fn a_general_assembly_is_counted_and_its_quorum_judged_among_full_members() {
        let m = meeting(MeetingKind::GeneralAssembly);
        let roster = vec![
            member("sec", Role::Secretary),
            member("a", Role::Member),
            member("b", Role::Member),
            member("c", Role::Member),
            member("p", Role::Probationary),
        ];
        let mut att = HashMap::new();
        att.insert(
            "sec".to_owned(),
            Attendance {
                checked_in_at: at(&m, -5),
                ..Default::default()
            },
        );
        att.insert(
            "a".to_owned(),
            Attendance {
                checked_in_at: at(&m, 10),
                ..Default::default()
            },
        );
        att.insert(
            "b".to_owned(),
            Attendance {
                leave: Some(Leave {
                    reason: "出差".to_owned(),
                    at: m.created_at,
                    refused: false,
                }),
                ..Default::default()
            },
        );
        att.insert(
            "p".to_owned(),
            Attendance {
                checked_in_at: at(&m, 0),
                ..Default::default()
            },
        );
        let s = summarize(&m, &roster, &att);
        assert_eq!(
            (s.expected, s.present, s.late, s.excused, s.absent),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(s.attended(), 3);
        // Voters: sec, a, b, c (not the probationary member); attended sec and a: 2 of 4.
        assert_eq!(
            s.quorum,
            Some(QuorumCount {
                voters: 4,
                attending: 2
            })
        );
        assert!(!s.quorum.unwrap().met(), "2 of 4 is not more than half");
    }

    #[test]
    fn refused_leave_counts_as_absent_and_a_committee_meeting_expects_the_committee() {
        let m = meeting(MeetingKind::Committee);
        let roster = vec![
            member("sec", Role::Secretary),
            member("c1", Role::Committee),
            member("a", Role::Member),
        ];
        let mut att = HashMap::new();
        att.insert(
            "c1".to_owned(),
            Attendance {
                leave: Some(Leave {
                    reason: "x".to_owned(),
                    at: m.created_at,
                    refused: true,
                }),
                ..Default::default()
            },
        );
        att.insert(
            "sec".to_owned(),
            Attendance {
                checked_in_at: at(&m, 0),
                ..Default::default()
            },
        );
        let s = summarize(&m, &roster, &att);
        assert_eq!((s.expected, s.present, s.absent), (2, 1, 1));
        assert_eq!(
            s.quorum,
            Some(QuorumCount {
                voters: 2,
                attending: 1
            })
        );
        assert!(
            !s.outcomes.contains_key("a"),
            "a member is not expected at 支委会"
        );
    }

    #[test]
    fn the_forecast_counts_rsvps_and_reminders_skip_who_answered() {
        let m = meeting(MeetingKind::GeneralAssembly);
        let roster = vec![
            member("sec", Role::Secretary),
            member("a", Role::Member),
            member("b", Role::Member),
        ];
        let mut att = HashMap::new();
        att.insert(
            "sec".to_owned(),
            Attendance {
                rsvp: true,
                ..Default::default()
            },
        );
        att.insert(
            "a".to_owned(),
            Attendance {
                leave: Some(Leave {
                    reason: "病".to_owned(),
                    at: m.created_at,
                    refused: false,
                }),
                ..Default::default()
            },
        );
        let forecast = quorum_forecast(&m, &roster, &att).unwrap();
        assert_eq!(
            forecast,
            QuorumCount {
                voters: 3,
                attending: 1
            }
        );
        assert!(!forecast.met());
        let waiting: Vec<&str> = not_yet_answered(&m, &roster, &att)
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(waiting, ["b"]);
        assert!(quorum_forecast(&meeting(MeetingKind::Lesson), &roster, &att).is_none());
    }
}
