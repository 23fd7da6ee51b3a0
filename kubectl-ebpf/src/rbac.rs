//! `kubectl ebpf rbac`: the least an operator must grant for the plugin to work, as
//! objects to apply. The rules list every API call the plugin makes, and nothing more; a
//! test replays real traces against the API double and checks each request it saw is
//! allowed by them.

use std::io::Write;

use k8s_openapi::{
    api::{
        core::v1::Namespace,
        rbac::v1::{
            ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
        },
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde_json::Value;

use crate::{
    cli::{ClusterArgs, ManifestFormat, RbacArgs},
    cluster::manifest::{MANAGED_BY, MANAGED_BY_LABEL, jobs_namespace},
    exit::{self, CliError},
    render,
};

/// Names of the ClusterRole (reading targets) and the Role (running traces), each also
/// the name of its binding.
const CLUSTER_ROLE: &str = "kubectl-ebpf-user";
const ROLE: &str = "kubectl-ebpf-runner";
/// Whom the bindings name when no subject is given.
const DEFAULT_GROUP: &str = "kubectl-ebpf-users";

/// One rule: API group, resources (`resource` or `resource/subresource`), verbs.
type Rule = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Reads in the targets' namespaces (any of them, with `-A`): resolving a target to its
/// pods and their nodes.
const TARGET_RULES: &[Rule] = &[
    ("", &["pods"], &["get", "list"]),
    ("", &["nodes"], &["get", "list"]),
    (
        "apps",
        &["deployments", "statefulsets", "daemonsets", "replicasets"],
        &["get"],
    ),
    ("batch", &["jobs"], &["get"]),
];

/// In the jobs namespace: creating a trace's Jobs, following their pods' logs and
/// events, and deleting them (`list` and `delete` too).
const JOB_RULES: &[Rule] = &[
    ("batch", &["jobs"], &["create", "get", "list", "delete"]),
    ("", &["pods"], &["get", "list", "watch"]),
    ("", &["pods/log"], &["get"]),
    ("", &["events"], &["list"]),
];

pub fn run(cluster: &ClusterArgs, args: &RbacArgs) -> Result<u8, CliError> {
    let subjects = subjects(args)?;
    let objects = objects(&cluster.job_namespace, &subjects)
        .map_err(|err| CliError::failure(format!("cannot encode the objects: {err}"), ""))?;
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": objects });
    let mut stdout = std::io::stdout().lock();
    let written = match args.output {
        ManifestFormat::Json => serde_json::to_writer_pretty(&mut stdout, &list)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(stdout)),
        ManifestFormat::Yaml => render::write_yaml(&list, &mut stdout),
    };
    written.map_err(|err| CliError::failure(format!("cannot write the objects: {err}"), ""))?;
    Ok(exit::SUCCESS)
}

/// Whom to bind: the users, groups and service accounts given, else `DEFAULT_GROUP`.
fn subjects(args: &RbacArgs) -> Result<Vec<Subject>, CliError> {
    let mut subjects = Vec::new();
    for user in &args.for_user {
        subjects.push(subject("User", user, None));
    }
    for group in &args.for_group {
        subjects.push(subject("Group", group, None));
    }
    for account in &args.for_service_account {
        let Some((namespace, name)) = account.split_once('/') else {
            return Err(CliError::usage(
                format!("service account '{account}' has no namespace"),
                "write it as NAMESPACE/NAME",
            ));
        };
        subjects.push(subject("ServiceAccount", name, Some(namespace)));
    }
    if subjects.is_empty() {
        subjects.push(subject("Group", DEFAULT_GROUP, None));
    }
    Ok(subjects)
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        kind: kind.to_owned(),
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        api_group: (kind != "ServiceAccount").then(|| "rbac.authorization.k8s.io".to_owned()),
    }
}

fn rules(rules: &[Rule]) -> Vec<PolicyRule> {
    rules
        .iter()
        .map(|(group, resources, verbs)| PolicyRule {
            api_groups: Some(vec![(*group).to_owned()]),
            resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some([(MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned())].into()),
        ..ObjectMeta::default()
    }
}

/// The jobs namespace, a ClusterRole for reading targets, a Role in the jobs namespace
/// for the trace's own objects, and a binding of each to `subjects`.
fn objects(job_namespace: &str, subjects: &[Subject]) -> serde_json::Result<Vec<Value>> {
    let mut cluster_rules = rules(TARGET_RULES);
    // Only to see whether the jobs namespace exists; it is created by applying these.
    cluster_rules.push(PolicyRule {
        api_groups: Some(vec![String::new()]),
        resources: Some(vec!["namespaces".to_owned()]),
        resource_names: Some(vec![job_namespace.to_owned()]),
        verbs: vec!["get".to_owned()],
        ..PolicyRule::default()
    });
    let role_ref = |kind: &str, name: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    };
    let namespace: Namespace = jobs_namespace(job_namespace);
    Ok(vec![
        serde_json::to_value(namespace)?,
        serde_json::to_value(ClusterRole {
            metadata: meta(CLUSTER_ROLE, None),
            rules: Some(cluster_rules),
            ..ClusterRole::default()
        })?,
        serde_json::to_value(ClusterRoleBinding {
            metadata: meta(CLUSTER_ROLE, None),
            role_ref: role_ref("ClusterRole", CLUSTER_ROLE),
            subjects: Some(subjects.to_vec()),
        })?,
        serde_json::to_value(Role {
            metadata: meta(ROLE, Some(job_namespace)),
            rules: Some(rules(JOB_RULES)),
        })?,
        serde_json::to_value(RoleBinding {
            metadata: meta(ROLE, Some(job_namespace)),
            role_ref: role_ref("Role", ROLE),
            subjects: Some(subjects.to_vec()),
        })?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(users: &[&str], accounts: &[&str]) -> RbacArgs {
        RbacArgs {
            for_user: users.iter().map(|u| (*u).to_owned()).collect(),
            for_group: Vec::new(),
            for_service_account: accounts.iter().map(|a| (*a).to_owned()).collect(),
            output: ManifestFormat::Yaml,
        }
    }

    #[test]
    fn binds_the_default_group_when_nobody_is_named() {
        let subjects = subjects(&args(&[], &[])).unwrap_or_default();
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0].kind, "Group");
        assert_eq!(subjects[0].name, DEFAULT_GROUP);
    }

    #[test]
    fn service_accounts_need_their_namespace() {
        let subjects = subjects(&args(&["alice"], &["ops/tracer"])).unwrap_or_default();
        assert_eq!(subjects[1].namespace.as_deref(), Some("ops"));
        assert_eq!(subjects[1].api_group, None);
        let err = super::subjects(&args(&[], &["tracer"])).err();
        assert_eq!(err.map(|e| e.code), Some(exit::USAGE));
    }

    #[test]
    fn every_object_names_the_jobs_namespace_where_it_belongs() {
        let objects = objects("tracing", &[subject("User", "alice", None)]).unwrap_or_default();
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            [
                "Namespace",
                "ClusterRole",
                "ClusterRoleBinding",
                "Role",
                "RoleBinding"
            ]
        );
        assert_eq!(objects[0]["metadata"]["name"], "tracing");
        assert_eq!(
            objects[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "privileged"
        );
        assert_eq!(objects[3]["metadata"]["namespace"], "tracing");
        assert_eq!(objects[4]["metadata"]["namespace"], "tracing");
        // No wildcard anywhere: least privilege is the point.
        let text = serde_json::to_string(&objects).unwrap_or_default();
        assert!(!text.contains("\"*\""), "{text}");
    }
}
