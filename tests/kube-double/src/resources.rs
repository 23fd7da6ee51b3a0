//! The resource types the double serves, as discovery describes them.

#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub subresources: &'static [&'static str],
    pub categories: &'static [&'static str],
}

impl Resource {
    /// `pods`, `deployments.apps`: how error messages name the resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[expect(clippy::too_many_arguments, reason = "one row of the resource table")]
const fn res(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    group: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    subresources: &'static [&'static str],
    categories: &'static [&'static str],
) -> Resource {
    Resource {
        plural,
        singular,
        kind,
        group,
        version: "v1",
        namespaced,
        short_names,
        subresources,
        categories,
    }
}

pub static ALL: &[Resource] = &[
    res(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        false,
        &["ns"],
        &["status", "finalize"],
        &[],
    ),
    res(
        "nodes",
        "node",
        "Node",
        "",
        false,
        &["no"],
        &["status"],
        &[],
    ),
    res(
        "pods",
        "pod",
        "Pod",
        "",
        true,
        &["po"],
        &["status", "log"],
        &["all"],
    ),
    res(
        "configmaps",
        "configmap",
        "ConfigMap",
        "",
        true,
        &["cm"],
        &[],
        &[],
    ),
    res("events", "event", "Event", "", true, &["ev"], &[], &[]),
    res(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        true,
        &["deploy"],
        &["status"],
        &["all"],
    ),
    res(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        true,
        &["rs"],
        &["status"],
        &["all"],
    ),
    res(
        "statefulsets",
        "statefulset",
        "StatefulSet",
        "apps",
        true,
        &["sts"],
        &["status"],
        &["all"],
    ),
    res(
        "daemonsets",
        "daemonset",
        "DaemonSet",
        "apps",
        true,
        &["ds"],
        &["status"],
        &["all"],
    ),
    res(
        "jobs",
        "job",
        "Job",
        "batch",
        true,
        &[],
        &["status"],
        &["all"],
    ),
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    ALL.iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by its plural name alone (plurals are unique here).
pub fn by_plural(plural: &str) -> &'static Resource {
    ALL.iter()
        .find(|r| r.plural == plural)
        .unwrap_or_else(|| panic!("unknown resource {plural}"))
}

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Resource> {
    ALL.iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

pub fn groups() -> Vec<&'static str> {
    let mut g: Vec<&str> = ALL
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    g.dedup();
    g
}
