use std::collections::BTreeMap;

use super::*;
use crate::change::ChangeKind;
use crate::rng::Rng;
use crate::service::{MAX_ATTRS, MAX_SERVICE_LEN};

fn svc(name: &str, attrs: &[(&str, &str)]) -> Service {
    Service::with_attrs(name, attrs.iter().copied()).unwrap()
}

fn names<'a>(services: impl Iterator<Item = &'a Service>) -> Vec<&'a str> {
    services.map(Service::name).collect()
}

const ONE: OwnerId = OwnerId::new(1);
const TWO: OwnerId = OwnerId::new(2);

#[test]
fn a_registration_lives_as_long_as_its_connection() {
    let mut store = Store::new();
    assert_eq!(
        store.register(ONE, svc("a", &[("x", "1")]), None).unwrap(),
        Revision::new(1)
    );
    assert_eq!(
        store.register(TWO, svc("b", &[]), None).unwrap(),
        Revision::new(2)
    );
    assert_eq!(store.owner("a"), Some(ONE));
    let removed = store.remove_owner(ONE);
    assert_eq!(removed, [svc("a", &[("x", "1")])]);
    assert_eq!(store.revision(), Revision::new(3));
    assert_eq!(names(store.services()), ["b"]);
    assert!(store.remove_owner(ONE).is_empty());
    assert_eq!(
        store.revision(),
        Revision::new(3),
        "nothing removed, nothing changed"
    );
}

#[test]
fn duplicates_refused() {
    let mut store = Store::new();
    store.register(ONE, svc("a", &[]), None).unwrap();
    let error = store
        .register(TWO, svc("a", &[("x", "y")]), None)
        .unwrap_err();
    assert!(matches!(&error, Error::Duplicate(name) if name == "a"));
    assert_eq!(error.reason(), "duplicate service name");
    assert_eq!(store.revision(), Revision::new(1), "a refusal is no change");
    assert_eq!(store.get("a"), Some(&svc("a", &[])));
}

#[test]
fn persist_is_read_when_the_connection_closes() {
    let mut store = Store::new();
    store
        .register(ONE, svc("p", &[("persist", "1")]), None)
        .unwrap();
    store
        .register(ONE, svc("q", &[("persist", "1")]), None)
        .unwrap();
    store
        .register(ONE, svc("r", &[("persist", "0")]), None)
        .unwrap();
    store.register(ONE, svc("s", &[]), None).unwrap();
    // An update switches persistence off for q, and on for s.
    store.update("q", ONE.into(), [("persist", "0")]).unwrap();
    store.update("s", ONE.into(), [("persist", " 7x")]).unwrap();
    let removed = store.remove_owner(ONE);
    assert_eq!(names(removed.iter()), ["q", "r"]);
    assert_eq!(names(store.services()), ["p", "s"]);
    assert_eq!(store.owner("p"), None);
    // Once without an owner, it stays even when persist is switched off.
    store
        .update("p", Claim::Registry, [("persist", "0")])
        .unwrap();
    assert!(store.remove_owner(ONE).is_empty());
    assert_eq!(names(store.persistent().map(|(s, _)| s)), ["p", "s"]);
}

#[test]
fn who_may_update_and_remove() {
    let mut store = Store::new();
    let token = Token::new("secret").unwrap();
    store
        .register(ONE, svc("t", &[("persist", "1")]), Some(token))
        .unwrap();
    store
        .register(ONE, svc("u", &[("persist", "1")]), None)
        .unwrap();
    assert!(store.has_token("t") && !store.has_token("u"));

    let denied = |r: Result<Option<Revision>>| matches!(r, Err(Error::PermissionDenied(_)));
    assert!(denied(store.update("t", TWO.into(), [("a", "b")])));
    assert!(denied(store.update(
        "u",
        Claim::Token("secret"),
        [("a", "b")]
    )));
    assert!(denied(store.update(
        "t",
        Claim::Token("Secret"),
        [("a", "b")]
    )));
    assert!(
        store
            .update("t", ONE.into(), [("a", "b")])
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .update("t", Claim::Token("secret"), [("a", "c")])
            .unwrap()
            .is_some()
    );

    // The connection goes: both stay; the token still works, the old
    // connection number does not.
    assert!(store.remove_owner(ONE).is_empty());
    assert!(denied(store.update("t", ONE.into(), [("a", "d")])));
    assert!(matches!(
        store.remove("u", ONE.into()),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        store.remove("u", Claim::Token("secret")),
        Err(Error::PermissionDenied(_))
    ));
    let removed = store.remove("t", Claim::Token("secret")).unwrap();
    assert_eq!(removed.get("a"), Some("c"));
    // Without a token, only the registry removes it.
    store.remove("u", Claim::Registry).unwrap();
    assert!(store.is_empty());
    let missing = store.remove("u", Claim::Registry).unwrap_err();
    assert!(matches!(missing, Error::NoSuchService(_)));
}

#[test]
fn an_explicit_removal_leaves_the_owners_other_services() {
    let mut store = Store::new();
    store.register(ONE, svc("a", &[]), None).unwrap();
    store.register(ONE, svc("b", &[]), None).unwrap();
    store.remove("a", ONE.into()).unwrap();
    assert_eq!(names(store.remove_owner(ONE).iter()), ["b"]);
}

#[test]
fn every_update_counts_but_a_blank_one() {
    let mut store = Store::new();
    store.register(ONE, svc("a", &[("x", "1")]), None).unwrap();
    assert_eq!(
        store.update("a", ONE.into(), [("x", "1")]).unwrap(),
        Some(Revision::new(2))
    );
    let none: [(String, String); 0] = [];
    assert_eq!(store.update("a", ONE.into(), none).unwrap(), None);
    assert_eq!(store.revision(), Revision::new(2));
    // A blank update for a missing service is still an error.
    let none: [(String, String); 0] = [];
    assert!(matches!(
        store.update("b", ONE.into(), none),
        Err(Error::NoSuchService(_))
    ));
}

#[test]
fn sizes_and_counts_are_bounded() {
    let mut store = Store::with_config(StoreConfig::default().max_services(2));
    store.register(ONE, svc("a", &[]), None).unwrap();
    store.register(ONE, svc("b", &[]), None).unwrap();
    assert!(matches!(
        store.register(ONE, svc("c", &[]), None),
        Err(Error::Full(2))
    ));
    store.remove("a", Claim::Registry).unwrap();
    store.register(ONE, svc("c", &[]), None).unwrap();

    let big = "v".repeat(MAX_SERVICE_LEN);
    let error = store
        .register(TWO, svc("d", &[("x", &big)]), None)
        .unwrap_err();
    assert!(matches!(
        error,
        Error::TooLarge {
            max: MAX_SERVICE_LEN,
            ..
        }
    ));

    // An update that would grow past the limit leaves the service as it was.
    let half = "v".repeat(MAX_SERVICE_LEN / 2);
    store
        .update("b", ONE.into(), [("x", half.as_str())])
        .unwrap();
    let revision = store.revision();
    let error = store
        .update("b", ONE.into(), [("y", half.as_str())])
        .unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }));
    assert_eq!(store.get("b").unwrap().attrs().count(), 1);
    assert_eq!(store.revision(), revision);
}

#[test]
fn a_service_with_many_attributes_is_bounded() {
    let mut store = Store::new();
    let many = |n: usize| {
        (0..n)
            .map(|i| (format!("a{i}"), "v".to_owned()))
            .collect::<Vec<_>>()
    };
    let error = store
        .register(
            ONE,
            Service::with_attrs("wide", many(MAX_ATTRS + 1)).unwrap(),
            None,
        )
        .unwrap_err();
    assert!(matches!(error, Error::TooManyAttrs { len, max: MAX_ATTRS } if len == MAX_ATTRS + 1));
    assert_eq!(error.reason(), "too many attributes");
    store
        .register(
            ONE,
            Service::with_attrs("wide", many(MAX_ATTRS)).unwrap(),
            None,
        )
        .unwrap();
    // An update line of thousands of pairs: names already held are set in
    // place (one pass), and one new name too many leaves the service as it
    // was.
    let revision = store.revision();
    let again: Vec<(String, String)> = (0..4000)
        .map(|i| (format!("a{}", i % MAX_ATTRS), i.to_string()))
        .collect();
    store.update("wide", ONE.into(), again).unwrap();
    assert_eq!(store.get("wide").unwrap().attrs().len(), MAX_ATTRS);
    assert_eq!(store.get("wide").unwrap().get("a0"), Some("3968"));
    let error = store
        .update("wide", ONE.into(), [("one-more", "v")])
        .unwrap_err();
    assert!(matches!(error, Error::TooManyAttrs { .. }));
    assert_eq!(store.get("wide").unwrap().attrs().len(), MAX_ATTRS);
    assert_eq!(store.revision(), revision.next());
}

#[test]
fn changes_carry_their_revisions() {
    let mut store = Store::with_config(StoreConfig::default().start(Revision::new(100)));
    store.register(ONE, svc("a", &[("x", "1")]), None).unwrap();
    store.update("a", ONE.into(), [("x", "2")]).unwrap();
    store.remove_owner(ONE);
    let changes: Vec<_> = store
        .changes_since(Revision::new(100))
        .unwrap()
        .map(|c| (c.revision().get(), c.kind(), c.service().to_string()))
        .collect();
    assert_eq!(
        changes,
        [
            (101, ChangeKind::Add, "a x 1".to_string()),
            (102, ChangeKind::Update, "a x 2".to_string()),
            (103, ChangeKind::Remove, "a x 2".to_string()),
        ]
    );
    let before: Vec<_> = store.changes_since(Revision::new(101)).unwrap().collect();
    assert_eq!(
        before[0].before().unwrap().collect::<Vec<_>>(),
        [("x", "1")]
    );
    // Before the store's start, nothing can be replayed.
    assert!(matches!(
        store.changes_since(Revision::new(99)),
        Err(Error::RevisionTooOld { .. })
    ));
}

#[test]
fn a_watcher_that_falls_behind_the_log_is_told() {
    let mut store = Store::with_config(StoreConfig::default().log_changes(2));
    for n in 0..5 {
        store
            .register(ONE, svc(&format!("s{n}"), &[]), None)
            .unwrap();
    }
    assert_eq!(store.oldest_revision(), Revision::new(3));
    assert_eq!(store.changes_since(Revision::new(3)).unwrap().count(), 2);
    let error = store.changes_since(Revision::new(2)).err().unwrap();
    assert!(matches!(error, Error::RevisionTooOld { asked, oldest }
        if asked == Revision::new(2) && oldest == Revision::new(3)));
}

/// What the property test keeps beside the store: the services in
/// registration order, with their owners and tokens.
#[derive(Clone, Debug)]
struct Model {
    name: String,
    attrs: Vec<(String, String)>,
    owner: Option<OwnerId>,
    token: Option<String>,
}

impl Model {
    fn service(&self) -> Service {
        Service::with_attrs(self.name.clone(), self.attrs.clone()).unwrap()
    }

    fn allows(&self, claim: Claim<'_>) -> bool {
        match claim {
            Claim::Owner(id) => self.owner == Some(id),
            Claim::Token(t) => self.token.as_deref() == Some(t),
            Claim::Registry => true,
        }
    }
}

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const ATTRS: [&str; 4] = ["auth", "proto", "persist", "x"];
const VALUES: [&str; 5] = ["none", "tcp", "1", "0", "*"];
const TOKENS: [&str; 2] = ["t1", "t2"];

fn random_attrs(rng: &mut Rng) -> Vec<(String, String)> {
    (0..rng.below(4))
        .map(|_| (rng.pick(&ATTRS).to_string(), rng.pick(&VALUES).to_string()))
        .collect()
}

fn random_claim(rng: &mut Rng) -> Claim<'static> {
    match rng.below(6) {
        0 => Claim::Registry,
        1 => Claim::Token(TOKENS[rng.below(TOKENS.len())]),
        _ => Claim::Owner(OwnerId::new(rng.below(3) as u64)),
    }
}

fn random_query(rng: &mut Rng) -> Query {
    Query::new((0..rng.below(3)).map(|_| (*rng.pick(&ATTRS), *rng.pick(&VALUES))))
}

/// A watcher's copy of the services that match its query, kept up to date
/// from the change log alone.
struct Mirror {
    query: Query,
    seen: Revision,
    services: BTreeMap<String, Service>,
}

impl Mirror {
    fn catch_up(&mut self, store: &Store) {
        for change in store.changes_since(self.seen).unwrap() {
            assert!(change.revision() > self.seen);
            if let Some(notice) = change.notice(&self.query) {
                let name = notice.service.name().to_owned();
                match notice.kind {
                    ChangeKind::Add => {
                        assert!(self.services.insert(name, notice.service).is_none());
                    }
                    ChangeKind::Update => {
                        assert!(self.services.insert(name, notice.service).is_some());
                    }
                    ChangeKind::Remove => {
                        assert!(self.services.remove(&name).is_some());
                    }
                }
            }
        }
        self.seen = store.revision();
    }
}

#[test]
fn the_store_behaves_as_a_naive_model() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut store = Store::new();
        let mut model: Vec<Model> = Vec::new();
        let mut mirrors: Vec<Mirror> = (0..4)
            .map(|_| Mirror {
                query: random_query(&mut rng),
                seen: Revision::ZERO,
                services: BTreeMap::new(),
            })
            .collect();
        for _ in 0..300 {
            let before = store.revision();
            let changed: u64 = match rng.below(10) {
                0..=3 => {
                    let name = rng.pick(&NAMES).to_string();
                    let attrs = random_attrs(&mut rng);
                    let owner = OwnerId::new(rng.below(3) as u64);
                    let token = rng.one_in(3).then(|| rng.pick(&TOKENS).to_string());
                    let service = Service::with_attrs(name.clone(), attrs).unwrap();
                    let result = store.register(
                        owner,
                        service.clone(),
                        token.clone().map(|t| Token::new(t).unwrap()),
                    );
                    if model.iter().any(|m| m.name == name) {
                        assert!(matches!(result, Err(Error::Duplicate(_))));
                        0
                    } else {
                        assert_eq!(result.unwrap(), before.next());
                        let attrs = service.attr_list().to_vec();
                        model.push(Model {
                            name,
                            attrs,
                            owner: Some(owner),
                            token,
                        });
                        1
                    }
                }
                4..=6 => {
                    let name = *rng.pick(&NAMES);
                    let claim = random_claim(&mut rng);
                    let attrs = random_attrs(&mut rng);
                    let result = store.update(name, claim, attrs.clone());
                    match model.iter_mut().find(|m| m.name == name) {
                        None => {
                            assert!(matches!(result, Err(Error::NoSuchService(_))));
                            0
                        }
                        Some(m) if !m.allows(claim) => {
                            assert!(matches!(result, Err(Error::PermissionDenied(_))));
                            0
                        }
                        Some(m) => {
                            let mut service = m.service();
                            for (a, v) in &attrs {
                                service.set(a.clone(), v.clone());
                            }
                            m.attrs = service.attr_list().to_vec();
                            let revision = result.unwrap();
                            assert_eq!(revision.is_some(), !attrs.is_empty());
                            u64::from(!attrs.is_empty())
                        }
                    }
                }
                7 => {
                    let name = *rng.pick(&NAMES);
                    let claim = random_claim(&mut rng);
                    let result = store.remove(name, claim);
                    match model.iter().position(|m| m.name == name) {
                        None => {
                            assert!(matches!(result, Err(Error::NoSuchService(_))));
                            0
                        }
                        Some(i) if !model[i].allows(claim) => {
                            assert!(matches!(result, Err(Error::PermissionDenied(_))));
                            0
                        }
                        Some(i) => {
                            assert_eq!(result.unwrap(), model.remove(i).service());
                            1
                        }
                    }
                }
                _ => {
                    let owner = OwnerId::new(rng.below(3) as u64);
                    let removed = store.remove_owner(owner);
                    let (gone, kept): (Vec<Model>, Vec<Model>) = model
                        .drain(..)
                        .partition(|m| m.owner == Some(owner) && !m.service().is_persistent());
                    model = kept;
                    for m in &mut model {
                        if m.owner == Some(owner) {
                            m.owner = None;
                        }
                    }
                    assert_eq!(removed, gone.iter().map(Model::service).collect::<Vec<_>>());
                    gone.len() as u64
                }
            };
            // The revision moves by exactly the number of changes.
            assert_eq!(store.revision().get(), before.get() + changed);
            // The store holds what the model holds, in the same order.
            let expected: Vec<Service> = model.iter().map(Model::service).collect();
            assert_eq!(store.services().cloned().collect::<Vec<_>>(), expected);
            for m in &model {
                assert_eq!(store.owner(&m.name), m.owner);
                assert_eq!(store.has_token(&m.name), m.token.is_some());
            }
            // A find is a naive filter.
            let query = random_query(&mut rng);
            let naive: Vec<&Service> = expected
                .iter()
                .filter(|s| {
                    query
                        .pairs()
                        .all(|(qa, qv)| s.attrs().any(|(a, v)| a == qa && (qv == "*" || v == qv)))
                })
                .collect();
            assert_eq!(store.find(&query).collect::<Vec<_>>(), naive);
            // Watchers kept up from the log see what a find sees.
            for mirror in &mut mirrors {
                if rng.one_in(3) {
                    mirror.catch_up(&store);
                    let found: BTreeMap<String, Service> = store
                        .find(&mirror.query)
                        .map(|s| (s.name().to_owned(), s.clone()))
                        .collect();
                    assert_eq!(mirror.services, found);
                }
            }
            // The state file keeps the persistent and the ownerless.
            let kept: Vec<&str> = store.persistent().map(|(s, _)| s.name()).collect();
            let expected_kept: Vec<&str> = model
                .iter()
                .filter(|m| m.owner.is_none() || m.service().is_persistent())
                .map(|m| m.name.as_str())
                .collect();
            assert_eq!(kept, expected_kept);
        }
    }
}
