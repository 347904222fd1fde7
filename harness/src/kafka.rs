//! Kafka for a run: librdkafka's mock cluster owned by the harness process (the default), or an
//! external cluster by bootstrap address.
//!
//! The mock cluster's brokers are real TCP listeners on 127.0.0.1, so the cluster and task
//! processes connect to it like to any broker. Its group coordinator normally waits 3 s before
//! the first rebalance; [`Broker::embedded`] sets that delay to 0 (FIELD-NOTES). The mock is not
//! `Send`, so one thread owns it for the life of the run and serves requests over a channel.

use crate::error::{HarnessError, Result};
use crate::time::TimeScale;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer as _};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

enum Request {
    CreateTopic { name: String, partitions: i32, reply: mpsc::Sender<Result<()>> },
    Available { up: bool, reply: mpsc::Sender<Result<()>> },
    RefuseOffsetCommits { refuse: bool, reply: mpsc::Sender<Result<()>> },
    RoundTrip { delay: Duration, reply: mpsc::Sender<Result<()>> },
    FailSome { on: bool, reply: mpsc::Sender<Result<()>> },
    HoldOffsetCommitAnswer { hold: Duration, reply: mpsc::Sender<Result<()>> },
    HeldOffsetCommitAnswers { reply: mpsc::Sender<Result<usize>> },
    Shutdown,
}

/// Where a Kafka partition's position is kept.
pub fn partition_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The end offset (high watermark) of each of `partitions` of `topic`, keyed by
/// [`partition_key`], in one ListOffsets request: librdkafka's `query_watermark_offsets` sends
/// two per partition (its low and high ends), and a query asks at every trigger.
pub fn end_offsets(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> rdkafka::error::KafkaResult<crate::history::Positions> {
    use rdkafka::{Offset, TopicPartitionList};
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        // Asked for by timestamp: `End` (-1) is "the latest offset".
        tpl.add_partition_offset(topic, *p, Offset::End)?;
    }
    let ends = consumer.offsets_for_times(tpl, timeout)?;
    ends.elements()
        .iter()
        .map(|e| {
            e.error()?;
            match e.offset() {
                Offset::Offset(o) => Ok((partition_key(topic, e.partition()), o)),
                _ => Err(rdkafka::error::KafkaError::OffsetFetch(rdkafka::types::RDKafkaErrorCode::OffsetNotAvailable)),
            }
        })
        .collect()
}

/// The run's Kafka.
#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    embedded: Option<Embedded>,
}

#[derive(Debug)]
struct Embedded {
    requests: mpsc::Sender<Request>,
    thread: Option<JoinHandle<()>>,
}

impl Broker {
    /// Starts librdkafka's mock cluster on a thread of this process.
    pub fn embedded() -> Result<Broker> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String>>();
        let thread = std::thread::Builder::new()
            .name("loudfail-broker".into())
            .spawn(move || own_mock_cluster(rx, ready_tx))
            .map_err(|e| HarnessError::broker(format!("cannot start the broker thread: {e}")))?;
        let bootstrap = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| HarnessError::broker("the mock cluster did not start within 10 s"))??;
        let broker = Broker { bootstrap, embedded: Some(Embedded { requests: tx, thread: Some(thread) }) };
        broker.check(Duration::from_secs(10))?;
        Ok(broker)
    }

    /// An external cluster at `bootstrap`, which must answer within `timeout`.
    pub fn external(bootstrap: &str, timeout: Duration) -> Result<Broker> {
        let broker = Broker { bootstrap: bootstrap.to_string(), embedded: None };
        broker.check(timeout).map_err(|e| {
            let why = match e {
                HarnessError::Broker { problem, .. } => problem,
                other => other.to_string(),
            };
            broker.external_error(format!("the broker at {bootstrap} did not answer: {why}"), "start it")
        })?;
        Ok(broker)
    }

    /// A problem with the user's own broker (`--broker`): its help is about that broker, with
    /// `fix` first, not about the embedded one.
    fn external_error(&self, problem: String, fix: &str) -> HarnessError {
        HarnessError::Broker { problem, help: format!("{fix}, or drop --broker to use the embedded one") }
    }

    /// Where clients connect.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// True for the embedded mock cluster.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// A client configuration pointing at this broker.
    pub fn client_config(&self) -> ClientConfig {
        client_config(&self.bootstrap)
    }

    /// Fetches metadata: the broker answers, or this is an error.
    pub fn check(&self, timeout: Duration) -> Result<()> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", "loudfail-check")
            .create()
            .map_err(|e| HarnessError::broker(e.to_string()))?;
        let consumer = Closing::new(consumer);
        consumer.get().fetch_metadata(None, timeout).map_err(|e| HarnessError::broker(e.to_string()))?;
        Ok(())
    }

    /// Asks the embedded broker to change what it does; an external broker cannot be `what`
    /// (`taken down`) by loudfail.
    async fn ask(&self, what: &str, request: impl FnOnce(mpsc::Sender<Result<()>>) -> Request) -> Result<()> {
        match &self.embedded {
            Some(e) => Self::send(e, request).await,
            None => Err(self.not_ours(what)),
        }
    }

    /// Asks the thread that owns the mock cluster to do something, and awaits its answer.
    async fn send<T: Send + 'static>(
        e: &Embedded,
        request: impl FnOnce(mpsc::Sender<Result<T>>) -> Request,
    ) -> Result<T> {
        let (reply, rx) = mpsc::channel();
        e.requests.send(request(reply)).map_err(|_| HarnessError::broker("the broker thread is gone"))?;
        tokio::task::spawn_blocking(move || rx.recv())
            .await
            .map_err(|e| HarnessError::broker(e.to_string()))?
            .map_err(|_| HarnessError::broker("the broker thread is gone"))?
    }

    /// Takes the embedded broker down — its listener stops answering, every client sees its
    /// connections fail — or brings it back up. An external broker cannot be.
    pub async fn set_available(&self, up: bool) -> Result<()> {
        self.ask("taken down", |reply| Request::Available { up, reply }).await
    }

    /// Makes the embedded broker refuse (with a retriable error, as a coordinator that is
    /// loading does) every consumer group's offset commits, or accept them again. A consumer that
    /// records its progress there waits, retrying, while it is refused.
    pub async fn refuse_offset_commits(&self, refuse: bool) -> Result<()> {
        self.ask("made to refuse offset commits", |reply| Request::RefuseOffsetCommits { refuse, reply }).await
    }

    /// Delays every answer of the embedded broker by `delay` (zero: none), as a congested
    /// network or an overloaded broker would.
    pub async fn set_round_trip(&self, delay: Duration) -> Result<()> {
        self.ask("slowed down", |reply| Request::RoundTrip { delay, reply }).await
    }

    /// Makes the embedded broker answer one in three fetch and produce requests with a retriable
    /// error (the leader moved, the request timed out), or stop doing so: a broker in trouble
    /// that clients are meant to retry through.
    pub async fn fail_some_requests(&self, on: bool) -> Result<()> {
        self.ask("made to fail requests", |reply| Request::FailSome { on, reply }).await
    }

    /// Makes the embedded broker take the next consumer-group offset commit at once and answer
    /// it only `hold` later: a consumer that waits for the answer is caught between its commit
    /// and what follows it. See [`Broker::offset_commit_taken`].
    pub async fn hold_next_offset_commit_answer(&self, hold: Duration) -> Result<()> {
        self.ask("made to hold an answer", |reply| Request::HoldOffsetCommitAnswer { hold, reply }).await
    }

    /// Whether the offset commit [`Broker::hold_next_offset_commit_answer`] waits for has come.
    pub async fn offset_commit_taken(&self) -> Result<bool> {
        match &self.embedded {
            Some(e) => Ok(Self::send(e, |reply| Request::HeldOffsetCommitAnswers { reply }).await? == 0),
            None => Err(self.not_ours("asked about its requests")),
        }
    }

    fn not_ours(&self, what: &str) -> HarnessError {
        HarnessError::unsupported(
            format!("the external broker at {} cannot be {what} by loudfail", self.bootstrap),
            "drop --broker to use the embedded one",
        )
    }

    /// Creates a topic.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        match &self.embedded {
            Some(e) => Self::send(e, |reply| Request::CreateTopic { name: name.into(), partitions, reply }).await,
            None => {
                let admin: AdminClient<DefaultClientContext> = self.client_config().create()?;
                let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
                let results = admin.create_topics([&topic], &AdminOptions::new()).await?;
                for r in results {
                    r.map_err(|(t, e)| {
                        let fix = format!("let loudfail create topics on the broker at {}", self.bootstrap);
                        self.external_error(format!("cannot create topic {t}: {e}"), &fix)
                    })?;
                }
                Ok(())
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(e) = self.embedded.as_mut() {
            let _ = e.requests.send(Request::Shutdown);
            if let Some(t) = e.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// The base configuration of every client of a run: loopback only, quick to notice a dead
/// broker, and quick to find it back. librdkafka's reconnect backoff grows to 10 s by default:
/// after an outage, clients would come back seconds after the broker did, and the job's restart
/// would be measured against librdkafka's backoff instead of the job's own.
pub fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.connection.setup.timeout.ms", "1000")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "100")
        .set("log_level", "3");
    c
}

/// librdkafka's retry timers, set to their defaults in the run's nominal time. They are real
/// time: after a retriable error a partition's fetches wait `fetch.error.backoff.ms` (500 ms), a
/// retried request `retry.backoff.ms` (100 ms, doubling up to `retry.backoff.max.ms`, 1 s), and
/// a partition that lost its leader is looked up again at that pace. At 600:1 the 500 ms alone
/// are five nominal minutes: a pipeline riding out `broker-errors` stalled 0.6-0.7 s (six
/// nominal minutes) after a few failed fetches, past a second under load, against the ten
/// minutes' silence bound. Scaled like the pipeline's other timers, a retry takes at 600:1 what
/// it takes a real job at 1:1 (at least a millisecond, librdkafka's floor).
pub fn nominal_retry_timers(config: &mut ClientConfig, scale: TimeScale) -> &mut ClientConfig {
    let ms = |default: u64| scale.real(Duration::from_millis(default)).as_millis().max(1).to_string();
    config.set("fetch.error.backoff.ms", ms(500)).set("retry.backoff.ms", ms(100)).set("retry.backoff.max.ms", ms(1000))
}

/// A producer that waits for every record's delivery.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Producer")
    }
}

impl Producer {
    /// A producer for `bootstrap`.
    pub fn new(bootstrap: &str) -> Result<Producer> {
        // A produce request in flight when the broker went away is retried after it times out:
        // the records' remaining `message.timeout.ms`, capped by `socket.timeout.ms` (60 s by
        // default). Measured on the embedded broker: one sent on the connection the broker was
        // closing as it went down was never answered nor failed, and its records timed out 10 s
        // later although the broker had been back for 9.7 s. The broker is local and the
        // requests small: a second is long for an answer.
        let inner = client_config(bootstrap)
            .set("linger.ms", "2")
            .set("socket.timeout.ms", "1000")
            .set("message.timeout.ms", "10000")
            .create()?;
        Ok(Producer { inner })
    }

    /// Sends every `(key, payload)` to `topic` and waits until all are delivered.
    pub async fn send_all(&self, topic: &str, payloads: Vec<(String, Vec<u8>)>) -> Result<()> {
        let sends = payloads
            .iter()
            .map(|(key, p)| self.inner.send(FutureRecord::to(topic).key(key).payload(p), Duration::from_secs(10)));
        for r in futures::future::join_all(sends).await {
            r.map_err(|(e, _)| HarnessError::broker(format!("producing to {topic}: {e}")))?;
        }
        Ok(())
    }
}

fn own_mock_cluster(requests: mpsc::Receiver<Request>, ready: mpsc::Sender<Result<String>>) {
    let owner: BaseProducer = match ClientConfig::new().set("test.mock.num.brokers", "1").set("log_level", "3").create()
    {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(HarnessError::broker(format!("cannot create the mock cluster: {e}"))));
            return;
        }
    };
    let Some(mock) = owner.client().mock_cluster() else {
        let _ = ready.send(Err(HarnessError::broker("librdkafka created no mock cluster")));
        return;
    };
    remove_initial_rebalance_delay(owner.client());
    let _ = ready.send(Ok(mock.bootstrap_servers()));
    while let Ok(req) = requests.recv() {
        match req {
            Request::CreateTopic { name, partitions, reply } => {
                let r = mock
                    .create_topic(&name, partitions, 1)
                    .map_err(|e| HarnessError::broker(format!("cannot create topic {name}: {e}")));
                let _ = reply.send(r);
            }
            Request::Available { up, reply } => {
                // The mock cluster's brokers are numbered from 1; it has one.
                // Down closes the listener and binds its port again at once: never while a
                // child being started holds a copy of it.
                let r = if up { mock.broker_up(1) } else { crate::forks::closing_sockets(|| mock.broker_down(1)) };
                let _ = reply.send(r.map_err(|e| HarnessError::broker(format!("cannot set the broker up={up}: {e}"))));
            }
            Request::RefuseOffsetCommits { refuse, reply } => {
                use rdkafka_sys::types::{RDKafkaApiKey, RDKafkaRespErr};
                mock.clear_request_errors(RDKafkaApiKey::OffsetCommit);
                if refuse {
                    // Each refused request takes one; librdkafka retries every 100 ms or so.
                    let errors = [RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS; 1000];
                    mock.request_errors(RDKafkaApiKey::OffsetCommit, &errors);
                }
                let _ = reply.send(Ok(()));
            }
            Request::RoundTrip { delay, reply } => {
                let r = mock.broker_round_trip_time(1, delay);
                let _ = reply.send(r.map_err(|e| HarnessError::broker(format!("cannot delay the broker: {e}"))));
            }
            Request::FailSome { on, reply } => {
                use rdkafka_sys::types::{RDKafkaApiKey, RDKafkaRespErr};
                for api in [RDKafkaApiKey::Fetch, RDKafkaApiKey::Produce] {
                    mock.clear_request_errors(api);
                    if on {
                        // Each request takes the next; NO_ERROR lets one through. Enough for
                        // minutes of requests; cleared when the trouble ends.
                        let errors: Vec<RDKafkaRespErr> = (0..2000)
                            .map(|i| match i % 6 {
                                0 => RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                3 => RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                _ => RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR,
                            })
                            .collect();
                        mock.request_errors(api, &errors);
                    }
                }
                let _ = reply.send(Ok(()));
            }
            Request::HoldOffsetCommitAnswer { hold, reply } => {
                let _ = reply.send(hold_offset_commit_answer(owner.client(), hold));
            }
            Request::HeldOffsetCommitAnswers { reply } => {
                let _ = reply.send(held_offset_commit_answers(owner.client()));
            }
            Request::Shutdown => break,
        }
    }
    drop(mock);
    let _ = owner.flush(Duration::from_millis(100));
}

/// The mock cluster `client` owns, for librdkafka's mock API (which rdkafka does not wrap
/// whole). `client` was created with `test.mock.num.brokers`, so the cluster lives as long as
/// it: use the pointer only while `client` lives, on the thread that owns it.
#[allow(unsafe_code)]
fn mock_of<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
) -> Result<*mut rdkafka_sys::rd_kafka_mock_cluster_t> {
    // SAFETY: `native_ptr` is a live handle for as long as `client`; this only reads it.
    let mcluster = unsafe { rdkafka_sys::rd_kafka_handle_mock_cluster(client.native_ptr()) };
    if mcluster.is_null() {
        return Err(HarnessError::broker("librdkafka has no mock cluster"));
    }
    Ok(mcluster)
}

/// Sets the mock group coordinator's initial rebalance delay to 0 (it is 3 s by default, which
/// every consumer-group start would pay).
#[allow(unsafe_code)]
fn remove_initial_rebalance_delay<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>) {
    if let Ok(mcluster) = mock_of(client) {
        // SAFETY: the cluster lives as long as `client` (see `mock_of`).
        unsafe { rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(mcluster, 0) };
    }
}

/// Pushes one answer delay for the next OffsetCommit request on the mock cluster's broker: the
/// request is carried out at once (librdkafka's mock applies a request with no error before it
/// answers) and its answer sent `hold` later.
#[allow(unsafe_code)]
fn hold_offset_commit_answer<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    hold: Duration,
) -> Result<()> {
    use rdkafka_sys::types::{RDKafkaApiKey, RDKafkaRespErr};
    let rtt_ms = std::os::raw::c_int::try_from(hold.as_millis()).unwrap_or(std::os::raw::c_int::MAX);
    let mcluster = mock_of(client)?;
    // SAFETY: the cluster lives as long as `client` (see `mock_of`); the variadic arguments are
    // one (error, rtt) pair of C ints, as `cnt` says.
    let err = unsafe {
        rdkafka_sys::rd_kafka_mock_broker_push_request_error_rtts(
            mcluster,
            1,
            RDKafkaApiKey::OffsetCommit as i16,
            1,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR as std::os::raw::c_int,
            rtt_ms,
        )
    };
    match err {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
        e => Err(HarnessError::broker(format!("cannot hold an offset commit's answer: {e:?}"))),
    }
}

/// How many answer delays pushed by [`hold_offset_commit_answer`] no request has taken yet.
#[allow(unsafe_code)]
fn held_offset_commit_answers<C: rdkafka::ClientContext>(client: &rdkafka::client::Client<C>) -> Result<usize> {
    use rdkafka_sys::types::{RDKafkaApiKey, RDKafkaRespErr};
    let mut count = 0usize;
    let mcluster = mock_of(client)?;
    // SAFETY: the cluster lives as long as `client` (see `mock_of`); `count` outlives the call.
    let err = unsafe {
        rdkafka_sys::rd_kafka_mock_broker_error_stack_cnt(mcluster, 1, RDKafkaApiKey::OffsetCommit as i16, &mut count)
    };
    match err {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(count),
        e => Err(HarnessError::broker(format!("cannot count the held answers: {e:?}"))),
    }
}

/// A Kafka consumer closed off the caller's thread. Closing a librdkafka consumer blocks (about
/// 100 ms here): done in line it would hold a runtime worker, delay the report of a failed
/// query's end well past its cause, and add its wait to every run's start and end. The last
/// reference goes to a thread of its own.
pub(crate) struct Closing(Option<Arc<BaseConsumer>>);

impl Closing {
    pub(crate) fn new(consumer: BaseConsumer) -> Closing {
        Closing(Some(Arc::new(consumer)))
    }

    pub(crate) fn get(&self) -> Arc<BaseConsumer> {
        self.0.clone().expect("present until dropped")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            let _ = std::thread::Builder::new().name("kafka-close".into()).spawn(move || drop(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_timers_are_librdkafkas_defaults_in_nominal_time() {
        let timers = |scale| {
            let mut c = ClientConfig::new();
            nominal_retry_timers(&mut c, scale);
            ["fetch.error.backoff.ms", "retry.backoff.ms", "retry.backoff.max.ms"]
                .map(|k| c.get(k).unwrap().to_string())
        };
        assert_eq!(timers(TimeScale::REAL), ["500", "100", "1000"]);
        assert_eq!(timers(TimeScale::parse("0.01").unwrap()), ["5", "1", "10"]);
        assert_eq!(timers(TimeScale::TEST), ["1", "1", "1"], "never below librdkafka's floor");
    }

    #[allow(unsafe_code)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_broker_taken_down_while_a_child_is_being_started_waits_for_its_exec() {
        use std::os::fd::{AsRawFd, BorrowedFd};
        use std::os::unix::process::CommandExt;
        let broker = Broker::embedded().unwrap();
        let (started, starting) = nix::unistd::pipe().unwrap();
        let say = starting.as_raw_fd();
        let child = std::thread::spawn(move || {
            let mut cmd = std::process::Command::new("true");
            // SAFETY: write and nanosleep are async-signal-safe.
            unsafe {
                cmd.pre_exec(move || {
                    // Between fork and exec, holding a copy of the broker's listener: say so,
                    // and stay there a while.
                    let _ = nix::unistd::write(BorrowedFd::borrow_raw(say), b"x");
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                });
            }
            let status = crate::forks::spawning(|| cmd.spawn()).unwrap().wait().unwrap();
            drop(starting);
            status
        });
        let mut byte = [0u8; 1];
        nix::unistd::read(&started, &mut byte).unwrap();
        // Without the guard, librdkafka's mock fails to bind its port again and aborts here.
        broker.set_available(false).await.expect("taken down once the child has exec'd");
        broker.set_available(true).await.unwrap();
        broker.check(Duration::from_secs(5)).expect("the broker answers again, on its port");
        assert!(child.join().unwrap().success());
    }

    #[tokio::test]
    async fn the_embedded_broker_goes_down_and_comes_back() {
        let broker = Broker::embedded().unwrap();
        broker.set_available(false).await.unwrap();
        assert!(broker.check(Duration::from_millis(500)).is_err(), "a broker that is down does not answer");
        broker.set_available(true).await.unwrap();
        broker.check(Duration::from_secs(5)).expect("the broker answers again");
        let external = Broker { bootstrap: "127.0.0.1:9".into(), embedded: None };
        let refused = external.set_available(false).await.unwrap_err().to_string();
        assert!(refused.contains("drop --broker"), "{refused}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn end_offsets_are_the_high_watermarks() {
        let broker = Broker::embedded().unwrap();
        broker.create_topic("ends", 3).await.unwrap();
        let producer = Producer::new(broker.bootstrap()).unwrap();
        let payloads = (0..20).map(|i| (format!("key-{i}"), b"x".to_vec())).collect();
        producer.send_all("ends", payloads).await.unwrap();
        let consumer: BaseConsumer = client_config(broker.bootstrap()).set("group.id", "ends").create().unwrap();
        let ends = end_offsets(&consumer, "ends", &[0, 1, 2], Duration::from_secs(5)).unwrap();
        assert_eq!(ends.len(), 3);
        for p in 0..3 {
            let (_, high) = consumer.fetch_watermarks("ends", p, Duration::from_secs(5)).unwrap();
            assert_eq!(ends.get(&partition_key("ends", p)), Some(&high), "partition {p}: {ends:?}");
        }
        assert_eq!(ends.values().sum::<i64>(), 20, "every record counted once: {ends:?}");
    }
}
