//! The fault schedule of a chaos run, drawn up front from a seed so that a
//! run can be repeated: when kmirror is killed and how long it stays down,
//! when the relays cut kmirror's connections to which cluster and for how
//! long, and when a source and then a target broker are killed.
//!
//! Kills and cuts fall at random moments of the stream's window. Broker
//! faults are fixed points of it (the source's at a tenth, the target's at
//! half) and run one after the other: a broker restart takes a while, and
//! a second fault never starts before the first is over.

use std::fmt;
use std::time::Duration;

/// Which cluster a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// SIGKILL of kmirror at `at`; restarted `down` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kill {
    pub at: Duration,
    pub down: Duration,
}

/// Every connection of kmirror to `side` reset at `at`, and new ones
/// reset for `outage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub at: Duration,
    pub side: Side,
    pub outage: Duration,
}

/// The busiest non-controller leader of the mirrored topic on `side`
/// killed (SIGKILL) at `at` and restarted `down` after its partitions
/// have new leaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerFault {
    pub at: Duration,
    pub side: Side,
    pub down: Duration,
}

/// What happens during a run, times from the start of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub seed: u64,
    pub window: Duration,
    pub kills: Vec<Kill>,
    pub cuts: Vec<Cut>,
    pub broker_faults: Vec<BrokerFault>,
}

/// kmirror stays dead for up to this long after a kill.
const MAX_KILL_DOWN: Duration = Duration::from_secs(2);
/// A cut's outage lasts up to this long.
const MAX_OUTAGE: Duration = Duration::from_secs(3);
/// How long a killed broker stays down once its partitions moved.
const BROKER_DOWN: Duration = Duration::from_secs(10);

impl Schedule {
    /// `kills` kills and `cuts` cuts at random moments of `window` (not
    /// in its first or last twentieth), and with `broker_faults` a source
    /// then a target broker fault.
    pub fn plan(seed: u64, window: Duration, kills: u32, cuts: u32, broker_faults: bool) -> Self {
        let mut rng = SplitMix64(seed);
        let (from, to) = (window / 20, window * 19 / 20);
        let mut at = || from + (to - from).mul_f64(rng.unit());
        let mut kill_times: Vec<Duration> = (0..kills).map(|_| at()).collect();
        let mut cut_times: Vec<Duration> = (0..cuts).map(|_| at()).collect();
        kill_times.sort();
        cut_times.sort();
        let kills = kill_times
            .into_iter()
            .map(|at| Kill {
                at,
                down: MAX_KILL_DOWN.mul_f64(rng.unit()),
            })
            .collect();
        let first_side = if rng.next().is_multiple_of(2) {
            Side::Source
        } else {
            Side::Target
        };
        let cuts = cut_times
            .into_iter()
            .enumerate()
            .map(|(i, at)| Cut {
                at,
                side: match (first_side, i % 2) {
                    (side, 0) => side,
                    (Side::Source, _) => Side::Target,
                    (Side::Target, _) => Side::Source,
                },
                outage: MAX_OUTAGE.mul_f64(rng.unit()),
            })
            .collect();
        let broker_faults = if broker_faults {
            vec![
                BrokerFault {
                    at: window / 10,
                    side: Side::Source,
                    down: BROKER_DOWN,
                },
                BrokerFault {
                    at: window / 2,
                    side: Side::Target,
                    down: BROKER_DOWN,
                },
            ]
        } else {
            Vec::new()
        };
        Schedule {
            seed,
            window,
            kills,
            cuts,
            broker_faults,
        }
    }

    /// Kills and cuts merged in time order.
    pub fn quick_faults(&self) -> Vec<QuickFault> {
        let mut all: Vec<QuickFault> = self
            .kills
            .iter()
            .map(|k| QuickFault::Kill(*k))
            .chain(self.cuts.iter().map(|c| QuickFault::Cut(*c)))
            .collect();
        all.sort_by_key(QuickFault::at);
        all
    }
}

/// A fault that takes no time to do (the main loop's share).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuickFault {
    Kill(Kill),
    Cut(Cut),
}

impl QuickFault {
    pub fn at(&self) -> Duration {
        match self {
            QuickFault::Kill(k) => k.at,
            QuickFault::Cut(c) => c.at,
        }
    }
}

/// Sebastiano Vigna's SplitMix64: small, seedable, good enough to scatter
/// faults.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_inside_the_window() {
        let window = Duration::from_secs(200);
        let a = Schedule::plan(7, window, 20, 5, true);
        assert_eq!(a, Schedule::plan(7, window, 20, 5, true));
        assert_ne!(a, Schedule::plan(8, window, 20, 5, true));
        assert_eq!(
            (a.kills.len(), a.cuts.len(), a.broker_faults.len()),
            (20, 5, 2)
        );
        let faults = a.quick_faults();
        assert_eq!(faults.len(), 25);
        assert!(faults.windows(2).all(|w| w[0].at() <= w[1].at()));
        assert!(faults
            .iter()
            .all(|f| f.at() >= window / 20 && f.at() <= window * 19 / 20));
        assert!(a.kills.iter().all(|k| k.down <= MAX_KILL_DOWN));
        // Cuts alternate between the clusters.
        assert!(a.cuts.windows(2).all(|w| w[0].side != w[1].side));
        assert_eq!(a.broker_faults[0].side, Side::Source);
        assert!(Schedule::plan(7, window, 0, 0, false)
            .quick_faults()
            .is_empty());
    }
}
