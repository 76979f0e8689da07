//! One worker: an OS thread running its own `actix_rt::System`, which builds
//! the `App` from the factory and serves the streams handed to it with
//! actix-http's `HttpService`.

use std::cell::Cell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_http::body::{EitherBody, MessageBody};
use actix_http::{ConnectionType, Extensions, HttpService, KeepAlive, Protocol, Request, Response};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt as _, apply_fn_factory,
    map_config,
};
use actix_web::dev::AppConfig;
use futures_util::FutureExt as _;
use rstream_core::incoming::Connection;
use tokio::sync::{Notify, oneshot, watch};
use tracing::Instrument as _;

use crate::Error;
use crate::activity::{Activity, TrackedBody};
use crate::dispatch::{Load, WorkerInbox};
use crate::io::TunnelIo;

/// Connection settings, the same for every worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) keep_alive: KeepAlive,
    /// Zero: no limit (actix-http's convention).
    pub(crate) client_request_timeout: Duration,
    pub(crate) client_disconnect_timeout: Duration,
    pub(crate) shutdown_deadline: Duration,
}

/// A started worker, seen from the thread that serves the tunnel.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) index: usize,
    thread: Option<JoinHandle<()>>,
    /// Answers once the App is built (or could not be).
    pub(crate) ready: oneshot::Receiver<Result<(), Error>>,
    /// Closed when the thread is about to end, panicking or not.
    done: oneshot::Receiver<()>,
}

impl Worker {
    /// Waits for the thread to end; an error if it panicked.
    pub(crate) async fn finish(mut self) -> Result<(), Error> {
        let _ = (&mut self.done).await;
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(Error::WorkerPanicked { worker: self.index }),
            _ => Ok(()),
        }
    }
}

/// Starts worker `index` on its own thread.
pub(crate) fn spawn<F, I, S, B>(
    index: usize,
    factory: F,
    settings: Settings,
    inbox: WorkerInbox,
    stopping: watch::Receiver<bool>,
) -> Result<Worker, Error>
where
    F: Fn() -> I + Send + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let (ready_tx, ready) = oneshot::channel();
    let (done_tx, done) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("rstream-actix-{index}"))
        .spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(run(index, factory, settings, inbox, stopping, ready_tx));
            // Drops the connections still open after the drain deadline.
            drop(system);
            drop(done_tx);
        })
        .map_err(|source| Error::Spawn {
            worker: index,
            source,
        })?;
    Ok(Worker {
        index,
        thread: Some(thread),
        ready,
        done,
    })
}

/// Counts a worker's open connections and wakes the drain when none is left.
#[derive(Debug, Default)]
struct Connections {
    open: Cell<usize>,
    none_left: Notify,
}

/// One open connection; dropping it ends the count.
struct Open {
    connections: Rc<Connections>,
    load: Load,
}

impl Open {
    fn new(connections: Rc<Connections>, load: Load) -> Self {
        connections.open.set(connections.open.get() + 1);
        Open { connections, load }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let left = self.connections.open.get().saturating_sub(1);
        self.connections.open.set(left);
        if left == 0 {
            self.connections.none_left.notify_waiters();
        }
        self.load.release();
    }
}

async fn run<F, I, S, B>(
    index: usize,
    factory: F,
    settings: Settings,
    inbox: WorkerInbox,
    mut stopping: watch::Receiver<bool>,
    ready: oneshot::Sender<Result<(), Error>>,
) where
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    // Set once the worker stops taking streams: responses from then on ask
    // HTTP/1.1 clients to close, so idle keep-alive connections end sooner.
    let draining = Rc::new(Cell::new(false));

    let app = factory()
        .into_factory()
        .map_err(|err| Response::from(Into::<actix_web::Error>::into(err).error_response()));
    let app = map_config(app, |()| AppConfig::default());
    let app = apply_fn_factory(app, {
        let draining = Rc::clone(&draining);
        move |req: Request, app: &_| call_guarded(app, req, Rc::clone(&draining))
    });
    let http = HttpService::<TunnelIo, _, _>::build()
        .keep_alive(settings.keep_alive)
        .client_request_timeout(settings.client_request_timeout)
        .client_disconnect_timeout(settings.client_disconnect_timeout)
        .on_connect_ext(|io: &TunnelIo, data: &mut Extensions| {
            data.insert(io.info().clone());
            data.insert(Rc::clone(io.activity()));
        })
        .finish(app);
    let service = match http.new_service(()).await {
        Ok(service) => Rc::new(service),
        Err(()) => {
            let _ = ready.send(Err(Error::AppInit { worker: index }));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let WorkerInbox { mut streams, load } = inbox;
    let connections = Rc::new(Connections::default());
    let detect_timeout = settings.client_request_timeout;
    loop {
        let next = tokio::select! {
            biased;
            _ = stopping.wait_for(|stop| *stop) => None,
            next = streams.recv() => next,
        };
        let Some(stream) = next else {
            break;
        };
        serve_stream(
            index,
            stream,
            load.clone(),
            &connections,
            &service,
            detect_timeout,
            stopping.clone(),
        );
    }

    // Streams already handed over were accepted: serve them too, within the
    // deadline.
    draining.set(true);
    streams.close();
    while let Ok(stream) = streams.try_recv() {
        serve_stream(
            index,
            stream,
            load.clone(),
            &connections,
            &service,
            detect_timeout,
            stopping.clone(),
        );
    }
    let deadline = tokio::time::sleep(settings.shutdown_deadline);
    tokio::pin!(deadline);
    loop {
        let none_left = connections.none_left.notified();
        if connections.open.get() == 0 {
            break;
        }
        tokio::select! {
            () = &mut deadline => {
                tracing::debug!(
                    open = connections.open.get(),
                    "shutdown deadline reached; closing the remaining connections",
                );
                break;
            }
            () = none_left => {}
        }
    }
}

/// Serves one stream on this worker's System: tells HTTP/2 from HTTP/1.x,
/// then hands it to actix-http with the source IP as the peer address.
fn serve_stream<H>(
    index: usize,
    stream: Connection,
    load: Load,
    connections: &Rc<Connections>,
    service: &Rc<H>,
    detect_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) where
    H: Service<(TunnelIo, Protocol, Option<SocketAddr>)> + 'static,
    H::Error: fmt::Display,
{
    let open = Open::new(Rc::clone(connections), load);
    let service = Rc::clone(service);
    let info = stream.info();
    let span = tracing::debug_span!(
        "stream",
        worker = index,
        tunnel_id = %info.tunnel_id,
        stream_id = %info.stream_id,
    );
    let peer = info.source_ip.map(|ip| SocketAddr::new(ip, 0));
    actix_rt::spawn(
        async move {
            let _open = open;
            let mut stream = stream;
            // The stream was opened on the tunnel's runtime: its I/O events
            // are this worker's from now on, as actix's own sockets are.
            if let Err(err) = stream.move_to_current_runtime() {
                tracing::debug!(error = %err, "stream stays on the tunnel's I/O driver");
            }
            let timeout = (!detect_timeout.is_zero()).then_some(detect_timeout);
            let Some((io, protocol)) = TunnelIo::detect(stream, timeout).await else {
                tracing::debug!("stream closed before a request");
                return;
            };
            if poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
                return;
            }
            let activity = Rc::clone(io.activity());
            let connection = service.call((io, protocol, peer));
            tokio::pin!(connection);
            let mut watching = true;
            let ended = loop {
                tokio::select! {
                    ended = &mut connection => break ended,
                    // An error means the server is gone: drain as well.
                    _ = stopping.wait_for(|stop| *stop), if watching => {
                        watching = false;
                        activity.start_draining();
                    }
                }
            };
            if let Err(err) = ended {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        .instrument(span),
    );
}

/// Calls the App for one request. A panic in it becomes a 500 for that
/// request alone, and while draining every response asks to close the
/// connection.
fn call_guarded<A, B>(
    app: &A,
    req: Request,
    draining: Rc<Cell<bool>>,
) -> impl Future<Output = Result<Response<EitherBody<TrackedBody<B>>>, A::Error>> + use<A, B>
where
    A: Service<Request>,
    A::Future: 'static,
    A::Response: Into<Response<B>>,
    A::Error: 'static,
    B: MessageBody + 'static,
{
    let busy = req.conn_data::<Rc<Activity>>().map(Activity::begin);
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| app.call(req)));
    async move {
        let answer = match call {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(panic) => Err(panic),
        };
        let mut response = match answer {
            Ok(Ok(response)) => response
                .into()
                .map_body(|_, body| EitherBody::left(TrackedBody::new(body, busy))),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                tracing::error!("request handler panicked; answered 500");
                Response::internal_server_error().map_body(|_, body| EitherBody::right(body))
            }
        };
        if draining.get() {
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        Ok(response)
    }
}
