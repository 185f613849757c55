//! An admin page for a running program: `/metrics` (Prometheus text), `/tree` (an HTML page of
//! the live task tree that refreshes itself) and `/tree.json` (the same tree as JSON, with the
//! parent and owner of every node), served on loopback next to a demo service whose scopes come
//! and go.
//!
//! What it shows: the `metrics` feature feeding any `metrics` exporter (here
//! `metrics-exporter-prometheus`), and `scope::observe::snapshot` turned into a page an operator
//! can watch when cancellation misbehaves: which task is stuck, under which scope, since when,
//! and why it is being cancelled.
//!
//! Run it with `cargo run --example admin --features "metrics serde tracing"`, then open
//! <http://127.0.0.1:3000/tree> (set `ADMIN_ADDR` to listen elsewhere on loopback). Ctrl-C stops
//! it: the shutdown reaches the demo service and the admin server.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use scope::observe::{self, TaskNode, TaskTree};
use scope::{scoped, spawn, spawn_in_place, Interrupted, Service, ServiceConfig};

/// The admin routes.
fn admin(prometheus: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(prometheus.render())),
        )
        .route(
            "/tree",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/html; charset=utf-8")],
                    page(&observe::snapshot()),
                )
            }),
        )
        .route(
            "/tree.json",
            get(|| async {
                let json = serde_json::to_string_pretty(&observe::snapshot())
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
                ([(CONTENT_TYPE, "application/json")], json)
            }),
        )
}

/// Serves the admin routes on `listener` until `shutdown` resolves.
async fn serve_admin(
    listener: tokio::net::TcpListener,
    prometheus: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, admin(prometheus))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The page: the tree as nested lists, refreshed every second.
fn page(tree: &TaskTree) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"1\"><title>scope: live task tree</title>\
         <style>body{font-family:sans-serif}ul{list-style:none;border-left:1px solid #ccc;\
         margin-left:.6em;padding-left:1em}.kind{font-weight:bold}.site,.age{color:#777}\
         .running{color:#070}.queued{color:#777}.cancelling{color:#b00}.finished{color:#555}\
         </style></head><body>\n<h1>Live task tree</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>{} live node(s) · <a href=\"/tree.json\">JSON</a> · <a href=\"/metrics\">metrics</a></p>",
        tree.len()
    );
    html.push_str("<ul>\n");
    for root in tree.roots() {
        item(&mut html, tree, root, 0);
    }
    html.push_str("</ul>\n</body></html>\n");
    html
}

fn item(html: &mut String, tree: &TaskTree, node: &TaskNode, depth: usize) {
    let loc = node.location();
    let _ = write!(
        html,
        "<li><span class=\"kind\">{}</span> {} <span class=\"{state}\">{state}</span> \
         <span class=\"age\">{:.1?}</span> <span class=\"site\">{}:{}:{} {}</span>",
        node.kind(),
        escape(node.name().unwrap_or("(unnamed)")),
        node.elapsed(),
        escape(loc.file()),
        loc.line(),
        loc.column(),
        node.id(),
        state = node.state(),
    );
    if let Some(cause) = node.cause() {
        let _ = write!(html, " <em>cause: {}</em>", escape(cause));
    }
    let mut children = tree.children(node.id()).peekable();
    if children.peek().is_some() {
        if depth < MAX_DEPTH {
            html.push_str("\n<ul>\n");
            for child in children {
                item(html, tree, child, depth + 1);
            }
            html.push_str("</ul>");
        } else {
            // Deeper than a page shows well (and than this recursion should go): said, with
            // the way to see them, rather than left out.
            let _ = write!(
                html,
                "\n<ul><li><em>{} more below (see /tree.json)</em></li></ul>",
                below(tree, node)
            );
        }
    }
    html.push_str("</li>\n");
}

/// How many levels the `/tree` page shows.
const MAX_DEPTH: usize = 64;

/// How many nodes are below `node`, at any depth.
fn below(tree: &TaskTree, node: &TaskNode) -> usize {
    let mut count = 0;
    let mut stack: Vec<&TaskNode> = tree.children(node.id()).collect();
    while let Some(n) = stack.pop() {
        count += 1;
        stack.extend(tree.children(n.id()));
    }
    count
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Why a round of the demo failed.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("fetch {0} failed: upstream unavailable")]
    Fetch(u64),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// One round of the demo's work: a few fetches in parallel and a tally in place. Every third
/// round a fetch fails, which cancels its siblings (fail-fast, with no grace: they stop at
/// once, so the page seldom catches them; `/metrics` counts the rounds that failed, as
/// `scope_scopes_ended_total{scope="pipeline-round",outcome="failed"}`).
#[scoped(name = "pipeline-round", timeout = Duration::from_secs(5))]
async fn round(n: u64) -> Result<u64, RoundError> {
    let fetches: Vec<_> = (0..3u64)
        .map(|i| {
            spawn!(name = format!("fetch-{n}-{i}"), async move {
                tokio::time::sleep(Duration::from_millis(100 + 50 * i)).await;
                if n % 3 == 2 && i == 0 {
                    return Err(RoundError::Fetch(i));
                }
                Ok(i)
            })
        })
        .collect();
    let tally = spawn_in_place!(name = "tally", async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok(1)
    });
    let mut total = tally.await?;
    for f in fetches {
        total += f.await?;
    }
    Ok(total)
}

/// The demo service's long-running task: rounds of work until it is stopped (its stop
/// cancels it: the round in flight finishes within the service's grace, 5 s by default, and
/// the loop then sees the cancel).
#[scoped(name = "pipeline")]
async fn pipeline() -> Result<(), Interrupted> {
    let mut n = 0u64;
    while !scope::is_cancelled() {
        // A nested scope: its error comes back here, not as the pipeline's failure. A failed
        // round (a fetch, its deadline) is the demo's point (the metrics count it); the next
        // one begins. A panic is not: it ends the loop, as the service's failure.
        if let Err(RoundError::Interrupted(why @ Interrupted::Panicked(_))) = round(n).await {
            return Err(why);
        }
        n += 1;
    }
    Ok(())
}

/// Starts the demo's work on `svc`: the loop is the service's task, so an error it returns is
/// the service's failure, reported at the shutdown.
fn start_demo(svc: &Service) {
    svc.spawn(pipeline())
        .expect("the demo service accepts its task")
        .detach();
}

/// Serves the admin page until the ambient context (here `main`'s) is cancelled. axum awaits
/// the shutdown future in a task of its own, outside every scope: the signal is taken from
/// the context now (`scope::shutdown_signal()`), not looked up there (`scope::cancelled()`
/// would find no scope in that task, and never resolve).
async fn serve_until_shutdown(
    listener: tokio::net::TcpListener,
    prometheus: PrometheusHandle,
) -> std::io::Result<()> {
    serve_admin(listener, prometheus, scope::shutdown_signal()).await
}

// The grace lets the body answer a Ctrl-C: stop the admin server, then the demo, and exit 0.
#[scope::main(grace = Duration::from_secs(5))]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let _tracking = observe::track();
    let addr: SocketAddr = match std::env::var("ADMIN_ADDR") {
        Ok(addr) => addr.parse()?,
        Err(_) => ([127, 0, 0, 1], 3000).into(),
    };
    if !addr.ip().is_loopback() {
        return Err(format!("ADMIN_ADDR={addr}: the admin page listens on loopback only").into());
    }
    // Bound before the demo starts: a busy port is an error at once, with nothing to stop.
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // A loop that runs until the program stops: a daemon service, which the shutdown stops
    // in its turn (a plain service's drain would wait the whole grace for it).
    let demo = Service::new(ServiceConfig::new("demo").daemon());
    start_demo(&demo);
    println!(
        "admin: http://{}/tree (and /tree.json, /metrics)",
        listener.local_addr()?
    );
    serve_until_shutdown(listener, prometheus).await?;
    // The stop takes the demo's unread failures into its report: said here, or nowhere.
    let stopped = demo.stop().await;
    if !stopped.is_clean() {
        eprintln!("{stopped}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Duration;

    use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
    use scope::{observe, Service, ServiceConfig};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The process's one recorder (the tests of this example share it).
    fn prometheus() -> PrometheusHandle {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        HANDLE
            .get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
            .clone()
    }

    /// A plain HTTP/1.1 GET on loopback; the body.
    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        body.to_owned()
    }

    /// The value of the sample `name{labels}` in Prometheus text.
    fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
    }

    /// The demo and the admin server on an ephemeral loopback port; stopped with the returned
    /// sender.
    async fn start() -> (
        std::net::SocketAddr,
        Service,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let prometheus = prometheus();
        let demo = Service::new(ServiceConfig::new("demo").daemon());
        super::start_demo(&demo);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            super::serve_admin(listener, prometheus, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (addr, demo, stop, server)
    }

    /// What `main` serves stops when `main`'s context is cancelled (a Ctrl-C), although axum
    /// awaits the shutdown future in a task of its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_admin_server_stops_when_its_context_is_cancelled() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let cx = scope::Cx::root(); // `main`'s context, as `#[scope::main]` makes it
        let ctrl_c = cx.clone();
        let signal = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ctrl_c.cancel("ctrl-c");
        });
        let served = tokio::time::timeout(
            Duration::from_secs(5),
            cx.run(super::serve_until_shutdown(listener, prometheus())),
        )
        .await;
        signal.await.unwrap();
        assert!(served.is_ok(), "the server did not stop at the cancel");
        served.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_are_scraped_over_http_and_the_counters_move() {
        let _tracking = observe::track();
        let (addr, demo, stop, server) = start().await;
        let key = "scope_children_started_total{scope=\"pipeline-round\"}";
        tokio::time::sleep(Duration::from_millis(300)).await;
        let first = get(addr, "/metrics").await;
        let before = sample(&first, key).unwrap_or_else(|| panic!("{key} in\n{first}"));
        assert!(
            first.contains("scope_scopes_started_total{scope=\"pipeline\"} "),
            "{first}"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let second = get(addr, "/metrics").await;
        let after = sample(&second, key).unwrap();
        assert!(after > before, "{key}: {before} then {after}");
        let ended = "scope_children_ended_total{scope=\"pipeline-round\",outcome=\"completed\"}";
        assert!(sample(&second, ended).unwrap() > 0.0, "{second}");
        let _ = demo.stop().await; // (clean-up)
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    /// A chain of `n` spawned children, each entering a scope that spawns the next; the last
    /// says it is there, then waits until cancelled.
    fn link(
        n: usize,
        there: tokio::sync::mpsc::Sender<()>,
    ) -> futures::future::BoxFuture<'static, Result<(), scope::Interrupted>> {
        Box::pin(async move {
            let s = &scope::Scope::new(scope::Config::new().name("link"));
            s.run(async {
                if n == 0 {
                    let _ = there.send(()).await;
                    scope::cancelled().await;
                    return Ok(());
                }
                s.spawn(link(n - 1, there)).await
            })
            .await
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tree_page_says_how_many_nodes_are_below_the_depth_it_shows() {
        let _tracking = observe::track();
        let s = &scope::Scope::new(scope::Config::new().name("deep"));
        let (there, mut arrived) = tokio::sync::mpsc::channel(1);
        s.run(async {
            // 41 links (40 down to 0): 82 levels below `deep`, past the 64 the page shows.
            s.spawn(link(40, there));
            arrived.recv().await;
            let page = super::page(&observe::snapshot());
            s.cancel("seen");
            // `deep` at 0, then a child and its `link` scope per link: 82 levels, 18 below 64.
            assert!(
                page.contains("<em>18 more below (see /tree.json)"),
                "{page}"
            );
            let shown = page.matches("scope</span> link ").count();
            assert!(shown < 40, "{shown} links shown");
            Ok::<_, scope::Interrupted>(())
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tree_page_shows_the_live_scope_and_its_children() {
        let _tracking = observe::track();
        let (addr, demo, stop, server) = start().await;
        let needles = [
            "service</span> demo",
            "scope</span> pipeline ",
            "scope</span> pipeline-round",
            "spawned</span> fetch-",
            "in-place</span> tally",
        ];
        // Rounds come and go: a page taken between two rounds misses them, so look a few times.
        let mut page = String::new();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            page = get(addr, "/tree").await;
            if needles.iter().all(|n| page.contains(n)) {
                break;
            }
        }
        assert!(page.contains("<meta http-equiv=\"refresh\""), "{page}");
        for needle in needles {
            assert!(page.contains(needle), "{needle} in\n{page}");
        }
        let mut found = false;
        for _ in 0..50 {
            let json: serde_json::Value =
                serde_json::from_str(&get(addr, "/tree.json").await).unwrap();
            let tasks = json["tasks"].as_array().unwrap();
            let Some(round) = tasks.iter().find(|t| t["name"] == "pipeline-round") else {
                continue;
            };
            let Some(fetch) = tasks
                .iter()
                .find(|t| t["parent"] == round["id"] && t["kind"] == "spawned")
            else {
                continue;
            };
            assert!(fetch["name"].as_str().unwrap().starts_with("fetch-"));
            assert_eq!(fetch["owner"], round["id"]);
            found = true;
            break;
        }
        assert!(found, "a round with a fetch in /tree.json");
        let _ = demo.stop().await; // (clean-up)
        stop.send(()).unwrap();
        server.await.unwrap();
    }
}
