//! Reaching the cluster as kubectl would: `--kubeconfig`, else `KUBECONFIG` (a list of
//! files, merged), else `~/.kube/config`; `--context`, `--cluster` and `--user` override
//! the current context; the context's namespace is the default one.

use kube::{
    Config,
    client::ClientBuilder,
    config::{KubeConfigOptions, Kubeconfig},
};

use super::rate_limit::RateLimitLayer;
use crate::{cli::ClusterArgs, exit::CliError};

/// A client and the namespace the user means when they name none.
pub struct Connection {
    pub client: kube::Client,
    pub default_namespace: String,
    pub server: String,
}

pub async fn connect(args: &ClusterArgs) -> Result<Connection, CliError> {
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|err| {
        let source = match (&args.kubeconfig, std::env::var("KUBECONFIG")) {
            (Some(path), _) => format!("kubeconfig {}", path.display()),
            (None, Ok(paths)) if !paths.is_empty() => format!("kubeconfig {paths} (KUBECONFIG)"),
            (None, _) => "kubeconfig ~/.kube/config".to_owned(),
        };
        CliError::usage(
            format!("cannot load the {source}: {}", first_line(&err)),
            "point --kubeconfig or KUBECONFIG at a valid kubeconfig, or use --local",
        )
    })?;
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: args.cluster.clone(),
        user: args.user.clone(),
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|err| {
            CliError::usage(
                format!("the kubeconfig cannot be used: {}", first_line(&err)),
                "check --context/--cluster/--user against `kubectl config get-contexts`",
            )
        })?;
    let server = config.cluster_url.to_string();
    let default_namespace = config.default_namespace.clone();
    let client = ClientBuilder::try_from(config)
        .map_err(|err| {
            CliError::failure(
                format!("cannot set up a client for {server}: {err}"),
                "check the kubeconfig's certificates and credentials",
            )
        })?
        .with_layer(&RateLimitLayer::new(args.api_qps, args.api_burst))
        .build();
    Ok(Connection {
        client,
        default_namespace,
        server,
    })
}

/// The first line of an error whose text may go on to quote the input (YAML parsers do).
fn first_line(err: &impl std::fmt::Display) -> String {
    let text = err.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// One line for a failed API call: what we were doing, what the server said, and what to do.
pub fn api_error(doing: &str, err: kube::Error) -> CliError {
    match err {
        kube::Error::Api(status) => match status.code {
            401 => CliError {
                message: format!("{doing}: the API server refused the credentials"),
                hint: "log in again or check the kubeconfig user".to_owned(),
                code: crate::exit::PERMISSION,
            },
            403 => CliError {
                message: format!("{doing}: {}", status.message),
                hint: "ask for the permissions `kubectl ebpf` needs (docs/rbac.md)".to_owned(),
                code: crate::exit::PERMISSION,
            },
            404 => CliError::usage(
                format!("{doing}: {}", status.message),
                "check the name and the namespace (-n)",
            ),
            _ => CliError::failure(
                format!(
                    "{doing}: {} ({} {})",
                    status.message, status.code, status.reason
                ),
                "retry; if it persists, check the API server",
            ),
        },
        other => CliError::failure(
            format!("{doing}: cannot reach the API server: {other}"),
            "check the context (`kubectl config current-context`) and that the cluster is up",
        ),
    }
}

/// True for a 404 from the API server.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// Answers worth another try: throttling and passing server trouble.
fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Attempts one call makes at most, and the pause before the first retry (doubling).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs an API call, retrying transient failures with exponential backoff. The client
/// already honours `Retry-After` on 429/503/504; this covers 500s and dropped connections.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(err) if attempt < ATTEMPTS && is_transient(&err) => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// True for a 409 AlreadyExists (not a resourceVersion conflict).
pub fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists")
}
