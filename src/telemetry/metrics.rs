//! Counters and histograms rendered in the Prometheus text format by `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::inbox::InboxCounts;
use crate::supervision::Role;

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS_SECS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// What happened to one incoming webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WebhookOutcome {
    Accepted,
    Duplicate,
    /// From an account no school monitors: acknowledged, not stored.
    Unmonitored,
    /// An event type chaperone does not use: acknowledged, not stored.
    Ignored,
    UrlValidation,
    /// Authentic but unreadable: stored set aside and acknowledged.
    SetAside,
    /// Refused, with the reason's stable label.
    Refused(&'static str),
    /// Could not be stored (answered 5xx so the platform retries).
    StoreFailed,
}

#[derive(Default)]
pub struct Metrics {
    webhooks: Mutex<BTreeMap<(&'static str, WebhookOutcome), u64>>,
    ack_latency: Histogram,
    processed: AtomicU64,
    processing_failures: AtomicU64,
    set_aside: AtomicU64,
    processing_latency: Histogram,
    alerts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    enrichment: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    role_restarts: [AtomicU64; Role::ALL.len()],
}

impl Metrics {
    pub fn record_webhook(
        &self,
        platform: &'static str,
        outcome: WebhookOutcome,
        elapsed: Duration,
    ) {
        *self
            .webhooks
            .lock()
            .expect("metrics lock")
            .entry((platform, outcome))
            .or_default() += 1;
        self.ack_latency.observe(elapsed);
    }

    pub fn record_processed(&self, latency: Duration) {
        self.processed.fetch_add(1, Ordering::Relaxed);
        self.processing_latency.observe(latency);
    }

    pub fn record_processing_failure(&self, set_aside: bool) {
        self.processing_failures.fetch_add(1, Ordering::Relaxed);
        if set_aside {
            self.set_aside.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one alert delivery attempt by channel and outcome (sent, retrying, failed).
    pub fn record_alert(&self, channel: &'static str, outcome: &'static str) {
        *self
            .alerts
            .lock()
            .expect("metrics lock")
            .entry((channel, outcome))
            .or_default() += 1;
    }

    /// Counts one platform API job attempt by kind and outcome (done, retrying, failed).
    pub fn record_enrichment(&self, kind: &'static str, outcome: &'static str) {
        *self
            .enrichment
            .lock()
            .expect("metrics lock")
            .entry((kind, outcome))
            .or_default() += 1;
    }

    /// Counts one restart of `role` after it panicked.
    pub fn record_role_restart(&self, role: Role) {
        self.role_restarts[role.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many webhook requests ended with `outcome` (for tests and the benchmark).
    pub fn webhook_count(&self, platform: &'static str, outcome: WebhookOutcome) -> u64 {
        self.webhooks
            .lock()
            .expect("metrics lock")
            .get(&(platform, outcome))
            .copied()
            .unwrap_or(0)
    }

    pub fn render(&self, inbox: InboxCounts) -> String {
        let mut out = String::new();
        let webhooks = self.webhooks.lock().expect("metrics lock").clone();

        let _ = writeln!(out, "# HELP chaperone_webhook_requests_total Webhook requests received, by platform and outcome.");
        let _ = writeln!(out, "# TYPE chaperone_webhook_requests_total counter");
        let mut received: BTreeMap<&str, u64> = BTreeMap::new();
        for ((platform, outcome), count) in &webhooks {
            *received.entry(platform).or_default() += count;
            let (label, reason) = match outcome {
                WebhookOutcome::Accepted => ("accepted", ""),
                WebhookOutcome::Duplicate => ("duplicate", ""),
                WebhookOutcome::Unmonitored => ("unmonitored_account", ""),
                WebhookOutcome::Ignored => ("ignored_event_type", ""),
                WebhookOutcome::UrlValidation => ("url_validation", ""),
                WebhookOutcome::SetAside => ("set_aside_unreadable", ""),
                WebhookOutcome::Refused(reason) => ("refused", *reason),
                WebhookOutcome::StoreFailed => ("store_failed", ""),
            };
            let _ = writeln!(
                out,
                "chaperone_webhook_requests_total{{platform=\"{platform}\",outcome=\"{label}\",reason=\"{reason}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# HELP chaperone_webhook_events_received_total Webhook requests received, by platform.");
        let _ = writeln!(
            out,
            "# TYPE chaperone_webhook_events_received_total counter"
        );
        for (platform, count) in received {
            let _ = writeln!(
                out,
                "chaperone_webhook_events_received_total{{platform=\"{platform}\"}} {count}"
            );
        }
        self.ack_latency.render(
            &mut out,
            "chaperone_webhook_ack_latency_seconds",
            "Time from a webhook request's arrival to its answer.",
        );

        let _ = writeln!(
            out,
            "# HELP chaperone_inbox_pending Events stored and not yet processed."
        );
        let _ = writeln!(out, "# TYPE chaperone_inbox_pending gauge");
        let _ = writeln!(out, "chaperone_inbox_pending {}", inbox.pending);
        let _ = writeln!(
            out,
            "# HELP chaperone_inbox_failed Events set aside after repeated processing failures."
        );
        let _ = writeln!(out, "# TYPE chaperone_inbox_failed gauge");
        let _ = writeln!(out, "chaperone_inbox_failed {}", inbox.failed);

        let _ = writeln!(
            out,
            "# HELP chaperone_events_processed_total Events applied to the meeting state."
        );
        let _ = writeln!(out, "# TYPE chaperone_events_processed_total counter");
        let _ = writeln!(
            out,
            "chaperone_events_processed_total {}",
            self.processed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP chaperone_event_processing_failures_total Failed attempts to apply an event."
        );
        let _ = writeln!(
            out,
            "# TYPE chaperone_event_processing_failures_total counter"
        );
        let _ = writeln!(
            out,
            "chaperone_event_processing_failures_total {}",
            self.processing_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP chaperone_events_set_aside_total Events set aside after their last failed attempt.");
        let _ = writeln!(out, "# TYPE chaperone_events_set_aside_total counter");
        let _ = writeln!(
            out,
            "chaperone_events_set_aside_total {}",
            self.set_aside.load(Ordering::Relaxed)
        );
        self.processing_latency.render(
            &mut out,
            "chaperone_event_processing_latency_seconds",
            "Time from an event's arrival to its being applied.",
        );
        let _ = writeln!(out, "# HELP chaperone_alert_deliveries_total Alert delivery attempts, by channel and outcome.");
        let _ = writeln!(out, "# TYPE chaperone_alert_deliveries_total counter");
        for ((channel, outcome), count) in self.alerts.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "chaperone_alert_deliveries_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# HELP chaperone_platform_api_jobs_total Platform API job attempts, by kind and outcome.");
        let _ = writeln!(out, "# TYPE chaperone_platform_api_jobs_total counter");
        for ((kind, outcome), count) in self.enrichment.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "chaperone_platform_api_jobs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP chaperone_role_restarts_total Restarts of a role after it panicked, by role."
        );
        let _ = writeln!(out, "# TYPE chaperone_role_restarts_total counter");
        for role in Role::ALL {
            let _ = writeln!(
                out,
                "chaperone_role_restarts_total{{role=\"{role}\"}} {}",
                self.role_restarts[role.index()].load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS_SECS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS_SECS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            elapsed.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS_SECS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.record_processed(Duration::from_millis(3));
        metrics.record_processed(Duration::from_millis(300));
        let text = metrics.render(InboxCounts::default());
        assert!(text.contains("chaperone_event_processing_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("chaperone_event_processing_latency_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("chaperone_event_processing_latency_seconds_count 2"));
        assert!(text.contains("chaperone_events_processed_total 2"));
    }

    #[test]
    fn refusals_are_counted_by_reason() {
        let metrics = Metrics::default();
        metrics.record_webhook(
            "zoom",
            WebhookOutcome::Refused("signature_mismatch"),
            Duration::ZERO,
        );
        metrics.record_webhook("zoom", WebhookOutcome::Accepted, Duration::ZERO);
        let text = metrics.render(InboxCounts::default());
        assert!(text.contains(
            "chaperone_webhook_requests_total{platform=\"zoom\",outcome=\"refused\",reason=\"signature_mismatch\"} 1"
        ));
        assert!(text.contains("chaperone_webhook_events_received_total{platform=\"zoom\"} 2"));
    }
}
