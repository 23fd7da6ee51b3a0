//! A client-side limit on the plugin's API requests, as client-go keeps one: a bucket of
//! `burst` requests, refilled at `qps` a second. A request waits for a token before it
//! is sent; a long-lived stream (a watch, a followed log) takes one token, when it
//! starts. A trace of many nodes so spreads its Job creations, log follows and deletions
//! instead of sending them all at once.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

/// Requests per second, sustained, when `--api-qps` is not given.
pub const DEFAULT_QPS: f64 = 100.0;
/// Requests sent at once before the rate applies, when `--api-burst` is not given.
pub const DEFAULT_BURST: u32 = 300;

#[derive(Clone, Copy, Debug)]
pub struct RateLimitLayer {
    qps: f64,
    burst: u32,
}

impl RateLimitLayer {
    pub fn new(qps: f64, burst: u32) -> Self {
        RateLimitLayer {
            qps: qps.max(f64::MIN_POSITIVE),
            burst: burst.max(1),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            bucket: Bucket {
                qps: self.qps,
                burst: f64::from(self.burst),
                tokens: f64::from(self.burst),
                last: Instant::now(),
            },
            sleep: None,
        }
    }
}

pub struct RateLimited<S> {
    inner: S,
    bucket: Bucket,
    /// The wait for the next token, while there is none.
    sleep: Option<Pin<Box<Sleep>>>,
}

struct Bucket {
    qps: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// How long until a token is there; zero when one is.
    fn wait(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.qps).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.qps)
        }
    }
}

impl<S, Request> Service<Request> for RateLimited<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
            }
            let wait = self.bucket.wait(Instant::now());
            if wait.is_zero() {
                return self.inner.poll_ready(cx);
            }
            self.sleep = Some(Box::pin(tokio::time::sleep(wait)));
        }
    }

    fn call(&mut self, request: Request) -> S::Future {
        self.bucket.tokens -= 1.0;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, future::Ready};

    use super::*;

    /// A service that answers at once.
    struct Echo;

    impl Service<u32> for Echo {
        type Response = u32;
        type Error = Infallible;
        type Future = Ready<Result<u32, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: u32) -> Self::Future {
            std::future::ready(Ok(request))
        }
    }

    async fn send(service: &mut RateLimited<Echo>, request: u32) -> u32 {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .expect("ready");
        service.call(request).await.expect("answered")
    }

    #[tokio::test]
    async fn a_burst_goes_at_once_and_the_rest_at_the_rate() {
        let mut service = RateLimitLayer::new(50.0, 3).layer(Echo);
        let started = std::time::Instant::now();
        for request in 0..3 {
            assert_eq!(send(&mut service, request).await, request);
        }
        assert!(
            started.elapsed() < Duration::from_millis(15),
            "the burst waited"
        );
        for request in 3..8 {
            send(&mut service, request).await;
        }
        // Five more at 50 a second: 100 ms, give or take the timer.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(90) && took < Duration::from_millis(400),
            "8 requests, burst 3, 50/s took {took:?}"
        );
    }
}
