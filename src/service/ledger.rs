//! The region's view of the 三会一课 ledgers: every branch's standing for one period.

use serde::Serialize;

use super::{Result, Services};
use crate::domain::{
    BranchId,
    ledger::{Cadence, Period, UnitStatus},
};

/// One branch's line on the region board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardRow {
    /// The branch.
    pub branch_id: BranchId,
    /// Its name.
    pub name: String,
    /// The period judged (`2026-Q4`).
    pub period: String,
    /// Units whose period is over without them.
    pub missed: usize,
    /// Units still open but unlikely to be met in time.
    pub at_risk: usize,
    /// Units still open.
    pub due: usize,
    /// Units met.
    pub met: usize,
    /// Meetings held in the period.
    pub meetings_held: usize,
}

impl Services {
    /// Every branch's standing for `period` (each branch's current quarter when `None`),
    /// missed and at-risk first, so the branches that need a call are at the top.
    pub async fn region_board(&self, period: Option<Period>) -> Result<Vec<BoardRow>> {
        let now = self.clock.now();
        let (branches, _) = self.list_branches(0, usize::MAX).await?;
        let mut rows = Vec::with_capacity(branches.len());
        for branch in branches {
            let period =
                period.unwrap_or_else(|| Period::current(Cadence::Quarterly, now, branch.timezone));
            let ledger = self.ledger(&branch, period).await?;
            rows.push(BoardRow {
                branch_id: branch.id,
                name: branch.name,
                period: period.label(),
                missed: ledger.count(UnitStatus::Missed),
                at_risk: ledger.count(UnitStatus::AtRisk),
                due: ledger.count(UnitStatus::Due),
                met: ledger.count(UnitStatus::Met),
                meetings_held: ledger.meetings.len(),
            });
        }
        rows.sort_by_key(|r| (std::cmp::Reverse(r.missed), std::cmp::Reverse(r.at_risk)));
        Ok(rows)
    }
}
