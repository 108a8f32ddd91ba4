//! The DynamoDB clients of a process ([`DynamoDbClients`]) and their request counts
//! ([`RequestStats`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use tokio::sync::OnceCell;

/// The region used when neither the URI nor the AWS configuration names one (as cogeo-mosaic).
const FALLBACK_REGION: &str = "us-east-1";

/// Requests sent to DynamoDB through one [`DynamoDbClients`], per operation (`GetItem`,
/// `Query`, ...), counted per HTTP attempt, so retries show.
#[derive(Debug, Default)]
pub struct RequestStats {
    counts: Mutex<BTreeMap<String, u64>>,
    items_read: std::sync::atomic::AtomicU64,
}

impl RequestStats {
    /// Requests of operation `op` so far.
    pub fn count(&self, op: &str) -> u64 {
        self.lock().get(op).copied().unwrap_or(0)
    }

    /// All requests so far.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// Counts per operation.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// Items read so far: those answers returned (`GetItem`, `Query`, `Scan`,
    /// `BatchGetItem`, old values of `UpdateItem`) and the item each `TransactWriteItems`
    /// condition check reads.
    pub fn items_read(&self) -> u64 {
        self.items_read.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.lock().clear();
        self.items_read
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }

    fn add_items(&self, n: usize) {
        self.items_read
            .fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An SDK interceptor counting every request a client transmits into a [`RequestStats`],
/// keyed by the `X-Amz-Target` operation. [`DynamoDbClients`] adds one to its clients; add
/// another to a client of your own to count what it sends.
#[derive(Debug)]
pub struct CountRequests(Arc<RequestStats>);

impl CountRequests {
    /// Counts into `stats`.
    pub fn new(stats: Arc<RequestStats>) -> CountRequests {
        CountRequests(stats)
    }
}

impl Intercept for CountRequests {
    fn name(&self) -> &'static str {
        "CountRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string();
        if op == "TransactWriteItems" {
            // Our transactions hold one condition check (the asset record) each.
            self.0.add_items(1);
        }
        *self.0.lock().entry(op).or_insert(0) += 1;
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        use aws_sdk_dynamodb::operation as op;
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let n = if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
            usize::from(o.item.is_some())
        } else if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
            o.items.as_ref().map_or(0, Vec::len)
        } else if let Some(o) = output.downcast_ref::<op::scan::ScanOutput>() {
            o.items.as_ref().map_or(0, Vec::len)
        } else if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
            o.responses
                .as_ref()
                .map_or(0, |r| r.values().map(Vec::len).sum())
        } else if let Some(o) = output.downcast_ref::<op::update_item::UpdateItemOutput>() {
            usize::from(o.attributes.as_ref().is_some_and(|a| !a.is_empty()))
        } else {
            0
        };
        self.0.add_items(n);
        Ok(())
    }
}

/// DynamoDB clients of one process: built once (from the environment at the edges, or
/// injected), one per region. Cloning shares them (an `Arc` inside); every request they
/// send is counted in [`DynamoDbClients::stats`].
#[derive(Clone, Debug)]
pub struct DynamoDbClients(Arc<Clients>);

#[derive(Debug)]
struct Clients {
    source: Source,
    /// The client of each region, built on its first use.
    by_region: Mutex<HashMap<String, Client>>,
    stats: Arc<RequestStats>,
}

#[derive(Debug)]
enum Source {
    /// The standard AWS configuration chain (environment, profiles, instance metadata),
    /// loaded on first use: its credentials provider and HTTP client (and connection pool)
    /// are shared by every region's client.
    Env(Box<OnceCell<aws_config::SdkConfig>>),
    /// One client for every region.
    Injected(Client),
}

impl DynamoDbClients {
    /// Clients from the standard AWS configuration chain (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, profiles...), loaded on first use.
    /// A URI without a region uses the configuration's region, else `us-east-1`.
    pub fn from_env() -> Self {
        Self::with_source(Source::Env(Box::default()), Arc::default())
    }

    /// Every region uses `client` (tests, fakes, a client configured by the caller). Its
    /// configuration is kept as it is (endpoint, credentials, interceptors), with a request
    /// counter added for [`DynamoDbClients::stats`]; its region is the default one.
    pub fn with_client(client: Client) -> Self {
        let stats: Arc<RequestStats> = Arc::default();
        let conf = client
            .config()
            .to_builder()
            .interceptor(CountRequests(stats.clone()))
            .build();
        Self::with_source(Source::Injected(Client::from_conf(conf)), stats)
    }

    fn with_source(source: Source, stats: Arc<RequestStats>) -> Self {
        DynamoDbClients(Arc::new(Clients {
            source,
            by_region: Mutex::new(HashMap::new()),
            stats,
        }))
    }

    /// The client for `region` (`None`: the default region), built on its first use.
    pub async fn client(&self, region: Option<&str>) -> Client {
        let sdk = match &self.0.source {
            Source::Injected(client) => return client.clone(),
            Source::Env(cell) => cell.get_or_init(load_sdk_config).await,
        };
        let region = region
            .map(str::to_string)
            .unwrap_or_else(|| default_region(sdk.region()));
        let mut clients = self.0.by_region.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region)
            .or_insert_with_key(|region| {
                let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
                    .region(Region::new(region.clone()))
                    .interceptor(CountRequests(self.0.stats.clone()))
                    .build();
                Client::from_conf(conf)
            })
            .clone()
    }

    /// The region of a URI that names none: the configuration's, else `us-east-1`.
    pub async fn default_region(&self) -> String {
        match &self.0.source {
            Source::Injected(client) => default_region(client.config().region()),
            Source::Env(cell) => default_region(cell.get_or_init(load_sdk_config).await.region()),
        }
    }

    /// Requests sent so far through these clients.
    pub fn stats(&self) -> Arc<RequestStats> {
        self.0.stats.clone()
    }
}

/// The AWS configuration chain, with timeouts on every call (the SDK sets none by default:
/// a stalled connection would hold an invocation until Lambda kills it). Throttling, 5xx and
/// timeouts are retried by the SDK's standard mode: 3 attempts, jittered exponential backoff.
async fn load_sdk_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(3))
        .operation_attempt_timeout(std::time::Duration::from_secs(10))
        .operation_timeout(std::time::Duration::from_secs(30))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

fn default_region(configured: Option<&Region>) -> String {
    configured
        .map(|r| r.as_ref().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| FALLBACK_REGION.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(region: Option<&str>) -> Client {
        let mut conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest());
        if let Some(r) = region {
            conf = conf.region(Region::new(r.to_string()));
        }
        Client::from_conf(conf.build())
    }

    #[tokio::test]
    async fn injected_client_serves_every_region() {
        let clients = DynamoDbClients::with_client(client(Some("ap-southeast-3")));
        assert_eq!(clients.default_region().await, "ap-southeast-3");
        for region in [None, Some("eu-west-1")] {
            let c = clients.client(region).await;
            assert_eq!(
                c.config().region().map(|r| r.as_ref()),
                Some("ap-southeast-3")
            );
        }
        let clients = DynamoDbClients::with_client(client(None));
        assert_eq!(clients.default_region().await, "us-east-1");
        assert_eq!(clients.stats().total(), 0);
    }
}
