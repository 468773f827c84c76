//! Logs and traces. `tracing` spans cover each request (gateway → swarm.call →
//! queue.wait → worker); with `telemetry.otlp.endpoint` set they are exported over OTLP
//! gRPC (Jaeger listens on 4317). Nothing is exported unless an endpoint is configured.
//! `telemetry.sample_ratio` keeps that share of new traces (parent-based head sampling).

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TraceContextExt as _;

use crate::config::TelemetryConfig;

/// Set once spans go to an OpenTelemetry layer that samples (ratio below 1): only then
/// does a root's sampling decision decide whether a request records spans at all.
static SAMPLING: AtomicBool = AtomicBool::new(false);

/// Says that spans are recorded by an OpenTelemetry layer whose sampler keeps
/// `sample_ratio` of new traces (done by [`init`] when an endpoint is configured; call it
/// when installing such a layer yourself). At ratio 1 every root is kept, and the per-root
/// decision is skipped.
pub fn mark_exporting(sample_ratio: f64) {
    SAMPLING.store(sample_ratio < 1.0, Ordering::Relaxed);
}

/// Whether a request whose root span is `root` records spans. A disabled span, or no
/// OpenTelemetry layer, keeps spans as they are (logs may use them); otherwise the
/// sampler's decision for the root — taken once, parent-based — holds for the whole
/// request, so an unsampled request creates no further spans and costs what an
/// untraced one does.
pub fn records(root: &tracing::Span) -> bool {
    if root.is_disabled() || !SAMPLING.load(Ordering::Relaxed) {
        return true;
    }
    root.context().span().span_context().is_sampled()
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("invalid telemetry.log filter `{0}`: {1}")]
    Filter(String, String),
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for `{0}`: {1}")]
    Exporter(String, String),
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Keeps the exporter alive; [`TelemetryGuard::shutdown`] flushes pending spans.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter (bounded by the SDK's export timeout).
    pub fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.force_flush();
            let _ = p.shutdown();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// The head sampler: `ratio` of new traces, and whatever an incoming `traceparent` says.
pub fn sampler(ratio: f64) -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
}

/// A tracer provider exporting over OTLP gRPC to `endpoint`, batching spans, recording
/// `sample_ratio` of new traces (parent-based).
pub fn otlp_provider(
    endpoint: &str,
    service_name: &str,
    sample_ratio: f64,
) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Exporter(endpoint.to_string(), e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_string())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler(sample_ratio))
        .with_resource(resource)
        .build())
}

static RECORD_CONTENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans may carry contents (`telemetry.record_content`; set by [`init`]).
pub fn record_content() -> bool {
    RECORD_CONTENT.load(Ordering::Relaxed)
}

/// Installs the global subscriber: logs to stderr filtered by `telemetry.log`, plus the
/// OTLP layer when an endpoint is configured.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    RECORD_CONTENT.store(config.record_content, Ordering::Relaxed);
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .map_err(|e| TelemetryError::Filter(config.log.clone(), e.to_string()))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let provider = match &config.otlp_endpoint {
        Some(endpoint) => Some(otlp_provider(
            endpoint,
            &config.service_name,
            config.sample_ratio,
        )?),
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("swarm")));
    let exporting = otel.is_some();
    tracing_subscriber::registry()
        .with(otel)
        .with(fmt.with_filter_fn(filter))
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInstalled(e.to_string()))?;
    if exporting {
        mark_exporting(config.sample_ratio);
    }
    Ok(TelemetryGuard { provider })
}

trait FmtLayerExt<S>: tracing_subscriber::Layer<S> + Sized
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn with_filter_fn(
        self,
        filter: tracing_subscriber::EnvFilter,
    ) -> tracing_subscriber::filter::Filtered<Self, tracing_subscriber::EnvFilter, S> {
        tracing_subscriber::Layer::with_filter(self, filter)
    }
}

impl<S, L> FmtLayerExt<S> for L
where
    L: tracing_subscriber::Layer<S>,
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
}

struct HeaderPair<'a>(Option<&'a str>);

impl Extractor for HeaderPair<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0).flatten()
    }
    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

struct Collect(Option<String>);

impl Injector for Collect {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}

/// Makes `span` a child of the remote span named by a W3C `traceparent` value.
/// An invalid value is ignored (the span stays a root), as the W3C spec asks.
pub fn set_remote_parent(span: &tracing::Span, traceparent: &str) {
    let cx = TraceContextPropagator::new().extract(&HeaderPair(Some(traceparent)));
    let _ = span.set_parent(cx);
}

/// The W3C `traceparent` of `span`, when spans are exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let mut out = Collect(None);
    TraceContextPropagator::new().inject_context(&span.context(), &mut out);
    out.0
}
