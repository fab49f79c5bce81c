//! The leader's dealing: every partition of the flow, round-robin over the
//! members that may work (at most `tasks.max`), in an order that does not
//! depend on who joined first, so a static member that comes back gets the
//! same share.

use std::collections::BTreeMap;

use kmirror_proto::control::group::JoinedMember;
use kmirror_proto::fleet::{Assignment, MemberMetadata};

/// One assignment per member, by member id. Members whose metadata cannot
/// be read (another version of kmirror that changed it, or a stranger)
/// stand by. `partitions` are (source topic, partition).
pub fn deal(
    members: &[JoinedMember],
    partitions: &[(String, i32)],
    tasks_max: u32,
) -> Vec<(String, Assignment)> {
    let mut order: Vec<&JoinedMember> = members.iter().collect();
    // Static members by their instance id, then dynamic ones by member id.
    order.sort_by(|a, b| {
        let key = |m: &JoinedMember| {
            (
                m.group_instance_id.is_none(),
                m.group_instance_id
                    .clone()
                    .unwrap_or_else(|| m.member_id.clone()),
            )
        };
        key(a).cmp(&key(b))
    });
    let able: Vec<&JoinedMember> = order
        .iter()
        .copied()
        .filter(|m| MemberMetadata::decode(m.metadata.clone()).is_ok())
        .take(tasks_max.max(1) as usize)
        .collect();
    let mut sorted = partitions.to_vec();
    sorted.sort();
    sorted.dedup();
    let working = able
        .len()
        .min(sorted.len())
        .max(usize::from(!able.is_empty()));
    let mut shares: Vec<BTreeMap<String, Vec<i32>>> = vec![BTreeMap::new(); working];
    for (i, (topic, p)) in sorted.into_iter().enumerate() {
        shares[i % working].entry(topic).or_default().push(p);
    }
    order
        .iter()
        .map(|m| {
            let slot = able
                .iter()
                .take(working)
                .position(|a| a.member_id == m.member_id);
            let assignment = match slot {
                Some(s) => Assignment {
                    slot: s as i32,
                    working: working as i32,
                    topics: std::mem::take(&mut shares[s]).into_iter().collect(),
                },
                None => Assignment {
                    slot: -1,
                    working: working as i32,
                    topics: Vec::new(),
                },
            };
            (m.member_id.clone(), assignment)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn member(id: &str, instance: Option<&str>) -> JoinedMember {
        JoinedMember {
            member_id: id.into(),
            group_instance_id: instance.map(str::to_string),
            metadata: MemberMetadata { workers: 2 }.encode(),
        }
    }

    fn parts(n: i32) -> Vec<(String, i32)> {
        (0..n).map(|p| ("t".to_string(), p)).collect()
    }

    fn share(out: &[(String, Assignment)], id: &str) -> Vec<i32> {
        let a = &out.iter().find(|(m, _)| m == id).unwrap().1;
        a.topics.iter().flat_map(|(_, ps)| ps.clone()).collect()
    }

    #[test]
    fn round_robin_over_every_member_each_partition_once() {
        let members = [member("c", None), member("a", None), member("b", None)];
        let out = deal(&members, &parts(24), 10);
        assert_eq!(share(&out, "a"), (0..24).step_by(3).collect::<Vec<_>>());
        assert_eq!(share(&out, "b"), (1..24).step_by(3).collect::<Vec<_>>());
        assert_eq!(share(&out, "c"), (2..24).step_by(3).collect::<Vec<_>>());
        let slots: Vec<i32> = out.iter().map(|(_, a)| a.slot).collect();
        assert_eq!(slots, vec![0, 1, 2]);
        assert!(out.iter().all(|(_, a)| a.working == 3));
    }

    #[test]
    fn tasks_max_caps_the_working_members() {
        let members = [member("a", None), member("b", None), member("c", None)];
        let out = deal(&members, &parts(5), 1);
        assert_eq!(share(&out, "a"), vec![0, 1, 2, 3, 4]);
        assert!(share(&out, "b").is_empty() && share(&out, "c").is_empty());
        let b = &out.iter().find(|(m, _)| m == "b").unwrap().1;
        assert_eq!((b.slot, b.working), (-1, 1));
    }

    #[test]
    fn static_members_keep_their_share_whatever_their_member_id() {
        let before = [member("m1", Some("host-a")), member("m2", Some("host-b"))];
        let after = [member("zz", Some("host-a")), member("m2", Some("host-b"))];
        let (x, y) = (deal(&before, &parts(6), 4), deal(&after, &parts(6), 4));
        assert_eq!(share(&x, "m1"), share(&y, "zz"));
        assert_eq!(share(&x, "m2"), share(&y, "m2"));
    }

    #[test]
    fn more_members_than_partitions_and_strangers() {
        let mut stranger = member("s", None);
        stranger.metadata = Bytes::from_static(b"\x00");
        let members = [member("a", None), member("b", None), stranger];
        let out = deal(&members, &parts(1), 10);
        assert_eq!(share(&out, "a"), vec![0]);
        let b = &out.iter().find(|(m, _)| m == "b").unwrap().1;
        assert_eq!((b.slot, b.working), (-1, 1));
        assert!(share(&out, "s").is_empty());
        // No partitions yet: one working member with nothing, the others standing by.
        let out = deal(&members[..2], &[], 10);
        assert!(out.iter().all(|(_, a)| a.topics.is_empty()));
    }
}
