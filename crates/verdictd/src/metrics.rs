//! Prometheus metrics (text exposition format 0.0.4), kept by hand: three families do not
//! justify a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the handshake latency histogram.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The counters and the histogram.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    attestations: Mutex<BTreeMap<(String, &'static str), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    *map.entry(key).or_insert(0) += 1;
}

impl Metrics {
    /// Count a request by route template and status.
    pub fn request(&self, route: &str, status: u16) {
        bump(&self.requests, (route.to_owned(), status));
    }

    /// Count an attestation by tee (`sgx`, `sim`, `tdx`, `sample`) and result.
    pub fn attestation(&self, tee: &str, result: &'static str) {
        bump(&self.attestations, (tee.to_owned(), result));
    }

    /// Record a full handshake (`/auth` to token).
    pub fn handshake(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, counter) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP verdictd_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE verdictd_http_requests_total counter\n");
        for ((route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "verdictd_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP verdictd_attestations_total Attestations by tee and result.\n");
        out.push_str("# TYPE verdictd_attestations_total counter\n");
        for ((tee, result), n) in self
            .attestations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "verdictd_attestations_total{{tee=\"{}\",result=\"{result}\"}} {n}",
                escape(tee)
            );
        }
        out.push_str("# HELP verdictd_handshake_seconds Time from /auth to an issued token.\n");
        out.push_str("# TYPE verdictd_handshake_seconds histogram\n");
        for (bound, counter) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "verdictd_handshake_seconds_bucket{{le=\"{bound}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "verdictd_handshake_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = Duration::from_micros(self.sum_micros.load(Ordering::Relaxed)).as_secs_f64();
        let _ = writeln!(out, "verdictd_handshake_seconds_sum {sum}");
        let _ = writeln!(out, "verdictd_handshake_seconds_count {count}");
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request("/kbs/v0/auth", 200);
        m.request("/kbs/v0/auth", 200);
        m.attestation("sim", "affirming");
        m.handshake(Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("verdictd_http_requests_total{route=\"/kbs/v0/auth\",status=\"200\"} 2")
        );
        assert!(text.contains("verdictd_attestations_total{tee=\"sim\",result=\"affirming\"} 1"));
        assert!(text.contains("verdictd_handshake_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("verdictd_handshake_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("verdictd_handshake_seconds_count 1"));
    }
}
