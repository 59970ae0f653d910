//! A meeting's whole life through the sim platform and real Redis: create (three time forms),
//! announce, RSVP, leave and its refusal, reminders, reschedule, check-in (present, late,
//! duplicate, wrong code, outside the window), the end with counts and quorum, minutes; and
//! the privacy and permission rules around them.

use mobile_branch::clock::Clock;
use reqwest::Method;
use serde_json::json;

use crate::helpers::cast::{LI, SEC, ZHANG};
use crate::helpers::{TestApp, Who, spawn_app};

const ZHAO: Who<'static> = Who {
    chat: "g1",
    user: "u-zhao",
    name: "赵六",
};

/// A branch with a secretary, a committee chat and three members.
async fn branch(app: &TestApp) -> String {
    let (id, code) = app.create_branch("会议支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    for who in [ZHANG, LI, ZHAO] {
        app.api(
            Method::POST,
            &format!("/branches/{id}/members"),
            Some(json!({"name": who.name, "phone": "13900000000"})),
        )
        .await;
        app.say1(who, &format!("加入 {}", who.name)).await;
    }
    let (_, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/bind-codes"),
            Some(json!({"committee": true})),
        )
        .await;
    app.say1(
        Who { chat: "gc", ..SEC },
        &format!("绑定支委群 {}", body["bind_code"].as_str().unwrap()),
    )
    .await;
    id
}

#[tokio::test]
async fn a_meeting_lives_from_announcement_to_minutes() {
    let app = spawn_app().await;
    let _id = branch(&app).await;

    // Three time forms; the first is announced in the group.
    let reply = app
        .say1(
            SEC,
            "新建会议 党员大会 明天 19:30 学习二十大精神 90分钟 https://meeting.example/abc",
        )
        .await;
    assert!(
        reply.contains("会议 #1") && reply.contains("已通知"),
        "{reply}"
    );
    app.eventually(5, "announcement", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.contains("【会议通知 #1】") && t.contains("https://meeting.example/abc"))
    })
    .await;
    let reply = app
        .say1(SEC, "新建会议 支委会 下周三 20:00 研究发展党员")
        .await;
    assert!(reply.contains("会议 #2"), "{reply}");
    let local =
        app.clock.now().with_timezone(&chrono_tz::Asia::Shanghai) + chrono::Duration::days(3);
    let reply = app
        .say1(
            SEC,
            &format!(
                "新建会议 主题党日 {} 9:00 志愿服务",
                local.format("%-m月%-d日")
            ),
        )
        .await;
    assert!(reply.contains("会议 #3"), "{reply}");
    let reply = app.say1(SEC, "新建会议 党员大会 昨天 19:30 补开").await;
    assert!(
        reply.contains("已经过去") || reply.contains("支持的时间写法"),
        "{reply}"
    );

    // RSVP, leave (told to the committee only), refusal (told to the member privately).
    assert!(app.say1(ZHANG, "参加 #1").await.contains("已报名"));
    let reply = app.say1(LI, "请假 #1 出差在外地").await;
    assert!(
        reply.contains("已提交") && !reply.contains("出差"),
        "the reason stays out of the group: {reply}"
    );
    app.eventually(5, "leave told to the committee", || async {
        app.mailbox("demo", "gc")
            .await
            .iter()
            .any(|t| t.contains("李四") && t.contains("出差在外地"))
    })
    .await;
    let reply = app.say1(SEC, "驳回请假 #1 李四").await;
    assert!(
        reply.contains("已驳回") && !reply.contains("李四"),
        "{reply}"
    );
    app.eventually(5, "refusal told privately", || async {
        app.mailbox("demo", "dm:u-li")
            .await
            .iter()
            .any(|t| t.contains("未获批准"))
    })
    .await;
    let show = app.say1(ZHAO, "会议 #1").await;
    assert!(
        show.contains("报名 1 人") && show.contains("未回复"),
        "{show}"
    );

    // The 1 h reminder names who has not answered, as @mentions on sim.
    let shanghai = chrono_tz::Asia::Shanghai;
    let tomorrow =
        app.clock.now().with_timezone(&shanghai).date_naive() + chrono::Duration::days(1);
    let starts = tomorrow
        .and_hms_opt(19, 30, 0)
        .and_then(|t| t.and_local_timezone(shanghai).single())
        .unwrap()
        .with_timezone(&chrono::Utc);
    app.clock
        .advance(starts - app.clock.now() - chrono::Duration::minutes(59));
    app.eventually(5, "reminder", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.contains("【会议提醒 #1】") && t.contains("@赵六"))
    })
    .await;
    let reminder = app
        .mailbox("demo", "g1")
        .await
        .into_iter()
        .find(|t| t.contains("【会议提醒 #1】"))
        .unwrap();
    assert!(
        !reminder.contains("@张三"),
        "who answered is not nagged: {reminder}"
    );

    // Check-in: outside the window, present, duplicate, then late after the start.
    let reply = app.say1(ZHANG, "签到 #1").await;
    assert!(reply.contains("将于") && reply.contains("开放"), "{reply}");
    app.clock.advance(chrono::Duration::minutes(50));
    assert!(app.say1(ZHANG, "签到").await.contains("签到成功"));
    assert!(app.say1(ZHANG, "签到").await.contains("不重复计"));
    // Typed as people type it: glued to the meeting's number, or with a synonym.
    assert!(app.say1(ZHANG, "签到1").await.contains("不重复计"));
    assert!(app.say1(ZHANG, "打卡！").await.contains("不重复计"));
    app.clock
        .advance(starts - app.clock.now() + chrono::Duration::minutes(5));
    assert!(app.say1(SEC, "签到 #1").await.contains("迟到"));

    // A window with a code: wrong code refused, right one accepted.
    assert!(
        app.say1(SEC, "开始签到 #1 10 7788")
            .await
            .contains("签到已开放")
    );
    assert!(app.say1(ZHAO, "签到 1234").await.contains("签到码不对"));
    assert!(app.say1(ZHAO, "签到码7788").await.contains("迟到"));

    // The end: counts and quorum in the group, names of the absent in the committee chat only.
    let ended = app.say1(SEC, "结束会议 #1").await;
    assert_eq!(
        ended.lines().next(),
        Some("会议 #1 已结束：支部党员大会「学习二十大精神」。")
    );
    assert!(
        ended.contains("应到 4 人") && ended.contains("实到 3 人") && ended.contains("缺席 1 人"),
        "{ended}"
    );
    assert!(ended.contains("法定人数：已达到（3/4）"), "{ended}");
    assert!(!ended.contains("李四"), "{ended}");
    app.eventually(5, "absentees to the committee", || async {
        app.mailbox("demo", "gc")
            .await
            .iter()
            .any(|t| t.contains("缺席：李四"))
    })
    .await;
    assert!(
        app.say1(SEC, "会议记录 #1 学习了报告第一部分")
            .await
            .contains("共 1 条")
    );
    assert!(app.say1(ZHANG, "签到 #1").await.contains("已取消或已结束"));

    // Reschedule and cancel move and remove what is planned, and tell the group.
    let moved = app.say1(SEC, "改期 #2 后天 20:00").await;
    assert!(moved.starts_with("会议 #2 已改期至 "), "{moved}");
    let cancelled = app.say1(SEC, "取消会议 #3").await;
    assert!(cancelled.starts_with("会议 #3 已取消："), "{cancelled}");
    app.eventually(5, "moved and cancelled told", || async {
        let g = app.mailbox("demo", "g1").await;
        g.iter().any(|t| t.contains("【改期】")) && g.iter().any(|t| t.contains("【取消】"))
    })
    .await;

    // Nothing in any group chat carries a leave reason, an absentee list or a phone number.
    for text in app.mailbox("demo", "g1").await {
        assert!(
            !text.contains("出差") && !text.contains("缺席：") && !text.contains("13900000000"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn members_cannot_run_meetings_and_bad_input_is_refused() {
    let app = spawn_app().await;
    branch(&app).await;
    for command in [
        "新建会议 支委会 明天 19:30 学习",
        "结束会议 #1",
        "取消会议 #1",
        "改期 #1 明天 20:00",
        "开始签到 #1",
        "驳回请假 #1 李四",
        "会议记录 #1 x",
    ] {
        let reply = app.say1(ZHANG, command).await;
        assert!(reply.contains("仅限"), "{command}: {reply}");
    }
    assert!(
        app.say1(SEC, "新建会议 茶话会 明天 19:30 聊天")
            .await
            .contains("支部党员大会"),
        "lists the kinds"
    );
    assert_eq!(
        app.say1(SEC, "新建会议 支委会 明天 19:30").await,
        "缺少会议主题，例如：新建会议 支委会 明天 19:30 党史学习",
        "a topic is required"
    );
    assert!(
        app.say1(SEC, "新建会议 支委会 2月30日 19:30 学习")
            .await
            .contains("不存在")
    );
    assert!(app.say1(SEC, "结束会议 #99").await.contains("没有会议 #99"));
    assert_eq!(
        app.say1(ZHANG, "参加 三").await,
        "缺少会议编号，例如：参加 #1（发送「会议」查看编号）"
    );
    assert!(app.say1(ZHANG, "签到").await.contains("没有开放签到"));
    // A code of three digits would read as a meeting's number (`签到 12` is meeting #12).
    app.say1(SEC, "新建会议 支委会 明天 19:30 学习").await;
    let short = app.say1(SEC, "开始签到 #1 10 123").await;
    assert!(short.contains("签到码需 4 到 16 个字符"), "{short}");
}

/// Keys every message touches, refused or not (its dedup record, the rate limits).
const PER_MESSAGE: &[&str] = &[":dedup:", ":lim:"];

/// The first line of a reply.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn replies_name_the_meeting_and_its_new_state_and_errors_show_the_fix_in_the_senders_words() {
    let app = spawn_app().await;
    // Wednesday 4 December 2030, 10:00 in Shanghai: every date below is a literal.
    let start = chrono::DateTime::parse_from_rfc3339("2030-12-04T10:00:00+08:00").unwrap();
    app.clock
        .advance(start.with_timezone(&chrono::Utc) - app.clock.now());
    let id = branch(&app).await;

    let created = app.say1(SEC, "新建会议 党课 12月18日 19:00 党史学习").await;
    assert_eq!(
        created,
        "会议 #1 已创建：党课「党史学习」，12月18日（周三）19:00。各群已通知。\n\
         改期发送「改期 #1 12月25日 19:00」，取消发送「取消会议 #1」。"
    );
    // The dotted and slashed month-day forms.
    let created = app.say1(SEC, "新建会议 支委会 12.10 19:30 研究工作").await;
    assert_eq!(
        first_line(&created),
        "会议 #2 已创建：支委会「研究工作」，12月10日（周二）19:30。各群已通知。"
    );
    assert_eq!(
        app.say1(SEC, "改期 #1 12/20 19:00").await,
        "会议 #1 已改期至 12月20日（周五）19:00：党课「党史学习」。各群已通知。"
    );
    assert_eq!(
        app.say1(SEC, "取消会议 #2").await,
        "会议 #2 已取消：支委会「研究工作」（原定 12月10日（周二）19:30）。各群已通知。"
    );

    // The other meeting commands: the first line names the meeting and what became of it.
    for (who, command, first) in [
        (
            ZHANG,
            "参加 #1",
            "会议 #1 已报名：党课「党史学习」，12月20日（周五）19:00。",
        ),
        (
            LI,
            "请假 #1 出差在外地",
            "会议 #1 的请假已提交：党课「党史学习」。书记会收到通知，理由只给书记看。",
        ),
        (
            SEC,
            "驳回请假 #1 李四",
            "会议 #1 的该项请假已驳回：党课「党史学习」。已私下告知本人。",
        ),
        (
            SEC,
            "开始签到 #1 30",
            "会议 #1 签到已开放，至 12月4日（周三）10:30：党课「党史学习」。",
        ),
        (
            SEC,
            "会议记录 #1 学习了第一章",
            "会议 #1 的会议记录已添加（共 1 条）：党课「党史学习」。",
        ),
    ] {
        let reply = app.say1(who, command).await;
        assert_eq!(first_line(&reply), first, "{command}");
    }

    // Errors: what is missing or wrong, and the command to send, in the sender's words.
    // Reading the schedule builds the meeting indexes once; a refusal may read them too.
    assert!(app.say1(SEC, "会议").await.contains("#1"));
    app.quiet().await;
    let before = app.redis_state(PER_MESSAGE).await;
    for (command, answer) in [
        (
            "新建会议 党课 12月18日 党史学习",
            "缺少几点，例如：新建会议 党课 12月18日 19:00 党史学习",
        ),
        (
            "新建会议 党课 下周五晚上 党史学习",
            "缺少几点，例如：新建会议 党课 下周五晚上 19:00 党史学习",
        ),
        (
            "新建会议 党课 19:00 党史学习",
            "缺少日期，例如：新建会议 党课 明天 19:00 党史学习",
        ),
        (
            "新建会议 党课 党史学习 12月18日 19:00",
            "时间要写在类型后面、主题前面，例如：新建会议 党课 12月18日 19:00 党史学习",
        ),
        (
            "新建会议 党课 昨天 19:00 补课",
            "昨天 19:00（12月3日）已经过去，请给一个将来的时间。",
        ),
        (
            "新建会议 党课 12月18日 5点 党史学习",
            "「12月18日 5点」是上午还是下午？请用 24 小时制，例如：新建会议 党课 12月18日 5:00 党史学习，或 新建会议 党课 12月18日 17:00 党史学习",
        ),
        (
            "新建会议 座谈会 12月18日 19:00 交流心得",
            "没有「座谈会」这种会议类型。可选类型：支部党员大会、支委会、党小组会、党课、主题党日、组织生活会、民主评议党员、其他会议。\n\
             例如：新建会议 其他会议 12月18日 19:00 交流心得",
        ),
        (
            "新建会议 12月18日 19:00 党史学习",
            "缺少会议类型（支部党员大会、支委会、党小组会、党课、主题党日、组织生活会、民主评议党员、其他会议），\
             例如：新建会议 支部党员大会 12月18日 19:00 党史学习",
        ),
        ("改期 #1", "缺少时间，例如：改期 #1 12月11日 19:00"),
        ("改期 #1 明天", "缺少几点，例如：改期 #1 明天 19:00"),
        (
            "改期 #1 昨天 19:00",
            "昨天 19:00（12月3日）已经过去，请给一个将来的时间。",
        ),
        (
            "改期 #1 明天 19:30 开会",
            "「开会」不是时间；改期只写新的时间，例如：改期 #1 明天 19:30",
        ),
        (
            "改期 明天 19:00",
            "缺少会议编号，例如：改期 #1 明天 19:00（发送「会议」查看编号）",
        ),
    ] {
        let reply = app.say1(SEC, command).await;
        assert_eq!(reply, answer, "{command}");
        assert!(!reply.contains('<'), "no grammar placeholder: {reply}");
    }
    app.quiet().await;
    app.assert_redis_unchanged(&before, PER_MESSAGE, "a refused meeting command")
        .await;
    assert!(app.say1(SEC, "会议 #3").await.contains("没有会议 #3"));

    // English branches read the same, with English words around the typed values.
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/branches/{id}"),
            Some(json!({"language": "en"})),
        )
        .await;
    assert_eq!(status, 200);
    for (command, answer) in [
        (
            "reschedule #1 12-27 19:00",
            "Meeting #1 moved to Fri 27 Dec 19:00: party lesson \"党史学习\". Every chat was told.",
        ),
        (
            "reschedule #1",
            "The time is missing; for example: reschedule #1 12-11 19:00",
        ),
        (
            "new-meeting lesson 12-18 Party history",
            "The hour is missing; for example: new-meeting lesson 12-18 19:00 Party history",
        ),
        (
            "cancel-meeting #1",
            "Meeting #1 cancelled: party lesson \"党史学习\" (was Fri 27 Dec 19:00). Every chat was told.",
        ),
    ] {
        assert_eq!(app.say1(SEC, command).await, answer, "{command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_members_checking_in_at_once_on_two_replicas_count_once_each() {
    let mut settings = crate::helpers::test_settings(&crate::helpers::REDIS.url(), "");
    // 600 requests at once on a loaded machine: production timeouts, not the short ones
    // other tests use to see an outage quickly.
    settings.redis.response_timeout = std::time::Duration::from_secs(5);
    settings.redis.connect_timeout = std::time::Duration::from_secs(2);
    let one = crate::helpers::spawn_app_with(settings.clone()).await;
    let two = crate::helpers::spawn_app_with(settings).await;
    let (id, code) = one.create_branch("大支部").await;
    one.say1(SEC, &format!("绑定 {code}")).await;
    // An imported roster of 300, each claiming their entry with 加入 at once.
    let users: Vec<String> = (0..300).map(|i| format!("u{i:03}")).collect();
    let members_path = format!("/branches/{id}/members");
    futures::future::join_all(users.iter().map(|u| {
        one.api(
            reqwest::Method::POST,
            &members_path,
            Some(json!({"name": format!("党员{u}")})),
        )
    }))
    .await;
    let joins = users.iter().map(|u| {
        let body = json!({"chat_id": "g1", "user_id": u, "user_name": u, "message_id": format!("join-{u}"), "text": format!("加入 党员{u}")});
        one.post_raw("/webhook/sim/demo", body.to_string())
    });
    for r in futures::future::join_all(joins).await {
        assert_eq!(r.status(), 200);
    }
    assert!(
        one.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结")
            .await
            .contains("#1")
    );
    assert!(one.say1(SEC, "开始签到 #1 30").await.contains("签到已开放"));
    // Both replicas' clocks stand where the window is open (it opened "now" on replica one).
    two.clock.advance(one.clock.now() - two.clock.now());

    let checkins = users.iter().enumerate().map(|(i, u)| {
        let app = if i % 2 == 0 { &one } else { &two };
        let body =
            json!({"chat_id": "g1", "user_id": u, "message_id": format!("in-{u}"), "text": "签到"});
        app.post_raw("/webhook/sim/demo", body.to_string())
    });
    let responses = futures::future::join_all(checkins).await;
    // Each is recorded; past 10 a minute the chat gets digests instead of 300 replies.
    let mut acknowledged = 0;
    for r in responses {
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        if let Some(text) = v["replies"][0]["text"].as_str() {
            assert!(text.contains("签到成功"), "{v}");
            acknowledged += 1;
        }
    }
    assert!(
        acknowledged <= 10,
        "a busy chat is not flooded: {acknowledged} replies"
    );
    let ended = one.say1(SEC, "结束会议 #1").await;
    assert!(
        ended.contains("应到 301 人")
            && ended.contains("实到 300 人")
            && ended.contains("缺席 1 人"),
        "{ended}"
    );
    let (_, members) = one
        .api(
            Method::GET,
            &format!("/branches/{id}/members?per_page=1"),
            None,
        )
        .await;
    assert_eq!(members["total"], 301);
}

#[tokio::test]
async fn the_ledger_exports_and_the_calendar_feed_hold_the_meetings() {
    use calamine::{Reader, Xlsx};
    use icalendar::parser::{read_calendar, unfold};

    let app = spawn_app().await;
    let id = branch(&app).await;
    // A meeting through the API, held and ended in chat.
    let starts = app.clock.now() + chrono::Duration::minutes(10);
    let (status, created) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings"),
            Some(json!({"kind": "committee", "starts_at": starts.to_rfc3339(), "topic": "研究工作, 安排; 下月"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let no = created["no"].as_u64().unwrap();
    assert!(
        app.say1(SEC, &format!("签到 #{no}"))
            .await
            .contains("签到成功")
    );
    assert!(
        app.say1(SEC, &format!("结束会议 #{no}"))
            .await
            .contains("已结束")
    );
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings"),
            Some(json!({"kind": "committee", "starts_at": "2020-01-01T00:00:00Z", "topic": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("starts_at")),
        "{body}"
    );

    // JSON: the committee rule's current month is met by that meeting.
    let (status, ledger) = app
        .api(Method::GET, &format!("/branches/{id}/ledger"), None)
        .await;
    assert_eq!(status, 200, "{ledger}");
    assert_eq!(ledger["meetings"][0]["no"], no, "{ledger}");
    assert_eq!(ledger["meetings"][0]["attended"], 1);
    let (status, _) = app
        .api(
            Method::GET,
            &format!("/branches/{id}/ledger?period=2026-Q9"),
            None,
        )
        .await;
    assert_eq!(status, 422);

    // CSV: UTF-8 with a BOM and a Chinese header row.
    let url = format!("{}/api/v1/branches/{id}/ledger?format=csv", app.base);
    let resp = app
        .client
        .get(&url)
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let bytes = resp.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with('\u{feff}'), "BOM");
    assert!(text.lines().next().unwrap().contains("会议编号"), "{text}");
    assert!(text.contains("研究工作"), "{text}");

    // XLSX: a real reader finds the sheets and the meeting row.
    let url = format!("{}/api/v1/branches/{id}/ledger?format=xlsx", app.base);
    let bytes = app
        .client
        .get(&url)
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(book.sheet_names(), ["台账", "会议", "党员出勤"]);
    let meetings = book.worksheet_range("会议").unwrap();
    let row: Vec<String> = meetings
        .rows()
        .nth(1)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(row.iter().any(|c| c.contains("研究工作")), "{row:?}");

    // 台账 in chat: counts for the committee, refused to members.
    let summary = app.say1(SEC, "台账").await;
    assert!(
        summary.contains("台账") && summary.contains("支委会") && summary.contains("已完成"),
        "{summary}"
    );
    assert!(app.say1(ZHANG, "台账").await.contains("仅限"));

    // iCalendar: a secret URL that a real parser reads, with UTC times; rotating revokes it.
    let (status, feed) = app
        .api(Method::POST, &format!("/branches/{id}/calendar-feed"), None)
        .await;
    assert_eq!(status, 201, "{feed}");
    let path = feed["url"]
        .as_str()
        .unwrap()
        .split_once("/calendar/")
        .unwrap()
        .1
        .to_owned();
    let resp = app
        .client
        .get(format!("{}/calendar/{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = resp.text().await.unwrap();
    let unfolded = unfold(&ics);
    let calendar = read_calendar(&unfolded).unwrap();
    let event = calendar
        .components
        .iter()
        .find(|c| c.name == "VEVENT")
        .unwrap();
    let dtstart = event
        .properties
        .iter()
        .find(|p| p.name == "DTSTART")
        .unwrap()
        .val
        .to_string();
    assert_eq!(dtstart, starts.format("%Y%m%dT%H%M%SZ").to_string());
    let summary = event
        .properties
        .iter()
        .find(|p| p.name == "SUMMARY")
        .unwrap()
        .val
        .to_string();
    assert!(
        summary.contains(&format!("#{no}")) && summary.contains("研究工作, 安排; 下月"),
        "{summary}"
    );
    app.api(Method::POST, &format!("/branches/{id}/calendar-feed"), None)
        .await;
    let stale = app
        .client
        .get(format!("{}/calendar/{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404, "a rotated secret stops working");
    let guess = app
        .client
        .get(format!("{}/calendar/{id}/guess.ics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(guess.status(), 404);
}

#[tokio::test]
async fn a_monthly_series_plans_each_occurrence_on_a_working_day_until_cancelled() {
    use chrono::Datelike;
    use mobile_branch::{
        domain::workdays,
        scheduler::{Recurrence, Rule},
    };

    let app = spawn_app().await;
    let id = branch(&app).await;
    let shanghai = chrono_tz::Asia::Shanghai;
    let at = chrono::NaiveTime::from_hms_opt(19, 30, 0).unwrap();
    let rule = Recurrence {
        rule: Rule::Month { day: 5, at },
        timezone: shanghai,
    };

    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/recurring-meetings"),
            Some(json!({"kind": "theme_day", "topic": "主题党日", "day": 5, "at": "19:30"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let series = body["series"]["id"].as_str().unwrap().to_owned();
    let raw = rule.next_after(app.clock.now()).unwrap();
    let expected_day = workdays::next_working_day(raw.with_timezone(&shanghai).date_naive());
    let first: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["first_meeting"]["starts_at"].clone()).unwrap();
    assert_eq!(first.with_timezone(&shanghai).date_naive(), expected_day);
    assert!(workdays::is_working_day(expected_day) && expected_day.day() >= 5);
    app.eventually(5, "announced", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.contains("【会议通知 #1】主题党日"))
    })
    .await;

    // When the rule's time comes, the next month's meeting is planned, once.
    app.clock
        .advance(raw - app.clock.now() + chrono::Duration::minutes(1));
    app.eventually(5, "second occurrence", || async {
        app.api(Method::GET, &format!("/branches/{id}/meetings"), None)
            .await
            .1["total"]
            == 2
    })
    .await;
    let (_, list) = app
        .api(Method::GET, &format!("/branches/{id}/meetings"), None)
        .await;
    let second: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(list["items"][0]["starts_at"].clone()).unwrap();
    let next_raw = rule.next_after(raw).unwrap();
    assert_eq!(
        second.with_timezone(&shanghai).date_naive(),
        workdays::next_working_day(next_raw.with_timezone(&shanghai).date_naive())
    );

    // Cancelled: no further occurrence is planned.
    assert_eq!(
        app.api(
            Method::DELETE,
            &format!("/branches/{id}/recurring-meetings/{series}"),
            None
        )
        .await
        .0,
        204
    );
    app.clock.advance(chrono::Duration::days(40));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.api(Method::GET, &format!("/branches/{id}/meetings"), None)
            .await
            .1["total"],
        2
    );
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/recurring-meetings"),
            Some(json!({"kind": "theme_day", "topic": "x", "day": 32, "at": "19:30"})),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn members_absent_for_three_months_are_named_to_the_committee_once_a_month() {
    use mobile_branch::scheduler::{Recurrence, Rule};

    let app = spawn_app().await;
    let id = branch(&app).await;
    let hold = |topic: &'static str| {
        let app = &app;
        let id = id.clone();
        async move {
            let starts = app.clock.now() + chrono::Duration::minutes(10);
            let (_, m) = app
                .api(
                    Method::POST,
                    &format!("/branches/{id}/meetings"),
                    Some(
                        json!({"kind": "group", "starts_at": starts.to_rfc3339(), "topic": topic}),
                    ),
                )
                .await;
            let no = m["no"].as_u64().unwrap();
            assert!(
                app.say1(ZHANG, &format!("签到 #{no}"))
                    .await
                    .contains("签到成功")
            );
            assert!(
                app.say1(SEC, &format!("结束会议 #{no}"))
                    .await
                    .contains("已结束")
            );
        }
    };
    hold("第一次").await;
    app.clock.advance(chrono::Duration::days(100));
    hold("第二次").await;

    // The monthly run after that: the 1st, 09:00 China time.
    let monthly = Recurrence {
        rule: Rule::Month {
            day: 1,
            at: chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        },
        timezone: chrono_tz::Asia::Shanghai,
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let next = monthly.next_after(app.clock.now()).unwrap();
    app.clock
        .advance(next - app.clock.now() + chrono::Duration::minutes(1));
    app.eventually(5, "warning", || async {
        app.mailbox("demo", "gc")
            .await
            .iter()
            .any(|t| t.contains("【谈心提示】"))
    })
    .await;
    let warning = app
        .mailbox("demo", "gc")
        .await
        .into_iter()
        .find(|t| t.contains("【谈心提示】"))
        .unwrap();
    assert!(
        warning.contains("李四") && warning.contains("赵六") && !warning.contains("张三"),
        "{warning}"
    );
    for text in app.mailbox("demo", "g1").await {
        assert!(!text.contains("谈心提示"), "never in the group: {text}");
    }
}

#[tokio::test]
async fn a_busy_chat_gets_one_check_in_digest_and_everyone_can_see_their_record() {
    let app = spawn_app().await;
    let (_, code) = app.create_branch("热闹支部").await;
    app.say1(SEC, &format!("绑定 {code}")).await;
    let people: Vec<(String, String)> = (0..15)
        .map(|i| (format!("u{i:02}"), format!("成员{i:02}")))
        .collect();
    for (user, name) in &people {
        let who = Who {
            chat: "g1",
            user,
            name,
        };
        app.say1(who, &format!("加入 {name}")).await;
        app.say1(SEC, &format!("批准 {name}")).await;
    }
    assert!(
        app.say1(SEC, "新建会议 党员大会 明天 19:30 年度总结")
            .await
            .contains("#1")
    );
    assert!(app.say1(SEC, "开始签到 #1 30").await.contains("签到已开放"));

    let mut acknowledged = 0;
    for (user, name) in &people[..14] {
        let replies = app
            .say(
                Who {
                    chat: "g1",
                    user,
                    name,
                },
                "签到",
            )
            .await;
        acknowledged += replies.len();
    }
    assert_eq!(
        acknowledged, 10,
        "past 10 in a minute, acknowledgements wait for the digest"
    );
    app.clock.advance(chrono::Duration::seconds(31));
    app.eventually(5, "digest", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.starts_with("新签到 4 人"))
    })
    .await;
    let digest = app
        .mailbox("demo", "g1")
        .await
        .into_iter()
        .find(|t| t.starts_with("新签到"))
        .unwrap();
    assert!(
        digest.contains("成员13") && !digest.contains("成员00"),
        "{digest}"
    );

    // A check-in after that digest went out is in the next one, not lost.
    assert!(
        app.say(
            Who {
                chat: "g1",
                user: "u14",
                name: "成员14"
            },
            "签到"
        )
        .await
        .is_empty()
    );
    app.clock.advance(chrono::Duration::seconds(31));
    app.eventually(5, "second digest", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.starts_with("新签到 1 人：成员14"))
    })
    .await;

    let status = app
        .say1(
            Who {
                chat: "g1",
                user: "u13",
                name: "成员13",
            },
            "签到状态",
        )
        .await;
    assert!(
        status.contains("#1") && status.contains("已签到（准时）"),
        "{status}"
    );
    let ended = app.say1(SEC, "结束会议 #1").await;
    assert!(
        ended.contains("实到 15 人"),
        "every check-in counted: {ended}"
    );
}

#[tokio::test]
async fn the_api_runs_a_meeting_like_chat_does_and_the_region_sees_one_board() {
    let app = spawn_app().await;
    let id = branch(&app).await;
    let starts = app.clock.now() + chrono::Duration::hours(3);
    let (_, m) = app
        .api(Method::POST, &format!("/branches/{id}/meetings"), Some(json!({"kind": "general_assembly", "starts_at": starts.to_rfc3339(), "topic": "年度会议"})))
        .await;
    let no = m["no"].as_u64().unwrap();
    let moved = starts - chrono::Duration::hours(2) - chrono::Duration::minutes(50);
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/branches/{id}/meetings/{no}"),
            Some(json!({"starts_at": moved.to_rfc3339()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.eventually(5, "moved told", || async {
        app.mailbox("demo", "g1")
            .await
            .iter()
            .any(|t| t.contains("【改期】"))
    })
    .await;
    assert!(
        app.say1(ZHANG, "签到").await.contains("签到成功"),
        "the new time opens check-in"
    );
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings/{no}/minutes"),
            Some(json!({"text": "通过了年度计划", "by": "王书记"})),
        )
        .await;
    assert_eq!(
        (status, body["minutes"][0]["by"].as_str()),
        (201, Some("王书记")),
        "{body}"
    );
    let (status, ended) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings/{no}/end"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["summary"]["attended"], 1);
    assert_eq!(ended["summary"]["quorum"]["met"], false, "{ended}");
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/branches/{id}/meetings/{no}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, 409, "an ended meeting cannot be cancelled");
    assert_eq!(
        app.api(
            Method::POST,
            &format!("/branches/{id}/meetings/999/end"),
            None
        )
        .await
        .0,
        404
    );

    let (status, board) = app.api(Method::GET, "/ledger/board", None).await;
    assert_eq!(status, 200, "{board}");
    let row = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["branch_id"] == id.as_str())
        .unwrap();
    assert_eq!(row["meetings_held"], 1, "{row}");
    let (_, token) = app
        .api(
            Method::POST,
            "/tokens",
            Some(json!({"scope": "branch", "branch_id": id})),
        )
        .await;
    let resp = app
        .client
        .get(format!("{}/api/v1/ledger/board", app.base))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "the board is the region's");
}
