//! Retransmission timeout as in RFC 6298: SRTT and RTTVAR from samples
//! (alpha 1/8, beta 1/4, K = 4), clamped to `[min, max]`, with doubling
//! backoff per retransmission of a fragment. RTT samples follow Karn's rule:
//! only fragments acked after a single transmission are measured (the caller
//! enforces it).

/// RTO bounds and the value before the first sample (all microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoConfig {
    pub initial_us: u64,
    pub min_us: u64,
    pub max_us: u64,
    /// Clock granularity G of RFC 6298 §2.
    pub granularity_us: u64,
}

impl Default for RtoConfig {
    /// Values for a LAN cluster: RFC 6298's 1 s minimum is meant for the
    /// Internet and would make every loss cost a second here.
    fn default() -> Self {
        RtoConfig { initial_us: 100_000, min_us: 5_000, max_us: 1_000_000, granularity_us: 1_000 }
    }
}

/// Estimator state for one peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RtoEstimator {
    config: RtoConfig,
    srtt_us: Option<f64>,
    rttvar_us: f64,
    rto_us: u64,
}

impl RtoEstimator {
    pub fn new(config: RtoConfig) -> Self {
        let rto_us = config.initial_us.clamp(config.min_us, config.max_us);
        RtoEstimator { config, srtt_us: None, rttvar_us: 0.0, rto_us }
    }

    /// RFC 6298 §2.2 (first sample) and §2.3 (later samples).
    pub fn on_sample(&mut self, rtt_us: u64) {
        let r = rtt_us as f64;
        let (srtt, rttvar) = match self.srtt_us {
            None => (r, r / 2.0),
            Some(srtt) => {
                let rttvar = 0.75 * self.rttvar_us + 0.25 * (srtt - r).abs();
                (0.875 * srtt + 0.125 * r, rttvar)
            }
        };
        self.srtt_us = Some(srtt);
        self.rttvar_us = rttvar;
        let rto = srtt + (self.config.granularity_us as f64).max(4.0 * rttvar);
        self.rto_us = (rto as u64).clamp(self.config.min_us, self.config.max_us);
    }

    /// The current RTO (before backoff).
    pub fn rto_us(&self) -> u64 {
        self.rto_us
    }

    /// The RTO after `retries` timeouts of the same fragment: doubled each
    /// time (RFC 6298 §5.5), never above the maximum.
    pub fn backed_off_us(&self, retries: u32) -> u64 {
        let factor = 1u64 << retries.min(20);
        self.rto_us.saturating_mul(factor).min(self.config.max_us)
    }

    /// Smoothed RTT, once there is a sample.
    pub fn srtt_us(&self) -> Option<u64> {
        self.srtt_us.map(|s| s as u64)
    }

    pub fn rttvar_us(&self) -> u64 {
        self.rttvar_us as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RtoConfig {
        RtoConfig { initial_us: 1_000_000, min_us: 1_000, max_us: 60_000_000, granularity_us: 100 }
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut e = RtoEstimator::new(cfg());
        assert_eq!(e.rto_us(), 1_000_000);
        e.on_sample(10_000);
        assert_eq!(e.srtt_us(), Some(10_000));
        assert_eq!(e.rttvar_us(), 5_000);
        assert_eq!(e.rto_us(), 30_000); // SRTT + 4 * RTTVAR
    }

    #[test]
    fn later_samples_smooth() {
        let mut e = RtoEstimator::new(cfg());
        e.on_sample(10_000);
        e.on_sample(20_000);
        // RTTVAR = 3/4 * 5000 + 1/4 * |10000 - 20000| = 6250
        // SRTT = 7/8 * 10000 + 1/8 * 20000 = 11250
        assert_eq!(e.rttvar_us(), 6_250);
        assert_eq!(e.srtt_us(), Some(11_250));
        assert_eq!(e.rto_us(), 36_250);
    }

    #[test]
    fn clamped_to_min_and_max_and_backoff_doubles() {
        let mut e = RtoEstimator::new(cfg());
        for _ in 0..50 {
            e.on_sample(10);
        }
        assert_eq!(e.rto_us(), 1_000);
        assert_eq!(e.backed_off_us(0), 1_000);
        assert_eq!(e.backed_off_us(1), 2_000);
        assert_eq!(e.backed_off_us(3), 8_000);
        assert_eq!(e.backed_off_us(40), 60_000_000);
    }
}
