//! Namespaces being deleted: everything in them is deleted, then the namespace goes.

use super::{is_deleting, meta};
use crate::{cluster::Cluster, resources, store::DeleteOptions};

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let doomed = store.scan("namespaces", |n| {
        is_deleting(n).then(|| meta(n, "name").to_string())
    });
    for ns in doomed {
        let mut left = 0;
        for res in resources::ALL.iter().filter(|r| r.namespaced) {
            let (items, _) = store.list(res.plural, Some(&ns));
            left += items.len();
            for obj in items.iter().filter(|o| !is_deleting(o)) {
                let _ = store.delete(res, &ns, meta(obj, "name"), &DeleteOptions::default());
            }
        }
        if left == 0 {
            store.remove("namespaces", "", &ns);
        }
    }
}
