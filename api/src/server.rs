//! Building and running the HTTP server. `run` takes a bound listener and a shutdown
//! future (after mini-redis), so tests bind port 0 and stop servers cleanly.

use crate::cache::TtlCache;
use crate::config::Config;
use crate::json_schemas::SchemaCache;
use crate::log::nodes::NodeCache;
use crate::logkey::LogKey;
use crate::metrics::Metrics;
use crate::routes;
use crate::state::AppState;
use actix_web::dev::Service;
use actix_web::{App, HttpServer, web};
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Builds the shared state: pool, log key (checked against the recorded identity), metrics.
/// Blocking; migrates first when configured to.
pub fn build_state(config: Config, local_addr: std::net::SocketAddr) -> anyhow::Result<AppState> {
    config.validate()?;
    let metrics = Metrics::new();
    let pool = civicproof_schema::connect_counted(
        &config.database_url,
        config.db_pool_size,
        metrics.db_queries.clone(),
        (config.db_statement_timeout_ms > 0)
            .then(|| Duration::from_millis(config.db_statement_timeout_ms)),
    )
    .map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
    // The embedded mode (SQLite) migrates on every start: it has no operator to run
    // `civicproof migrate`, and its file is this process's own.
    let embedded = matches!(
        civicproof_schema::DbTarget::parse(&config.database_url),
        Ok(civicproof_schema::DbTarget::Sqlite(_))
    );
    if config.migrate || embedded {
        let mut conn = pool.get()?;
        civicproof_schema::run_migrations(&mut conn).map_err(|e| anyhow::anyhow!(e))?;
    }
    let log_key: LogKey = crate::log::identity::establish(&pool, &config)?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"))
        .trim_end_matches('/')
        .to_owned();
    let admin_token_hash = config.admin_token.as_deref().map(crate::auth::token_hash);
    let fanout = Arc::new(crate::fanout::Fanout::new());
    let cluster = Arc::new(crate::cluster::Cluster::new(
        &config.cluster,
        &config.origin_prefix,
        &log_key.public_base64(),
        pool.clone(),
        fanout.clone(),
    )?);
    metrics.register(Box::new(crate::cluster::stats::StatsCollector::new(
        cluster.stats.clone(),
    )))?;
    fanout.set_relay(crate::cluster::relay(cluster.clone()));
    Ok(AppState {
        pool,
        config: Arc::new(config),
        log_key: Arc::new(log_key),
        metrics: Arc::new(metrics),
        schemas: Arc::new(SchemaCache::default()),
        node_cache: Arc::new(NodeCache::new(1 << 20)),
        datasets: Arc::new(TtlCache::new(Duration::from_secs(1), 10_000)),
        latest_checkpoints: Arc::new(TtlCache::new(Duration::from_secs(1), 10_000)),
        signer_wake: Arc::new(tokio::sync::Notify::new()),
        checkpoint_signed: Arc::new(tokio::sync::Notify::new()),
        fanout,
        cluster,
        admin_token_hash,
        public_url,
        stopping: Arc::new(tokio::sync::watch::channel(false).0),
        anchoring: None,
    })
}

/// Serves on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let state = tokio::task::spawn_blocking(move || build_state(config, local)).await??;
    serve(listener, state, shutdown).await
}

/// Serves with an existing state (tests that need the state, e.g. a fixed log key).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut state = state;
    state.anchoring = crate::anchor::setup::attach(
        &state.pool,
        &state.config.anchor,
        &state.config.origin_prefix,
        &state.metrics,
    )
    .await?;
    let metrics_server = match state.config.metrics_bind {
        Some(addr) => {
            let st = state.clone();
            let srv = HttpServer::new(move || {
                let st = st.clone();
                App::new().route(
                    "/metrics",
                    web::get().to(move || {
                        let st = st.clone();
                        async move { routes::system::metrics_response(&st) }
                    }),
                )
            })
            .workers(1)
            .disable_signals()
            .bind(addr)?
            .run();
            Some(srv)
        }
        None => None,
    };
    let data = web::Data::new(state.clone());
    let body_limit = state.config.limits.max_body_bytes;
    let graphql = crate::graphql::build(state.clone());
    let route_labels = Arc::new(crate::route_labels::RouteLabels::default());
    let server = HttpServer::new(move || {
        let metrics = data.metrics.clone();
        let route_labels = route_labels.clone();
        App::new()
            .app_data(data.clone())
            .wrap(actix_web::middleware::from_fn(
                crate::edge::limits::middleware,
            ))
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let method = req.method().clone();
                let route = route_labels.label(req.request());
                let docs = req.path().starts_with("/docs");
                let metrics = metrics.clone();
                let in_flight = crate::metrics::InFlight::enter(&metrics, method.as_str(), &route);
                let fut = srv.call(req);
                async move {
                    let res = fut.await;
                    drop(in_flight);
                    let mut res = res?;
                    crate::edge::headers::secure(res.headers_mut(), docs);
                    let status = res.status();
                    metrics
                        .http_requests
                        .with_label_values(&[method.as_str(), &route, status.as_str()])
                        .inc();
                    metrics
                        .http_duration
                        .with_label_values(&[method.as_str(), &route])
                        .observe(started.elapsed().as_secs_f64());
                    Ok(res)
                }
            })
            .configure(|cfg| routes::configure(cfg, body_limit))
            .configure(crate::graphql::configure(graphql.clone()))
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                    .config(utoipa_swagger_ui::Config::new(["/openapi.json"])),
            )
            .service(web::redirect("/docs", "/docs/"))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(crate::error::ApiError::NotFound)
            }))
    })
    .listen(listener)?
    .disable_signals()
    .shutdown_timeout(10)
    .run();
    let handle = server.handle();
    let (background_stop, background_rx) = tokio::sync::watch::channel(false);
    let endpoints = crate::log::witnessing::parse_endpoints(&state.config.witnesses)
        .map_err(anyhow::Error::msg)?;
    let witnessing = (!endpoints.is_empty()).then(|| {
        crate::log::witnessing::Witnessing::start(
            endpoints,
            crate::log::witnessing::Submitter {
                pool: state.pool.clone(),
                metrics: state.metrics.clone(),
                latest_checkpoints: state.latest_checkpoints.clone(),
                timeout: Duration::from_millis(state.config.witness_timeout_ms.max(1)),
            },
            background_rx.clone(),
        )
    });
    let signer = tokio::spawn(crate::log::signer::run(
        crate::log::signer::Signer {
            pool: state.pool.clone(),
            config: state.config.clone(),
            log_key: state.log_key.clone(),
            latest_checkpoints: state.latest_checkpoints.clone(),
            wake: state.signer_wake.clone(),
            signed: state.checkpoint_signed.clone(),
            anchoring: state.anchoring.is_some(),
            metrics: state.metrics.clone(),
            witnessing,
        },
        background_rx.clone(),
    ));
    let anchorer = state.anchoring.clone().map(|a| {
        tokio::spawn(crate::anchor::worker::run(
            crate::anchor::worker::WorkerConfig {
                database_url: state.config.database_url.clone(),
                origin_prefix: state.config.origin_prefix.clone(),
                settings: state.config.anchor.clone(),
            },
            a,
            background_rx.clone(),
        ))
    });
    crate::cluster::start(&state.cluster, background_rx.clone());
    let maintenance = tokio::spawn(crate::maintenance::run(state.clone(), background_rx));
    let metrics_handle = metrics_server.as_ref().map(|s| s.handle());
    if let Some(m) = metrics_server {
        tokio::spawn(m);
    }
    tokio::pin!(shutdown);
    let server_task = tokio::spawn(server);
    tokio::select! {
        res = server_task => { res??; }
        () = &mut shutdown => {
            tracing::info!("shutting down: draining requests");
            state.stopping.send_replace(true);
            handle.stop(true).await;
        }
    }
    let _ = background_stop.send(true);
    let _ = signer.await;
    let _ = maintenance.await;
    if let Some(a) = anchorer {
        let _ = a.await;
    }
    if let Some(h) = metrics_handle {
        h.stop(true).await;
    }
    Ok(())
}
