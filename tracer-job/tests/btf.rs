//! The BTF reader against this machine's kernel. Offsets differ between kernels, so the
//! assertions hold for any 64-bit kernel rather than for one build.

use std::{fs, sync::OnceLock};

use tracer_job::btf::{Btf, BtfError, Member, SYS_FS_VMLINUX};

fn vmlinux() -> &'static Btf {
    static BTF: OnceLock<Btf> = OnceLock::new();
    BTF.get_or_init(|| {
        Btf::from_sys_fs().unwrap_or_else(|err| {
            panic!("these tests need the kernel's BTF at {SYS_FS_VMLINUX}: {err}")
        })
    })
}

fn member(name: &str, path: &[&str]) -> Member {
    vmlinux()
        .member(name, path)
        .unwrap_or_else(|err| panic!("{name}.{}: {err}", path.join(".")))
}

#[test]
fn task_struct_parent_and_ids() {
    let pid = member("task_struct", &["pid"]);
    let tgid = member("task_struct", &["tgid"]);
    let real_parent = member("task_struct", &["real_parent"]);
    assert_eq!(pid.size, Some(4));
    assert_eq!(tgid.size, Some(4));
    assert_eq!(real_parent.size, Some(8));
    // `pid_t pid; pid_t tgid;` sit side by side, and the parent pointer follows them.
    assert_eq!(tgid.offset, pid.offset + 4);
    assert!(real_parent.offset > tgid.offset, "{real_parent:?}");
    assert_eq!(real_parent.offset % 8, 0, "{real_parent:?}");
}

#[test]
fn sock_common_through_embedded_and_anonymous_members() {
    // sock_common starts with three anonymous unions of 8, 4 and 4 bytes.
    assert_eq!(member("sock", &["__sk_common"]).offset, 0);
    assert_eq!(
        member("sock", &["__sk_common", "skc_family"]),
        Member {
            offset: 16,
            size: Some(2)
        }
    );
    // Inside an anonymous struct inside an anonymous union.
    assert_eq!(
        member("sock", &["__sk_common", "skc_daddr"]),
        Member {
            offset: 0,
            size: Some(4)
        }
    );
    assert_eq!(
        member("sock", &["__sk_common", "skc_rcv_saddr"]),
        Member {
            offset: 4,
            size: Some(4)
        }
    );
    assert_eq!(
        member("sock", &["__sk_common", "skc_dport"]),
        Member {
            offset: 12,
            size: Some(2)
        }
    );
    assert_eq!(
        member("sock_common", &["skc_num"]),
        Member {
            offset: 14,
            size: Some(2)
        }
    );
}

#[test]
fn typedef_names_stand_for_their_struct() {
    assert_eq!(
        member("atomic_t", &["counter"]),
        Member {
            offset: 0,
            size: Some(4)
        }
    );
}

#[test]
fn bitfields_and_pointers_are_refused() {
    let err = vmlinux()
        .member("sock", &["__sk_common", "skc_reuse"])
        .unwrap_err();
    assert!(matches!(err, BtfError::Bitfield { .. }), "{err}");
    let err = vmlinux()
        .member("task_struct", &["real_parent", "pid"])
        .unwrap_err();
    assert!(matches!(err, BtfError::ThroughPointer { .. }), "{err}");
}

#[test]
fn missing_names_say_what_is_missing() {
    let btf = vmlinux();
    assert_eq!(
        btf.member("no_such_struct", &["pid"])
            .unwrap_err()
            .to_string(),
        "the kernel's BTF has no struct no_such_struct"
    );
    assert_eq!(
        btf.member("task_struct", &["no_such_member"])
            .unwrap_err()
            .to_string(),
        "struct task_struct has no member no_such_member"
    );
    assert_eq!(
        btf.member("sock", &["__sk_common", "no_such_member"])
            .unwrap_err()
            .to_string(),
        "struct sock_common has no member no_such_member"
    );
    assert_eq!(
        btf.enum_values("no_such_enum").unwrap_err().to_string(),
        "the kernel's BTF has no enum no_such_enum"
    );
}

#[test]
fn skb_drop_reasons() {
    let values = vmlinux()
        .enum_values("skb_drop_reason")
        .expect("enum skb_drop_reason");
    let value = |name: &str| {
        values
            .iter()
            .find(|(found, _)| found == name)
            .map(|&(_, value)| value)
    };
    assert_eq!(value("SKB_DROP_REASON_NOT_SPECIFIED"), Some(2));
    assert_eq!(value("SKB_DROP_REASON_NO_SOCKET"), Some(3));

    // The kfree_skb tracepoint prints the same table, without the prefix.
    let format_path = "/sys/kernel/tracing/events/skb/kfree_skb/format";
    let Ok(format) = fs::read_to_string(format_path) else {
        eprintln!("{format_path} is unreadable; not comparing with it");
        return;
    };
    let mut compared = 0;
    for entry in format.split("{ ").skip(1) {
        let Some((number, rest)) = entry.split_once(", \"") else {
            continue;
        };
        let (Ok(number), Some((name, _))) = (number.parse::<i64>(), rest.split_once('"')) else {
            continue;
        };
        assert_eq!(
            value(&format!("SKB_DROP_REASON_{name}")),
            Some(number),
            "{name} in {format_path}"
        );
        compared += 1;
    }
    assert!(
        compared > 10,
        "only {compared} reasons found in {format_path}"
    );
}
